"""The probability-flow ODE solved adaptively by SciPy's RK45: a reference for the fixed-step
samplers (docs/samplers.md#fast-samplers).

In the VE form x = x0 + sigma n the flow is dx / dsigma = -sigma s(x, sigma) (Karras et al. 2022,
eq. 3); it is integrated in u = ln sigma, dx / du = -sigma^2 s, which spreads the work evenly
over the decades of sigma. A run on another SDE is walked as the fast samplers walk it: x / m at
sigma = std / m, its score taken at (m x, std) (`sdes.ve_form`).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf
from scipy import integrate

from tfncsn import sdes
from tfncsn.interfaces import ScoreFn


@dataclasses.dataclass(frozen=True)
class FlowSolution:
    x: np.ndarray  # float64 [N, ...] at sigma_to.
    evaluations: int  # Score evaluations RK45 took (each on the whole batch).


def solve_flow(score_fn: ScoreFn, x: np.ndarray, sigma_from: float, sigma_to: float,
               sde: sdes.SDE | None = None, rtol: float = 1e-5,
               atol: float = 1e-5) -> FlowSolution:
    """x carried along the probability-flow ODE from VE-form sigma_from to sigma_to > 0.

    Args:
      score_fn: the run's s(x, std) (float32 x [N, ...], std [N]).
      x: float [N, ...] in the VE form at sigma_from.
      sde: the run's SDE (None for NCSN's levels and EDM runs, whose sigma is the std).
      rtol, atol: RK45's tolerances (the score-SDE code's 1e-5 by default).
    """
    if not sigma_from > sigma_to > 0:
        raise ValueError(f"need sigma_from > sigma_to > 0, got {sigma_from} and {sigma_to}")
    x = np.asarray(x, np.float64)
    count = [0]

    def velocity(u: float, flat: np.ndarray) -> np.ndarray:
        sigma = float(np.exp(u))
        std, mean_scale = (float(v[0]) for v in sdes.ve_form(sde, [sigma]))
        points = tf.constant(mean_scale * flat.reshape(x.shape), tf.float32)
        score = score_fn(points, tf.fill([len(x)], tf.constant(std, tf.float32)))
        count[0] += 1
        return -sigma ** 2 * mean_scale * np.asarray(score, np.float64).ravel()

    solution = integrate.solve_ivp(velocity, (np.log(sigma_from), np.log(sigma_to)), x.ravel(),
                                   method="RK45", rtol=rtol, atol=atol)
    if not solution.success:
        raise RuntimeError(f"RK45 failed on the probability-flow ODE: {solution.message}")
    return FlowSolution(solution.y[:, -1].reshape(x.shape), count[0])
