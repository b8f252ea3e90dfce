"""Checks that an export computes what the Keras model computes, on the golden inputs."""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class Tolerance:
    """|got - expected| <= atol + rtol |expected| elementwise (numpy.allclose's rule).

    float32 scores of O(1) to O(100): runtimes that fuse or reorder float32
    operations differ by a few ulps per op; 1e-4 + 1e-4 |s| leaves a margin of
    50x or more over what the built-in networks show (see docs/export.md).
    """

    atol: float = 1e-4
    rtol: float = 1e-4

    def describe(self) -> str:
        return f"|diff| <= {self.atol:g} + {self.rtol:g} |expected|"


@dataclasses.dataclass(frozen=True)
class Comparison:
    name: str  # e.g. "ONNX vs Keras".
    max_abs: float
    max_rel: float  # max |diff| / max(|expected|, atol).
    passed: bool

    def describe(self) -> str:
        return f"{self.name}: max abs diff {self.max_abs:.3g}, max rel diff {self.max_rel:.3g}"


class VerificationError(RuntimeError):
    """An exported model disagrees with the Keras model beyond the tolerance."""


def compare(name: str, got: np.ndarray, expected: np.ndarray, tolerance: Tolerance) -> Comparison:
    got, expected = np.asarray(got, np.float64), np.asarray(expected, np.float64)
    if got.shape != expected.shape:
        return Comparison(f"{name} (shape {got.shape} != {expected.shape})", np.inf, np.inf, False)
    diff = np.abs(got - expected)
    finite = bool(np.all(np.isfinite(got)))
    relative = diff / np.maximum(np.abs(expected), tolerance.atol)
    max_abs = float(diff.max()) if diff.size else 0.0
    max_rel = float(relative.max()) if diff.size else 0.0
    passed = finite and bool(np.all(diff <= tolerance.atol + tolerance.rtol * np.abs(expected)))
    return Comparison(name, max_abs if finite else np.inf, max_rel if finite else np.inf, passed)


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
