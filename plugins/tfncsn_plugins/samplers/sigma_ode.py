"""Fast samplers of the probability-flow ODE written in sigma (Karras et al. 2022, "EDM"):
`euler`, `heun` (their Algorithms 1 and 2) and `dpmpp_2m` (DPM-Solver++(2M), Lu et al. 2022).
Maths: docs/samplers.md#fast-samplers.

They walk a grid of noise levels sigma_0 > ... > sigma_{N-1} (the `karras` schedule by
default) in the VE form x = x0 + sigma n, through the denoiser D(x; sigma) = x + sigma^2 s.
A run on another SDE (e.g. VP, x_t = m x0 + std n) is walked in the same form: sigma =
std / m, x = x_t / m, and its score is s_ve(x, sigma) = m s(m x, std) (EDM, section 4).
The last step, to sigma = 0, is D(x; sigma_{N-1}) (the `finish`).
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Optional

import numpy as np
import tensorflow as tf

from tfncsn import registry, sdes
from tfncsn.sampling import Noise, Prior, Sampler, langevin
from tfncsn.schedules import validate_sigmas


def ve_range(problem) -> tuple[float, float]:
    """(sigma_max, sigma_min) of the run in the VE form: its levels' extremes, or std / m of
    its SDE at t = 1 and at the SDE's sampling eps."""
    if problem.sde is None:
        return float(problem.sigmas[0]), float(problem.sigmas[-1])
    mean_scale, std = sdes.on_grid(problem.sde.marginal,
                                   np.array([1.0, problem.sde.sample_eps]))
    return tuple(float(v) for v in std / mean_scale)


@dataclasses.dataclass(frozen=True)
class SigmaGridOptions:
    """num_steps: N, the noise levels walked (the last step, to sigma = 0, is the denoiser at
    the N-th); schedule: a sigma schedule plugin (`tfncsn.sigma_schedules`), called with
    (sigma_max, sigma_min, N), and `rho` when it takes one (karras); sigma_max, sigma_min:
    the grid's ends, by default the run's (its levels, or its SDE from t = 1 to eps)."""

    num_steps: int = 18
    schedule: str = "karras"
    rho: float = 7.0
    sigma_max: Optional[float] = None
    sigma_min: Optional[float] = None

    def __post_init__(self):
        if self.num_steps < 2:
            raise ValueError(f"num_steps must be at least 2, got {self.num_steps}")
        if not self.rho > 0:
            raise ValueError(f"rho must be positive, got {self.rho}")
        for name in ("sigma_max", "sigma_min"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be positive, got {value}")


def _schedule(options: SigmaGridOptions, sigma_max: float, sigma_min: float) -> np.ndarray:
    try:
        schedule = registry.sigma_schedules.get(options.schedule)
    except registry.PluginError as e:
        raise ValueError(f"schedule: {e.args[0]}") from None
    takes_rho = "rho" in inspect.signature(schedule).parameters
    kwargs = {"rho": options.rho} if takes_rho else {}
    with tf.init_scope():  # Eager values even when the sampler is built inside a trace.
        sigmas = validate_sigmas(schedule(sigma_max, sigma_min, options.num_steps, **kwargs))
        return np.asarray(sigmas, np.float64)


def _constant(values) -> tf.Tensor:
    return tf.constant(np.asarray(values, np.float64).astype(np.float32))


class _SigmaProgram(Sampler):
    """Shared by `euler`, `heun` and `dpmpp_2m`: the grid, the denoiser at any grid point and
    the final step to sigma = 0. State x is VE-form; `score_fn` is the run's (score at std)."""

    supports_conditioning = True

    def __init__(self, options, problem):
        super().__init__(options, problem)
        high, low = ve_range(problem)
        self.grid = _schedule(options, options.sigma_max or high, options.sigma_min or low)
        self._points = self.at(self.grid)

    def at(self, sigmas: np.ndarray) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """float32 constants (sigma, std, m) of the run's marginal at VE-form `sigmas`."""
        std, mean_scale = sdes.ve_form(self.problem.sde, sigmas)
        return _constant(sigmas), _constant(std), _constant(mean_scale)

    @property
    def prior(self) -> Prior:
        """N(0, sigma_0^2 I), EDM's (for VP, x_1 / m(1) ~ N(0, (1 + sigma_0^2) I) is the same
        to 1 part in 2 sigma_0^2)."""
        return Prior("normal", std=float(self.grid[0]))

    @property
    def score_input(self) -> str:
        return "sigma"

    @property
    def num_steps(self) -> int:
        return len(self.grid) - 1

    @property
    def step_sigmas(self) -> np.ndarray:
        return self.grid[:-1].astype(np.float32)

    @property
    def has_finish(self) -> bool:
        return True

    @property
    def noise(self):
        """Deterministic: no draws (Heun's churn overrides this)."""
        return ()

    @property
    def score_evaluations(self) -> int:
        """One evaluation a step and one for the finish: N (Heun overrides this)."""
        return self.num_steps + 1

    def denoised(self, score_fn, x, point, k):
        """D(x; sigma) = x + sigma^2 s_ve(x, sigma) at entry k of `point` = (sigma, std, m)."""
        sigma, std, mean_scale = (values[k] for values in point)
        score = score_fn(mean_scale * x, self.batch_vector(x, std)) * mean_scale
        return langevin.tweedie_denoise(x, score, sigma)

    def finish(self, score_fn, state):
        """The last step, to sigma = 0: the denoiser at sigma_{N-1} (first order)."""
        last = tf.constant(len(self.grid) - 1, tf.int32)
        return self.denoised(score_fn, state["x"], self._points, last)


@dataclasses.dataclass(frozen=True)
class EulerOptions(SigmaGridOptions):
    """See SigmaGridOptions."""


class Euler(_SigmaProgram):
    """Euler's method on dx/dsigma = (x - D(x; sigma)) / sigma (EDM, eq. 3): the first-order
    baseline. Evaluations: N."""

    Options = EulerOptions

    def step(self, score_fn, state, k, noise):
        x = state["x"]
        sigma, sigma_next = self._points[0][k], self._points[0][k + 1]
        slope = (x - self.denoised(score_fn, x, self._points, k)) / sigma
        return {"x": x + (sigma_next - sigma) * slope}


@dataclasses.dataclass(frozen=True)
class HeunOptions(SigmaGridOptions):
    """s_churn, s_tmin, s_tmax, s_noise: EDM's Algorithm 2 (stochastic) when s_churn > 0: at
    each step with s_tmin <= sigma <= s_tmax the state is first taken up to sigma (1 + gamma),
    gamma = min(s_churn / N, sqrt(2) - 1), with fresh noise scaled by s_noise (s_tmax null: no
    upper bound, EDM's default)."""

    s_churn: float = 0.0
    s_tmin: float = 0.0
    s_tmax: Optional[float] = None
    s_noise: float = 1.0

    def __post_init__(self):
        super().__post_init__()
        if self.s_churn < 0 or self.s_noise < 0:
            raise ValueError(f"s_churn and s_noise must be >= 0, got {self.s_churn} and "
                             f"{self.s_noise}")
        if self.s_tmax is not None and not self.s_tmin <= self.s_tmax:
            raise ValueError(f"s_tmin must be at most s_tmax, got {self.s_tmin} > {self.s_tmax}")


class Heun(_SigmaProgram):
    """EDM's Heun sampler (Karras et al. 2022, Algorithm 1; Algorithm 2 with s_churn > 0).

    Step k from sigma_k to sigma_{k+1} > 0: (churn: sigma^ = sigma_k (1 + gamma_k), x^ = x +
    sqrt(sigma^^2 - sigma_k^2) s_noise z), d = (x^ - D(x^; sigma^)) / sigma^, the Euler point
    x' = x^ + (sigma_{k+1} - sigma^) d, then x = x^ + (sigma_{k+1} - sigma^) (d + d') / 2 with
    d' at x'. The last step, to 0, is Euler's (the denoiser). Evaluations: 2N - 1.
    """

    Options = HeunOptions

    def __init__(self, options, problem):
        super().__init__(options, problem)
        sigmas = self.grid[:-1]
        inside = (sigmas >= options.s_tmin) & (sigmas <= (options.s_tmax or np.inf))
        gamma = np.where(inside, min(options.s_churn / options.num_steps, np.sqrt(2.0) - 1.0), 0.0)
        hat = sigmas * (1.0 + gamma)
        self._churn = options.s_churn > 0
        self._hat = self.at(hat)
        self._churn_std = _constant(np.sqrt(hat ** 2 - sigmas ** 2) * options.s_noise)

    @property
    def noise(self):
        return (Noise("churn"),) if self._churn else ()

    @property
    def score_evaluations(self) -> int:
        return 2 * self.num_steps + 1

    def step(self, score_fn, state, k, noise):
        x = state["x"]
        if self._churn:
            x = x + self._churn_std[k] * noise["churn"]
        sigma_hat, sigma_next = self._hat[0][k], self._points[0][k + 1]
        slope = (x - self.denoised(score_fn, x, self._hat, k)) / sigma_hat
        euler = x + (sigma_next - sigma_hat) * slope
        slope_next = (euler - self.denoised(score_fn, euler, self._points, k + 1)) / sigma_next
        return {"x": x + (sigma_next - sigma_hat) * 0.5 * (slope + slope_next)}


@dataclasses.dataclass(frozen=True)
class DPMSolverOptions(SigmaGridOptions):
    """See SigmaGridOptions; DPM-Solver++'s paper uses 10 to 20 steps."""

    num_steps: int = 20


class DPMSolverPlusPlus2M(_SigmaProgram):
    """DPM-Solver++(2M) in data prediction (Lu et al. 2022, Algorithm 2), in the VE form with
    lambda = -log sigma: x <- (sigma_{k+1} / sigma_k) x + (1 - sigma_{k+1} / sigma_k) D^, where
    D^ = D_k on the first step and (1 + 1/(2r)) D_k - D_{k-1} / (2r) after, r = h_{k-1} / h_k,
    h_k = log(sigma_k / sigma_{k+1}). The last step, to 0, is first order (the denoiser).
    One evaluation a step: N in all. The state keeps D_{k-1}."""

    Options = DPMSolverOptions

    def __init__(self, options, problem):
        super().__init__(options, problem)
        h = np.log(self.grid[:-1] / self.grid[1:])
        ratio = np.ones_like(h)
        ratio[1:] = h[:-1] / h[1:]
        previous = np.where(np.arange(len(h)) > 0, -0.5 / ratio, 0.0)
        self._keep = _constant(self.grid[1:] / self.grid[:-1])
        self._current_weight = _constant(1.0 - previous)
        self._previous_weight = _constant(previous)

    @property
    def state(self):
        return {"x": "element", "previous_denoised": "element"}

    def step(self, score_fn, state, k, noise):
        x = state["x"]
        denoised = self.denoised(score_fn, x, self._points, k)
        blend = (self._current_weight[k] * denoised
                 + self._previous_weight[k] * state["previous_denoised"])
        return {"x": self._keep[k] * x + (1.0 - self._keep[k]) * blend,
                "previous_denoised": denoised}
