"""NoiseConditionalUNet (`--model=unet`): shapes, the sigma contract, config, mixed precision,
gradients and ONNX export, on small widths."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfncsn import builders, registry, training
from tfncsn.config import ConfigError
from tfncsn.models.unet import NoiseConditionalUNet, group_count

SIGMAS = [float(s) for s in np.geomspace(50.0, 0.01, 10)]
DIGITS = (8, 8, 1)
SMALL = {"channels": 8, "channel_mults": [1, 2]}


def make(shape=DIGITS, sigmas=SIGMAS, precision="float32", **options):
    return builders.make_model("unet", {**SMALL, **options}, shape, sigmas, precision)


def jiggle(model, seed=0, scale=0.05):
    """Perturbs every weight, so the branches initialised near 0 shape the output too."""
    rng = np.random.default_rng(seed)
    for w in model.weights:
        w.assign(w + rng.normal(0.0, scale, w.shape).astype(np.float32))
    return model


def inputs(shape, levels, seed=0):
    rng = np.random.default_rng(seed)
    x = tf.constant(rng.uniform(size=(len(levels), *shape)).astype(np.float32))
    return x, tf.constant(levels, tf.int32)


@pytest.fixture(scope="module")
def model():
    return jiggle(make())


def test_registered():
    assert registry.models.get("unet") is NoiseConditionalUNet
    assert NoiseConditionalUNet.continuous_sigma


def test_default_size_is_pinned():
    """The Fashion-MNIST-sized default: about refinenet ngf=16's cost per training step."""
    net = builders.make_model("unet", {}, (28, 28, 1), SIGMAS)
    config = net.get_config()
    assert config["channels"] == 24 and config["channel_mults"] == [1, 2, 2]
    assert config["num_res_blocks"] == 1 and config["dropout"] == 0.0
    assert config["embedding_dim"] == 48 and config["attention"] and config["rescale_input"]
    assert net.count_params() == 601_225


@pytest.mark.parametrize("shape,mults", [(DIGITS, [1, 2]), ((28, 28, 1), [1, 2, 2]),
                                         ((32, 32, 3), [1, 2, 2])])
def test_output_shape_and_dtype(shape, mults):
    net = make(shape, channel_mults=mults)
    score = net(*inputs(shape, [0, 9]))
    assert score.shape == (2, *shape) and score.dtype == tf.float32
    assert np.isfinite(score.numpy()).all()


def test_call_is_score_at_the_levels_sigma(model):
    x, level = inputs(DIGITS, [0, 4, 9])
    sigma = tf.gather(tf.constant(SIGMAS, tf.float32), level)
    np.testing.assert_allclose(model(x, level).numpy(), model.score_at_sigma(x, sigma).numpy(),
                               rtol=1e-6, atol=0)


def test_each_example_uses_its_own_sigma(model):
    x, _ = inputs(DIGITS, [0, 0, 0])
    sigma = tf.constant([30.0, 0.7, 0.002])
    together = model.score_at_sigma(x, sigma).numpy()
    for i in range(3):
        alone = model.score_at_sigma(x[i:i + 1], sigma[i:i + 1]).numpy()
        # A batch of 3 and of 1 round differently in oneDNN's convolutions: a tolerance on the
        # example's own scale (a wrong sigma would be off by its order of magnitude).
        scale = np.abs(alone).max()
        np.testing.assert_allclose(together[i:i + 1], alone, rtol=1e-4, atol=1e-5 * scale)


def test_output_is_network_over_sigma(model, monkeypatch):
    x, _ = inputs(DIGITS, [0, 0])
    x = tf.concat([x[:1], x[:1]], axis=0)
    sigma = tf.constant([0.01, 2.0])
    scores = model.score_at_sigma(x, sigma).numpy()
    assert np.abs(scores[0] * 0.01 - scores[1] * 2.0).max() > 1e-3  # The embedding matters.
    # With the embedding's input held fixed, sigma * score no longer depends on sigma.
    fixed = model.noise_features(tf.constant([1.0, 1.0]))
    monkeypatch.setattr(model, "noise_features", lambda sigma: fixed)
    scores = model.score_at_sigma(x, sigma).numpy()
    np.testing.assert_allclose(scores[0] * 0.01, scores[1] * 2.0, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("embedding", ["fourier", "positional"])
def test_sigma_times_score_is_order_one_over_the_sde_range(embedding):
    net = jiggle(make(embedding=embedding))
    sigmas = np.geomspace(1e-3, 50.0, 12).astype(np.float32)
    x, _ = inputs(DIGITS, range(12))
    scaled = net.score_at_sigma(x, tf.constant(sigmas)).numpy() * sigmas[:, None, None, None]
    assert np.isfinite(scaled).all() and np.abs(scaled).max() < 100.0
    rms = np.sqrt((scaled ** 2).mean(axis=(1, 2, 3)))
    assert rms.min() > 1e-3 and np.abs(np.diff(scaled, axis=0)).max() > 1e-3


def test_a_fresh_network_starts_near_zero_times_sigma():
    net = make()
    x, level = inputs(DIGITS, [0, 9])
    scaled = net(x, level).numpy() * np.array([SIGMAS[0], SIGMAS[9]])[:, None, None, None]
    assert np.abs(scaled).max() < 1e-2  # Small init of the head and of each residual branch.


def test_config_round_trip_gives_identical_outputs(model):
    config = model.get_config()
    assert config["input_shape"] == list(DIGITS) and config["sigmas"] == SIGMAS
    assert config["channels"] == 8 and config["channel_mults"] == [1, 2]
    assert config["embedding"] == "fourier" and config["embedding_dim"] == 16
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(model))
    assert type(clone) is NoiseConditionalUNet and clone.get_config() == config
    assert len(clone.weights) == len(model.weights)  # Built by build_from_config.
    clone.set_weights(model.get_weights())
    x, level = inputs(DIGITS, [1, 8], seed=1)
    np.testing.assert_array_equal(clone(x, level).numpy(), model(x, level).numpy())
    also = NoiseConditionalUNet.from_config(config)
    also(x, level)
    also.set_weights(model.get_weights())
    np.testing.assert_array_equal(also(x, level).numpy(), model(x, level).numpy())


def test_keras_file_and_checkpoint_round_trips(model, tmp_path):
    x, level = inputs(DIGITS, [3, 8], seed=2)
    expected = model(x, level).numpy()
    model.save(tmp_path / "model.keras")
    restored = keras.models.load_model(tmp_path / "model.keras")
    assert type(restored) is NoiseConditionalUNet
    np.testing.assert_array_equal(restored(x, level).numpy(), expected)
    other = make()
    path = tf.train.Checkpoint(model=training.model_weights(model)).save(
        os.path.join(tmp_path, "ckpt"))
    tf.train.Checkpoint(model=training.model_weights(other)).restore(path).assert_consumed()
    np.testing.assert_array_equal(other(x, level).numpy(), expected)


def test_mixed_bfloat16_computes_in_bfloat16_and_returns_float32():
    net = make(precision="mixed_bfloat16")
    assert net.conv_in.compute_dtype == "bfloat16"
    assert all(w.dtype == "float32" for w in net.weights)
    x, level = inputs(DIGITS, [0, 9])
    assert net(x, level).dtype == tf.float32
    score = net.score_at_sigma(x, tf.constant([3.0, 1e-3]))
    assert score.dtype == tf.float32 and np.isfinite(score.numpy()).all()


def test_gradients_reach_every_trainable_variable():
    net = make(dropout=0.1)
    x, level = inputs(DIGITS, [0, 3, 6, 9])
    sigma = tf.gather(tf.constant(SIGMAS), level)[:, None, None, None]
    z = tf.random.stateless_normal(x.shape, [0, 1])
    with tf.GradientTape() as tape:  # Denoising score matching, weighted by sigma^2.
        loss = tf.reduce_mean(tf.square(sigma * net(x + sigma * z, level, training=True) + z))
    gradients = tape.gradient(loss, net.trainable_variables)
    missing = [v.path for v, g in zip(net.trainable_variables, gradients)
               if g is None or not np.any(tf.convert_to_tensor(g).numpy())]
    assert not missing


def test_dropout_only_when_training():
    net = jiggle(make(dropout=0.5))
    x, level = inputs(DIGITS, [0, 5])
    sigma = tf.constant([SIGMAS[0], SIGMAS[5]])
    inference = net(x, level).numpy()
    np.testing.assert_array_equal(net(x, level, training=False).numpy(), inference)
    np.testing.assert_array_equal(net.score_at_sigma(x, sigma).numpy(), inference)
    assert np.abs(net(x, level, training=True).numpy() - inference).max() > 1e-4
    assert np.abs(net.score_at_sigma(x, sigma, training=True).numpy() - inference).max() > 1e-4


def test_options_change_the_network():
    base = make()
    assert make(attention=False).count_params() < base.count_params()
    assert make(downsample="avg").count_params() < base.count_params()
    assert make(num_res_blocks=2).count_params() > base.count_params()
    assert make(embedding="positional", embedding_dim=4).get_config()["embedding_dim"] == 4


def test_group_count_divides_the_channels():
    assert [group_count(c) for c in (1, 4, 8, 16, 24, 48, 96, 128, 256, 18)] == [
        1, 1, 2, 4, 6, 12, 24, 32, 32, 3]


@pytest.mark.parametrize("shape,mults", [((28, 28, 1), [1, 2, 2, 2]), ((12, 10, 1), [1, 2, 2])])
def test_rejects_sizes_it_cannot_halve(shape, mults):
    with pytest.raises(ValueError, match=r"channel_mults=.*divisible by"):
        NoiseConditionalUNet(input_shape=shape, sigmas=SIGMAS, channel_mults=mults)
    with pytest.raises(ConfigError, match="channel_mults"):
        make(shape, channel_mults=mults)


@pytest.mark.parametrize("options,name", [({"embedding": "learned"}, "embedding"),
                                          ({"embedding_dim": 5}, "embedding_dim"),
                                          ({"downsample": "max"}, "downsample"),
                                          ({"dropout": 1.0}, "dropout")])
def test_rejects_bad_options(options, name):
    with pytest.raises(ValueError, match=name):
        NoiseConditionalUNet(input_shape=DIGITS, sigmas=SIGMAS, **options)


def test_onnx_matches_keras(model):
    pytest.importorskip("onnxruntime")
    from tfncsn_export import exporter, verify

    results = {}
    for name, net in (("fourier, conv", model),
                      ("positional, avg", jiggle(make(embedding="positional", downsample="avg")))):
        network = exporter.convert_score_network(exporter.score_functions(net)[0], DIGITS)
        x, level = inputs(DIGITS, list(range(10)) * 2, seed=3)
        expected = net(x, level, training=False).numpy()
        got = exporter_run(network, x.numpy(), level.numpy())
        results[name] = verify.compare(name, got, expected, verify.Tolerance())
    assert all(c.passed for c in results.values()), [c.describe() for c in results.values()]


def exporter_run(network, x, level):
    import onnxruntime

    session = onnxruntime.InferenceSession(network.SerializeToString(),
                                           providers=["CPUExecutionProvider"])
    return session.run(["score"], {"x": x, "level": level})[0]
