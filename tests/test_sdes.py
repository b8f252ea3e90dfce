"""The SDE plugins (tfncsn.sdes, tfncsn_plugins.sdes) against analytic answers."""

import numpy as np
import pytest
import tensorflow as tf
from scipy import integrate, stats

from tfncsn import registry, sdes
from tfncsn.sampling import langevin

NAMES = ("ve", "vp", "subvp")


def make(name, **options):
    return sdes.build(registry.sdes.get(name), options, sigma_max=20.0, sigma_min=0.5, name=name)


def f64(fn, t):
    return np.asarray(fn(tf.constant(t, tf.float64)))


@pytest.mark.parametrize("name", NAMES)
def test_marginal_solves_the_moment_equations(name):
    """For dx = a(t) x dt + g(t) dw, m' = a m and var' = 2 a var + g^2: integrating both with
    SciPy from t = 0.05 reaches the closed-form marginal at t = 1."""
    sde = make(name)

    def moments(t, y):
        a, g = f64(sde.drift_scale, t), f64(sde.diffusion, t)
        return [a * y[0], 2 * a * y[1] + g ** 2]

    m0, s0 = (np.asarray(v) for v in sde.marginal(tf.constant(0.05, tf.float64)))
    solution = integrate.solve_ivp(moments, (0.05, 1.0), [m0, s0 ** 2], rtol=1e-10, atol=1e-12)
    m1, s1 = (np.asarray(v) for v in sde.marginal(tf.constant(1.0, tf.float64)))
    np.testing.assert_allclose(solution.y[:, -1], [m1, s1 ** 2], rtol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_mean_scale_at_std_inverts_the_marginal(name):
    sde = make(name)
    m, std = sde.marginal(tf.constant(np.linspace(0.01, 1.0, 7)))
    np.testing.assert_allclose(sde.mean_scale_at_std(std), m, rtol=1e-10)


@pytest.mark.parametrize("name", NAMES)
def test_prior_matches_the_marginal_at_one_and_its_density(name):
    sde = make(name)
    m, std = sde.marginal(tf.constant(1.0, tf.float64))
    expected_std = 20.0 if name == "ve" else 1.0
    assert sde.prior_std == expected_std
    assert abs(float(std) - expected_std) < (1e-6 if name == "ve" else 1e-3)
    z = np.random.default_rng(0).normal(size=(4, 3, 2)) * expected_std
    np.testing.assert_allclose(
        sde.prior_log_prob(z),
        stats.norm(0, expected_std).logpdf(z).reshape(4, -1).sum(axis=1), rtol=1e-10)


@pytest.mark.parametrize("name", ["ve", "vp"])
def test_exact_reverse_steps_keep_the_marginal(name):
    """VE's and VP's discretisations are exact: one forward step from t_to with (c, G) lands on
    the marginal at t_from for both the mean scale and the variance."""
    sde = make(name)
    t_from, t_to = tf.constant(0.7, tf.float64), tf.constant(0.6, tf.float64)
    c, g = sde.reverse_step(t_from, t_to)
    m_from, s_from = sde.marginal(t_from)
    m_to, s_to = sde.marginal(t_to)
    np.testing.assert_allclose((1 + c) * m_to, m_from, rtol=1e-12)
    np.testing.assert_allclose((1 + c) ** 2 * s_to ** 2 + g ** 2, s_from ** 2, rtol=1e-12)


def test_euler_maruyama_step_of_subvp_is_first_order():
    sde = make("subvp")
    errors = []
    for dt in (0.02, 0.01):
        t_from, t_to = tf.constant(0.5, tf.float64), tf.constant(0.5 - dt, tf.float64)
        c, g = sde.reverse_step(t_from, t_to)
        s_from, s_to = sde.marginal(t_from)[1], sde.marginal(t_to)[1]
        m_from, m_to = sde.marginal(t_from)[0], sde.marginal(t_to)[0]
        errors.append(abs(float((1 + c) * m_to - m_from)) + abs(float(
            (1 + c) ** 2 * s_to ** 2 + g ** 2 - s_from ** 2)))
    assert 3.0 < errors[0] / errors[1] < 5.0  # Local error O(dt^2).


def test_ancestral_steps():
    """VP: the DDPM step takes N(m_from mu, ...) data to the mean scale at t_to; VE: its
    variance sigma_to^2 + noise drop; sub-VP has none and says so."""
    t_from, t_to = tf.constant(0.5, tf.float64), tf.constant(0.4, tf.float64)
    vp = make("vp")
    a, b, c = vp.ancestral_step(t_from, t_to)
    beta = vp.interval_beta(t_from, t_to)
    np.testing.assert_allclose(a, 1 / np.sqrt(1 - beta))
    np.testing.assert_allclose(b, beta / np.sqrt(1 - beta))
    np.testing.assert_allclose(c ** 2, beta)
    ve = make("ve")
    a, b, c = ve.ancestral_step(t_from, t_to)
    s_from, s_to = ve.sigma(t_from), ve.sigma(t_to)
    np.testing.assert_allclose(b, s_from ** 2 - s_to ** 2)
    np.testing.assert_allclose(c ** 2, s_to ** 2 * (s_from ** 2 - s_to ** 2) / s_from ** 2)
    with pytest.raises(sdes.SDEError, match="no ancestral"):
        make("subvp").ancestral_step(t_from, t_to)


@pytest.mark.parametrize("name", NAMES)
def test_score_from_ve_and_tweedie_on_gaussian_data(name):
    """x0 ~ N(mu, s^2 I): the SDE's marginal is N(m mu, (m^2 s^2 + std^2) I), its score and
    E[x0 | x_t] are exact."""
    sde = make(name)
    mu, s = 1.5, 0.7
    x = tf.constant(np.random.default_rng(1).normal(size=(5, 3)), tf.float64)
    t = tf.constant(np.linspace(0.1, 0.9, 5))
    m, std = sde.marginal(t)
    score = sdes.score_from_ve(lambda y, sigma: -(y - mu) / (s ** 2 + sigma[:, None] ** 2),
                               sde, x, std)
    var = (m ** 2 * s ** 2 + std ** 2)[:, None]
    np.testing.assert_allclose(score, -(x - m[:, None] * mu) / var, rtol=1e-10)
    posterior_mean = mu + (m[:, None] * s ** 2 / var) * (x - m[:, None] * mu)
    # Tweedie: E[x0 | x_t] = (x_t + std^2 s) / m, the samplers' final denoising step.
    denoised = langevin.tweedie_denoise(x, score, std[:, None]) / m[:, None]
    np.testing.assert_allclose(denoised, posterior_mean, rtol=1e-10)


def test_perturb_draws_the_marginal():
    sde = make("vp")
    x0 = tf.fill([200000, 1], 2.0)
    t = tf.fill([200000], 0.3)
    z = tf.random.stateless_normal([200000, 1], seed=[1, 2])
    xt, _ = sdes.perturb(sde, x0, t, z)
    m, s = sde.marginal(tf.constant(0.3))
    assert abs(float(tf.reduce_mean(xt)) - 2.0 * float(m)) < 0.01
    assert abs(float(tf.math.reduce_std(xt)) - float(s)) < 0.01


def test_plugins_registered_and_contract():
    assert {"ve", "vp", "subvp"} <= set(registry.sdes.names())
    with pytest.raises(sdes.SDEError, match="beta_min < beta_max"):
        make("vp", beta_min=30.0)
    with pytest.raises(sdes.SDEError, match="rejected options"):
        make("ve", beta_min=1.0)
    with pytest.raises(sdes.SDEError, match="not a subclass"):
        sdes.check_sde_class(object, "x")
    for name in ("ve", "vp", "subvp"):
        sdes.check_sde_class(registry.sdes.get(name), name)


def test_a_broken_sde_plugin_fails_its_trial_at_load():
    """The trial builds the plugin on the toy's range and checks what the samplers rely on."""
    VE = registry.sdes.get("ve")

    class Shrinking(VE):
        def marginal(self, t):
            return tf.ones_like(t), self.sigma(1.0 - t)

    class Crashing(VE):
        def diffusion(self, t):
            raise ZeroDivisionError("no")

    with pytest.raises(sdes.SDEError, match="std.t. = .* is not positive and increasing"):
        sdes.check_sde_class(Shrinking, "shrinking")
    with pytest.raises(sdes.SDEError, match="failed with sigma_max=20, sigma_min=0.01: "
                                            "ZeroDivisionError: no"):
        sdes.check_sde_class(Crashing, "crashing")
