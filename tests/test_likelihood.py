"""The probability-flow ODE likelihood (tfncsn/likelihood.py, docs/algorithms.md#likelihood)
against closed forms: Gaussian data, the 2-D toy mixture, the dequantisation and logit terms,
and `tfncsn evaluate --eval_metrics=likelihood` end to end."""

import json
import math

import numpy as np
import pytest
import tensorflow as tf

from conftest import error_line, run_cli
from tfncsn import likelihood, registry, sdes
from tfncsn.config import ConfigError
from tfncsn.data import preprocessing
from tfncsn.evaluation import config as eval_config
from tfncsn.evaluation import plan as eval_plan
from tfncsn.gaussian_mixture import GaussianMixture, paper_toy
from tfncsn.sampling import score_source
from tfncsn_plugins.datasets.toy import ToyMixture

MU, STD, DIMS = 0.3, 0.5, 6
SIGMA_MIN, SIGMA_MAX = 0.01, 5.0


def ve(sigma_min, sigma_max):
    """NCSN's levels as an SDE: VE from sigma_min (t = 0) to sigma_max (t = 1)."""
    return sdes.build(registry.sdes.get("ve"), {}, sigma_max, sigma_min, "ve")


VE = ve(SIGMA_MIN, SIGMA_MAX)


def gaussian_score(x, sigma):
    """The exact score of N(MU, STD^2 I) perturbed by N(0, sigma^2 I)."""
    return -(x - MU) / (STD ** 2 + tf.reshape(sigma, [-1, 1]) ** 2)


def gaussian_data(n, seed=0):
    """Draws of the data perturbed at sigma_L: the density the ODE gives at t = 0."""
    rng = np.random.default_rng(seed)
    return (MU + math.sqrt(STD ** 2 + SIGMA_MIN ** 2) * rng.standard_normal((n, DIMS))
            ).astype(np.float32)


def gaussian_model_nll(x):
    """-log of the ODE's density with the N(0, sigma_1^2 I) prior, in closed form: the flow is
    x(sigma) - mu = (x - mu) sqrt((s^2 + sigma^2) / (s^2 + sigma_L^2)), a linear map."""
    ratio = (STD ** 2 + SIGMA_MAX ** 2) / (STD ** 2 + SIGMA_MIN ** 2)
    end = MU + (x.astype(np.float64) - MU) * math.sqrt(ratio)
    return -(np.asarray(VE.prior_log_prob(end)) + 0.5 * DIMS * math.log(ratio))


def gaussian_log_density(x, variance):
    flat = x.astype(np.float64)
    return (-0.5 * np.sum((flat - MU) ** 2, axis=1) / variance
            - 0.5 * DIMS * math.log(2 * math.pi * variance))


def test_gaussian_data_with_the_exact_score_matches_the_closed_form_exactly():
    x = gaussian_data(64)
    result = likelihood.negative_log_likelihood(gaussian_score, x, VE,
                                                likelihood.ODEOptions(probe="exact"))
    np.testing.assert_allclose(result.nll, gaussian_model_nll(x), atol=2e-3)
    assert result.bits_per_dim == pytest.approx(result.nll / (DIMS * math.log(2)))
    assert result.score_evals.shape == (64,) and result.score_evals[0] > 10
    # With the exact p_{sigma_1} as the prior, the ODE gives p_{sigma_L} itself.
    exact_prior = lambda z: gaussian_log_density(z, STD ** 2 + SIGMA_MAX ** 2)  # noqa: E731
    result = likelihood.negative_log_likelihood(gaussian_score, x, VE,
                                                likelihood.ODEOptions(probe="exact"),
                                                prior_log_prob=exact_prior)
    np.testing.assert_allclose(result.nll, -gaussian_log_density(x, STD ** 2 + SIGMA_MIN ** 2),
                               atol=2e-3)


LEVELS = np.geomspace(SIGMA_MAX, SIGMA_MIN, 5).astype(np.float32)


def gaussian_level_score(x, level):
    """The exact score of the Gaussian at the trained level `level` of LEVELS."""
    return gaussian_score(x, tf.gather(tf.constant(LEVELS), level))


def nearest_level_nll(x):
    """-log of the ODE's density when each sigma is scored at its nearest level: in the band
    of level i the flow is linear, log|x - mu| growing by (b^2 - a^2) / (2 (s^2 + sigma_i^2))
    from sigma = a to b, and the log-determinant by D times as much."""
    edges = np.sqrt(LEVELS[:-1].astype(np.float64) * LEVELS[1:])  # Halfway in log sigma.
    tops = np.concatenate([[SIGMA_MAX], edges])
    bottoms = np.concatenate([edges, [SIGMA_MIN]])
    growth = np.sum((tops ** 2 - bottoms ** 2) / (2 * (STD ** 2 + LEVELS.astype(np.float64) ** 2)))
    end = MU + (x.astype(np.float64) - MU) * math.exp(growth)
    return -(np.asarray(VE.prior_log_prob(end)) + DIMS * growth)


def test_nearest_level_scores_each_sigma_at_the_closest_trained_level_in_log_sigma():
    sigmas = np.array([1.0, 0.5, 0.25], np.float32)
    score = score_source.nearest_level(
        lambda x, level: tf.cast(level, tf.float32)[:, None] + 0 * x, sigmas)
    # ln 0.71 is nearer ln 1 (0.342) than ln 0.5 (0.351); ln 0.7 nearer ln 0.5.
    sigma = tf.constant([2.0, 1.0, 0.71, 0.7, 0.36, 0.35, 0.1])
    assert score(tf.zeros([7, 1]), sigma).numpy().ravel().tolist() == [0, 0, 0, 1, 1, 2, 2]


def test_the_nearest_level_likelihood_of_the_gaussian_matches_its_piecewise_closed_form():
    x = gaussian_data(64)
    score = score_source.nearest_level(gaussian_level_score, LEVELS)
    # The score jumps at each switch of level, where RK45 at its default 1e-5 tolerances is
    # off by up to 0.03 nats here (and needs 356 evaluations against the continuous score's
    # 86); at 1e-7 it converges to the closed form.
    result = likelihood.negative_log_likelihood(
        score, x, VE, likelihood.ODEOptions(probe="exact", rtol=1e-7,
                                                              atol=1e-7))
    np.testing.assert_allclose(result.nll, nearest_level_nll(x), atol=2e-4)
    # Five levels over a factor of 500 in sigma: not the continuous score's answer.
    assert np.mean(np.abs(result.nll - gaussian_model_nll(x))) > 0.5


@pytest.mark.parametrize("probe", ["rademacher", "gaussian"])
def test_hutchinson_estimates_match_the_gaussian_closed_form_within_monte_carlo_error(probe):
    # Gaussian probes: error = (|e|^2/K - D) ln(ratio)/2 per example, std 5.6/sqrt(K) here.
    x = gaussian_data(2000, seed=1)
    result = likelihood.negative_log_likelihood(
        gaussian_score, x, VE,
        likelihood.ODEOptions(probe=probe, num_probes=16, seed=3), batch_size=1000)
    error = result.nll - gaussian_model_nll(x)
    mean, sem = result.mean_sem(error)
    assert abs(mean) < 3 * sem + 1e-3 and abs(mean) < 0.15, (mean, sem)
    if probe == "rademacher":  # e^T J e = tr J for J = c I and e in {-1, 1}^D: no noise.
        assert np.abs(error).max() < 2e-3
    else:
        assert error.std() > 0.1  # The Gaussian probes' own variance.
    assert len(result.batch_score_evals) == 2


def test_the_toy_mixture_gives_its_perturbed_density_at_sigma_min():
    """The density the ODE computes is p_{sigma_L}, the data convolved with N(0, sigma_L^2 I):
    closed form for a Gaussian mixture (checked here by a numerical 2-D integral too)."""
    mixture, sigma_min, sigma_max = paper_toy(), 0.5, 20.0
    rng = np.random.default_rng(0)
    clean = mixture.sample(200, 3)
    x = (clean + sigma_min * rng.standard_normal(clean.shape)).astype(np.float32)
    target = -mixture.log_prob(x, sigma_min).numpy().astype(np.float64)
    # p_{sigma_L}(x) = int p(y) N(x; y, sigma_L^2 I) dy on a grid, for the first points.
    grid = np.linspace(-12, 12, 481)
    step = grid[1] - grid[0]
    yy = np.stack(np.meshgrid(grid, grid, indexing="ij"), -1).reshape(-1, 2).astype(np.float32)
    data_density = np.exp(mixture.log_prob(yy).numpy().astype(np.float64))
    for point, expected in zip(x[:3], target[:3]):
        kernel = np.exp(-np.sum((yy - point) ** 2, 1) / (2 * sigma_min ** 2)) / (
            2 * np.pi * sigma_min ** 2)
        assert -math.log(np.sum(data_density * kernel) * step ** 2) == pytest.approx(
            expected, abs=1e-3)

    exact_prior = lambda z: mixture.log_prob(z.astype(np.float32), sigma_max).numpy()  # noqa
    result = likelihood.negative_log_likelihood(mixture.score, x, ve(sigma_min, sigma_max),
                                                likelihood.ODEOptions(probe="exact"),
                                                prior_log_prob=exact_prior)
    np.testing.assert_allclose(result.nll, target, atol=5e-3)
    # With the N(0, sigma_1^2 I) prior the endpoint's density is only approximate: close here
    # because sigma_1 = 20 is large against the data's spread.
    result = likelihood.negative_log_likelihood(mixture.score, x, ve(sigma_min, sigma_max),
                                                likelihood.ODEOptions(probe="exact"))
    assert abs(np.mean(result.nll - target)) < 0.1


@pytest.mark.parametrize("probe", ["rademacher", "gaussian"])
def test_hutchinson_probes_are_unbiased_on_the_toy_mixture(probe):
    """The mixture's score has a non-diagonal Jacobian between the modes: both probe kinds are
    noisy there, and both average to the exact trace's answer."""
    mixture = GaussianMixture([0.5, 0.5], [[-2.0, 0.0], [2.0, 1.0]], std=1.0)
    sigma_min, sigma_max = 0.1, 30.0
    x = mixture.sample(1500, 5)
    exact = likelihood.negative_log_likelihood(mixture.score, x, ve(sigma_min, sigma_max),
                                               likelihood.ODEOptions(probe="exact"),
                                               batch_size=1500)
    estimate = likelihood.negative_log_likelihood(
        mixture.score, x, ve(sigma_min, sigma_max),
        likelihood.ODEOptions(probe=probe, num_probes=16, seed=7), batch_size=1500)
    error = estimate.nll - exact.nll
    mean, sem = estimate.mean_sem(error)
    assert error.std() > 1e-3  # The probes do add noise here ...
    assert abs(mean) < 3 * sem and abs(mean) < 0.1, (mean, sem)  # ... and no bias.


def test_probes_are_fixed_by_the_seed_and_of_the_asked_kind():
    rng = np.random.default_rng(0)
    rademacher = likelihood.make_probes(likelihood.ODEOptions(num_probes=3), (5, 2, 2), rng)
    assert rademacher.shape == (3, 5, 2, 2) and set(np.unique(rademacher)) == {-1.0, 1.0}
    exact = likelihood.make_probes(likelihood.ODEOptions(probe="exact"), (5, 4), rng)
    assert exact.shape == (4, 5, 4) and np.array_equal(exact[:, 0], np.eye(4))
    x = gaussian_data(8)
    options = likelihood.ODEOptions(probe="gaussian", seed=11)
    first, again = (likelihood.negative_log_likelihood(gaussian_score, x, VE,
                                                       options).nll for _ in range(2))
    np.testing.assert_array_equal(first, again)


def test_dequantisation_adds_the_bin_volume_and_the_logit_jacobian_is_exact():
    x = gaussian_data(16)
    options = likelihood.ODEOptions(probe="exact")
    continuous = likelihood.negative_log_likelihood(gaussian_score, x, VE,
                                                    options)
    log_det = np.linspace(-3, 3, 16)
    discrete = likelihood.negative_log_likelihood(gaussian_score, x, VE,
                                                  options, log_det=log_det, levels=256)
    np.testing.assert_allclose(discrete.nll, continuous.nll - log_det + DIMS * math.log(256),
                               rtol=1e-6)
    np.testing.assert_allclose(discrete.bits_per_dim, discrete.nll / (DIMS * math.log(2)))
    # A density uniform on [0, 1]^D (log p = 0) costs exactly 8 bits per 8-bit pixel.
    assert (0 + DIMS * math.log(256)) / (DIMS * math.log(2)) == pytest.approx(8.0)

    pixels = np.array([[0, 1, 128, 255]], np.float32) / 255
    noisy = likelihood.dequantize(np.repeat(pixels, 500, 0), 256, seed=0)
    k = np.array([0, 1, 128, 255])
    assert np.all(noisy >= k / 256) and np.all(noisy < (k + 1) / 256)
    assert np.array_equal(noisy, likelihood.dequantize(np.repeat(pixels, 500, 0), 256, seed=0))

    y = np.random.default_rng(0).uniform(0.001, 0.999, (3, 5)).astype(np.float64)
    h = 1e-6
    derivative = ((preprocessing.logit_transform(tf.constant(y + h, tf.float64))
                   - preprocessing.logit_transform(tf.constant(y - h, tf.float64))) / (2 * h))
    np.testing.assert_allclose(likelihood.model_space_log_det("inverse_logit", y),
                               np.log(derivative.numpy()).sum(1), rtol=1e-6)
    assert np.array_equal(likelihood.model_space_log_det("clip", y), np.zeros(3))
    assert np.array_equal(likelihood.model_space_log_det("none", y), np.zeros(3))
    with pytest.raises(ConfigError, match="postprocess_kind 'custom'"):
        likelihood.model_space_log_det("custom", y)


def test_bad_options_and_shapes_are_one_line_errors():
    with pytest.raises(ConfigError, match="probe must be one of"):
        likelihood.ODEOptions(probe="hutch")
    with pytest.raises(ConfigError, match="num_probes must be at least 1"):
        likelihood.ODEOptions(num_probes=0)
    with pytest.raises(sdes.SDEError, match="sigma_max > sigma_min"):
        ve(1.0, 1.0)
    with pytest.raises(ConfigError, match="t_min < 1"):
        likelihood.ode_log_prob(gaussian_score, gaussian_data(2), VE, t_min=1.0)
    with pytest.raises(ConfigError, match="at most 64"):
        likelihood.ode_log_prob(gaussian_score, np.zeros((2, 65), np.float32), ve(0.1, 1.0),
                                likelihood.ODEOptions(probe="exact"))
    assert eval_config.LIKELIHOOD_PROBES == likelihood.PROBES


def test_only_models_that_accept_any_sigma_qualify():
    class Images:
        element_shape, postprocess_kind = (8, 8, 1), "clip"

    with pytest.raises(ConfigError, match="refinenet_v2, mlp with noise_embedding=fourier"):
        eval_plan.plan_metrics(Images(), ["likelihood"], True, None, continuous_sigma=False)
    plan = eval_plan.plan_metrics(Images(), ["likelihood"], False, None, continuous_sigma=False)
    assert plan.run == [] and "accepts any sigma" in plan.skipped["likelihood"]
    assert eval_plan.plan_metrics(Images(), ["heldout", "likelihood"], True, None,
                                  continuous_sigma=True).run == ["heldout", "likelihood"]
    Images.postprocess_kind = "custom"
    with pytest.raises(ConfigError, match="postprocess_kind 'custom'"):
        eval_plan.plan_metrics(Images(), ["likelihood"], True, None)


def test_auto_leaves_the_likelihood_out_and_it_needs_no_samples():
    assert "likelihood" not in eval_config.EvalConfig().metrics
    config = eval_config.EvalConfig(eval_metrics=("likelihood",), num_samples=0)
    assert config.metrics == ["likelihood"] and not config.needs_samples


def test_the_evaluation_dequantises_maps_to_logit_space_and_adds_both_terms(tmp_path):
    """digits in logit space scored by an analytic Gaussian score: the report's bits/dim is the
    closed form of the ODE density of z = logit(y), minus log|dz/dy|, plus D log 17."""
    from tfncsn import builders, config as run_config
    from tfncsn.evaluation import EvalConfig, evaluate
    from tfncsn.sampling.score_source import ScoreSource

    mean, std, sigma_min, sigma_max = 0.0, 6.0, 0.05, 40.0
    config = run_config.RunConfig(dataset="digits", dataset_options={"logit_transform": True},
                                  sigmas=run_config.SigmaConfig(sigma_max=sigma_max,
                                                                sigma_min=sigma_min))
    dataset = builders.make_dataset("digits", config.dataset_options)
    sigmas = builders.make_sigmas(config.sigmas)

    def score(x, sigma):
        return -(x - mean) / (std ** 2 + tf.reshape(sigma, [-1, 1, 1, 1]) ** 2)

    source = ScoreSource(config, dataset, sigmas, None, "Gaussian score", score)
    report = evaluate(source, EvalConfig(eval_metrics=("likelihood",), likelihood_examples=5,
                                         likelihood_probe="exact", likelihood_seed=4),
                      str(tmp_path / "r.json"))["likelihood"]

    test = np.concatenate(list(dataset.load("test").take(5).batch(5).as_numpy_iterator()))
    pixels = likelihood.dequantize(dataset.to_pixels(test), 17, seed=4)
    z = np.asarray(dataset.to_model_space(pixels), np.float64).reshape(5, -1)
    ratio = (std ** 2 + sigma_max ** 2) / (std ** 2 + sigma_min ** 2)
    end = mean + (z - mean) * math.sqrt(ratio)
    model_nll = -(np.asarray(ve(sigma_min, sigma_max).prior_log_prob(end)) + 32 * math.log(ratio))
    nll = model_nll - likelihood.model_space_log_det("inverse_logit", pixels) + 64 * math.log(17)
    np.testing.assert_allclose(report["per_example_bits_per_dim"], nll / (64 * math.log(2)),
                               rtol=1e-4)
    assert report["model_space"] == "inverse_logit" and report["num_examples"] == 5


def test_evaluate_likelihood_of_the_exact_toy_score_is_its_closed_form(tmp_path):
    out = tmp_path / "exact.json"
    run_cli("evaluate", "--score=exact", "--dataset=toy", "--sigma_max=100", "--sigma_min=1",
            "--eval_metrics=likelihood", "--likelihood_examples=20", "--likelihood_probe=exact",
            f"--output={out}")
    report = json.loads(out.read_text())["likelihood"]
    test = next(ToyMixture().load("test").batch(20).as_numpy_iterator())
    expected = -paper_toy().log_prob(test, 1.0).numpy() / (2 * math.log(2))
    # The N(0, sigma_1^2 I) prior stands for p_{sigma_1}: close for sigma_1 = 100, not exact
    # (log N(x(1); 0, sigma_1^2 I) - log p_{sigma_1}(x(1)) is about x(1).mean / sigma_1^2;
    # with sigma_1 = 20 single examples are off by up to 0.25 bits/dim).
    np.testing.assert_allclose(report["per_example_bits_per_dim"], expected, atol=0.08)
    assert report["bits_per_dim"] == pytest.approx(np.mean(expected), abs=0.02)
    assert report["dequantization"].startswith("none") and report["num_examples"] == 20


def test_evaluate_likelihood_end_to_end_on_a_tiny_image_model(tmp_path):
    workdir = tmp_path / "run"
    run_cli("train", "--dataset=digits", "--model=mlp", "--model_options=noise_embedding=fourier",
            "--model_options=hidden_units=[32]", "--batch_size=16", "--steps=20",
            "--log_every=10", f"--workdir={workdir}")
    out = tmp_path / "eval" / "lik.json"
    proc = run_cli("evaluate", f"--workdir={workdir}", "--eval_metrics=likelihood",
                   "--likelihood_examples=6", "--eval_batch_size=4", "--likelihood_rtol=1e-3",
                   "--likelihood_atol=1e-3", f"--output={out}")
    report = json.loads(out.read_text())
    lk = report["likelihood"]
    assert lk["num_examples"] == 6 and len(lk["score_evals_batches"]) == 2
    assert np.isfinite(lk["bits_per_dim"]) and lk["bits_per_dim_sem"] > 0
    assert lk["dequantization"].startswith("uniform, 17 levels") and lk["dims"] == 64
    assert lk["score_evals_mean"] >= 6 and report["num_samples"] == 0
    assert "likelihood:" in proc.stdout and "bits/dim" in proc.stdout
    assert "## Likelihood (probability-flow ODE)" in (out.parent / "lik.md").read_text()


@pytest.fixture(scope="module")
def level_toy(tmp_path_factory):
    """A toy run whose MLP is conditioned on its trained levels only."""
    workdir = tmp_path_factory.mktemp("level_toy") / "run"
    run_cli("train", "--dataset=toy", "--model=mlp", "--model_options=hidden_units=[8]",
            "--steps=2", "--batch_size=8", f"--workdir={workdir}")
    return workdir


def test_evaluate_likelihood_refuses_a_level_conditional_model(level_toy, tmp_path):
    proc = run_cli("evaluate", f"--workdir={level_toy}", "--eval_metrics=likelihood",
                   f"--output={tmp_path / 'e.json'}", check=False)
    line = error_line(proc)
    assert "eval_metrics=likelihood: needs a score model that accepts any sigma" in line
    assert "refinenet_v2, mlp with noise_embedding=fourier" in line
    assert "--likelihood_levels=nearest" in line
    assert not (tmp_path / "e.json").exists()


def test_evaluate_likelihood_of_a_level_conditional_model_at_its_nearest_levels(level_toy,
                                                                              tmp_path):
    out = tmp_path / "e.json"
    run_cli("evaluate", f"--workdir={level_toy}", "--eval_metrics=likelihood",
            "--likelihood_levels=nearest", "--likelihood_examples=4",
            "--likelihood_probe=exact", f"--output={out}")
    lk = json.loads(out.read_text())["likelihood"]
    assert lk["levels"] == "nearest" and lk["num_examples"] == 4
    assert np.isfinite(lk["bits_per_dim"]) and lk["score_evals_mean"] > 10
    assert "the score of the nearest one" in (tmp_path / "e.md").read_text()


@pytest.mark.parametrize("name, t_min", [("ve", 0.0), ("vp", 1e-3), ("subvp", 1e-3)])
def test_every_sdes_likelihood_is_exact_on_gaussian_data(name, t_min):
    """Data N(MU, STD^2 I): the marginal at t is N(m MU, v(t) I) with v = m^2 STD^2 + std^2 and
    the probability-flow ODE is the linear map x(t) - m(t) MU = (x - m(t_min) MU) sqrt(v(t) /
    v(t_min)), so -log p_{t_min}(x) = -(log prior(x(1)) + D/2 log(v(1) / v(t_min))); with the
    exact p_1 as the prior, the ODE returns log N(x; m(t_min) MU, v(t_min) I) itself."""
    sde = sdes.build(registry.sdes.get(name), {}, SIGMA_MAX, SIGMA_MIN, name)

    def score(x, std):
        return sdes.score_from_ve(gaussian_score, sde, x, std)

    def moments(t):
        m, std = (float(v) for v in sde.marginal(tf.constant(t, tf.float64)))
        return m, m ** 2 * STD ** 2 + std ** 2

    m0, v0 = moments(t_min)
    m1, v1 = moments(1.0)
    x = (m0 * MU + math.sqrt(v0) * np.random.default_rng(4).standard_normal((32, DIMS))
         ).astype(np.float32)
    options = likelihood.ODEOptions(probe="exact", rtol=1e-7, atol=1e-7)
    result = likelihood.negative_log_likelihood(score, x, sde, options, t_min=t_min)
    end = m1 * MU + (x.astype(np.float64) - m0 * MU) * math.sqrt(v1 / v0)
    expected = -(np.asarray(sde.prior_log_prob(end)) + 0.5 * DIMS * math.log(v1 / v0))
    np.testing.assert_allclose(result.nll, expected, atol=2e-3)

    def exact_prior(z):
        flat = z.astype(np.float64) - m1 * MU
        return -0.5 * np.sum(flat ** 2, axis=1) / v1 - 0.5 * DIMS * math.log(2 * math.pi * v1)

    result = likelihood.negative_log_likelihood(score, x, sde, options, t_min=t_min,
                                                prior_log_prob=exact_prior)
    flat = x.astype(np.float64) - m0 * MU
    log_density = -0.5 * np.sum(flat ** 2, axis=1) / v0 - 0.5 * DIMS * math.log(2 * math.pi * v0)
    np.testing.assert_allclose(result.nll, -log_density, atol=2e-3)


def test_a_t_min_where_the_noise_vanishes_is_refused():
    vp = sdes.build(registry.sdes.get("vp"), {}, SIGMA_MAX, SIGMA_MIN, "vp")
    with pytest.raises(likelihood.LikelihoodError, match="t_min > 0"):
        likelihood.negative_log_likelihood(gaussian_score, gaussian_data(2), vp)
