"""Mixed precision (issue 9.1): float32 unchanged, mixed policies compute in 16 bits and keep
float32 weights, losses, scores and EMA; float16 trains with dynamic loss scaling."""

import dataclasses
import json
import pathlib

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfncsn import builders, config as run_config, training
from tfncsn.config import ConfigError, RunConfig, SigmaConfig, TrainConfig
from tfncsn.metrics.heldout import heldout_dsm_loss
from tfncsn.sampling import score_source
from tfncsn_plugins.datasets.toy import ToyMixture

from conftest import error_line, run_cli

GOLDEN = pathlib.Path(__file__).parent / "golden" / "float32_before_mixed_precision.npz"
SIGMAS = np.geomspace(1.0, 0.01, 4)
# name in the golden file: (model plugin, options, input shape).
# The golden's RefineNets started their conv biases at 0 (conv_bias_init's default since
# is PyTorch's uniform draw, made after every other weight: it changes the biases only).
NETWORKS = {"refinenet": ("refinenet", {"ngf": 8, "conv_bias_init": "zeros"}, (16, 16, 2)),
            "refinenet_v2": ("refinenet_v2", {"ngf": 8, "conv_bias_init": "zeros"},
                             (16, 16, 2)),
            "mlp": ("mlp", {}, (2,)),
            "mlp_fourier": ("mlp", {"noise_embedding": "fourier"}, (2,))}
TOY_SIGMAS = np.geomspace(20.0, 1.0, 10)


def network_output(key: str, precision: str = "float32"):
    name, options, shape = NETWORKS[key]
    keras.utils.set_random_seed(0)
    model = builders.make_model(name, options, shape, SIGMAS, precision)
    x = tf.random.stateless_uniform([3, *shape], seed=[1, 2])
    return model, model(x, tf.constant([0, 1, 3]), training=False)


def train_toy(workdir, precision: str = "float32", **settings):
    sigmas = tf.constant(TOY_SIGMAS, tf.float32)
    config = TrainConfig(**{"steps": 30, "batch_size": 32, "log_every": 10,
                            "checkpoint_every": 30, "seed": 3, **settings})
    build = lambda: builders.make_model("mlp", {}, (2,), sigmas.numpy(), precision)
    result = training.train(build, ToyMixture(), sigmas, config, str(workdir))
    model = build()
    training.restore_model(model, str(workdir))
    return result, model


# The golden was written by the code before mixed precision existed (the script is in the
# commit that added it). On the machine that wrote it (AVX2) the match is exact; oneDNN picks
# kernels by CPU, so elsewhere float32 rounding differs: on an AMX/AVX-512 Xeon the largest
# difference was 8.8e-5 in an example whose score has an RMS of 2.8 (3e-5 of it). A network
# computing in 16 bits misses by about 1e-2 of the RMS, so 1e-4 of each example's RMS still
# tells the two apart.
@pytest.mark.parametrize("key", sorted(NETWORKS))
def test_float32_networks_compute_what_they_did_before_mixed_precision(key):
    golden = np.load(GOLDEN)[key]
    actual = network_output(key)[1].numpy()
    for example, expected in zip(actual, golden):
        difference = np.abs(example - expected).max()
        assert difference <= 1e-4 * np.sqrt(np.mean(expected ** 2)), difference


# The toy-training keys were re-recorded on 2026-12-06 when seeds became Philox keys
# (docs/algorithms.md#seeds): given the old from_seed(3) generator, the code then still
# reproduced the old golden (loss 0.93859107 against 0.93859103); only the noise changed.
def test_float32_training_is_what_it_was_before_mixed_precision(tmp_path):
    result, model = train_toy(tmp_path)
    golden = np.load(GOLDEN)
    weights = np.concatenate([v.numpy().ravel() for v in model.trainable_variables])
    np.testing.assert_allclose(weights, golden["toy_train_weights"], rtol=1e-5, atol=1e-6)
    assert result.loss == pytest.approx(float(golden["toy_train_loss"]), rel=1e-6)
    assert isinstance(model.dtype_policy, keras.DTypePolicy)
    assert not isinstance(training.make_optimizer(TrainConfig()),
                          keras.optimizers.LossScaleOptimizer)


# Relative L2 error of a 16-bit forward pass against float32 on the same weights: bfloat16
# keeps 8 significant bits (about 0.4% per rounding), float16 11 bits.
TOLERANCE = {"mixed_bfloat16": 0.05, "mixed_float16": 0.01}


@pytest.mark.parametrize("precision", ["mixed_bfloat16", "mixed_float16"])
@pytest.mark.parametrize("key", ["refinenet", "refinenet_v2", "mlp_fourier"])
def test_a_mixed_policy_computes_in_16_bits_on_float32_weights(key, precision):
    reference_model, reference = network_output(key)
    model, score = network_output(key, precision)
    compute = precision.removeprefix("mixed_")
    assert keras.config.dtype_policy().name == "float32"  # The global policy was restored.
    assert {v.dtype for v in model.variables} == {"float32"}
    assert {layer.compute_dtype for layer in model._flatten_layers(include_self=False)
            if layer.weights} == {compute}
    for ours, theirs in zip(model.variables, reference_model.variables):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())  # Same initialisation.
    assert score.dtype == tf.float32
    error = np.linalg.norm(score.numpy() - reference.numpy()) / np.linalg.norm(reference.numpy())
    assert 0 < error < TOLERANCE[precision], error


def test_an_unknown_precision_is_one_line():
    with pytest.raises(ConfigError, match="precision must be one of auto, float32, mixed_bfloat16"):
        builders.make_model("mlp", {}, (2,), SIGMAS, "float8")
    with pytest.raises(ConfigError, match="precision must be one of"):
        RunConfig(precision="bfloat16")


# Stated tolerance: a mixed-precision twin's held-out DSM loss after the same short run is
# within 2% of float32's (measured: about 0.1% for bfloat16 and float16 on the toy).
@pytest.mark.parametrize("precision", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_training_reaches_the_float32_held_out_loss(tmp_path, precision):
    sigmas = tf.constant(TOY_SIGMAS, tf.float32)
    held_out = np.concatenate(list(ToyMixture().load("test", training=True, seed=1)
                                   .take(2000).batch(2000).as_numpy_iterator()))
    losses = {}
    for name in ("float32", precision):
        result, model = train_toy(tmp_path / name, name, steps=300, log_every=100,
                                  checkpoint_every=300, ema_decay=0.9)
        assert np.isfinite(result.loss)
        score_fn = tf.function(lambda x, level: model(x, level, training=False))
        losses[name] = heldout_dsm_loss(score_fn, held_out, sigmas, seed=0).total
    print(losses)
    assert losses[precision] == pytest.approx(losses["float32"], rel=0.02), losses
    assert losses[precision] != losses["float32"]  # It did compute in 16 bits.


def test_float16_trains_with_loss_scaling_and_resumes_exactly(tmp_path):
    whole, whole_model = train_toy(tmp_path / "whole", "mixed_float16", steps=40)
    train_toy(tmp_path / "parts", "mixed_float16", steps=20)
    parts, parts_model = train_toy(tmp_path / "parts", "mixed_float16", steps=40)
    assert parts.step == whole.step == 40
    for a, b in zip(whole_model.variables, parts_model.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    scales = []
    for run in ("whole", "parts"):
        reader = tf.train.load_checkpoint(str(tmp_path / run / "checkpoints"))
        scales.append(reader.get_tensor("optimizer/dynamic_scale/.ATTRIBUTES/VARIABLE_VALUE"))
    # The first steps' gradients overflow float16 at 2^15: skipped, and the scale halved.
    assert scales[0] == scales[1] < 2.0 ** 15


def test_the_gradient_norm_is_reported_unscaled_under_loss_scaling():
    sigmas = tf.constant(TOY_SIGMAS, tf.float32)
    x = tf.random.stateless_normal([32, 2], seed=[4, 4]) * 3.0
    norms = {}
    for precision in ("float32", "mixed_float16"):
        keras.utils.set_random_seed(0)
        model = builders.make_model("mlp", {}, (2,), TOY_SIGMAS, precision)
        config = TrainConfig(batch_size=32, grad_clip_norm=1e-3)
        optimizer = training.make_optimizer(config, training.needs_loss_scaling(model))
        optimizer.build(model.trainable_variables)
        if precision == "mixed_float16":  # 2^15 overflows this first step: it would be skipped.
            optimizer.dynamic_scale.assign(64.0)
        state = training.TrainState(step=tf.Variable(0, dtype=tf.int64), model=model,
                                    optimizer=optimizer, ema=[],
                                    rng=tf.random.Generator.from_seed(0))
        steps = training.make_train_step(state, sigmas, config, tf.distribute.get_strategy())
        norms[precision] = float(steps(iter(tf.data.Dataset.from_tensors(x).repeat()),
                                       tf.constant(1))[3])
    assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
    assert norms["mixed_float16"] == pytest.approx(norms["float32"], rel=0.01), norms


def test_the_run_precision_reaches_sampling(tmp_path):
    train_toy(tmp_path, steps=10)
    config = RunConfig(dataset="toy", model="mlp",
                       sigmas=SigmaConfig("geometric", 20.0, 1.0, 10))
    x = tf.random.stateless_normal([64, 2], seed=[0, 1]) * 5.0
    level = tf.fill([64], 9)
    scores = {p: score_source.load(dataclasses.replace(config, precision=p), str(tmp_path))
              .score_fn(x, level).numpy() for p in ("float32", "mixed_bfloat16")}
    assert not np.array_equal(scores["float32"], scores["mixed_bfloat16"])
    np.testing.assert_allclose(scores["mixed_bfloat16"], scores["float32"], rtol=0.05, atol=0.05)


def test_precision_is_a_setting_of_the_run_saved_and_checked_on_resume(tmp_path):
    workdir = tmp_path / "run"
    run_cli("train", "--flagfile=configs/toy.cfg", f"--workdir={workdir}", "--steps=20",
            "--log_every=10", "--precision=mixed_bfloat16")
    assert json.loads((workdir / "config.json").read_text())["precision"] == "mixed_bfloat16"
    # bfloat16 <-> float32 keeps the checkpoint's layout; float16 adds the loss scale.
    run_cli("train", f"--workdir={workdir}", "--steps=30", "--log_every=10",
            "--precision=float32")
    before = sorted(p.name for p in (workdir / "checkpoints").iterdir())
    failed = run_cli("train", f"--workdir={workdir}", "--steps=40",
                     "--precision=mixed_float16", check=False)
    assert error_line(failed) == (
        f"tfncsn train: error: workdir '{workdir}' holds a run with a different loss_scaling "
        "(loss_scaling: False -> True); use a new --workdir")
    assert sorted(p.name for p in (workdir / "checkpoints").iterdir()) == before
    assert run_config.load(str(workdir)).precision == "float32"
