"""pc, ode and ancestral over every SDE (plugins/tfncsn_plugins/samplers/sde.py, tfncsn/sdes.py)
against exact answers: Gaussian data with its exact score, the ODE's order, and NCSN runs'
outputs pinned from before the SDE family."""

import numpy as np
import pytest
import tensorflow as tf

from conftest import REPO
from tfncsn import registry, sdes
from tfncsn.sampling import Problem, Runner, SamplerError, build, runner
from tfncsn_plugins.samplers import AncestralSampling, PredictorCorrector, ProbabilityFlowODE
from tfncsn_plugins.sigma_schedules import geometric

MU, STD = 1.5, 0.5
GOLDEN = REPO / "tests" / "golden" / "samplers_before_sde_family.npz"


def make_sde(name):
    """VE from 0.01 to 100: a prior N(0, 100^2 I) that the deterministic ODE maps with a mean
    off by MU STD / 100 = 0.0075 only (sigma_max = 20 would leave 0.04)."""
    return sdes.build(registry.sdes.get(name), {}, 100.0, 0.01, name)


def gaussian_ve_score(x, sigma):
    """The exact score of N(MU, STD^2 I) perturbed by N(0, sigma^2 I)."""
    return -(x - MU) / (STD ** 2 + tf.reshape(sigma, [-1, 1]) ** 2)


def sde_problem(sde):
    return Problem(np.array([100.0, 0.01], np.float32), (2,), (-8.0, 8.0), True, sde)


def run(program, score_fn, n, seed=0):
    return np.asarray(Runner(program, score_fn)(tf.random.Generator.from_seed(seed), n).x)


def test_ncsn_runs_sample_bit_identically_to_before_the_sde_family():
    """Without an SDE, pc and ode walk NCSN's levels (or a geometric grid) as they did."""
    sigmas = geometric(20.0, 1.0, 10).numpy()

    def sigma_score(x, sigma):  # N(3, 0.5^2 I), as recorded.
        return -(x - 3.0) / (0.25 + tf.square(tf.reshape(sigma, [-1, 1])))

    def level_score(x, level):
        return sigma_score(x, tf.gather(tf.constant(sigmas), level))

    cases = {"pc_levels": (PredictorCorrector, {}, False),
             "pc_grid": (PredictorCorrector, {"num_steps": 25, "corrector_steps": 2}, True),
             "ode_heun_levels": (ProbabilityFlowODE, {}, False),
             "ode_euler_grid": (ProbabilityFlowODE, {"num_steps": 30, "solver": "euler"}, True),
             "ode_heun_grid": (ProbabilityFlowODE, {"num_steps": 30}, True)}
    golden = np.load(GOLDEN)
    for name, (cls, options, continuous) in cases.items():
        program = build(cls, options, Problem(sigmas, (2,), (-8.0, 8.0), continuous), name)
        score = sigma_score if program.score_input == "sigma" else level_score
        np.testing.assert_array_equal(run(program, score, 64, seed=7), golden[name], name)


CASES = [(sde, sampler) for sde in ("ve", "vp", "subvp") for sampler in ("pc", "ode", "ancestral")
         if (sde, sampler) != ("subvp", "ancestral")]
CLASSES = {"pc": PredictorCorrector, "ode": ProbabilityFlowODE, "ancestral": AncestralSampling}


@pytest.mark.parametrize("sde_name, sampler", CASES)
def test_every_sampler_on_every_sde_samples_gaussian_data_with_its_exact_score(sde_name, sampler):
    sde = make_sde(sde_name)
    program = build(CLASSES[sampler], {"num_steps": 200}, sde_problem(sde), sampler)
    assert program.score_input == "sigma" and program.prior.std == sde.prior_std
    x = run(program, lambda x, std: sdes.score_from_ve(gaussian_ve_score, sde, x, std), 4000)
    np.testing.assert_allclose(x.mean(axis=0), MU, atol=0.04)
    np.testing.assert_allclose(x.std(axis=0), STD, atol=0.04)


def test_sub_vp_has_no_ancestral_sampler():
    with pytest.raises((SamplerError, sdes.SDEError), match="no ancestral discretisation"):
        build(AncestralSampling, {"num_steps": 10}, sde_problem(make_sde("subvp")), "ancestral")


@pytest.mark.parametrize("sde_name", ["ve", "vp", "subvp"])
def test_the_ode_is_second_order_with_heun_and_first_with_euler(sde_name):
    """Gaussian data: the probability-flow ODE from x(1) is the linear map x(t) - m(t) MU =
    (x(1) - m(1) MU) sqrt(v(t) / v(1)), v = m^2 STD^2 + std^2, then Tweedie's step. Halving the
    step divides the error by about 4 with Heun and 2 with Euler."""
    sde = make_sde(sde_name)

    def score(x, std):
        return sdes.score_from_ve(gaussian_ve_score, sde, x, std)

    def moments(t):
        m, std = (float(v) for v in sde.marginal(tf.constant(t, tf.float64)))
        return m, m ** 2 * STD ** 2 + std ** 2

    for solver, expected in (("heun", 4.0), ("euler", 2.0)):
        errors = []
        for num_steps in (25, 50, 100):
            program = build(ProbabilityFlowODE, {"num_steps": num_steps, "solver": solver},
                            sde_problem(sde), "ode")
            start = runner.initial_state(program, tf.random.Generator.from_seed(0), 8)["x"]
            m1, v1 = moments(program.times[0])
            m0, v0 = moments(program.times[-1])
            end = m0 * MU + (start.numpy().astype(np.float64) - m1 * MU) * np.sqrt(v0 / v1)
            exact = MU + (m0 * STD ** 2 / v0) * (end - m0 * MU)
            errors.append(np.abs(run(program, score, 8) - exact).max())
        ratios = np.array(errors[:-1]) / np.array(errors[1:])
        assert np.all(np.abs(ratios - expected) < 0.6 * expected / 2), (solver, errors)
