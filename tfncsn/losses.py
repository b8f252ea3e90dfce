"""Score-matching objectives (docs/algorithms.md sections 2 and 3; EDM's: #edm).

The `*_per_example` functions are pure: every random draw is an argument, so
they can be checked against NumPy. `dsm_loss` and `ssm_loss` draw the noise
levels and projections from a `tf.random.Generator` and reduce over the batch.
Both divide by `global_batch_size` when given, which is what makes the loss of
one replica under `tf.distribute` sum to the mean over the global batch.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import tensorflow as tf

from tfncsn import sdes
from tfncsn.config import SSM_PROJECTIONS  # The setting's allowed values, declared once.
from tfncsn.interfaces import ScoreFn
from tfncsn.preconditioning import edm_loss_weight


class LossOutput(NamedTuple):
    loss: tf.Tensor  # Scalar to minimise.
    per_example: tf.Tensor  # [N] unreduced loss.
    levels: tf.Tensor  # [N] int32 noise level of each example.


def _sum_over_features(t: tf.Tensor) -> tf.Tensor:
    return tf.reduce_sum(tf.reshape(t, [tf.shape(t)[0], -1]), axis=1)


def _reduce(per_example: tf.Tensor, global_batch_size: int | None) -> tf.Tensor:
    if global_batch_size is None:
        return tf.reduce_mean(per_example)
    return tf.reduce_sum(per_example) / tf.cast(global_batch_size, per_example.dtype)


def draw_levels(rng: tf.random.Generator, batch_size, num_levels) -> tf.Tensor:
    """One noise level per example, uniform over {0, ..., L-1}."""
    return rng.uniform([batch_size], minval=0, maxval=num_levels, dtype=tf.int32)


def dsm_per_example(score_fn: ScoreFn, x: tf.Tensor, sigmas: tf.Tensor, levels: tf.Tensor,
                    noise: tf.Tensor) -> tf.Tensor:
    """1/2 ||sigma s(x + sigma z, sigma) + z||^2 per example: eq. (5) weighted by lambda = sigma^2."""
    sigma = sdes.expand(tf.gather(sigmas, levels), x)
    score = score_fn(x + sigma * noise, levels)
    return 0.5 * _sum_over_features(tf.square(sigma * score + noise))


def draw_dsm_noise(rng, x_shape, num_levels) -> dict[str, tf.Tensor]:
    """The random inputs of DSM: one level per example and the Gaussian noise z."""
    return {"levels": draw_levels(rng, x_shape[0], num_levels),
            "noise": rng.normal(x_shape, dtype=tf.float32)}


def dsm_from_noise(score_fn: ScoreFn, x: tf.Tensor, sigmas: tf.Tensor, levels: tf.Tensor,
                   noise: tf.Tensor, global_batch_size: int | None = None) -> LossOutput:
    per_example = dsm_per_example(score_fn, x, sigmas, levels, noise)
    return LossOutput(_reduce(per_example, global_batch_size), per_example, levels)


def dsm_loss(score_fn: ScoreFn, x: tf.Tensor, sigmas: tf.Tensor, rng: tf.random.Generator,
             global_batch_size: int | None = None) -> LossOutput:
    """Denoising score matching over all levels, eq. (6) of Song & Ermon (2019)."""
    noise = draw_dsm_noise(rng, tf.shape(x), tf.shape(sigmas)[0])
    return dsm_from_noise(score_fn, x, sigmas, global_batch_size=global_batch_size, **noise)


def draw_times(rng, batch_size, t_min: float) -> tf.Tensor:
    """One diffusion time per example, t ~ U(t_min, 1)."""
    return rng.uniform([batch_size], minval=t_min, maxval=1.0, dtype=tf.float32)


def time_bins(t: tf.Tensor, t_min: float, num_bins) -> tf.Tensor:
    """int32 bin of each t among `num_bins` equal bins of [t_min, 1], 0 = t near 1 (the most
    noise, like level 0), so continuous runs report per-level losses as discrete ones do."""
    position = (1.0 - t) / (1.0 - t_min) * tf.cast(num_bins, t.dtype)
    return tf.clip_by_value(tf.cast(tf.floor(position), tf.int32), 0, num_bins - 1)


def continuous_dsm_per_example(sigma_score_fn: ScoreFn, sde: sdes.SDE, x: tf.Tensor,
                               t: tf.Tensor, noise: tf.Tensor,
                               weighting: str = "std2") -> tf.Tensor:
    """1/2 lambda(t) ||s(x_t, t) + z / std(t)||^2 per example, x_t = m(t) x + std(t) z (Song et
    al. 2021, eq. 7). The score model sees std(t) as its noise level. lambda = std^2 gives
    1/2 ||std s + z||^2 (their default); "likelihood" is lambda = g(t)^2 (their Thm. 1)."""
    x_t, std = sdes.perturb(sde, x, t, noise)
    score = sigma_score_fn(x_t, std)
    per_example = 0.5 * _sum_over_features(tf.square(sdes.expand(std, x) * score + noise))
    if weighting == "likelihood":
        per_example = per_example * tf.square(sde.diffusion(t) / std)
    return per_example


@dataclasses.dataclass(frozen=True)
class ContinuousDSM:
    """Continuous-time DSM on `sde`: t ~ U(t_min, 1), weighted by `weighting`."""

    sde: sdes.SDE
    t_min: float = 1e-5
    weighting: str = "std2"


def draw_continuous_dsm_noise(rng, x_shape, t_min: float) -> dict[str, tf.Tensor]:
    """The random inputs of continuous DSM: one time per example and the Gaussian noise z."""
    return {"t": draw_times(rng, x_shape[0], t_min),
            "noise": rng.normal(x_shape, dtype=tf.float32)}


def continuous_dsm_from_noise(sigma_score_fn: ScoreFn, x: tf.Tensor, sde: sdes.SDE,
                              t: tf.Tensor, noise: tf.Tensor, num_bins: int, t_min: float,
                              weighting: str = "std2",
                              global_batch_size: int | None = None) -> LossOutput:
    per_example = continuous_dsm_per_example(sigma_score_fn, sde, x, t, noise, weighting)
    return LossOutput(_reduce(per_example, global_batch_size), per_example,
                      time_bins(t, t_min, num_bins))


@dataclasses.dataclass(frozen=True)
class EDMObjective:
    """EDM's training (Karras et al. 2022, eq. 8, Table 1): ln sigma ~ N(p_mean, p_std^2) per
    example and lambda(sigma) ||D(x0 + sigma n; sigma) - x0||^2, for a preconditioned model
    with this sigma_data (`tfncsn.preconditioning`)."""

    sigma_data: float = 0.5
    p_mean: float = -1.2
    p_std: float = 1.2


def draw_edm_noise(rng, x_shape, p_mean: float, p_std: float) -> dict[str, tf.Tensor]:
    """The random inputs of EDM's loss: one log-normal sigma per example and the noise n."""
    log_sigma = p_mean + p_std * rng.normal([x_shape[0]], dtype=tf.float32)
    return {"sigma": tf.exp(log_sigma), "noise": rng.normal(x_shape, dtype=tf.float32)}


def edm_per_example(sigma_score_fn: ScoreFn, x: tf.Tensor, sigma: tf.Tensor, noise: tf.Tensor,
                    sigma_data: float) -> tf.Tensor:
    """lambda(sigma) ||D - x0||^2 per example, D = x + sigma^2 s(x, sigma), x = x0 + sigma n.
    Since D - x0 = sigma (sigma s + n), this is lambda sigma^2 ||sigma s + n||^2."""
    sigma_x = sdes.expand(sigma, x)
    score = sigma_score_fn(x + sigma_x * noise, sigma)
    weight = edm_loss_weight(sigma, sigma_data) * tf.square(sigma)
    return weight * _sum_over_features(tf.square(sigma_x * score + noise))


def nearest_levels(sigma: tf.Tensor, sigmas: tf.Tensor) -> tf.Tensor:
    """int32 index of the trained level nearest each sigma in log sigma (for per-level
    summaries of a loss that draws sigma itself)."""
    distance = tf.abs(tf.math.log(sigma)[:, None] - tf.math.log(sigmas)[None, :])
    return tf.argmin(distance, axis=1, output_type=tf.int32)


def edm_from_noise(sigma_score_fn: ScoreFn, x: tf.Tensor, sigmas: tf.Tensor, sigma: tf.Tensor,
                   noise: tf.Tensor, sigma_data: float,
                   global_batch_size: int | None = None) -> LossOutput:
    per_example = edm_per_example(sigma_score_fn, x, sigma, noise, sigma_data)
    return LossOutput(_reduce(per_example, global_batch_size), per_example,
                      nearest_levels(sigma, sigmas))


def ssm_per_example(score_fn: ScoreFn, x: tf.Tensor, levels: tf.Tensor, v: tf.Tensor,
                    variance_reduced: bool = True) -> tf.Tensor:
    """Sliced score matching: v^T (ds/dx) v + 1/2 (v^T s)^2 per example, Eq. (3).

    See docs/algorithms.md#ssm.

    With `variance_reduced`, 1/2 (v^T s)^2 is replaced by its expectation over v,
    1/2 ||s||^2 (valid for Gaussian and Rademacher v, both with E[v v^T] = I).
    v^T (ds/dx) v is computed with one extra backward pass.
    """
    with tf.GradientTape() as tape:
        tape.watch(x)
        score = score_fn(x, levels)
        projected = tf.reduce_sum(score * v)
    jacobian_v = tape.gradient(projected, x)  # (ds/dx)^T v, per example.
    trace_term = _sum_over_features(jacobian_v * v)
    if variance_reduced:
        square_term = 0.5 * _sum_over_features(tf.square(score))
    else:
        square_term = 0.5 * tf.square(_sum_over_features(score * v))
    return trace_term + square_term


def draw_projections(rng: tf.random.Generator, shape, projection: str = "gaussian",
                     dtype=tf.float32) -> tf.Tensor:
    if projection == "gaussian":
        return rng.normal(shape, dtype=dtype)
    if projection == "rademacher":
        return tf.cast(rng.uniform(shape, 0, 2, dtype=tf.int32) * 2 - 1, dtype)
    raise ValueError(f"unknown SSM projection '{projection}'; use one of {SSM_PROJECTIONS}")


def draw_ssm_noise(rng, x_shape, num_levels, projection: str = "gaussian"):
    """The random inputs of noise-annealed SSM: levels, perturbation z, projections v."""
    return {"levels": draw_levels(rng, x_shape[0], num_levels),
            "noise": rng.normal(x_shape, dtype=tf.float32),
            "v": draw_projections(rng, x_shape, projection)}


def ssm_from_noise(score_fn: ScoreFn, x: tf.Tensor, sigmas: tf.Tensor, levels: tf.Tensor,
                   noise: tf.Tensor, v: tf.Tensor, global_batch_size: int | None = None,
                   variance_reduced: bool = True) -> LossOutput:
    sigma = tf.gather(sigmas, levels)
    per_example = tf.square(sigma) * ssm_per_example(
        score_fn, x + sdes.expand(sigma, x) * noise, levels, v, variance_reduced)
    return LossOutput(_reduce(per_example, global_batch_size), per_example, levels)


def ssm_loss(score_fn: ScoreFn, x: tf.Tensor, sigmas: tf.Tensor, rng: tf.random.Generator,
             global_batch_size: int | None = None, projection: str = "gaussian",
             variance_reduced: bool = True) -> LossOutput:
    """Noise-annealed sliced score matching: SSM on x + sigma z, weighted by sigma^2."""
    noise = draw_ssm_noise(rng, tf.shape(x), tf.shape(sigmas)[0], projection)
    return ssm_from_noise(score_fn, x, sigmas, global_batch_size=global_batch_size,
                          variance_reduced=variance_reduced, **noise)


class StatelessRNG:
    """The `normal`/`uniform` subset of `tf.random.Generator`, driven by one seed.

    Draw k (k = 1, 2, ...) uses the seed fold_in(seed, k), so the draws are a pure
    function of the seed: what lets a train step draw a whole batch's noise once,
    outside the replicas. k is counted in Python, which a traced graph fixes: a draw
    inside a `tf.while_loop` or `tf.range` body, or inside another `tf.function` than
    the one that made the RNG, would repeat the same noise on every iteration or call.
    Such draws raise `RuntimeError`; in a loop, draw from `rng.fold_in(i)` instead.
    """

    def __init__(self, seed: tf.Tensor):
        self._seed = seed
        self._calls = 0
        self._graph = _current_graph()

    def fold_in(self, index) -> "StatelessRNG":
        """An independent RNG for `index` (an int or a tensor, e.g. a loop counter)."""
        children = tf.random.experimental.stateless_fold_in(self._seed, 0)  # Draws use k >= 1.
        return StatelessRNG(tf.random.experimental.stateless_fold_in(children, index))

    def _next_seed(self) -> tf.Tensor:
        if _current_graph() is not self._graph:
            raise RuntimeError(
                "StatelessRNG: a draw inside a loop body or another tf.function than the one "
                "that made this RNG would repeat the same noise every iteration; draw from "
                "rng.fold_in(i) with the loop counter i instead")
        self._calls += 1
        return tf.random.experimental.stateless_fold_in(self._seed, self._calls)

    def normal(self, shape, dtype=tf.float32):
        return tf.random.stateless_normal(shape, self._next_seed(), dtype=dtype)

    def uniform(self, shape, minval=0, maxval=None, dtype=tf.float32):
        return tf.random.stateless_uniform(shape, self._next_seed(), minval, maxval, dtype)


def _current_graph():
    """The graph ops are being added to (a loop body has its own), or None when eager."""
    return None if tf.executing_eagerly() else tf.compat.v1.get_default_graph()

