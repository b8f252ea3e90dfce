"""Checks that an export computes what the Keras model computes, on the golden inputs."""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from tfncsn_runtime.golden import compare_to_tolerance


@dataclasses.dataclass(frozen=True)
class Tolerance:
    """|got - expected| <= atol + rtol * rms(expected of that input), elementwise.

    Each input's score (or state) has one scale, and float32 rounding grows with it: a
    trained CondRefineNet's scores at sigma = 0.01 reach a few hundred, and ONNX Runtime
    and TensorFlow then differ by about 5e-6 of each input's RMS, elements near 0
    included (docs/export.md, "Golden pair and tolerance"). 1e-4 leaves a margin of 10x
    or more over that; a conversion error is of the order of the scale itself.
    """

    atol: float = 1e-4
    rtol: float = 1e-4
    scale: str = "rms"  # What rtol multiplies (tfncsn_runtime.golden.tolerance_scale).

    def describe(self) -> str:
        return f"|diff| <= {self.atol:g} + {self.rtol:g} rms(expected of the input)"

    def as_metadata(self) -> dict:
        return {"atol": self.atol, "rtol": self.rtol, "scale": self.scale}


@dataclasses.dataclass(frozen=True)
class Comparison:
    name: str  # e.g. "ONNX vs Keras".
    max_abs: float
    max_rel: float  # max |diff| / max(scale, atol).
    passed: bool

    def describe(self) -> str:
        return f"{self.name}: max abs diff {self.max_abs:.3g}, max rel diff {self.max_rel:.3g}"


class VerificationError(RuntimeError):
    """An exported model disagrees with the Keras model beyond the tolerance."""


def compare(name: str, got: np.ndarray, expected: np.ndarray, tolerance: Tolerance) -> Comparison:
    got, expected = np.asarray(got), np.asarray(expected)
    if got.shape != expected.shape:
        return Comparison(f"{name} (shape {got.shape} != {expected.shape})", np.inf, np.inf, False)
    passed, max_abs, max_rel, _ = compare_to_tolerance(got, expected, tolerance.as_metadata())
    return Comparison(name, max_abs, max_rel, passed)


def check(comparisons: Sequence[Comparison], tolerance: Tolerance) -> None:
    """Raises one-line `VerificationError` naming every comparison that failed."""
    failed = [c for c in comparisons if not c.passed]
    if failed:
        raise VerificationError("verification failed: " + "; ".join(c.describe() for c in failed)
                                + f" (tolerance {tolerance.describe()})")


class ReplayNoise:
    """A noise source (the `normal`/`uniform` subset of `tf.random.Generator`) replaying arrays.

    Give the same arrays to a TensorFlow sampler and to any other implementation
    and both see identical noise, draw for draw; running out is an error.
    """

    def __init__(self, draws: Sequence[np.ndarray]):
        self._draws = [np.asarray(d, np.float32) for d in draws]
        self.used = 0

    def _next(self, shape) -> np.ndarray:
        if self.used >= len(self._draws):
            raise IndexError(f"ReplayNoise: all {len(self._draws)} draws used")
        draw = self._draws[self.used]
        if tuple(draw.shape) != tuple(int(d) for d in np.asarray(shape).reshape(-1)):
            raise ValueError(f"ReplayNoise: draw {self.used} has shape {draw.shape}, the "
                             f"sampler asked for {tuple(np.asarray(shape).reshape(-1))}")
        self.used += 1
        return draw

    def normal(self, shape, dtype=None):
        return self._next(shape)

    def uniform(self, shape, minval=0.0, maxval=1.0, dtype=None):
        return self._next(shape)
