"""Built-in samplers (group `tfncsn.samplers`), each a step program (`tfncsn.sampling.Sampler`).

    annealed_langevin  Algorithm 1 of Song & Ermon (2019)
    langevin           plain Langevin dynamics at the smallest level (their Fig. 3b)
    pc                 reverse-diffusion predictor + Langevin corrector (Song et al. 2021, Alg. 2)
    ode                the probability-flow ODE, Euler or Heun (Song et al. 2021, Sec. 4.3)

The maths, defaults and conventions are in docs/samplers.md.
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Literal, Optional

import numpy as np
import tensorflow as tf

from tfncsn.sampling import Noise, Prior, Sampler, langevin


# ----------------------------------------------------------------------------- Langevin


@dataclasses.dataclass(frozen=True)
class LangevinOptions:
    """eps: base step size; steps_per_level: T; step_convention: see
    tfncsn.sampling.langevin; denoise: finish with x + sigma_L^2 s(x, sigma_L) (NCSNv2)."""

    eps: float = 2e-5
    steps_per_level: int = 100
    step_convention: Literal["paper", "reference"] = "paper"
    denoise: bool = False

    def __post_init__(self):
        if not self.eps > 0:
            raise ValueError(f"eps must be positive, got {self.eps}")
        if self.steps_per_level < 1:
            raise ValueError(f"steps_per_level must be at least 1, got {self.steps_per_level}")


class _LangevinProgram(Sampler):
    """T Langevin steps at each of some levels: x <- x + c_score[i] s(x, level_i) + c_noise[i] z."""

    Options = LangevinOptions
    supports_conditioning = True

    def __init__(self, options: LangevinOptions, problem):
        super().__init__(options, problem)
        self.levels = self._levels()
        c_score, c_noise = langevin.langevin_coefficients(self._alphas(), options.step_convention)
        self._levels_t = tf.constant(self.levels, tf.int32)
        self._c_score, self._c_noise = tf.constant(c_score), tf.constant(c_noise)

    @abc.abstractmethod
    def _levels(self) -> np.ndarray:
        """The trained levels the stages run at, in order."""

    @abc.abstractmethod
    def _alphas(self) -> np.ndarray:
        """float32 step size a of each stage."""

    @property
    def num_steps(self) -> int:
        return len(self.levels) * self.options.steps_per_level

    @property
    def steps_per_level(self) -> int:
        return self.options.steps_per_level

    @property
    def step_sigmas(self) -> np.ndarray:
        return np.repeat(self.problem.sigmas[self.levels], self.options.steps_per_level)

    @property
    def has_finish(self) -> bool:
        return self.options.denoise

    @property
    def score_evaluations(self) -> int:
        return self.num_steps + int(self.options.denoise)

    def step(self, score_fn, state, k, noise):
        stage = k // self.options.steps_per_level
        x = state["x"]
        score = score_fn(x, self.batch_vector(x, self._levels_t[stage]))
        return {"x": x + self._c_score[stage] * score + self._c_noise[stage] * noise["z"]}

    def finish(self, score_fn, state):
        x = state["x"]
        if not self.options.denoise:
            return x
        last = len(self.problem.sigmas) - 1
        return langevin.tweedie_denoise(x, score_fn(x, self.batch_vector(x, last)),
                                        self.sigmas[-1])


class AnnealedLangevin(_LangevinProgram):
    """Annealed Langevin dynamics, Algorithm 1 of Song & Ermon (2019).

    T = steps_per_level steps at every level i with step size a_i = eps sigma_i^2 / sigma_L^2,
    from the uniform box; optionally NCSNv2's final denoising step.
    """

    def _levels(self):
        return np.arange(len(self.problem.sigmas), dtype=np.int32)

    def _alphas(self):
        sigmas = self.problem.sigmas
        return langevin.step_size(self.options.eps, sigmas, sigmas[-1])


class PlainLangevin(_LangevinProgram):
    """Plain Langevin dynamics at the smallest level with the fixed step eps (paper Fig. 3b).

    x <- x + eps/2 s(x, sigma_L) + sqrt(eps) z ("paper"), repeated steps_per_level times.
    """

    def _levels(self):
        return np.array([len(self.problem.sigmas) - 1], np.int32)

    def _alphas(self):
        return np.array([self.options.eps], np.float32)


# ----------------------------------------------------------------------------- the VE SDE


def sigma_grid(problem, num_steps: int | None) -> np.ndarray:
    """The trained levels, or `num_steps` geometric values from sigma_1 to sigma_L (float32)."""
    sigmas = problem.sigmas
    if num_steps is None:
        return sigmas
    return np.geomspace(float(sigmas[0]), float(sigmas[-1]), num_steps).astype(np.float32)


class _SDEProgram(Sampler):
    """Shared by `pc` and `ode`: a grid of sigmas, the N(0, sigma_1^2 I) prior, and the score
    at grid point i as level i (trained grid) or as sigma_i (any grid)."""

    def __init__(self, options, problem):
        super().__init__(options, problem)
        self.grid = sigma_grid(problem, options.num_steps)
        self._grid_t = tf.constant(self.grid)

    @property
    def prior(self) -> Prior:
        return Prior("normal", std=float(self.grid[0]))

    @property
    def score_input(self) -> str:
        return "level" if self.options.num_steps is None else "sigma"

    def score_at(self, score_fn, x, i):
        """s(x, grid[i]); i is an int32 scalar tensor."""
        if self.score_input == "level":
            return score_fn(x, self.batch_vector(x, i))
        return score_fn(x, self.batch_vector(x, self._grid_t[i]))


def _check_num_steps(num_steps):
    if num_steps is not None and num_steps < 2:
        raise ValueError(f"num_steps must be at least 2 (or null for the trained levels), got "
                         f"{num_steps}")


@dataclasses.dataclass(frozen=True)
class PCOptions:
    """snr: r of the corrector's step rule; corrector_steps: M per level; denoise: end with
    the noise-free Tweedie step at sigma_L; num_steps: a geometric grid of that many levels
    (models that accept any sigma) instead of the trained ones."""

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
    """Predictor-corrector sampling of the VE SDE (Song et al. 2021, Algorithm 2).

    Step i (i = 0 .. G-2 on a grid sigma_0 > ... > sigma_{G-1}) is the reverse-diffusion
    predictor x <- x + (sigma_i^2 - sigma_{i+1}^2) s(x, sigma_i) + sqrt(sigma_i^2 -
    sigma_{i+1}^2) z, then M Langevin corrector steps at sigma_{i+1} with the step
    2 (snr ||z|| / ||s||)^2, the norms averaged over the batch (so a sample depends on the
    batch it is drawn in, as in the authors' code). Score evaluations: (G - 1)(M + 1)
    (+1 denoise).
    """

    Options = PCOptions
    supports_conditioning = True

    def __init__(self, options, problem):
        super().__init__(options, problem)
        variance = np.square(self.grid[:-1]) - np.square(self.grid[1:])
        self._drop = tf.constant(variance.astype(np.float32))
        self._drop_std = tf.constant(np.sqrt(variance).astype(np.float32))

    @property
    def num_steps(self) -> int:
        return len(self.grid) - 1

    @property
    def noise(self):
        return (Noise("predictor"),) + tuple(Noise(f"corrector_{j}")
                                             for j in range(self.options.corrector_steps))

    @property
    def step_sigmas(self) -> np.ndarray:
        return self.grid[:-1]

    @property
    def has_finish(self) -> bool:
        return self.options.denoise

    @property
    def score_evaluations(self) -> int:
        return self.num_steps * (self.options.corrector_steps + 1) + int(self.options.denoise)

    def step(self, score_fn, state, k, noise):
        x = state["x"]
        x = (x + self._drop[k] * self.score_at(score_fn, x, k)
             + self._drop_std[k] * noise["predictor"])
        for j in range(self.options.corrector_steps):
            z = noise[f"corrector_{j}"]
            score = self.score_at(score_fn, x, k + 1)
            step = langevin.snr_step_size(score, z, self.options.snr)
            x = x + step * score + tf.sqrt(2.0 * step) * z
        return {"x": x}

    def finish(self, score_fn, state):
        x = state["x"]
        if not self.options.denoise:
            return x
        last = tf.constant(len(self.grid) - 1, tf.int32)
        return langevin.tweedie_denoise(x, self.score_at(score_fn, x, last), self._grid_t[-1])


@dataclasses.dataclass(frozen=True)
class ODEOptions:
    """solver: "euler" (1 evaluation a step) or "heun" (2nd order, 2); num_steps: a geometric
    grid of that many levels (models that accept any sigma) instead of the trained ones."""

    solver: Literal["euler", "heun"] = "heun"
    num_steps: Optional[int] = None

    def __post_init__(self):
        _check_num_steps(self.num_steps)


class ProbabilityFlowODE(_SDEProgram):
    """The probability-flow ODE of the VE SDE, dx = -1/2 d[sigma^2] s(x, sigma) (Song et al.
    2021, eq. 13), deterministic from x ~ N(0, sigma_1^2 I).

    Euler: x <- x + 1/2 (sigma_i^2 - sigma_{i+1}^2) s(x, sigma_i); Heun averages that slope
    with the one at the Euler point and sigma_{i+1}. The last step, from sigma_L to 0, is
    Tweedie's x + sigma_L^2 s(x, sigma_L). Evaluations: (G - 1) x (1 or 2) + 1.
    """

    Options = ODEOptions
    supports_conditioning = True

    def __init__(self, options, problem):
        super().__init__(options, problem)
        half_drop = 0.5 * (np.square(self.grid[:-1]) - np.square(self.grid[1:]))
        self._half_drop = tf.constant(half_drop.astype(np.float32))

    @property
    def num_steps(self) -> int:
        return len(self.grid) - 1

    @property
    def noise(self):
        return ()

    @property
    def step_sigmas(self) -> np.ndarray:
        return self.grid[:-1]

    @property
    def has_finish(self) -> bool:
        return True

    @property
    def score_evaluations(self) -> int:
        return self.num_steps * (2 if self.options.solver == "heun" else 1) + 1

    def step(self, score_fn, state, k, noise):
        x = state["x"]
        slope = self.score_at(score_fn, x, k)
        euler = x + self._half_drop[k] * slope
        if self.options.solver == "euler":
            return {"x": euler}
        slope_end = self.score_at(score_fn, euler, k + 1)
        return {"x": x + self._half_drop[k] * 0.5 * (slope + slope_end)}

    def finish(self, score_fn, state):
        x = state["x"]
        last = tf.constant(len(self.grid) - 1, tf.int32)
        return langevin.tweedie_denoise(x, self.score_at(score_fn, x, last), self._grid_t[-1])
