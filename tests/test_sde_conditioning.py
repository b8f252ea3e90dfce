"""Conditioning on an SDE (tfncsn/sampling/conditioning.py): inpainting observes m y + std z and
guidance shows the classifier x / m at std / m; both against exact answers for VP."""

import numpy as np
import tensorflow as tf

from tfncsn import registry, sdes
from tfncsn.sampling import Problem, Runner, build
from tfncsn.sampling.conditioning import Inpainting, guided_score
from tfncsn_plugins.samplers import PredictorCorrector

RHO, MU = 0.8, np.array([1.0, -1.0], np.float32)
COVARIANCE = np.array([[1.0, RHO], [RHO, 1.0]], np.float32)


def vp():
    return sdes.build(registry.sdes.get("vp"), {}, 20.0, 0.01, "vp")


def correlated_ve_score(x, sigma):
    """The exact score of N(MU, COVARIANCE) perturbed by N(0, sigma^2 I)."""
    eye = tf.eye(2)[None] * tf.reshape(tf.square(sigma), [-1, 1, 1])
    precision = tf.linalg.inv(COVARIANCE[None] + eye)
    return -tf.einsum("nij,nj->ni", precision, x - MU)


def test_inpainting_on_vp_samples_the_conditional_of_a_correlated_gaussian():
    """x1 known as y1 = 2: x2 | x1 ~ N(MU2 + RHO (y1 - MU1), 1 - RHO^2). Observing y + std z
    (VE's rule) instead of m y + std z would pull x1's trajectory off the VP marginal. Imposing
    the observation is itself an approximation whose bias shrinks with the step (the mean is off
    by 0.07 at 200 steps, 0.004 at 1000)."""
    sde = vp()
    problem = Problem(np.array([20.0, 0.01], np.float32), (2,), (-8.0, 8.0), True, sde)
    inner = build(PredictorCorrector, {"num_steps": 1000}, problem, "pc")
    n, y1 = 4000, 2.0
    y = np.tile(np.array([[y1, 0.0]], np.float32), (n, 1))
    program = Inpainting(inner, y, np.array([1.0, 0.0], np.float32))
    score = lambda x, std: sdes.score_from_ve(correlated_ve_score, sde, x, std)  # noqa: E731
    x = Runner(program, score)(tf.random.Generator.from_seed(3), n).x.numpy()
    np.testing.assert_array_equal(x[:, 0], y1)
    assert abs(x[:, 1].mean() - (MU[1] + RHO * (y1 - MU[0]))) < 0.04
    assert abs(x[:, 1].std() - np.sqrt(1 - RHO ** 2)) < 0.03


def test_inpainting_observes_m_y_plus_std_z_at_each_step():
    """After step k the known coordinate is the observation of step k, m_k y + std_k z: its mean
    over 4000 samples is m_k y (VE's rule, y + std z, would keep it at y)."""
    sde = vp()
    problem = Problem(np.array([20.0, 0.01], np.float32), (2,), (-8.0, 8.0), True, sde)
    inner = build(PredictorCorrector, {"num_steps": 11}, problem, "pc")
    m, std = sdes.on_grid(sde.marginal, inner.times[:-1])
    np.testing.assert_allclose(inner.step_mean_scales, m, rtol=1e-6)
    np.testing.assert_allclose(inner.step_sigmas, std, rtol=1e-6)
    n, y1 = 4000, 2.0
    program = Inpainting(inner, np.tile([[y1, 0.0]], (n, 1)), np.array([1.0, 0.0], np.float32))
    score = lambda x, s: sdes.score_from_ve(correlated_ve_score, sde, x, s)  # noqa: E731
    out = Runner(program, score)(tf.random.Generator.from_seed(5), n, keep_every=1)
    known = out.states.numpy()[:, :, 0]  # [steps, n] after each step.
    np.testing.assert_allclose(known.mean(axis=1), m * y1, atol=4 * std.max() / np.sqrt(n))
    np.testing.assert_allclose(known.std(axis=1), std, rtol=0.05)
    assert m[0] < 0.01 and m[-1] > 0.9  # The test spans the whole range of m.


def test_guidance_on_vp_gives_the_class_conditional_score():
    """Two classes N(a_k, s^2 I) with weights w_k; the classifier is exact for VE-perturbed data.
    Guidance at scale 1 of the VP mixture score gives the VP score of class k's component."""
    means = tf.constant([[2.0, 0.0], [-2.0, 1.0]])
    weights = tf.constant([0.3, 0.7])
    s2 = 0.25

    def component_logits(x, sigma):
        v = s2 + tf.square(sigma)[:, None]
        distances = tf.reduce_sum(tf.square(x[:, None, :] - means[None]), axis=-1)
        return tf.math.log(weights)[None] - distances / (2.0 * v) - tf.math.log(v)

    def mixture_ve_score(x, sigma):
        responsibilities = tf.nn.softmax(component_logits(x, sigma), axis=-1)
        v = (s2 + tf.square(sigma))[:, None, None]
        return tf.reduce_sum(responsibilities[..., None] * -(x[:, None] - means[None]) / v, 1)

    def log_prob(x, sigma, labels):
        logits = component_logits(x, sigma)
        return tf.gather(tf.nn.log_softmax(logits, axis=-1), labels, batch_dims=1)

    sde = vp()
    x = tf.constant(np.random.default_rng(0).normal(size=(6, 2)), tf.float32)
    std = tf.constant(np.linspace(0.1, 0.9, 6), tf.float32)
    guided = guided_score(lambda x, s: sdes.score_from_ve(mixture_ve_score, sde, x, s),
                          log_prob, 1, 1.0, "sigma", [1.0], sde)
    expected = sdes.score_from_ve(
        lambda x, sigma: -(x - means[1]) / (s2 + tf.square(sigma))[:, None], sde, x, std)
    np.testing.assert_allclose(guided(x, std), expected, rtol=1e-4, atol=1e-5)
    unscaled = guided_score(lambda x, s: sdes.score_from_ve(mixture_ve_score, sde, x, s),
                            log_prob, 1, 1.0, "sigma", [1.0])  # Without the SDE: wrong.
    assert np.abs(unscaled(x, std) - expected).max() > 0.1
