"""The SDE samplers: predictor-corrector, the probability-flow ODE and ancestral sampling (Song et
al. 2021), on NCSN's levels or on the run's SDE (tfncsn.sdes). Maths: docs/samplers.md."""

from __future__ import annotations

import dataclasses
from typing import Literal, Optional

import numpy as np
import tensorflow as tf

from tfncsn import sdes
from tfncsn.sampling import Noise, Prior, Sampler, langevin
from tfncsn_plugins.sdes import ve_ancestral_step


DEFAULT_SDE_STEPS = 1000  # score_sde's N, for SDE runs without num_steps.


def sigma_grid(problem, num_steps: int | None) -> np.ndarray:
    """The trained levels, or `num_steps` geometric values from sigma_1 to sigma_L (float32)."""
    sigmas = problem.sigmas
    if num_steps is None:
        return sigmas
    return np.geomspace(float(sigmas[0]), float(sigmas[-1]), num_steps).astype(np.float32)


def _float32(values) -> np.ndarray:
    return np.asarray(values, np.float64).astype(np.float32)


class _SDEProgram(Sampler):
    """Shared by `pc`, `ode` and `ancestral`: a grid of noise levels from the prior down, the
    score at grid point i, and each step's coefficients (docs/samplers.md).

    Without an SDE (NCSN's runs) the grid is the trained levels (score at level i) or
    `num_steps` geometric sigmas (score at sigma_i), discretising the VE SDE. With the run's
    SDE (`problem.sde`) it is t_i = linspace(1, eps, num_steps), scored at std(t_i).

    The grid's step k from point k to k+1 is the forward step x_{k} = (1 + c_k) x_{k+1} +
    G_k z reversed; NCSN's levels have c = 0 and G_k^2 = sigma_k^2 - sigma_{k+1}^2.
    """

    def __init__(self, options, problem):
        super().__init__(options, problem)
        self.sde = problem.sde
        if self.sde is None:
            self.grid = sigma_grid(problem, options.num_steps)
            self.times = None
            self._mean_scale_last = np.float32(1.0)
        else:
            self.times = sdes.time_grid(self.sde, options.num_steps or DEFAULT_SDE_STEPS)
            self.grid = _float32(self.sde.sigma_grid(self.times))
            self._mean_scale_last = _float32(sdes.on_grid(self.sde.mean_scale_at_std,
                                                           self.grid[-1:]))[0]
        self._drift, self._drop = self._coefficients()
        self._grid_t = tf.constant(self.grid)
        self._keep_t = tf.constant(np.float32(1.0) - self._drift)
        self._drift_t = tf.constant(self._drift)
        self._inv_mean_scale_last = tf.constant(np.float32(1.0) / self._mean_scale_last)

    def _coefficients(self) -> tuple[np.ndarray, np.ndarray]:
        """float32 (c_k, G_k^2) of each step: the SDE's reverse-diffusion discretisation (for
        NCSN's levels c = 0, G^2 = sigma_k^2 - sigma_{k+1}^2, in float32 as before)."""
        if self.sde is None:
            return (np.zeros(len(self.grid) - 1, np.float32),
                    np.square(self.grid[:-1]) - np.square(self.grid[1:]))
        c, g = sdes.on_grid(self.sde.reverse_step, self.times[:-1], self.times[1:])
        return _float32(c), _float32(np.square(g))

    @property
    def prior(self) -> Prior:
        std = float(self.grid[0]) if self.sde is None else self.sde.prior_std
        return Prior("normal", std=std)

    @property
    def score_input(self) -> str:
        return "level" if self.sde is None and self.options.num_steps is None else "sigma"

    @property
    def num_steps(self) -> int:
        return len(self.grid) - 1

    @property
    def step_sigmas(self) -> np.ndarray:
        return self.grid[:-1]

    @property
    def step_mean_scales(self) -> np.ndarray:
        if self.sde is None:
            return super().step_mean_scales
        return _float32(sdes.on_grid(self.sde.marginal, self.times[:-1])[0])

    def score_at(self, score_fn, x, i):
        """s(x, grid[i]); i is an int32 scalar tensor."""
        if self.score_input == "level":
            return score_fn(x, self.batch_vector(x, i))
        return score_fn(x, self.batch_vector(x, self._grid_t[i]))

    @property
    def has_finish(self) -> bool:
        """The Tweedie step at the end: the `denoise` option, always for the ODE (no option)."""
        return getattr(self.options, "denoise", True)

    def finish(self, score_fn, state):
        return self.denoise(score_fn, state["x"]) if self.has_finish else state["x"]

    def denoise(self, score_fn, x):
        """E[x0 | x] at the last grid point: (x + std^2 s) / m (Tweedie; m = 1 for VE)."""
        last = tf.constant(len(self.grid) - 1, tf.int32)
        return (langevin.tweedie_denoise(x, self.score_at(score_fn, x, last), self._grid_t[-1])
                * self._inv_mean_scale_last)


def _check_num_steps(num_steps):
    if num_steps is not None and num_steps < 2:
        raise ValueError(f"num_steps must be at least 2 (or null for the trained levels), got "
                         f"{num_steps}")


@dataclasses.dataclass(frozen=True)
class PCOptions:
    """snr: r of the corrector's step rule; corrector_steps: M per level; denoise: end with
    the noise-free Tweedie step at the last grid point; num_steps: a grid of that many points
    (models that accept any sigma) instead of the trained levels (SDE runs: 1000 if unset)."""

    snr: float = 0.16
    corrector_steps: int = 1
    denoise: bool = True
    num_steps: Optional[int] = None

    def __post_init__(self):
        if not self.snr > 0:
            raise ValueError(f"snr must be positive, got {self.snr}")
        if self.corrector_steps < 0:
            raise ValueError(f"corrector_steps must be >= 0, got {self.corrector_steps}")
        _check_num_steps(self.num_steps)


class PredictorCorrector(_SDEProgram):
    """Predictor-corrector sampling (Song et al. 2021, Algorithm 2 for VE, 3 for VP).

    Step k is the reverse-diffusion predictor x <- (1 - c_k) x + G_k^2 s(x, sigma_k) + G_k z
    (for NCSN's levels x + (sigma_k^2 - sigma_{k+1}^2) s + sqrt(sigma_k^2 - sigma_{k+1}^2) z),
    then M Langevin corrector steps at point k+1 with the step 2 alpha_k (snr ||z|| / ||s||)^2,
    alpha_k = (1 + c_k)^2 (1 for VE, DDPM's alpha for VP), the norms averaged over the batch
    (so a sample depends on the batch it is drawn in, as in the authors' code). Score
    evaluations: (G - 1)(M + 1) (+1 denoise).
    """

    Options = PCOptions
    supports_conditioning = True

    def __init__(self, options, problem):
        super().__init__(options, problem)
        self._drop_t = tf.constant(self._drop)
        self._drop_std_t = tf.constant(np.sqrt(self._drop))
        self._alpha_t = tf.constant(np.square(np.float32(1.0) + self._drift))

    @property
    def noise(self):
        return (Noise("predictor"),) + tuple(Noise(f"corrector_{j}")
                                             for j in range(self.options.corrector_steps))

    @property
    def score_evaluations(self) -> int:
        return self.num_steps * (self.options.corrector_steps + 1) + int(self.has_finish)

    def step(self, score_fn, state, k, noise):
        x = state["x"]
        x = (x * self._keep_t[k] + self._drop_t[k] * self.score_at(score_fn, x, k)
             + self._drop_std_t[k] * noise["predictor"])
        for j in range(self.options.corrector_steps):
            z = noise[f"corrector_{j}"]
            score = self.score_at(score_fn, x, k + 1)
            step = langevin.snr_step_size(score, z, self.options.snr) * self._alpha_t[k]
            x = x + step * score + tf.sqrt(2.0 * step) * z
        return {"x": x}


@dataclasses.dataclass(frozen=True)
class ODEOptions:
    """solver: "euler" (1 evaluation a step) or "heun" (2nd order, 2); num_steps: a grid of
    that many points (models that accept any sigma) instead of the trained levels (SDE runs:
    1000 if unset)."""

    solver: Literal["euler", "heun"] = "heun"
    num_steps: Optional[int] = None

    def __post_init__(self):
        _check_num_steps(self.num_steps)


class ProbabilityFlowODE(_SDEProgram):
    """The probability-flow ODE dx/dt = f(x, t) - 1/2 g(t)^2 s(x, t) (Song et al. 2021,
    eq. 13), deterministic from the prior.

    Euler: x <- (1 - A_k) x + 1/2 G_k s(x, sigma_k) with A_k = int a dt and G_k = int g^2 dt
    over the step; for NCSN's levels x + 1/2 (sigma_k^2 - sigma_{k+1}^2) s. Heun averages that
    increment with the one at the Euler point and sigma_{k+1}. The last step, to the data, is
    Tweedie's (x + std^2 s) / m.
    Evaluations: (G - 1) x (1 or 2) + 1.
    """

    Options = ODEOptions
    supports_conditioning = True

    def __init__(self, options, problem):
        super().__init__(options, problem)
        self._half_drop = tf.constant(np.float32(0.5) * self._drop)

    def _coefficients(self):
        """The ODE's own: (int a dt, int g^2 dt) over each step (SDE.integrals), so Heun stays
        second order; for NCSN's levels the same as the reverse diffusion's (exact for VE)."""
        if self.sde is None:
            return super()._coefficients()
        drift, g2 = sdes.on_grid(self.sde.integrals, self.times[:-1], self.times[1:])
        return _float32(drift), _float32(g2)

    @property
    def noise(self):
        return ()

    @property
    def score_evaluations(self) -> int:
        return self.num_steps * (2 if self.options.solver == "heun" else 1) + 1

    def step(self, score_fn, state, k, noise):
        x = state["x"]
        slope = self.score_at(score_fn, x, k)
        euler = x * self._keep_t[k] + self._half_drop[k] * slope
        if self.options.solver == "euler":
            return {"x": euler}
        slope_end = self.score_at(score_fn, euler, k + 1)
        x_next = x + self._half_drop[k] * 0.5 * (slope + slope_end)
        if self.sde is not None:  # The drift's share of the averaged increment (VE: none).
            x_next = x_next - self._drift_t[k] * 0.5 * (x + euler)
        return {"x": x_next}


@dataclasses.dataclass(frozen=True)
class AncestralOptions:
    """denoise: end with the noise-free Tweedie step at the last grid point; num_steps: a grid
    of that many points instead of the trained levels (SDE runs: 1000 if unset)."""

    denoise: bool = True
    num_steps: Optional[int] = None

    def __post_init__(self):
        _check_num_steps(self.num_steps)


class AncestralSampling(_SDEProgram):
    """Ancestral sampling: x <- A_k x + B_k s(x, sigma_k) + C_k z, the SDE's own
    discretisation (tfncsn.sdes.SDE.ancestral_step): for VP, DDPM's (Ho et al. 2020, Alg. 2),
    for VE and NCSN's levels the score_sde code's (`tfncsn_plugins.sdes.ve_ancestral_step`).
    Evaluations: G - 1 (+1 denoise).
    """

    Options = AncestralOptions
    supports_conditioning = True

    def __init__(self, options, problem):
        super().__init__(options, problem)
        if self.sde is None:  # NCSN's levels: VE's step on the grid's sigmas.
            step, points = ve_ancestral_step, (self.grid[:-1], self.grid[1:])
        else:
            step, points = self.sde.ancestral_step, (self.times[:-1], self.times[1:])
        a, b, c = (_float32(v) for v in sdes.on_grid(step, *points))
        self._a, self._b, self._c = tf.constant(a), tf.constant(b), tf.constant(c)

    @property
    def score_evaluations(self) -> int:
        return self.num_steps + int(self.has_finish)

    def step(self, score_fn, state, k, noise):
        x = state["x"]
        return {"x": self._a[k] * x + self._b[k] * self.score_at(score_fn, x, k)
                + self._c[k] * noise["z"]}

