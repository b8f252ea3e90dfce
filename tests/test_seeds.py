"""Seeds name independent random streams (tfncsn/seeds.py, docs/algorithms.md#seeds).

Before, `tf.random.Generator.from_seed(s)` put s into Philox's counter: seed 1's sampler
shared 1278 of 1280 toy samples with seed 0's. These tests fail if any seeded path (the
library's generator, `tfncsn sample`, training's noise) goes back to a counter offset.
"""

import numpy as np
import tensorflow as tf

from conftest import run_cli
from tfncsn import builders, losses, seeds, training
from tfncsn.config import TrainConfig
from tfncsn_plugins.datasets.toy import ToyMixture

SEEDS = (0, 1, 5)
TRAINING_SEEDS = (0, 1, 256)


def shared_values(a: np.ndarray, b: np.ndarray) -> int:
    """How many values of `a` (float32, continuous draws) also occur anywhere in `b`."""
    return int(np.isin(np.asarray(a).ravel(), np.asarray(b).ravel()).sum())


def shared_rows(a: np.ndarray, b: np.ndarray) -> int:
    """How many rows of `a` [N, D] are rows of `b` too."""
    rows = {row.tobytes() for row in np.asarray(b)}
    return sum(row.tobytes() in rows for row in np.asarray(a))


def test_generators_of_different_seeds_share_no_draw():
    draws = {seed: seeds.generator(seed).normal([4096]).numpy() for seed in SEEDS}
    for a in SEEDS:
        for b in SEEDS:
            if a != b:
                assert shared_values(draws[a], draws[b]) == 0, (a, b)
    np.testing.assert_array_equal(seeds.generator(5).normal([64]), draws[5][:64])


def test_a_counter_offset_would_have_been_caught():
    """The check above is sharp: `from_seed(1)` is seed 0's stream four numbers on."""
    offset = tf.random.Generator.from_seed(1).normal([8]).numpy()
    assert shared_values(offset, tf.random.Generator.from_seed(0).normal([4096])) == 8


def test_seed_zero_draws_what_it_drew_before():
    """Key 0 at counter 0 is from_seed(0)'s start: seed-0 runs and goldens are unchanged."""
    np.testing.assert_array_equal(seeds.generator(0).normal([256]),
                                  tf.random.Generator.from_seed(0).normal([256]))


def test_reset_inside_a_graph_restarts_the_seed_stream():
    """What the SavedModel's `sample(seed)` does at the start of each call."""
    rng = seeds.generator(0)

    @tf.function(input_signature=[tf.TensorSpec([], tf.int64)])
    def draw(seed):
        seeds.reset(rng, seed)
        return rng.normal([32])

    for seed in (7, 3, 7):
        np.testing.assert_array_equal(draw(tf.constant(seed, tf.int64)),
                                      seeds.generator(seed).normal([32]))


def test_sample_with_seeds_0_1_and_5_shares_no_sample(tmp_path):
    """`tfncsn sample` on the toy (exact score, so no training): 1280 samples per seed."""
    samples = {}
    for seed in SEEDS:
        out = tmp_path / f"s{seed}.npy"
        run_cli("sample", "--flagfile=configs/toy.cfg", "--score=exact", "--steps_per_level=5",
                "--num_samples=1280", f"--seed={seed}", f"--output={out}")
        samples[seed] = np.load(out)
    for a in SEEDS:
        for b in SEEDS:
            if a < b:
                assert shared_rows(samples[a], samples[b]) == 0, (a, b)


def test_training_runs_with_different_seeds_share_no_noise_draw(tmp_path, monkeypatch):
    """The per-step noise of DSM (levels are small integers, so only z is compared). Each
    step takes its noise seed from one `make_seeds` call, which moves Philox's counter on by
    256: under a counter offset seed 256 trained on seed 0's noise one step late."""
    recorded = []

    def record(z):
        recorded[-1].append(z.copy())
        return z

    def recording_draw(rng, x_shape, num_levels):
        noise = losses.draw_dsm_noise(rng, x_shape, num_levels)
        z = tf.numpy_function(record, [noise["noise"]], tf.float32, stateful=True)
        return {**noise, "noise": tf.ensure_shape(z, noise["noise"].shape)}

    monkeypatch.setattr(training.step, "make_objective",
                        lambda config, continuous=None: (recording_draw, losses.dsm_from_noise,
                                                         "level"))
    sigmas = tf.constant(np.geomspace(20.0, 1.0, 10), tf.float32)
    noise = {}
    for seed in TRAINING_SEEDS:
        recorded.append([])
        config = TrainConfig(steps=6, batch_size=16, log_every=3, checkpoint_every=6,
                             seed=seed)
        training.train(lambda: builders.make_model("mlp", {}, (2,), sigmas.numpy()),
                       ToyMixture(), sigmas, config, str(tmp_path / f"seed{seed}"))
        noise[seed] = np.stack(recorded[-1])
        assert noise[seed].shape == (6, 16, 2)
    for a in TRAINING_SEEDS:
        for b in TRAINING_SEEDS:
            if a < b:
                assert shared_values(noise[a], noise[b]) == 0, (a, b)
