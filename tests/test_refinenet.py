"""CondRefineNetDilated (NCSN) and NCSNv2RefineNet: size, conditioning, config, tracing."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfncsn.models import refine_block
from tfncsn.models.refinenet import CondRefineNetDilated
from tfncsn.models.refinenet_v2 import NCSNv2RefineNet

SIGMAS = list(np.geomspace(1.0, 0.01, 10))
MNIST, CIFAR = (28, 28, 1), (32, 32, 3)


def reference_param_count(ngf, channels, num_levels, conditional_refine=True, level_norms=True):
    """Trainable parameters of the reference architecture (paper Appendix A; docs/algorithms.md
    section 6.2).

    A norm holds gamma, alpha, beta per channel (per level when conditional);
    residual-block convs and fusion convs have biases, the convs inside RCU
    and chained residual pooling have none.
    """
    n, n2 = ngf, 2 * ngf

    def norm(c):
        return 3 * c * (num_levels if level_norms else 1)

    def conv(k, c_in, c_out, bias=True):
        return k * k * c_in * c_out + (c_out if bias else 0)

    def refine_norm(c):
        return norm(c) if conditional_refine else 0

    def rcu(c, blocks):
        return blocks * 2 * (refine_norm(c) + conv(3, c, c, bias=False))

    def crp(c):
        return 2 * (refine_norm(c) + conv(3, c, c, bias=False))

    def fusion(c_in, c_out):
        return 2 * (refine_norm(c_in) + conv(3, c_in, c_out))

    def block(c_in, c_out, downsample=False, shortcut_kernel=0):
        middle = c_in if downsample else c_out  # A downsampling block widens in its 2nd conv.
        shortcut = conv(shortcut_kernel, c_in, c_out) if shortcut_kernel else 0
        return norm(c_in) + conv(3, c_in, middle) + norm(middle) + conv(3, middle, c_out) + shortcut

    total = conv(3, channels, n)
    total += 2 * block(n, n)  # stage 1
    total += block(n, n2, downsample=True, shortcut_kernel=1) + block(n2, n2)  # stage 2
    total += 2 * (block(n2, n2, shortcut_kernel=3) + block(n2, n2))  # stages 3 and 4
    total += rcu(n2, 2) + crp(n2) + rcu(n2, 1)     # refine1
    total += 2 * rcu(n2, 2) + fusion(n2, n2) + crp(n2) + rcu(n2, 1)  # refine2
    total += 2 * rcu(n2, 2) + fusion(n2, n) + crp(n) + rcu(n, 1)     # refine3
    total += 2 * rcu(n, 2) + fusion(n, n) + crp(n) + rcu(n, 3)       # refine4
    total += norm(n) + conv(3, n, channels)        # head
    return total


def trainable_count(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def built(cls, shape, ngf, **options):
    model = cls(input_shape=shape, sigmas=SIGMAS, ngf=ngf, **options)
    model.build((None, *shape))
    return model


# Checked against the PyTorch reference (ermongroup/ncsn CondRefineNetDilated, NCSNv2 of
# ermongroup/ncsnv2) instantiated with the same sizes and 10 levels.
@pytest.mark.parametrize("shape,ngf,expected", [(MNIST, 64, 7_638_657), (CIFAR, 128, 30_117_635)])
def test_ncsn_parameter_count_matches_reference(shape, ngf, expected):
    assert reference_param_count(ngf, shape[-1], 10) == expected
    assert trainable_count(built(CondRefineNetDilated, shape, ngf)) == expected


@pytest.mark.parametrize("shape,ngf,expected", [(MNIST, 64, 7_426_881), (CIFAR, 128, 29_694_083)])
def test_ncsnv2_parameter_count_matches_reference(shape, ngf, expected):
    assert reference_param_count(ngf, shape[-1], 1, conditional_refine=False,
                                 level_norms=False) == expected
    assert trainable_count(built(NCSNv2RefineNet, shape, ngf)) == expected


def test_parameter_count_scales_with_levels_and_width():
    model = CondRefineNetDilated(input_shape=(8, 8, 2), sigmas=SIGMAS[:3], ngf=4)
    model.build((None, 8, 8, 2))
    assert trainable_count(model) == reference_param_count(4, 2, 3)


@pytest.fixture(scope="module")
def mnist_model():
    model = CondRefineNetDilated(input_shape=MNIST, sigmas=SIGMAS, ngf=8)
    model(tf.zeros([1, *MNIST]), tf.zeros([1], tf.int32))
    return model


def _inputs(shape, levels, seed=0):
    rng = np.random.default_rng(seed)
    x = tf.constant(rng.uniform(size=(len(levels), *shape)).astype(np.float32))
    return x, tf.constant(levels, tf.int32)


@pytest.mark.parametrize("cls", [CondRefineNetDilated, NCSNv2RefineNet])
@pytest.mark.parametrize("shape", [MNIST, CIFAR])
def test_output_shape_and_dtype(cls, shape):
    model = cls(input_shape=shape, sigmas=SIGMAS, ngf=8)
    score = model(*_inputs(shape, [0, 9]))
    assert score.shape == (2, *shape) and score.dtype == tf.float32
    assert np.isfinite(score.numpy()).all()


def test_level_conditioning_changes_the_output(mnist_model):
    x, _ = _inputs(MNIST, [0, 0])
    low = mnist_model(x, tf.constant([0, 0])).numpy()
    high = mnist_model(x, tf.constant([9, 9])).numpy()
    assert np.abs(low - high).max() > 1e-4


def test_each_example_uses_its_own_level(mnist_model):
    x, level = _inputs(MNIST, [0, 6, 9])
    together = mnist_model(x, level).numpy()
    for i in range(3):
        alone = mnist_model(x[i:i + 1], level[i:i + 1]).numpy()
        np.testing.assert_allclose(together[i:i + 1], alone, rtol=1e-4, atol=1e-5)


def test_config_round_trip_gives_identical_outputs(mnist_model):
    config = mnist_model.get_config()
    assert config["sigmas"] == [float(s) for s in SIGMAS]
    assert all(type(s) is float for s in config["sigmas"])
    assert config["input_shape"] == list(MNIST) and config["ngf"] == 8
    assert config["pool_count_padding"] and config["align_corners"]
    assert config["unbiased_channel_variance"]
    clone = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(mnist_model))
    assert type(clone) is CondRefineNetDilated and clone.get_config() == config
    assert clone.built  # The serialised build config recreates the weights.
    clone.set_weights(mnist_model.get_weights())
    x, level = _inputs(MNIST, [1, 4], seed=1)
    np.testing.assert_array_equal(clone(x, level).numpy(), mnist_model(x, level).numpy())


def test_keras_file_round_trip(mnist_model, tmp_path):
    mnist_model.save(tmp_path / "model.keras")
    restored = keras.models.load_model(tmp_path / "model.keras")
    assert type(restored) is CondRefineNetDilated
    x, level = _inputs(MNIST, [3, 8], seed=2)
    np.testing.assert_array_equal(restored(x, level).numpy(), mnist_model(x, level).numpy())


@pytest.mark.parametrize("option", ["pool_count_padding", "align_corners",
                                    "unbiased_channel_variance"])
def test_each_porting_option_changes_the_output(mnist_model, option):
    variant = CondRefineNetDilated(input_shape=MNIST, sigmas=SIGMAS, ngf=8, **{option: False})
    variant.build((None, *MNIST))
    variant.set_weights(mnist_model.get_weights())
    assert variant.get_config()[option] is False
    x, level = _inputs(MNIST, [0, 5])
    assert np.abs(variant(x, level).numpy() - mnist_model(x, level).numpy()).max() > 1e-4


def test_tf_function_matches_eager(mnist_model):
    x, level = _inputs(MNIST, [2, 7])
    eager = mnist_model(x, level).numpy()
    traced = tf.function(mnist_model, input_signature=[
        tf.TensorSpec([None, *MNIST], tf.float32), tf.TensorSpec([None], tf.int32)])
    np.testing.assert_allclose(traced(x, level).numpy(), eager, rtol=1e-4, atol=1e-5)


def test_refine_block_compiles_with_xla():
    block = refine_block.RefineBlock(4, 2, num_levels=3, last=True)
    rng = np.random.default_rng(0)
    xs = [tf.constant(rng.normal(size=(2, 10, 10, 4)).astype(np.float32)),
          tf.constant(rng.normal(size=(2, 5, 5, 4)).astype(np.float32))]
    level = tf.constant([0, 2])
    eager = block(xs, level).numpy()
    compiled = tf.function(block, jit_compile=True)
    np.testing.assert_allclose(compiled(xs, level).numpy(), eager, rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_xla_matches_eager():
    shape = (8, 8, 2)
    model = CondRefineNetDilated(input_shape=shape, sigmas=SIGMAS[:2], ngf=4)
    x, level = _inputs(shape, [0, 1])
    eager = model(x, level).numpy()
    compiled = tf.function(model, jit_compile=True)
    np.testing.assert_allclose(compiled(x, level).numpy(), eager, rtol=1e-4, atol=1e-4)


def test_ncsnv2_output_is_network_over_sigma():
    model = NCSNv2RefineNet(input_shape=MNIST, sigmas=SIGMAS, ngf=8)
    x, _ = _inputs(MNIST, [0, 0])
    x = tf.concat([x[:1], x[:1]], axis=0)
    score = model(x, tf.constant([0, 9])).numpy()
    np.testing.assert_allclose(score[0] * SIGMAS[0], score[1] * SIGMAS[9], rtol=1e-4, atol=1e-5)
    assert np.abs(score[1]).max() > 10 * np.abs(score[0]).max()


def test_ncsnv2_config_round_trip():
    model = NCSNv2RefineNet(input_shape=CIFAR, sigmas=SIGMAS[:4], ngf=4, pool="avg",
                            align_corners=False)
    config = model.get_config()
    assert config["pool"] == "avg" and config["align_corners"] is False
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(model))
    assert type(clone) is NCSNv2RefineNet and clone.get_config() == config


@pytest.mark.parametrize("shape", [(27, 28, 1), (28, 28), (32, 30, 3, 1)])
def test_rejects_shapes_it_cannot_halve(shape):
    with pytest.raises(ValueError, match="input_shape"):
        CondRefineNetDilated(input_shape=shape, sigmas=SIGMAS)


def test_rejects_empty_sigmas():
    with pytest.raises(ValueError, match="sigmas"):
        CondRefineNetDilated(input_shape=MNIST, sigmas=[])
