import numpy as np
import pytest
import tensorflow as tf

from tfncsn import losses

SIGMAS = tf.constant([2.0, 1.0, 0.5, 0.1])


def linear_score(a):
    a = tf.constant(a, tf.float32)
    return lambda x, level: tf.matmul(x, a, transpose_b=True)  # s(x) = A x per example.


def test_dsm_matches_numpy_reference():
    gen = np.random.default_rng(0)
    x = gen.normal(size=(6, 3)).astype(np.float32)
    noise = gen.normal(size=(6, 3)).astype(np.float32)
    levels = np.array([0, 1, 2, 3, 0, 2], np.int32)
    a = gen.normal(size=(3, 3)).astype(np.float32)
    got = losses.dsm_per_example(linear_score(a), x, SIGMAS, levels, noise).numpy()
    sigma = SIGMAS.numpy()[levels][:, None]
    x_tilde = x + sigma * noise
    expected = 0.5 * np.sum((sigma * (x_tilde @ a.T) + noise) ** 2, axis=1)
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_dsm_loss_divides_by_the_global_batch():
    x = tf.ones([4, 2])
    rng = tf.random.Generator.from_seed(1)
    out = losses.dsm_loss(linear_score(np.eye(2)), x, SIGMAS, rng, global_batch_size=16)
    np.testing.assert_allclose(out.loss.numpy(), out.per_example.numpy().sum() / 16, rtol=1e-6)
    assert out.levels.dtype == tf.int32 and out.levels.shape == (4,)


@pytest.mark.parametrize("level", range(4))
def test_dsm_analytic_optimum_for_standard_normal_data(level):
    """For x ~ N(0, I_d), s* = -x/(1 + sigma^2) attains d / (2 (1 + sigma^2))."""
    d, n = 4, 200_000
    gen = np.random.default_rng(level)
    x = gen.normal(size=(n, d)).astype(np.float32)
    noise = gen.normal(size=(n, d)).astype(np.float32)
    levels = np.full(n, level, np.int32)
    sigma = float(SIGMAS[level])

    def per_example(scale):
        return losses.dsm_per_example(lambda x, lv: -scale * x, x, SIGMAS, levels,
                                      noise).numpy().astype(np.float64)

    optimum = per_example(1.0 / (1.0 + sigma ** 2))
    assert abs(optimum.mean() - d / (2 * (1 + sigma ** 2))) < 4 * optimum.std() / np.sqrt(n)
    for wrong_scale in (0.5 / (1 + sigma ** 2), 2.0 / (1 + sigma ** 2)):
        excess = per_example(wrong_scale) - optimum  # Paired on the same draws.
        assert excess.mean() > 10 * excess.std() / np.sqrt(n)


def test_ssm_linear_score_per_example_is_exact():
    gen = np.random.default_rng(2)
    a = gen.normal(size=(3, 3)).astype(np.float32)
    x = gen.normal(size=(5, 3)).astype(np.float32)
    v = gen.normal(size=(5, 3)).astype(np.float32)
    levels = np.zeros(5, np.int32)
    plain = losses.ssm_per_example(linear_score(a), tf.constant(x), levels, v, False).numpy()
    reduced = losses.ssm_per_example(linear_score(a), tf.constant(x), levels, v, True).numpy()
    vav = np.einsum("ni,ij,nj->n", v, a, v)
    ax = x @ a.T
    np.testing.assert_allclose(plain, vav + 0.5 * np.sum(v * ax, 1) ** 2, rtol=1e-4)
    np.testing.assert_allclose(reduced, vav + 0.5 * np.sum(ax ** 2, 1), rtol=1e-4)


@pytest.mark.parametrize("projection", ["gaussian", "rademacher"])
@pytest.mark.parametrize("variance_reduced", [False, True])
def test_ssm_expectation_matches_closed_form(projection, variance_reduced):
    """E[v^T A v + 1/2 (v^T A x)^2] = tr(A) + 1/2 tr(A Sigma A^T) for x ~ N(0, Sigma)."""
    d, n = 3, 200_000
    gen = np.random.default_rng(3)
    a = gen.normal(size=(d, d)).astype(np.float32)
    chol = np.array([[1.0, 0, 0], [0.5, 0.8, 0], [0.2, -0.3, 0.6]], np.float32)
    cov = chol @ chol.T
    x = tf.constant(gen.normal(size=(n, d)).astype(np.float32) @ chol.T)
    rng = tf.random.Generator.from_seed(4)
    v = losses.draw_projections(rng, [n, d], projection)
    per = losses.ssm_per_example(linear_score(a), x, tf.zeros([n], tf.int32), v,
                                 variance_reduced).numpy()
    closed_form = np.trace(a) + 0.5 * np.trace(a @ cov @ a.T)
    assert abs(per.mean() - closed_form) < 4 * per.std() / np.sqrt(n)


def test_ssm_prefers_the_true_score():
    """For N(0, I_d), J(s) = E[tr ds/dx + 1/2 ||s||^2] is minimal (-d/2) at s = -x."""
    d, n = 2, 100_000
    rng = tf.random.Generator.from_seed(5)
    x = rng.normal([n, d])
    v = losses.draw_projections(rng, [n, d], "gaussian")
    levels = tf.zeros([n], tf.int32)
    true = losses.ssm_per_example(lambda x, l: -x, x, levels, v).numpy().mean()
    wrong = losses.ssm_per_example(lambda x, l: -0.5 * x, x, levels, v).numpy().mean()
    assert abs(true + d / 2) < 0.05
    assert wrong > true + 0.1


def test_ssm_loss_weights_by_sigma_squared_and_trains_under_tf_function():
    weights = tf.Variable(tf.eye(2) * -0.1)

    @tf.function(jit_compile=False)
    def step(x, rng):
        with tf.GradientTape() as tape:
            out = losses.ssm_loss(lambda x, l: tf.matmul(x, weights), x, SIGMAS, rng,
                                  projection="rademacher")
        return out, tape.gradient(out.loss, weights)

    rng = tf.random.Generator.from_seed(6)
    out, grad = step(tf.random.stateless_normal([64, 2], [1, 2]), rng)
    assert np.isfinite(out.loss.numpy()) and np.all(np.isfinite(grad.numpy()))
    assert np.any(grad.numpy() != 0)


def test_dsm_under_jit_compile():
    @tf.function(jit_compile=True)
    def loss(x, noise, levels):
        return losses.dsm_per_example(lambda x, l: -x, x, SIGMAS, levels, noise)

    x = tf.ones([3, 2])
    got = loss(x, tf.zeros([3, 2]), tf.constant([0, 1, 2])).numpy()
    sigma = SIGMAS.numpy()[[0, 1, 2]]
    np.testing.assert_allclose(got, 0.5 * 2 * sigma ** 2, rtol=1e-6)


def test_unknown_projection_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown SSM projection"):
        losses.draw_projections(tf.random.Generator.from_seed(0), [2], "uniform")


def test_stateless_rng_draws_differ_in_every_iteration_of_a_tf_range_loop():
    """Issue 10.1: a Python draw counter is fixed at tracing, so inside a loop body the RNG
    refuses to draw and `fold_in(i)` gives each iteration its own noise."""
    seed = tf.constant([3, 4], tf.int64)

    @tf.function
    def per_iteration(seed):
        rng = losses.StatelessRNG(seed)
        draws = tf.TensorArray(tf.float32, size=4)
        for i in tf.range(4):
            draws = draws.write(i, rng.fold_in(i).normal([5]))
        return draws.stack()

    got = per_iteration(seed).numpy()
    assert len({row.tobytes() for row in got}) == 4, got
    eager = losses.StatelessRNG(seed)
    np.testing.assert_array_equal(got[2], eager.fold_in(2).normal([5]).numpy())

    @tf.function
    def in_the_loop_body(seed):
        rng = losses.StatelessRNG(seed)
        total = tf.zeros([5])
        for _ in tf.range(4):
            total += rng.normal([5])
        return total

    with pytest.raises(RuntimeError, match=r"fold_in\(i\)"):
        in_the_loop_body(seed)


def test_stateless_rng_made_eagerly_refuses_to_draw_inside_a_tf_function():
    rng = losses.StatelessRNG(tf.constant([1, 2], tf.int64))
    with pytest.raises(RuntimeError, match="repeat the same noise"):
        tf.function(lambda: rng.uniform([2]))()


def test_stateless_rng_keeps_the_draws_training_relies_on():
    """Draw k of one graph is stateless_*(shape, fold_in(seed, k)): the train step's noise."""
    seed = tf.constant([7, 8], tf.int64)

    @tf.function
    def two_draws(seed):
        rng = losses.StatelessRNG(seed)
        return rng.uniform([3], 0, 10, tf.int32), rng.normal([3])

    levels, noise = two_draws(seed)
    fold = tf.random.experimental.stateless_fold_in
    np.testing.assert_array_equal(levels, tf.random.stateless_uniform([3], fold(seed, 1), 0, 10,
                                                                      tf.int32))
    np.testing.assert_array_equal(noise, tf.random.stateless_normal([3], fold(seed, 2)))
