"""The fast samplers euler, heun and dpmpp_2m (plugins/tfncsn_plugins/samplers/sigma_ode.py) and
the karras schedule against exact answers: Gaussian data with its exact score on every SDE and on
NCSN's levels, each solver's order, the evaluations each reports, inpainting."""

import numpy as np
import pytest
import tensorflow as tf

from test_sde_samplers import MU, STD, gaussian_ve_score, make_sde, run, sde_problem
from tfncsn import registry, sdes
from tfncsn.sampling import Problem, SamplerError, build
from tfncsn.gaussian_mixture import paper_toy
from tfncsn.sampling.conditioning import Inpainting
from tfncsn.sampling.reference_ode import solve_flow
from tfncsn_plugins.samplers import DPMSolverPlusPlus2M, Euler, Heun
from tfncsn_plugins.samplers.sigma_ode import ve_range
from tfncsn_plugins.sigma_schedules import geometric, karras, linear

CLASSES = {"euler": Euler, "heun": Heun, "dpmpp_2m": DPMSolverPlusPlus2M}
# EDM's CIFAR-10 range: ODE errors are measured over the span the samplers are meant for.
WIDE = Problem(np.array([80.0, 0.002], np.float32), (2,), (-8.0, 8.0), True)


def exact_flow(x_start, sigma_from, sigma_to):
    """The probability-flow ODE's exact map for N(MU, STD^2) data in the VE form: the distance to
    the mean scales with sqrt(STD^2 + sigma^2)."""
    return MU + (x_start - MU) * np.sqrt(STD ** 2 + sigma_to ** 2) / np.sqrt(STD ** 2 + sigma_from ** 2)


def ode_error(cls, num_steps):
    """Max error of the state after the steps (before the final denoiser) on fixed starts."""
    program = build(cls, {"num_steps": num_steps}, WIDE, "x")
    x_start = np.array([[-100.0, 50.0], [30.0, -3.0]], np.float32)
    state = {name: tf.zeros_like(x_start) for name in program.state}
    state["x"] = tf.constant(x_start)
    for k in range(program.num_steps):
        state = program.step(gaussian_ve_score, state, tf.constant(k), {})
    exact = exact_flow(x_start.astype(np.float64), program.grid[0], program.grid[-1])
    return np.abs(state["x"].numpy() - exact).max()


@pytest.mark.parametrize("name, order", [("euler", 1.0), ("heun", 2.0), ("dpmpp_2m", 2.0)])
def test_each_solver_has_its_order(name, order):
    """Halving the steps of a karras grid multiplies the error by 2^order (from 16 to 64)."""
    errors = np.array([ode_error(CLASSES[name], n) for n in (16, 32, 64)])
    rates = np.log2(errors[:-1] / errors[1:])
    assert np.all(np.abs(rates - order) < 0.3), (name, errors, rates)


CASES = [(sde, name) for sde in (None, "ve", "vp", "subvp") for name in CLASSES]


@pytest.mark.parametrize("sde_name, name", CASES)
def test_every_fast_sampler_samples_gaussian_data_on_every_sde(sde_name, name):
    """On NCSN's levels and through sigma = std / m on each SDE, with the exact score."""
    if sde_name is None:
        problem, score = sde_problem(None), gaussian_ve_score
    else:
        sde = make_sde(sde_name)
        problem = sde_problem(sde)
        score = lambda x, std: sdes.score_from_ve(gaussian_ve_score, sde, x, std)  # noqa: E731
    # Euler is first order: its error at 40 levels is about 0.04 in the std.
    program = build(CLASSES[name], {"num_steps": 200 if name == "euler" else 40}, problem, name)
    x = run(program, score, 4000)
    np.testing.assert_allclose(x.mean(axis=0), MU, atol=0.04)
    np.testing.assert_allclose(x.std(axis=0), STD, atol=0.04)


def test_heun_with_churn_samples_gaussian_data_and_draws_noise_only_then():
    """EDM's Algorithm 2: the churn's noise is a step input only when s_churn > 0."""
    assert build(Heun, {}, WIDE, "heun").noise == ()
    program = build(Heun, {"num_steps": 40, "s_churn": 20.0, "s_tmin": 0.05, "s_tmax": 50.0},
                    sde_problem(None), "heun")
    assert [n.name for n in program.noise] == ["churn"]
    x = run(program, gaussian_ve_score, 4000)
    np.testing.assert_allclose(x.mean(axis=0), MU, atol=0.04)
    np.testing.assert_allclose(x.std(axis=0), STD, atol=0.04)
    deterministic = run(build(Heun, {"num_steps": 40}, sde_problem(None), "heun"),
                        gaussian_ve_score, 16)
    assert not np.allclose(run(program, gaussian_ve_score, 16), deterministic)


@pytest.mark.parametrize("name, evaluations", [("euler", 18), ("heun", 35), ("dpmpp_2m", 18)])
def test_the_reported_evaluations_are_the_score_calls(name, evaluations):
    """Heun at N = 18 levels: EDM's 35 evaluations; Euler and DPM-Solver++(2M): N."""
    program = build(CLASSES[name], {"num_steps": 18}, WIDE, name)
    calls = []

    def counting_score(x, sigma):
        calls.append(1)
        return gaussian_ve_score(x, sigma)

    state = {n: tf.zeros([3, 2]) for n in program.state}
    for k in range(program.num_steps):
        state = program.step(counting_score, state, tf.constant(k), {})
    program.finish(counting_score, state)
    assert program.score_evaluations == evaluations == len(calls)


def test_the_final_step_is_the_denoiser_at_the_last_level():
    """x -> D(x; sigma_{N-1}), which for Gaussian data is E[x0 | x] exactly."""
    program = build(Heun, {"num_steps": 5}, WIDE, "heun")
    x = tf.constant([[4.0, -2.0]])
    sigma = program.grid[-1]
    expected = MU + STD ** 2 / (STD ** 2 + sigma ** 2) * (x.numpy() - MU)
    np.testing.assert_allclose(program.finish(gaussian_ve_score, {"x": x}), expected, rtol=1e-5)


def test_the_karras_schedule():
    sigmas = karras(80.0, 0.002, 18).numpy()
    np.testing.assert_allclose(sigmas[[0, -1]], [80.0, 0.002], rtol=1e-6)
    ramp = sigmas.astype(np.float64) ** (1 / 7)
    np.testing.assert_allclose(np.diff(ramp), np.diff(ramp)[0], rtol=1e-4)  # Even in sigma^(1/rho).
    np.testing.assert_allclose(karras(20.0, 1.0, 10, rho=1.0), linear(20.0, 1.0, 10), rtol=1e-6)
    np.testing.assert_allclose(karras(20.0, 1.0, 10, rho=1e4), geometric(20.0, 1.0, 10),
                               rtol=1e-3)
    assert registry.sigma_schedules.get("karras") is karras
    with pytest.raises(ValueError, match="rho must be positive"):
        karras(20.0, 1.0, 10, rho=0.0)


def test_samplers_walk_any_schedule_and_range():
    program = build(Euler, {"num_steps": 10, "schedule": "geometric", "sigma_max": 50.0,
                            "sigma_min": 0.5}, WIDE, "euler")
    np.testing.assert_allclose(program.grid, geometric(50.0, 0.5, 10), rtol=1e-6)
    assert program.prior.std == pytest.approx(50.0)
    rho = build(Euler, {"num_steps": 10, "rho": 3.0}, WIDE, "euler")
    np.testing.assert_allclose(rho.grid, karras(80.0, 0.002, 10, rho=3.0), rtol=1e-6)


@pytest.mark.parametrize("sde_name", ["ve", "vp", "subvp"])
def test_the_ve_form_of_each_sde(sde_name):
    """std / m at the found point is the VE-form sigma, and the range spans t = 1 to eps."""
    sde = make_sde(sde_name)
    sigmas = np.geomspace(50.0, 0.01, 7)
    std, mean_scale = sdes.ve_form(sde, sigmas)
    np.testing.assert_allclose(std / mean_scale, sigmas, rtol=1e-9)
    high, low = ve_range(sde_problem(sde))
    m, s = sdes.on_grid(sde.marginal, np.array([1.0, sde.sample_eps]))
    np.testing.assert_allclose([high, low], s / m, rtol=1e-12)


def test_inpainting_keeps_the_known_coordinate_and_samples_the_other():
    program = build(Heun, {"num_steps": 30}, sde_problem(None), "heun")
    y = np.full([2000, 2], 7.0, np.float32)
    mask = np.array([1.0, 0.0], np.float32)
    x = run(Inpainting(program, y, mask), gaussian_ve_score, 2000)
    np.testing.assert_allclose(x[:, 0], 7.0, rtol=1e-6)
    assert abs(x[:, 1].mean() - MU) < 0.04 and abs(x[:, 1].std() - STD) < 0.04


@pytest.mark.parametrize("options, message", [
    ({"num_steps": 1}, "num_steps must be at least 2"),
    ({"rho": -1.0}, "rho must be positive"),
    ({"schedule": "nope"}, "nope"),
    ({"s_tmin": 2.0, "s_tmax": 1.0}, "s_tmin must be at most s_tmax"),
])
def test_bad_options_are_one_error(options, message):
    with pytest.raises((SamplerError, ValueError), match=message):
        build(Heun, options, WIDE, "heun")


def test_a_model_of_the_levels_only_is_refused():
    problem = Problem(np.array([20.0, 1.0], np.float32), (2,), (-8.0, 8.0), False)
    with pytest.raises(SamplerError, match="sigma"):
        build(DPMSolverPlusPlus2M, {}, problem, "dpmpp_2m")


@pytest.mark.parametrize("sde_name", [None, "vp"])
def test_the_rk45_reference_follows_the_exact_flow(sde_name):
    """On Gaussian data the flow is known in closed form, through sigma = std / m on VP too."""
    sde = make_sde(sde_name) if sde_name else None
    score = gaussian_ve_score if sde is None else (
        lambda x, std: sdes.score_from_ve(gaussian_ve_score, sde, x, std))
    x = np.array([[-100.0, 50.0], [30.0, -3.0]])
    solution = solve_flow(score, x, 80.0, 0.002, sde)
    np.testing.assert_allclose(solution.x, exact_flow(x, 80.0, 0.002), atol=2e-4)
    assert 0 < solution.evaluations < 2000
    with pytest.raises(ValueError, match="sigma_from > sigma_to > 0"):
        solve_flow(score, x, 1.0, 2.0)


def test_heun_converges_to_the_rk45_reference_on_a_mixture():
    """Against each other on a score with no closed-form flow (the paper toy's mixture): Heun's
    distance to the RK45 solution falls as the square of the step."""
    mixture = paper_toy()
    problem = Problem(np.array([20.0, 0.01], np.float32), (2,), (-8.0, 8.0), True)
    x_start = np.random.default_rng(0).normal(size=[16, 2]).astype(np.float32) * 20.0
    errors = []
    for n in (16, 32, 64):
        program = build(Heun, {"num_steps": n}, problem, "heun")
        state = {"x": tf.constant(x_start)}
        for k in range(program.num_steps):
            state = program.step(mixture.score, state, tf.constant(k), {})
        reference = solve_flow(mixture.score, x_start, float(program.grid[0]),
                               float(program.grid[-1]), rtol=1e-8, atol=1e-8)
        errors.append(np.abs(state["x"].numpy() - reference.x).max())
    rates = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all(np.abs(rates - 2.0) < 0.4), (errors, rates)
