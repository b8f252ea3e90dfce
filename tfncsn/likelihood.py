"""Likelihoods of a score model through the probability-flow ODE (docs/algorithms.md#likelihood).

Song et al. (2021), section 4.3 and Appendix D.2: an SDE dx = a(t) x dt + g(t) dw (tfncsn.sdes)
has the probability-flow ODE (their eq. 13)

    dx/dt = a(t) x - 1/2 g(t)^2 s(x, t),

with the same marginals. Along a solution, d log p_t(x(t))/dt = -div_x(dx/dt) (their eq. 39), so

    log p_{t_min}(x) = log p_1(x(1)) + int_{t_min}^1 [a(t) D - 1/2 g(t)^2 div_x s] dt,

with p_1 the SDE's prior. For the VE SDE of NCSN's levels (sigma(t) = sigma_L (sigma_1 /
sigma_L)^t, t_min = 0) this is dx/dsigma = -sigma s(x, sigma) written in t. The score model
sees std(t) as its noise level.

The divergence is Hutchinson's estimate e^T (ds/dx) e with probes e drawn once per example and
kept for the whole integration (FFJORD; their Appendix D.2), averaged over `num_probes`; the
ODE is solved by SciPy's RK45 on one flat state: the batch's x and its log-det accumulator.
For 8-bit images the density is turned into a discrete likelihood by uniform dequantisation
(-log p(pixels) + D log 256, Theis et al. 2016) with the Jacobian of the dataset's map from
pixels to model space.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

import numpy as np
import tensorflow as tf
from scipy import integrate

from tfncsn import sdes
from tfncsn.config import ConfigError
from tfncsn.data.preprocessing import LOGIT_LAMBDA
from tfncsn.interfaces import ScoreFn

PROBES = ("rademacher", "gaussian", "exact")
MAX_EXACT_DIMS = 64  # "exact" takes one vector-Jacobian product per dimension.
PriorLogProb = Callable[[np.ndarray], np.ndarray]


class LikelihoodError(ConfigError):
    """A likelihood was asked of a model or dataset that cannot give one."""


@dataclasses.dataclass(frozen=True)
class ODEOptions:
    """How the probability-flow ODE and its divergence are computed.

    probe: Hutchinson probes "rademacher" (+-1) or "gaussian" (N(0, I)); "exact" takes the
      trace from D vector-Jacobian products (D <= 64).
    num_probes: probes per example, averaged (ignored for "exact").
    rtol, atol: RK45 tolerances (the score-SDE reference code uses 1e-5 for both).
    seed: seed of the probes.
    """

    probe: str = "rademacher"
    num_probes: int = 1
    rtol: float = 1e-5
    atol: float = 1e-5
    seed: int = 0

    def __post_init__(self):
        if self.probe not in PROBES:
            raise LikelihoodError(f"likelihood probe must be one of {', '.join(PROBES)}, got "
                                  f"'{self.probe}'")
        if self.num_probes < 1:
            raise LikelihoodError(f"likelihood num_probes must be at least 1, got "
                                  f"{self.num_probes}")
        if not (self.rtol > 0 and self.atol > 0):
            raise LikelihoodError(f"likelihood rtol and atol must be positive, got "
                                  f"{self.rtol}, {self.atol}")


@dataclasses.dataclass(frozen=True)
class ODEResult:
    """One batch through the ODE: log p_{t_min}(x) = prior_log_prob + delta_log_prob."""

    log_prob: np.ndarray  # [N]
    prior_log_prob: np.ndarray  # [N] the SDE's prior log-density at x(1) (or the prior given).
    delta_log_prob: np.ndarray  # [N] int_{t_min}^1 div(dx/dt) dt.
    x_end: np.ndarray  # [N, *shape] x(1), the latent code.
    score_evals: int  # Evaluations of the ODE's right-hand side (one score + probes VJPs each).


@dataclasses.dataclass(frozen=True)
class LikelihoodResult:
    """Per-example negative log-likelihoods of a data set.

    nll is -log p(data) in nats per example: of the model-space density at t_min for
    continuous data, or of the pixels' discrete distribution when `levels` was given
    (dequantised data: -log p(model space) - log|det dz/dy| + D log levels).
    """

    nll: np.ndarray  # [N] nats.
    bits_per_dim: np.ndarray  # [N] nll / (D ln 2).
    model_log_prob: np.ndarray  # [N] log p_{t_min}(z) of the model-space examples.
    log_det: np.ndarray  # [N] log|det dz/dy| of the pixels-to-model-space map.
    score_evals: np.ndarray  # [N] right-hand-side evaluations of each example's batch.
    batch_score_evals: tuple[int, ...]  # Per batch: each one batched score call + VJPs.
    dims: int
    levels: int | None

    def mean_sem(self, values: np.ndarray) -> tuple[float, float]:
        """Mean and its standard error over examples."""
        n = len(values)
        sem = float(np.std(values, ddof=1) / math.sqrt(n)) if n > 1 else float("nan")
        return float(np.mean(values)), sem


def make_probes(options: ODEOptions, shape: tuple[int, ...], rng: np.random.Generator
                ) -> np.ndarray:
    """Probes [K, N, *element_shape] as float32: K = num_probes, or D basis vectors for exact."""
    n, element = shape[0], shape[1:]
    d = int(np.prod(element))
    if options.probe == "exact":
        basis = np.eye(d, dtype=np.float32).reshape(d, 1, *element)
        return np.broadcast_to(basis, (d, n, *element)).copy()
    size = (options.num_probes, *shape)
    if options.probe == "gaussian":
        return rng.standard_normal(size).astype(np.float32)
    return rng.choice(np.array([-1.0, 1.0], np.float32), size=size)


def divergence_fn(score_fn: ScoreFn, exact: bool):
    """(x, sigma [N], probes [K, N, ...]) -> (score, divergence estimate [N]), compiled.

    The estimate is the mean over probes of e^T (ds/dx) e (vector-Jacobian products of one
    forward pass), or their sum for the basis vectors of "exact": the trace itself.
    """
    @tf.function
    def fn(x, sigma, probes):
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(x)
            score = score_fn(x, sigma)
        axes = list(range(1, len(x.shape)))
        terms = [tf.reduce_sum(tape.gradient(score, x, output_gradients=probes[k]) * probes[k],
                               axis=axes) for k in range(probes.shape[0])]
        del tape
        total = tf.add_n(terms)
        return score, total if exact else total / float(len(terms))
    return fn


def ode_log_prob(score_fn: ScoreFn, x: np.ndarray, sde: sdes.SDE,
                 options: ODEOptions = ODEOptions(), *, t_min: float = 0.0,
                 prior_log_prob: PriorLogProb | None = None,
                 rng: np.random.Generator | None = None, divergence=None,
                 on_evaluation: Callable[[float, int], None] | None = None) -> ODEResult:
    """log p_{t_min}(x) of a batch through `sde`'s probability-flow ODE (module docstring).

    Args:
      score_fn: s(x, std) for float32 x [N, *shape] and std [N], the marginal's standard
        deviation at t (for VE, sigma(t)), at any t in [t_min, 1].
      x: float32 [N, *shape], the points (in the model's space).
      sde: the forward SDE; for NCSN's levels the VE SDE from sigma_L to sigma_1.
      t_min: where the density is taken: 0 for VE (sigma_L); VP and sub-VP need t_min > 0.
      prior_log_prob: log-density of x(1) per example; default the SDE's prior.
      rng: draws the probes (default: from `options.seed`).
      divergence: a `divergence_fn(score_fn, ...)` to reuse across batches.
      on_evaluation: called with (std, evaluations so far) at each evaluation, for progress.
    """
    if not 0.0 <= t_min < 1.0:
        raise LikelihoodError(f"the likelihood ODE needs 0 <= t_min < 1, got {t_min}")
    if not float(sde.marginal(tf.constant(t_min, tf.float64))[1]) > 0:
        raise LikelihoodError(f"the {sde.name or 'SDE'}'s noise is zero at t_min = {t_min}, "
                              "where the score diverges; use t_min > 0 (e.g. 1e-5)")
    x = np.asarray(x, np.float32)
    n = len(x)
    size = x.size
    dims = size // max(n, 1)
    if options.probe == "exact" and dims > MAX_EXACT_DIMS:
        raise LikelihoodError(f"likelihood probe 'exact' takes one backward pass per dimension "
                              f"and allows at most {MAX_EXACT_DIMS}; these examples have "
                              f"{dims}: use probe rademacher or gaussian")
    rng = rng or np.random.default_rng(options.seed)
    probes = tf.constant(make_probes(options, x.shape, rng))
    divergence = divergence or divergence_fn(score_fn, options.probe == "exact")
    count = [0]

    def rhs(t: float, state: np.ndarray) -> np.ndarray:
        time = tf.constant(t, tf.float64)
        std = float(sde.marginal(time)[1])
        drift = float(sde.drift_scale(time))
        half_g2 = 0.5 * float(sde.diffusion(time)) ** 2
        count[0] += 1
        if on_evaluation is not None:
            on_evaluation(std, count[0])
        points = state[:size].reshape(x.shape)
        score, div = divergence(tf.constant(points, tf.float32),
                                tf.fill([n], tf.constant(std, tf.float32)), probes)
        velocity = drift * points.ravel() - half_g2 * score.numpy().astype(np.float64).ravel()
        return np.concatenate([velocity, drift * dims - half_g2 * div.numpy().astype(np.float64)])

    start = np.concatenate([x.astype(np.float64).ravel(), np.zeros(n)])
    solution = integrate.solve_ivp(rhs, (t_min, 1.0), start, method="RK45", rtol=options.rtol,
                                   atol=options.atol)
    if not solution.success:
        raise LikelihoodError(f"the likelihood ODE solver failed: {solution.message}")
    end = solution.y[:, -1]
    x_end = end[:size].reshape(x.shape)
    delta = end[size:]
    prior = (prior_log_prob(x_end) if prior_log_prob is not None
             else np.asarray(sde.prior_log_prob(x_end), np.float64))
    return ODEResult(prior + delta, prior, delta, x_end, int(solution.nfev))


def model_space_log_det(kind: str, pixels: np.ndarray) -> np.ndarray:
    """log|det dz/dy| per example of the map from pixels y in [0, 1] to model space z.

    "none" and "clip" are the identity on [0, 1] (0); "inverse_logit" undoes
    z = logit(lam + (1 - 2 lam) y), whose derivative is (1 - 2 lam) / (p (1 - p)) with
    p = lam + (1 - 2 lam) y (docs/algorithms.md section 7.1). Others have no closed form.
    """
    flat = np.asarray(pixels, np.float64).reshape(len(pixels), -1)
    if kind in ("none", "clip"):
        return np.zeros(len(flat))
    if kind == "inverse_logit":
        p = LOGIT_LAMBDA + (1.0 - 2.0 * LOGIT_LAMBDA) * flat
        return np.sum(math.log(1.0 - 2.0 * LOGIT_LAMBDA) - np.log(p) - np.log1p(-p), axis=1)
    raise LikelihoodError(f"a likelihood in pixel space needs the Jacobian of the dataset's "
                          f"map to model space, which postprocess_kind '{kind}' does not "
                          "give; use a dataset with postprocess_kind none, clip or "
                          "inverse_logit")


def dequantize(pixels: np.ndarray, levels: int, seed: int) -> np.ndarray:
    """Uniform dequantisation: pixel k/(levels-1) -> (k + u)/levels, u ~ U[0, 1) from `seed`."""
    k = np.rint(np.asarray(pixels, np.float64) * (levels - 1))
    u = np.random.default_rng(seed).uniform(size=k.shape)
    return ((k + u) / levels).astype(np.float32)


def negative_log_likelihood(score_fn: ScoreFn, x: np.ndarray, sde: sdes.SDE,
                            options: ODEOptions = ODEOptions(), *, t_min: float = 0.0,
                            log_det: np.ndarray | None = None, levels: int | None = None,
                            prior_log_prob: PriorLogProb | None = None, batch_size: int = 250,
                            callback: Callable[[int], None] | None = None,
                            on_evaluation: Callable[[float, int], None] | None = None
                            ) -> LikelihoodResult:
    """Per-example NLL (nats) and bits/dim of `x` under the score model's ODE density.

    Args:
      score_fn, sde, t_min, prior_log_prob: as `ode_log_prob`.
      x: float32 [N, *shape] model-space examples (dequantised first for discrete data).
      log_det: [N] log|det dz/dy| of the map from the data to `x` (default 0: identity).
      levels: the number of values per dimension of discrete data that `x` dequantises
        (256 for 8-bit images): adds D log(levels), the bin volume. None: continuous data.
      batch_size: examples per ODE solve (one flat state; the step size is shared).
      callback: called with the number of examples done after each batch.
      on_evaluation: as `ode_log_prob`'s, within each batch.
    """
    x = np.asarray(x, np.float32)
    if not len(x):
        raise LikelihoodError("no examples to compute a likelihood of")
    dims = int(np.prod(x.shape[1:]))
    log_det = np.zeros(len(x)) if log_det is None else np.asarray(log_det, np.float64)
    divergence = divergence_fn(score_fn, options.probe == "exact")
    log_probs, evals = [], []
    for index, start in enumerate(range(0, len(x), batch_size)):
        batch = x[start:start + batch_size]
        rng = np.random.default_rng([options.seed, index])
        result = ode_log_prob(score_fn, batch, sde, options, t_min=t_min,
                              prior_log_prob=prior_log_prob, rng=rng, divergence=divergence,
                              on_evaluation=on_evaluation)
        log_probs.append(result.log_prob)
        evals.append(np.full(len(batch), result.score_evals))
        if callback is not None:
            callback(len(batch))
    model_log_prob = np.concatenate(log_probs)
    nll = -(model_log_prob + log_det)
    if levels is not None:
        nll = nll + dims * math.log(levels)
    return LikelihoodResult(nll, nll / (dims * math.log(2.0)), model_log_prob, log_det,
                            np.concatenate(evals), tuple(int(e[0]) for e in evals), dims, levels)
