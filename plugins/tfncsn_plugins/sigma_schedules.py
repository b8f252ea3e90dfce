"""Built-in sigma schedules (group `tfncsn.sigma_schedules`), docs/algorithms.md section 1."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfncsn.schedules import check_schedule_args, validate_sigmas


def geometric(sigma_max: float, sigma_min: float, num_levels: int) -> tf.Tensor:
    """Geometric progression sigma_1 > ... > sigma_L with equal ratios (paper section 4.1)."""
    check_schedule_args(sigma_max, sigma_min, num_levels)
    values = np.exp(np.linspace(np.log(sigma_max), np.log(sigma_min), num_levels))
    return validate_sigmas(values)


def linear(sigma_max: float, sigma_min: float, num_levels: int) -> tf.Tensor:
    """Equally spaced sigmas from sigma_max down to sigma_min."""
    check_schedule_args(sigma_max, sigma_min, num_levels)
    return validate_sigmas(np.linspace(sigma_max, sigma_min, num_levels))


def karras(sigma_max: float, sigma_min: float, num_levels: int, rho: float = 7.0) -> tf.Tensor:
    """sigma_i = (sigma_max^(1/rho) + i / (L - 1) (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho,
    evenly spaced in sigma^(1/rho): steps shorten towards sigma_min as rho grows (Karras et al.
    2022, eq. 5; rho = 7 is theirs; rho = 1 is `linear`, rho -> infinity `geometric`)."""
    check_schedule_args(sigma_max, sigma_min, num_levels)
    if not rho > 0:
        raise ValueError(f"rho must be positive, got {rho}")
    ramp = np.linspace(0.0, 1.0, num_levels)
    high, low = sigma_max ** (1.0 / rho), sigma_min ** (1.0 / rho)
    return validate_sigmas((high + ramp * (low - high)) ** rho)
