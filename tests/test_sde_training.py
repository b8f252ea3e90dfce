"""Continuous-time training on an SDE (tfncsn/losses.py, tfncsn/training, `tfncsn train --sde`):
the objective against closed forms, and the training loop's guarantees (exact resume, several
devices, XLA) for SDE runs; bad SDE flags as one-line errors."""

import os

import numpy as np
import pytest
import tensorflow as tf

from conftest import error_line, run_cli, run_cli_each
from tfncsn import losses, registry, sdes

TOY_VP = ["--flagfile=configs/toy_sde.cfg", "--sde=vp", "--log_every=10", "--checkpoint_every=10"]


def make_sde(name):
    return sdes.build(registry.sdes.get(name), {}, 20.0, 0.01, name)


@pytest.mark.parametrize("name", ["ve", "vp", "subvp"])
def test_the_continuous_loss_is_its_formula(name):
    sde = make_sde(name)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 3)).astype(np.float32)
    z = rng.normal(size=(5, 3)).astype(np.float32)
    t = np.array([0.01, 0.2, 0.5, 0.8, 1.0], np.float32)

    def score_fn(x_t, std):
        return tf.sin(x_t) / std[:, None]

    m, std = (np.asarray(v, np.float64) for v in sde.marginal(tf.constant(t, tf.float64)))
    x_t = m[:, None] * x + std[:, None] * z
    expected = 0.5 * np.sum((np.sin(x_t) + z) ** 2, axis=1)
    got = losses.continuous_dsm_per_example(score_fn, sde, x, t, z)
    np.testing.assert_allclose(got, expected, rtol=1e-4)
    g = np.asarray(sde.diffusion(tf.constant(t, tf.float64)))
    weighted = losses.continuous_dsm_per_example(score_fn, sde, x, t, z, "likelihood")
    np.testing.assert_allclose(weighted, expected * (g / std) ** 2, rtol=1e-4)


@pytest.mark.parametrize("name", ["ve", "vp"])
def test_the_exact_score_minimises_the_expected_loss(name):
    """Data N(1, 0.5^2): among c * (exact score), c = 1 has the lowest loss over many draws."""
    sde = make_sde(name)
    n = 200_000
    x = tf.constant(1.0 + 0.5 * np.random.default_rng(1).normal(size=(n, 1)), tf.float32)
    draws = losses.draw_continuous_dsm_noise(losses.StatelessRNG(tf.constant([1, 2])), [n, 1],
                                             1e-3)

    def scaled(c):
        def score(x_t, std):
            return c * sdes.score_from_ve(
                lambda y, sigma: -(y - 1.0) / (0.25 + sigma[:, None] ** 2), sde, x_t, std)
        return float(tf.reduce_mean(losses.continuous_dsm_per_example(
            score, sde, x, draws["t"], draws["noise"])))

    assert scaled(1.0) < min(scaled(0.9), scaled(1.1))


def test_time_bins_put_the_most_noise_in_bin_zero():
    t = tf.constant([1.0, 0.99, 0.5, 0.011, 0.01])
    assert losses.time_bins(t, 0.01, 10).numpy().tolist() == [0, 0, 5, 9, 9]


def model_tensors(workdir):
    reader = tf.train.load_checkpoint(os.path.join(workdir, "checkpoints"))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
            if name.startswith("model/")}


def test_an_sde_run_resumes_exactly_and_trains_alike_with_xla_and_two_devices(tmp_path):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    run_cli("train", *TOY_VP, "--steps=20", f"--workdir={straight}")
    run_cli("train", *TOY_VP, "--steps=10", f"--workdir={resumed}")
    run_cli("train", "--steps=20", f"--workdir={resumed}")
    a, b = model_tensors(straight), model_tensors(resumed)
    assert a.keys() == b.keys() and a
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], name)
    for extra in (["--jit_compile"], ["--strategy=mirrored", "--num_cpu_devices=2"]):
        other = tmp_path / extra[0].strip("-").split("=")[0]
        run_cli("train", *TOY_VP, "--steps=20", f"--workdir={other}", *extra)
        c = model_tensors(other)
        for name in a:
            np.testing.assert_allclose(c[name], a[name], rtol=1e-3, atol=1e-5, err_msg=name)


BAD_SDE_FLAGS = [
    (["--sde=vp"], "--sde=vp needs a model that accepts any sigma"),
    (["--sde=bogus", "--model_options=noise_embedding=\"fourier\""], "unknown sde 'bogus'"),
    (["--sde=vp", "--sde_options=beta_min=50", "--model_options=noise_embedding=\"fourier\""],
     "--sde_options: sde 'vp' rejected options {'beta_min': 50}: need 0 < beta_min"),
    (["--sde=vp", "--sde_eps=1", "--model_options=noise_embedding=\"fourier\""],
     "sde_eps must be below 1"),
]


def test_bad_sde_flags_are_one_line_errors_that_leave_the_workdir_alone(tmp_path):
    workdirs = [tmp_path / f"run{i}" for i in range(len(BAD_SDE_FLAGS))]
    procs = run_cli_each(*[["train", "--dataset=toy", "--steps=5", f"--workdir={workdir}", *flags]
                           for workdir, (flags, _) in zip(workdirs, BAD_SDE_FLAGS)])
    for proc, workdir, (flags, message) in zip(procs, workdirs, BAD_SDE_FLAGS):
        assert message in error_line(proc), flags
        assert not workdir.exists(), flags


def test_the_held_out_loss_of_a_continuous_run_is_the_objective_at_the_bin_centres():
    from tfncsn.metrics import heldout
    sde = make_sde("vp")
    objective = losses.ContinuousDSM(sde, 1e-3, "std2")
    x = np.random.default_rng(2).normal(size=(40, 2)).astype(np.float32)

    def score_fn(x_t, std):
        return -x_t / std[:, None]

    result = heldout.heldout_dsm_loss(score_fn, x, np.ones(4, np.float32), seed=5,
                                      continuous=objective)
    times = heldout.bin_times(4, 1e-3)
    np.testing.assert_allclose(times, [0.875125, 0.625375, 0.375625, 0.125875], rtol=1e-6)
    for i, t in enumerate(times):
        z = heldout.level_noise(5, i, x.shape)
        expected = losses.continuous_dsm_per_example(score_fn, sde, x, tf.fill([40], t), z)
        assert result.per_level[i] == pytest.approx(float(tf.reduce_mean(expected)), rel=1e-5)


def test_the_evaluation_report_names_the_sde_and_counts_states_in_english():
    from tfncsn.evaluation import report
    assert [report._ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 101)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st"]
    sde = {"name": "vp", "options": {}, "weighting": "std2", "train_eps": 1e-5}
    assert report._noise({"sde": sde, "sigmas": [1.0, 0.1]}) == (
        "trained in continuous time on the vp SDE, t ~ U(1e-05, 1)")
    assert report._noise({"sde": None, "sigmas": [1.0, 0.1]}) == "2 noise levels 1 → 0.1"
