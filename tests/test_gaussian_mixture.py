import numpy as np
import pytest
import tensorflow as tf

from tfncsn.gaussian_mixture import GaussianMixture, paper_toy


@pytest.mark.parametrize("sigma", [0.0, 0.7, 5.0])
def test_exact_score_is_the_gradient_of_the_log_density(sigma):
    mixture = GaussianMixture([0.3, 0.5, 0.2], [[0, 0], [3, 1], [-2, 4]], std=0.8)
    x = tf.constant(np.random.default_rng(0).normal(size=(64, 2)) * 3, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        log_p = mixture.log_prob(x, sigma)
    np.testing.assert_allclose(mixture.score(x, sigma), tape.gradient(log_p, x),
                               rtol=1e-4, atol=1e-5)


def test_log_density_integrates_to_one():
    mixture = paper_toy()
    grid = np.linspace(-12, 12, 241)
    xx, yy = np.meshgrid(grid, grid)
    points = np.stack([xx.ravel(), yy.ravel()], 1).astype(np.float32)
    mass = np.exp(mixture.log_prob(points, 1.0).numpy()).sum() * (grid[1] - grid[0]) ** 2
    np.testing.assert_allclose(mass, 1.0, rtol=1e-3)


def test_per_example_sigmas_broadcast():
    mixture = paper_toy()
    x = tf.constant([[1.0, 2.0], [1.0, 2.0]])
    both = mixture.score(x, tf.constant([1.0, 3.0])).numpy()
    np.testing.assert_allclose(both[0], mixture.score(x[:1], 1.0)[0], rtol=1e-6)
    np.testing.assert_allclose(both[1], mixture.score(x[:1], 3.0)[0], rtol=1e-6)


def test_samples_have_the_paper_mode_weights():
    mixture = paper_toy()
    weights = mixture.mode_weights(mixture.sample(20000, seed=1))
    np.testing.assert_allclose(weights, [0.2, 0.8], atol=0.01)


def test_invalid_weights_are_rejected():
    with pytest.raises(ValueError, match="sum to 1"):
        GaussianMixture([0.5, 0.6], [[0, 0], [1, 1]])
