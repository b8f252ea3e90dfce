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
