"""The Langevin samplers: annealed Langevin dynamics (Song & Ermon 2019, Algorithm 1) and plain
Langevin dynamics at the smallest level (their Fig. 3b). Maths: docs/samplers.md."""

from __future__ import annotations

import abc
import dataclasses
from typing import Literal

import numpy as np
import tensorflow as tf

from tfncsn.sampling import Sampler, langevin



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
