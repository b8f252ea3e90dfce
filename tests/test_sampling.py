"""The samplers as step programs: analytic scores, pinned outputs, the contract's checks."""

import dataclasses
import re

import numpy as np
import pytest
import tensorflow as tf

from conftest import REPO
from tfncsn import builders, registry, sampling
from tfncsn.config import SamplerConfig
from tfncsn.gaussian_mixture import paper_toy
from tfncsn.sampling import Problem, SamplerError
from tfncsn.sampling.conditioning import Inpainting
from tfncsn.sampling.checks import check_sampler_class
from tfncsn.sampling.langevin import langevin_update, snr_step_size, step_size
from tfncsn_plugins.samplers import (AnnealedLangevin, PlainLangevin, PredictorCorrector,
                                     ProbabilityFlowODE)
from tfncsn_plugins.sigma_schedules import geometric

TOY_SIGMAS = geometric(20.0, 1.0, 10)
GOLDEN = REPO / "tests" / "golden" / "samplers_before_step_programs.npz"


def gaussian_score(mean, std, sigmas):
    """Exact score of N(mean, std^2 I) perturbed at sigmas[level]."""
    def score(x, level):
        sigma = tf.reshape(tf.gather(sigmas, level), [-1] + [1] * (len(x.shape) - 1))
        return -(x - mean) / (std ** 2 + tf.square(sigma))
    return score


def gaussian_sigma_score(mean, std):
    """The same at any sigma: score(x, sigma [N])."""
    def score(x, sigma):
        sigma = tf.reshape(sigma, [-1] + [1] * (len(x.shape) - 1))
        return -(x - mean) / (std ** 2 + tf.square(sigma))
    return score


def build(cls, sigmas, shape, box=(0.0, 1.0), continuous=False, **options):
    problem = Problem(np.asarray(sigmas, np.float32), shape, box, continuous)
    return sampling.build(cls, options, problem, cls.__name__)


def run(program, score_fn, seed, num_samples, **kwargs):
    return sampling.Runner(program, score_fn, **kwargs)(tf.random.Generator.from_seed(seed),
                                                        num_samples)


# ----------------------------------------------------------------------------- pinned outputs

PINNED_SIGMAS = np.array([1.0, 0.5, 0.25], np.float32)
PINNED_SCORE = gaussian_score(0.3, 0.5, tf.constant(PINNED_SIGMAS))


@pytest.mark.parametrize("name, cls, options", [
    ("annealed_paper", AnnealedLangevin, {"step_convention": "paper"}),
    ("annealed_reference", AnnealedLangevin, {"step_convention": "reference"}),
    ("annealed_denoise", AnnealedLangevin, {"step_convention": "reference", "denoise": True}),
    ("langevin", PlainLangevin, {}),
])
@pytest.mark.parametrize("steps_per_call", [1, 3, 10])
def test_outputs_equal_those_before_step_programs(name, cls, options, steps_per_call):
    """Recorded with the samplers as they were before the step-program contract, same seed."""
    golden = np.load(GOLDEN)
    program = build(cls, PINNED_SIGMAS, (3, 3, 1), eps=0.01, steps_per_level=4, **options)
    out = sampling.Runner(program, PINNED_SCORE, steps_per_call)(
        tf.random.Generator.from_seed(5), 4, keep_every=3)
    np.testing.assert_array_equal(out.x.numpy(), golden[name])
    np.testing.assert_array_equal(out.states.numpy(), golden[name + "_states"])


@pytest.mark.parametrize("convention", ["paper", "reference"])
def test_inpainting_equals_algorithm_2_before_step_programs(convention):
    golden = np.load(GOLDEN)
    program = build(AnnealedLangevin, PINNED_SIGMAS, (3, 3, 1), eps=0.01, steps_per_level=4,
                    step_convention=convention)
    out = sampling.Runner(Inpainting(program, golden["y"], golden["mask"]), PINNED_SCORE)(
        tf.random.Generator.from_seed(6), 4, keep_every=5)
    np.testing.assert_array_equal(out.x.numpy(), golden[f"inpaint_{convention}"])
    np.testing.assert_array_equal(out.states.numpy(), golden[f"inpaint_{convention}_states"])


def test_graph_runner_equals_the_eager_runner():
    """`run_in_graph` (the SavedModel's) draws the same noise in the same order."""
    program = build(AnnealedLangevin, PINNED_SIGMAS, (3, 3, 1), eps=0.01, steps_per_level=4,
                    denoise=True)
    inpaint = Inpainting(program, np.full((4, 3, 3, 1), 0.7, np.float32),
                         np.eye(3, dtype=np.float32)[..., None])
    for prog in (program, inpaint):
        eager = run(prog, PINNED_SCORE, 9, 4).x
        rng = tf.random.Generator.from_seed(9)
        graph = tf.function(lambda: sampling.run_in_graph(prog, PINNED_SCORE, rng, 4))()
        np.testing.assert_allclose(graph, eager, rtol=1e-6, atol=1e-6)


# ----------------------------------------------------------------------------- Langevin maths


def test_figure3_annealed_recovers_mode_weights_and_plain_langevin_does_not():
    """Paper Fig. 3 with exact scores: 1280 samples from uniform on [-8, 8]^2."""
    toy = paper_toy()
    level_score = lambda x, l: toy.score(x, tf.gather(TOY_SIGMAS, l))  # noqa: E731
    annealed = build(AnnealedLangevin, TOY_SIGMAS, (2,), (-8.0, 8.0), eps=0.1,
                     steps_per_level=100)
    plain = build(PlainLangevin, TOY_SIGMAS, (2,), (-8.0, 8.0), eps=0.1, steps_per_level=1000)
    annealed_x = run(annealed, level_score, 0, 1280).x.numpy()
    plain_x = run(plain, lambda x, l: toy.score(x, 0.0), 0, 1280).x.numpy()
    assert abs(toy.mode_weights(annealed_x)[1] - 0.80) <= 0.03
    assert abs(toy.mode_weights(plain_x)[1] - 0.80) > 0.1


def test_step_conventions_follow_the_formulas():
    x, s, z = tf.constant([1.0]), tf.constant([2.0]), tf.constant([0.5])
    np.testing.assert_allclose(langevin_update(x, s, 0.04, z, "paper"), [1 + 0.04 + 0.1])
    np.testing.assert_allclose(langevin_update(x, s, 0.04, z, "reference"),
                               [1 + 0.08 + np.sqrt(0.08) * 0.5], rtol=1e-6)
    np.testing.assert_allclose(step_size(2e-5, 0.5, 0.01), 2e-5 * 2500, rtol=1e-6)


def test_reference_convention_is_paper_with_double_eps():
    sigmas = np.array([1.0, 0.3], np.float32)
    score = gaussian_score(0.2, 1.0, tf.constant(sigmas))
    runs = [run(build(AnnealedLangevin, sigmas, (3,), eps=eps, steps_per_level=20,
                      step_convention=c), score, 1, 50).x
            for eps, c in ((2e-3, "paper"), (1e-3, "reference"))]
    np.testing.assert_allclose(runs[0], runs[1], rtol=1e-5, atol=1e-6)


def test_annealed_langevin_samples_a_gaussian():
    """Target N(3, 0.5^2): the last level's perturbed law is N(3, 0.25 + sigma_L^2).

    Steps are stable (a_1 / (2 var_1) < 1) and the discretisation bias of the
    variance, a_L / (4 var_L), is about 1%.
    """
    sigmas = geometric(1.0, 0.1, 5)
    program = build(AnnealedLangevin, sigmas, (2,), eps=0.01, steps_per_level=200)
    x = run(program, gaussian_score(3.0, 0.5, sigmas), 2, 4000).x.numpy()
    np.testing.assert_allclose(x.mean(), 3.0, atol=0.03)
    np.testing.assert_allclose(x.var(), 0.25 + 0.1 ** 2, rtol=0.06)


def test_plain_langevin_uses_a_fixed_step():
    """With a zero score, x_T - x_0 is a sum of T steps sqrt(eps) z: variance T eps."""
    program = build(PlainLangevin, TOY_SIGMAS, (1,), (0.0, 0.0 + 1e-30), eps=0.01,
                    steps_per_level=50)
    x = run(program, lambda x, l: tf.zeros_like(x), 3, 20000).x.numpy()
    np.testing.assert_allclose(x.var(), 50 * 0.01, rtol=0.04)


def test_callback_reports_progress_and_keep_every_keeps_states():
    seen = []
    program = build(AnnealedLangevin, [4.0, 2.0, 1.0], (2,), eps=0.1, steps_per_level=3)
    out = sampling.Runner(program, lambda x, l: -x, steps_per_call=2)(
        tf.random.Generator.from_seed(0), 2, keep_every=4,
        callback=lambda info: seen.append((info["step"], info["sigma"])))
    assert [s for s, _ in seen] == [2, 4, 6, 8, 9]  # Calls end at keep_every boundaries.
    assert [sigma for _, sigma in seen] == [4.0, 2.0, 2.0, 1.0, 1.0]
    assert out.states.shape == (2, 2, 2)


def test_denoise_is_the_tweedie_step_after_the_last_state():
    sigmas = np.array([1.0, 0.5], np.float32)
    score = gaussian_score(0.0, 1.0, tf.constant(sigmas))
    program = build(AnnealedLangevin, sigmas, (2,), eps=0.01, steps_per_level=4, denoise=True)
    out = sampling.Runner(program, score)(tf.random.Generator.from_seed(0), 3, keep_every=8)
    last = out.states[-1]
    np.testing.assert_allclose(out.x, last + 0.25 * score(last, tf.constant([1, 1, 1])),
                               rtol=1e-6)
    assert program.score_evaluations == 9


# ----------------------------------------------------------------------------- the VE SDE samplers


def test_pc_recovers_the_toy_mode_weights_with_exact_scores():
    """Paper toy (sigma 20 -> 1): PC on a 100-level grid, 1 corrector step at snr 0.16."""
    toy = paper_toy()
    program = build(PredictorCorrector, TOY_SIGMAS, (2,), (-8.0, 8.0), continuous=True,
                    num_steps=100)
    x = run(program, lambda x, sigma: toy.score(x, sigma[:, None]), 0, 4000).x.numpy()
    assert abs(toy.mode_weights(x)[1] - 0.80) <= 0.03
    assert program.score_evaluations == 99 * 2 + 1


def test_pc_step_follows_the_formulas():
    """One predictor and one corrector step by hand, on the trained levels."""
    sigmas = np.array([2.0, 1.0], np.float32)
    program = build(PredictorCorrector, sigmas, (3,), snr=0.2, denoise=False)
    score = gaussian_score(0.0, 1.0, tf.constant(sigmas))
    gen = np.random.default_rng(0)
    x, z1, z2 = (gen.standard_normal((4, 3)).astype(np.float32) for _ in range(3))
    got = program.step(score, {"x": tf.constant(x)}, tf.constant(0),
                       {"predictor": z1, "corrector_0": z2})["x"].numpy()
    x1 = x + 3.0 * (-x / 5.0) + np.sqrt(3.0) * z1
    s = -x1 / 2.0
    eps = 2 * (0.2 * np.linalg.norm(z2, axis=1).mean() / np.linalg.norm(s, axis=1).mean()) ** 2
    np.testing.assert_allclose(got, x1 + eps * s + np.sqrt(2 * eps) * z2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(snr_step_size(tf.constant(s, tf.float32), tf.constant(z2), 0.2), eps,
                               rtol=1e-5)


def ode_covariance_error(solver: str, num_steps: int) -> float:
    """Data N(0, I) in 2-D, exact perturbed score: the ODE's sample covariance minus I."""
    program = build(ProbabilityFlowODE, geometric(50.0, 0.01, 10), (2,), continuous=True,
                    solver=solver, num_steps=num_steps)
    x = run(program, gaussian_sigma_score(0.0, 1.0), 0, 20000).x.numpy()
    return float(np.abs(np.cov(x.T) - np.eye(2)).max())


def test_ode_maps_the_prior_to_the_data_and_heun_beats_euler():
    """Covariance within 0.04 of I with Heun at 300 steps (the sampling error of 20000
    samples is about 0.01); the same prior draws give Heun a smaller error than Euler at
    the same number of steps (measured: 0.018 vs 0.097 at 300, 0.04 vs 0.33 at 100)."""
    heun, euler = ode_covariance_error("heun", 300), ode_covariance_error("euler", 300)
    assert heun < 0.04
    assert heun < euler / 2


def test_ode_is_deterministic_given_the_prior_draw():
    sigmas = geometric(10.0, 0.1, 8)
    program = build(ProbabilityFlowODE, sigmas, (2,))
    score = gaussian_score(1.0, 1.0, sigmas)
    assert program.noise == () and program.score_evaluations == 7 * 2 + 1
    np.testing.assert_array_equal(run(program, score, 4, 5).x, run(program, score, 4, 5).x)


@pytest.mark.parametrize("cls, options", [
    (AnnealedLangevin, {"eps": 1e-4, "steps_per_level": 5}),
    (PredictorCorrector, {}), (ProbabilityFlowODE, {}),
])
def test_inpainting_keeps_known_pixels_with_every_sampler(cls, options):
    sigmas = geometric(1.0, 0.01, 20)
    score = gaussian_score(0.5, 0.2, sigmas)
    gen = np.random.default_rng(0)
    y = gen.uniform(size=(3, 8, 8, 1)).astype(np.float32)
    mask = (gen.uniform(size=(8, 8, 1)) < 0.4).astype(np.float32)  # Not a rectangle.
    program = Inpainting(build(cls, sigmas, (8, 8, 1), **options), y, mask)
    x = run(program, score, 0, 3).x.numpy()
    known = np.broadcast_to(mask, y.shape) == 1
    if program.has_finish:
        np.testing.assert_array_equal(x[known], y[known])  # Known pixels end as y itself.
    else:
        np.testing.assert_allclose(x[known] - y[known], 0, atol=0.05)  # sigma_L = 0.01 noise.
    assert abs(x[~known].mean() - 0.5) < 0.1  # The holes moved towards the model's mean.


def test_inpainting_draws_the_observation_once_per_level():
    program = Inpainting(build(AnnealedLangevin, [1.0, 0.5], (2,), steps_per_level=3),
                         np.zeros((1, 2), np.float32), np.ones((2,), np.float32))
    noise = program.noise
    assert [(n.name, n.every) for n in noise] == [("observation", 3), ("z", 1)]


# ----------------------------------------------------------------------------- the contract


def test_builtin_samplers_are_registered_and_honour_the_contract():
    for name, cls in (("annealed_langevin", AnnealedLangevin), ("langevin", PlainLangevin),
                      ("pc", PredictorCorrector), ("ode", ProbabilityFlowODE)):
        assert registry.samplers.get(name) is cls
        check_sampler_class(cls, name)


@pytest.mark.parametrize("options, message", [
    ({"epsilon": 0.1}, "has no option epsilon; its options are: eps"),
    ({"eps": "big"}, "option eps must be a number"),
    ({"eps": -1.0}, "eps must be positive"),
    ({"steps_per_level": 2.5}, "option steps_per_level must be an integer"),
    ({"step_convention": "ddpm"}, "step_convention='ddpm' is not one of 'paper', 'reference'"),
    ({"denoise": "yes"}, "option denoise must be true or false"),
])
def test_wrong_options_give_one_line(options, message):
    with pytest.raises(SamplerError, match=message) as error:
        builders.make_program(SamplerConfig("annealed_langevin", options),
                              Problem(np.ones(1), (2,)))
    assert "\n" not in str(error.value)


def test_a_finer_grid_needs_a_model_that_accepts_any_sigma():
    with pytest.raises(SamplerError, match="cannot do; drop num_steps"):
        builders.make_program(SamplerConfig("ode", {"num_steps": 50}),
                              Problem(np.array([2.0, 1.0]), (2,), continuous_sigma=False))
    builders.make_program(SamplerConfig("ode", {"num_steps": 50}),
                          Problem(np.array([2.0, 1.0]), (2,), continuous_sigma=True))


class _NoStep(sampling.Sampler):
    num_steps = 1
    step_sigmas = np.ones(1, np.float32)


class _WrongStepSignature(AnnealedLangevin):
    def step(self, score_fn, state, k):
        return state


@dataclasses.dataclass(frozen=True)
class _RequiredOption:
    speed: float


class _OptionWithoutDefault(AnnealedLangevin):
    Options = _RequiredOption


def _function_sampler(score_fn, x, sigmas, **kwargs):
    return x


@pytest.mark.parametrize("plugin, message", [
    (_function_sampler, "not a subclass of tfncsn.sampling.Sampler"),
    (_NoStep, r"does not define step"),
    (_WrongStepSignature, r"step takes \('score_fn', 'state', 'k'\); the contract is step"),
    (_OptionWithoutDefault, "every option needs a default; speed has none"),
])
def test_a_plugin_missing_part_of_the_contract_is_rejected_when_loaded(plugin, message):
    samplers = registry.Registry("tfncsn.test_samplers", "sampler",
                                 contract=registry.samplers.contract)
    samplers.register("broken", plugin)
    with pytest.raises(registry.PluginLoadError, match="breaks the contract: .*" + message):
        samplers.get("broken")
    assert "breaks the contract" in samplers.check("broken")  # `tfncsn plugins` shows it.


class _ReturnsTensor(AnnealedLangevin):
    def step(self, score_fn, state, k, noise):
        return state["x"]


class _WrongShape(AnnealedLangevin):
    def step(self, score_fn, state, k, noise):
        return {"x": state["x"][:, :1]}


class _WrongDtype(AnnealedLangevin):
    def step(self, score_fn, state, k, noise):
        return {"x": tf.cast(state["x"], tf.float64)}


@pytest.mark.parametrize("plugin, message", [
    (_ReturnsTensor, "step must return a dict with keys ['x'], got a tensor"),
    (_WrongShape, "step returned x of shape [N, 1], expected [N, 2]"),
    (_WrongDtype, "step returned x of dtype float64, expected float32"),
])
@pytest.mark.parametrize("conditioned", [False, True])
def test_a_step_breaking_the_contract_fails_before_any_work(plugin, message, conditioned):
    """Traced on the run's shapes; one line that names the plugin and its package, also
    when inpainting wraps the sampler (whose own mixing could broadcast a wrong shape)."""
    program = sampling.build(plugin, {}, Problem(np.ones(1, np.float32), (2,)), "mine",
                             "package mine 1.0")
    if conditioned:
        program = Inpainting(program, np.zeros((3, 2), np.float32), np.ones((3, 2), np.float32))
    expected = re.escape(f"sampler 'mine' (package mine 1.0): {message}")
    with pytest.raises(SamplerError, match=expected):
        sampling.Runner(program, lambda x, l: x).check(tf.random.Generator.from_seed(0), 3)


def test_an_image_run_without_a_step_convention_is_warned_about(caplog):
    """The authors' image numbers used the `reference` convention; unset, `paper` is used
    and the CLI says so (and says nothing once the convention is given)."""
    from tfncsn.sampling.score_source import ScoreSource
    from tfncsn.config import RunConfig

    dataset = builders.make_dataset("digits", {})
    sigmas = tf.constant([1.0, 0.1])
    for options, warned in (({}, True), ({"step_convention": "paper"}, False)):
        caplog.clear()
        config = RunConfig(dataset="digits", sampler=SamplerConfig("annealed_langevin", options))
        source = ScoreSource(config, dataset, sigmas, lambda x, l: x, "test")
        with caplog.at_level("WARNING"):
            source.program()
        assert ("step_convention=reference to reproduce" in caplog.text) == warned


class _FailsInStep(AnnealedLangevin):
    def step(self, score_fn, state, k, noise):
        raise ValueError("my_sampler: the step needs a positive bound")


def test_a_plugin_failing_inside_tracing_shows_its_own_line_and_export_leaves_nothing(tmp_path):
    """Sampling stops before the progress bar, export before writing its directory."""
    from tfncsn_export import exporter, metadata
    from tfncsn.config import RunConfig

    sigmas = np.array([1.0, 0.5], np.float32)
    program = build(_FailsInStep, sigmas, (2,))
    with pytest.raises(SamplerError,
                       match="step failed: ValueError: my_sampler: the step needs"):
        sampling.Runner(program, lambda x, l: x).check(tf.random.Generator.from_seed(0), 2)
    model = builders.make_model("mlp", {}, (2,), sigmas)
    meta = metadata.for_run(RunConfig(), (2,), (0.0, 1.0), "none", sigmas, 0, program)
    output = tmp_path / "export"
    with pytest.raises(exporter.ExportError, match="my_sampler: the step needs a positive bound"):
        exporter.export(model, meta, program, str(output), verify=False)
    assert not output.exists() and not (tmp_path / "export.partial").exists()
