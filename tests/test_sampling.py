import numpy as np
import pytest
import tensorflow as tf

from tfncsn import registry
from tfncsn.gaussian_mixture import paper_toy
from tfncsn.inpainting import inpaint
from tfncsn.langevin import langevin_update, step_size, uniform_prior
from tfncsn_plugins.samplers import annealed_langevin, langevin
from tfncsn_plugins.sigma_schedules import geometric

TOY_SIGMAS = geometric(20.0, 1.0, 10)


def gaussian_score(mean, std, sigmas):
    """Exact score of N(mean, std^2 I) perturbed at sigmas[level]."""
    def score(x, level):
        sigma = tf.reshape(tf.gather(sigmas, level), [-1] + [1] * (len(x.shape) - 1))
        return -(x - mean) / (std ** 2 + tf.square(sigma))
    return score


def test_figure3_annealed_recovers_mode_weights_and_plain_langevin_does_not():
    """Paper Fig. 3 with exact scores: 1280 samples from uniform on [-8, 8]^2."""
    toy = paper_toy()
    rng = tf.random.Generator.from_seed(0)
    x0 = uniform_prior(rng, [1280, 2], -8.0, 8.0)
    annealed = annealed_langevin(lambda x, l: toy.score(x, tf.gather(TOY_SIGMAS, l)), x0,
                                 TOY_SIGMAS, rng=rng, eps=0.1, steps_per_level=100,
                                 convention="paper").x
    plain = langevin(lambda x, l: toy.score(x, 0.0), x0, TOY_SIGMAS, rng=rng, eps=0.1,
                     steps_per_level=1000).x
    assert abs(toy.mode_weights(annealed.numpy())[1] - 0.80) <= 0.03
    assert abs(toy.mode_weights(plain.numpy())[1] - 0.80) > 0.1


def test_step_conventions_follow_the_formulas():
    x, s, z = tf.constant([1.0]), tf.constant([2.0]), tf.constant([0.5])
    np.testing.assert_allclose(langevin_update(x, s, 0.04, z, "paper"), [1 + 0.04 + 0.1])
    np.testing.assert_allclose(langevin_update(x, s, 0.04, z, "reference"),
                               [1 + 0.08 + np.sqrt(0.08) * 0.5], rtol=1e-6)
    np.testing.assert_allclose(step_size(2e-5, 0.5, 0.01), 2e-5 * 2500, rtol=1e-6)


def test_reference_convention_is_paper_with_double_eps():
    sigmas = tf.constant([1.0, 0.3])
    score = gaussian_score(0.2, 1.0, sigmas)
    x0 = tf.random.stateless_uniform([50, 3], [0, 1])
    runs = [annealed_langevin(score, x0, sigmas, rng=tf.random.Generator.from_seed(1),
                              eps=eps, steps_per_level=20, convention=c).x
            for eps, c in ((2e-3, "paper"), (1e-3, "reference"))]
    np.testing.assert_allclose(runs[0], runs[1], rtol=1e-5, atol=1e-6)


def test_unknown_convention_is_rejected():
    with pytest.raises(ValueError, match="step convention"):
        annealed_langevin(lambda x, l: x, tf.zeros([1, 1]), tf.constant([1.0]),
                          rng=tf.random.Generator.from_seed(0), eps=0.1, steps_per_level=1,
                          convention="ddpm")


def test_annealed_langevin_samples_a_gaussian():
    """Target N(3, 0.5^2): the last level's perturbed law is N(3, 0.25 + sigma_L^2).

    Steps are stable (a_1 / (2 var_1) < 1) and the discretisation bias of the
    variance, a_L / (4 var_L), is about 1%.
    """
    sigmas = geometric(1.0, 0.1, 5)
    score = gaussian_score(3.0, 0.5, sigmas)
    rng = tf.random.Generator.from_seed(2)
    x = annealed_langevin(score, uniform_prior(rng, [4000, 2], 0, 1), sigmas, rng=rng,
                          eps=0.01, steps_per_level=200).x.numpy()
    np.testing.assert_allclose(x.mean(), 3.0, atol=0.03)
    np.testing.assert_allclose(x.var(), 0.25 + 0.1 ** 2, rtol=0.06)


def test_plain_langevin_uses_a_fixed_step():
    """With a zero score, x_T - x_0 is a sum of T steps sqrt(eps) z: variance T eps."""
    rng = tf.random.Generator.from_seed(3)
    x0 = tf.zeros([20000, 1])
    x = langevin(lambda x, l: tf.zeros_like(x), x0, TOY_SIGMAS, rng=rng, eps=0.01,
                 steps_per_level=50).x.numpy()
    np.testing.assert_allclose(x.var(), 50 * 0.01, rtol=0.04)


def test_callback_sees_every_step_in_order_with_its_step_size():
    seen = []
    sigmas = tf.constant([4.0, 2.0, 1.0])
    annealed_langevin(lambda x, l: -x, tf.zeros([2, 2]), sigmas,
                      rng=tf.random.Generator.from_seed(0), eps=0.1, steps_per_level=3,
                      callback=lambda info: seen.append(
                          (info["level"], info["step"], info["alpha"])))
    assert [(l, s) for l, s, _ in seen] == [(l, s) for l in range(3) for s in range(3)]
    np.testing.assert_allclose([a for _, _, a in seen[::3]], [1.6, 0.4, 0.1], rtol=1e-6)


def test_keep_every_and_denoise():
    sigmas = tf.constant([1.0, 0.5])
    score = gaussian_score(0.0, 1.0, sigmas)
    out = annealed_langevin(score, tf.ones([3, 2]), sigmas, rng=tf.random.Generator.from_seed(0),
                            eps=0.01, steps_per_level=4, keep_every=2, denoise=True)
    assert out.states.shape == (4, 3, 2)
    last = out.states[-1]
    np.testing.assert_allclose(out.x, last + 0.25 * score(last, tf.constant([1, 1, 1])),
                               rtol=1e-6)


def test_graph_mode_matches_eager_and_rejects_callbacks():
    sigmas = tf.constant([1.0, 0.5, 0.25])
    score = gaussian_score(0.5, 1.0, sigmas)
    x0 = tf.random.stateless_uniform([8, 3], [4, 5])
    eager = annealed_langevin(score, x0, sigmas, rng=tf.random.Generator.from_seed(7), eps=0.01,
                              steps_per_level=5, keep_every=5)
    rng = tf.random.Generator.from_seed(7)

    @tf.function
    def run(x):
        return annealed_langevin(score, x, sigmas, rng=rng, eps=0.01, steps_per_level=5,
                                 keep_every=5)

    graph = run(x0)
    np.testing.assert_allclose(graph.x, eager.x, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(graph.states, eager.states, rtol=1e-5, atol=1e-6)

    @tf.function
    def with_callback(x):
        return annealed_langevin(score, x, sigmas, rng=rng, eps=0.01, steps_per_level=1,
                                 callback=print).x

    with pytest.raises(ValueError, match="keep_every"):
        with_callback(x0)


def test_inpainting_keeps_known_pixels_with_an_irregular_mask():
    sigmas = geometric(1.0, 0.01, 4)
    score = gaussian_score(0.5, 0.2, sigmas)
    gen = np.random.default_rng(0)
    y = gen.uniform(size=(3, 8, 8, 1)).astype(np.float32)
    mask = (gen.uniform(size=(8, 8, 1)) < 0.4).astype(np.float32)  # Not a rectangle.
    rng = tf.random.Generator.from_seed(0)
    x0 = uniform_prior(rng, y.shape, 0, 1)
    last_observation = {}

    def remember(info):
        last_observation["y_tilde"] = info["aux"].numpy()

    x = inpaint(score, y, mask, sigmas, x0, rng=rng, eps=2e-5, steps_per_level=10,
                callback=remember).x.numpy()
    known = np.broadcast_to(mask, y.shape) == 1
    np.testing.assert_array_equal(x[known], last_observation["y_tilde"][known])
    np.testing.assert_allclose(x[known] - y[known], 0, atol=0.05)  # sigma_L = 0.01 noise.
    unknown = ~known
    assert np.abs(x[unknown] - x0.numpy()[unknown]).mean() > 0.05  # The holes moved,
    assert abs(x[unknown].mean() - 0.5) < 0.05  # towards the model's mean.


def test_builtin_samplers_are_registered():
    assert registry.samplers.get("annealed_langevin") is annealed_langevin
    assert registry.samplers.get("langevin") is langevin
    assert annealed_langevin.total_steps(10, 100) == 1000
    assert langevin.total_steps(10, 100) == 100
