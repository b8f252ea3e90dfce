"""The NCSN building blocks against NumPy (porting pitfalls: docs/algorithms.md section 6.3)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfncsn.models import convolution, instance_norm, ops, refine_block, residual_block

RNG = np.random.default_rng(0)


# ---------------------------------------------------------------- NumPy references

def np_avg_pool_5x5(x, count_padding):
    """Stride-1 5x5 mean over the window, padded by 2; divides by 25 or by the in-image count."""
    n, h, w, c = x.shape
    padded = np.pad(x, [(0, 0), (2, 2), (2, 2), (0, 0)])
    inside = np.pad(np.ones((h, w)), 2)
    out = np.zeros_like(x)
    for i in range(h):
        for j in range(w):
            total = padded[:, i:i + 5, j:j + 5, :].sum(axis=(1, 2))
            count = 25.0 if count_padding else inside[i:i + 5, j:j + 5].sum()
            out[:, i, j, :] = total / count
    return out


def np_source_coordinates(size_in, size_out, align_corners):
    i = np.arange(size_out, dtype=np.float64)
    if align_corners:
        return i * ((size_in - 1) / (size_out - 1) if size_out > 1 else 0.0)
    return np.maximum((i + 0.5) * size_in / size_out - 0.5, 0.0)


def np_resize_bilinear(x, size, align_corners):
    """Bilinear interpolation from the four neighbours of each source coordinate."""
    n, h, w, c = x.shape
    ys = np_source_coordinates(h, size[0], align_corners)
    xs = np_source_coordinates(w, size[1], align_corners)
    out = np.zeros((n, size[0], size[1], c))
    for i, sy in enumerate(ys):
        y0 = min(int(np.floor(sy)), h - 1)
        y1, wy = min(y0 + 1, h - 1), sy - y0
        for j, sx in enumerate(xs):
            x0 = min(int(np.floor(sx)), w - 1)
            x1, wx = min(x0 + 1, w - 1), sx - x0
            out[:, i, j] = ((1 - wy) * ((1 - wx) * x[:, y0, x0] + wx * x[:, y0, x1])
                            + wy * ((1 - wx) * x[:, y1, x0] + wx * x[:, y1, x1]))
    return out


def np_instance_norm_pp(x, gamma, alpha, beta, unbiased):
    """gamma * ((x - mu_k)/sqrt(s_k^2 + eps) + alpha * (mu_k - m)/sqrt(v + eps)) + beta.

    InstanceNorm++ as docs/algorithms.md section 6.1 writes it (the reference code's form).
    """
    mu = x.mean(axis=(1, 2), keepdims=True)
    s2 = x.var(axis=(1, 2), keepdims=True)
    m = mu.mean(axis=-1, keepdims=True)
    v = mu.var(axis=-1, ddof=1 if unbiased else 0, keepdims=True)
    x_hat = (x - mu) / np.sqrt(s2 + 1e-5)
    mu_hat = (mu - m) / np.sqrt(v + 1e-5)
    return gamma * (x_hat + alpha * mu_hat) + beta


# ---------------------------------------------------------------- pooling

@pytest.mark.parametrize("count_padding", [True, False])
def test_avg_pool_5x5_matches_numpy(count_padding):
    x = RNG.normal(size=(2, 7, 6, 3)).astype(np.float32) + 1.0
    got = ops.avg_pool_5x5(tf.constant(x), count_padding).numpy()
    np.testing.assert_allclose(got, np_avg_pool_5x5(x, count_padding), rtol=1e-5, atol=1e-5)


def test_avg_pool_padding_conventions_differ_only_at_the_border():
    x = RNG.normal(size=(1, 9, 9, 2)).astype(np.float32) + 1.0
    counted = ops.avg_pool_5x5(tf.constant(x), True).numpy()
    excluded = ops.avg_pool_5x5(tf.constant(x), False).numpy()
    np.testing.assert_allclose(counted[:, 2:-2, 2:-2], excluded[:, 2:-2, 2:-2], rtol=1e-5)
    # The corner window holds 9 in-image pixels out of 25.
    np.testing.assert_allclose(counted[:, 0, 0], excluded[:, 0, 0] * 9 / 25, rtol=1e-5)


def test_mean_pool_2x2_averages_blocks():
    x = RNG.normal(size=(2, 4, 6, 3)).astype(np.float32)
    want = x.reshape(2, 2, 2, 3, 2, 3).mean(axis=(2, 4))
    np.testing.assert_allclose(ops.mean_pool_2x2(tf.constant(x)).numpy(), want, rtol=1e-5,
                               atol=1e-6)


# ---------------------------------------------------------------- resize

@pytest.mark.parametrize("align_corners", [True, False])
@pytest.mark.parametrize("size_in,size_out", [((7, 7), (14, 14)), ((5, 3), (9, 8)),
                                              ((9, 6), (4, 5))])
def test_resize_bilinear_matches_numpy(align_corners, size_in, size_out):
    x = RNG.normal(size=(2, *size_in, 3)).astype(np.float32)
    got = ops.resize_bilinear(tf.constant(x), size_out, align_corners).numpy()
    np.testing.assert_allclose(got, np_resize_bilinear(x, size_out, align_corners),
                               rtol=1e-5, atol=1e-5)


def test_align_corners_keeps_corner_pixels_and_differs_from_half_pixel():
    x = RNG.normal(size=(1, 7, 7, 2)).astype(np.float32)
    aligned = ops.resize_bilinear(tf.constant(x), (14, 14), True).numpy()
    half_pixel = ops.resize_bilinear(tf.constant(x), (14, 14), False).numpy()
    for i, j in [(0, 0), (0, -1), (-1, 0), (-1, -1)]:
        np.testing.assert_allclose(aligned[:, i, j], x[:, i, j], rtol=1e-6)
    assert np.abs(aligned - half_pixel).max() > 1e-2


def test_resize_to_same_size_is_identity():
    x = tf.constant(RNG.normal(size=(1, 5, 5, 2)).astype(np.float32))
    for align_corners in (True, False):
        assert ops.resize_bilinear(x, (5, 5), align_corners) is x


def test_align_corners_resize_traces_in_xla():
    x = tf.constant(RNG.normal(size=(2, 7, 5, 3)).astype(np.float32))
    resize = tf.function(lambda t: ops.resize_bilinear(t, (14, 9), True), jit_compile=True)
    np.testing.assert_allclose(resize(x).numpy(), np_resize_bilinear(x.numpy(), (14, 9), True),
                               rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- InstanceNorm++

def _randomise(layer):
    """Replaces the near-identity initial parameters by random ones."""
    for weight in layer.weights:
        weight.assign(RNG.normal(1.0, 0.5, size=weight.shape).astype(np.float32))


@pytest.mark.parametrize("unbiased", [True, False])
def test_cond_instance_norm_pp_matches_numpy(unbiased):
    x = (RNG.normal(size=(3, 5, 4, 6)) * 2 + RNG.normal(size=6) * 3).astype(np.float32)
    level = np.array([2, 0, 2], np.int32)
    norm = instance_norm.CondInstanceNormPlusPlus(num_levels=4, unbiased_channel_variance=unbiased)
    norm.build(x.shape)
    _randomise(norm)
    g, a, b = (w.numpy()[level][:, None, None, :] for w in (norm.gamma, norm.alpha, norm.beta))
    got = norm(tf.constant(x), tf.constant(level)).numpy()
    np.testing.assert_allclose(got, np_instance_norm_pp(x, g, a, b, unbiased), rtol=1e-4,
                               atol=1e-4)


def test_channel_variance_conventions_differ():
    x = tf.constant((RNG.normal(size=(2, 4, 4, 3)) + RNG.normal(size=3) * 3).astype(np.float32))
    ones, zeros = tf.ones([3]), tf.zeros([3])
    unbiased = ops.instance_norm_plus_plus(x, ones, ones, zeros, True).numpy()
    biased = ops.instance_norm_plus_plus(x, ones, ones, zeros, False).numpy()
    # Only the alpha term changes: by a factor sqrt((C - 1) / C), up to epsilon.
    x_hat = np_instance_norm_pp(x.numpy(), 1.0, 0.0, 0.0, True)
    np.testing.assert_allclose(unbiased - x_hat, (biased - x_hat) * np.sqrt(2 / 3), rtol=1e-3,
                               atol=1e-5)


@pytest.mark.parametrize("unbiased", [True, False])
def test_instance_norm_pp_matches_numpy_and_ignores_level(unbiased):
    x = (RNG.normal(size=(2, 4, 5, 7)) + RNG.normal(size=7)).astype(np.float32)
    norm = instance_norm.InstanceNormPlusPlus(unbiased_channel_variance=unbiased)
    norm.build(x.shape)
    _randomise(norm)
    want = np_instance_norm_pp(x, norm.gamma.numpy(), norm.alpha.numpy(), norm.beta.numpy(),
                               unbiased)
    np.testing.assert_allclose(norm(tf.constant(x)).numpy(), want, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(norm(tf.constant(x), tf.constant([3, 1])).numpy(), want,
                               rtol=1e-4, atol=1e-4)


# Under mixed precision the norm is computed in float32 and only its output is rounded to
# 16 bits, so each output is the float32 formula on the 16-bit input, rounded once: within
# half a unit in the last place (bfloat16 keeps 8 significant bits, float16 11), relative to
# the output itself. Scaling and shifting in 16 bits misses this where x * scale and the
# shift nearly cancel. The same holds inside a function that XLA compiles as a whole.
@pytest.mark.parametrize("jit_compile", [False, True])
@pytest.mark.parametrize("dtype, bits", [(tf.bfloat16, 8), (tf.float16, 11)])
def test_instance_norm_pp_in_16_bits_rounds_the_float32_result_once(dtype, bits, jit_compile):
    rng = np.random.default_rng(1)
    x16 = tf.cast(rng.normal(size=(3, 6, 5, 8)) * 2 + rng.normal(size=8) * 3, dtype)
    gamma, alpha, beta = (rng.normal(1.0, 0.5, size=(3, 8)).astype(np.float32) for _ in range(3))
    norm = tf.function(ops.instance_norm_plus_plus, jit_compile=jit_compile)
    got = norm(x16, gamma, alpha, beta, True)
    assert got.dtype == dtype
    x = tf.cast(x16, tf.float64).numpy()
    want = np_instance_norm_pp(x, *(t[:, None, None, :].astype(np.float64)
                                    for t in (gamma, alpha, beta)), True)
    error = np.abs(tf.cast(got, tf.float64).numpy() - want)
    # 1e-4 of the half ulp and 1e-6 leave room for float32's own rounding.
    excess = (error - 2.0 ** -bits * (1 + 1e-4) * np.abs(want) - 1e-6).max()
    assert excess <= 0, f"{excess} above half an ulp (largest error {error.max()})"


def test_cond_instance_norm_pp_initialisation():
    norm = instance_norm.CondInstanceNormPlusPlus(num_levels=10)
    norm.build((None, 8, 8, 128))
    assert norm.gamma.shape == norm.alpha.shape == norm.beta.shape == (10, 128)
    for scale in (norm.gamma.numpy(), norm.alpha.numpy()):
        assert abs(scale.mean() - 1.0) < 0.01 and 0.015 < scale.std() < 0.025
    assert not norm.beta.numpy().any()


# ---------------------------------------------------------------- configs

LAYERS = [
    instance_norm.CondInstanceNormPlusPlus(5, unbiased_channel_variance=False),
    instance_norm.InstanceNormPlusPlus(unbiased_channel_variance=False),
    residual_block.ResidualBlock(8, 5, downsample=True, dilation=1, conv_shortcut=False),
    residual_block.ResidualBlock(8, None, dilation=2, conv_shortcut=True),
    refine_block.ResidualConvUnit(3, 5, normalize=False),
    refine_block.MultiResolutionFusion(8, 2, 5, align_corners=False),
    refine_block.ChainedResidualPooling(5, pool="max", count_padding=False),
    refine_block.RefineBlock(8, 2, 5, last=True, pool="avg", count_padding=False,
                             align_corners=False, unbiased_channel_variance=False),
]


@pytest.mark.parametrize("layer", LAYERS, ids=lambda layer: type(layer).__name__)
def test_layer_config_round_trip(layer):
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(restored) is type(layer) and restored.get_config() == config
    # Saved configs name the class as registered, whichever module it lives in: configs
    # saved when the blocks were all in tfncsn/models/layers.py still load.
    assert keras.saving.get_registered_name(type(layer)) == f"tfncsn>{type(layer).__name__}"
    saved = {**keras.saving.serialize_keras_object(layer), "module": "tfncsn.models.layers"}
    assert type(keras.saving.deserialize_keras_object(saved)) is type(layer)


def test_residual_block_shapes_and_shortcuts():
    level = tf.constant([0, 1])
    x = tf.zeros([2, 8, 6, 4])
    down = residual_block.ResidualBlock(8, 2, downsample=True)
    assert down(x, level).shape == (2, 4, 3, 8)
    assert down.conv1.filters == 4 and down.shortcut.kernel_size == (1, 1)
    dilated = residual_block.ResidualBlock(4, 2, dilation=2, conv_shortcut=True)
    assert dilated(x, level).shape == (2, 8, 6, 4)
    assert dilated.shortcut.kernel_size == (3, 3) and dilated.shortcut.dilation_rate == (2, 2)
    assert residual_block.ResidualBlock(4, 2)(x, level).shape == x.shape


def _onnx_matches_tf(fn, inputs):
    tf2onnx = pytest.importorskip("tf2onnx")
    ort = pytest.importorskip("onnxruntime")
    names = [f"input{i}" for i in range(len(inputs))]
    signature = [tf.TensorSpec([None, *x.shape[1:]], x.dtype, name=n)
                 for n, x in zip(names, inputs)]
    proto, _ = tf2onnx.convert.from_function(tf.function(fn, input_signature=signature),
                                             input_signature=signature, opset=17)
    session = ort.InferenceSession(proto.SerializeToString())
    got = session.run(None, {n: x.numpy() for n, x in zip(names, inputs)})[0]
    np.testing.assert_allclose(got, fn(*inputs).numpy(), rtol=1e-4, atol=1e-4)


def test_norm_after_conv_exports_to_onnx():
    # tf2onnx 1.17 mis-exported channel statistics taken on [N, 1, 1, C] after a conv.
    x = tf.constant(RNG.normal(size=(3, 6, 6, 4)).astype(np.float32))
    level = tf.constant([0, 2, 1])
    conv = convolution.conv(8)
    norm = instance_norm.CondInstanceNormPlusPlus(3)
    norm(conv(x), level)
    _randomise(norm)
    _onnx_matches_tf(lambda x, level: norm(conv(x), level), [x, level])


@pytest.mark.slow
def test_refine_block_exports_to_onnx():
    rng = np.random.default_rng(1)
    xs = [tf.constant(rng.normal(size=(2, 10, 10, 4)).astype(np.float32)),
          tf.constant(rng.normal(size=(2, 5, 5, 4)).astype(np.float32))]
    block = refine_block.RefineBlock(4, 2, num_levels=3)
    _onnx_matches_tf(lambda a, b, level: block([a, b], level), [*xs, tf.constant([2, 0])])
