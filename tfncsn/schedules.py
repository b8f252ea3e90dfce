"""Noise levels: validation shared by every sigma schedule (docs/algorithms.md section 1)."""

from __future__ import annotations

import numpy as np
import tensorflow as tf


class InvalidSigmasError(ValueError):
    """The noise levels are not a positive, strictly decreasing 1-D sequence."""


def validate_sigmas(sigmas) -> tf.Tensor:
    """Returns `sigmas` as float32 [L] after checking it is positive and strictly decreasing.

    Concrete values are checked at once and raise `InvalidSigmasError`;
    symbolic tensors (inside `tf.function`) get graph assertions instead.
    """
    if isinstance(sigmas, tf.Tensor) and not hasattr(sigmas, "numpy"):
        sigmas = tf.cast(sigmas, tf.float32)
        checks = [
            tf.debugging.assert_rank(sigmas, 1, message="sigmas must be 1-D"),
            tf.debugging.assert_positive(sigmas, message="sigmas must be positive"),
            tf.debugging.assert_less(sigmas[1:], sigmas[:-1],
                                     message="sigmas must be strictly decreasing"),
        ]
        with tf.control_dependencies(checks):
            return tf.identity(sigmas)
    values = np.asarray(sigmas, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise InvalidSigmasError(
            f"sigmas must be a non-empty 1-D sequence, got shape {values.shape}")
    if not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise InvalidSigmasError(f"sigmas must be positive and finite, got {values.tolist()}")
    if np.any(np.diff(values) >= 0):
        raise InvalidSigmasError(
            "sigmas must be strictly decreasing (index 0 = largest), got "
            f"{np.round(values, 6).tolist()}")
    return tf.constant(values, dtype=tf.float32)


def check_schedule_args(sigma_max: float, sigma_min: float, num_levels: int) -> None:
    """Raises `InvalidSigmasError` unless sigma_max > sigma_min > 0 and num_levels >= 1."""
    if not (isinstance(num_levels, (int, np.integer)) and num_levels >= 1):
        raise InvalidSigmasError(f"num_levels must be a positive integer, got {num_levels!r}")
    if not (np.isfinite(sigma_max) and np.isfinite(sigma_min) and sigma_min > 0):
        raise InvalidSigmasError(
            f"sigma_min must be positive and both finite, got sigma_max={sigma_max}, "
            f"sigma_min={sigma_min}")
    if num_levels > 1 and not sigma_max > sigma_min:
        raise InvalidSigmasError(
            f"sigma_max ({sigma_max}) must be larger than sigma_min ({sigma_min})")
    if num_levels == 1 and sigma_max != sigma_min:
        raise InvalidSigmasError(
            f"one level needs sigma_max == sigma_min, got {sigma_max} and {sigma_min}")


# The arguments a schedule plugin is tried with when loaded: the 2-D toy's levels.
TRIAL_ARGS = {"sigma_max": 20.0, "sigma_min": 1.0, "num_levels": 10}


def check_schedule_plugin(schedule, name: str) -> None:
    """The registry's contract of `tfncsn.sigma_schedules`: called with `TRIAL_ARGS`, the
    schedule returns num_levels positive, strictly decreasing sigmas. Raises ValueError."""
    if not callable(schedule):
        raise ValueError(f"it is a {type(schedule).__name__}, not a function "
                         "(sigma_max, sigma_min, num_levels) -> sigmas")
    args = ", ".join(f"{k}={v:g}" for k, v in TRIAL_ARGS.items())
    try:
        sigmas = validate_sigmas(schedule(**TRIAL_ARGS))
    except (TypeError, ValueError) as e:
        raise ValueError(f"with {args}: {e}") from None
    if sigmas.shape[0] != TRIAL_ARGS["num_levels"]:
        raise ValueError(f"with {args} it returned {sigmas.shape[0]} levels, not "
                         f"{TRIAL_ARGS['num_levels']}")
