"""The noise of a step program, written once, and the default noise source.

docs/export.md's loop: per step k, each noise entry of the program in order; an entry is
drawn when k % every == 0 (`is_due`) and is zeros otherwise, drawing nothing; its shape is
[batch] when per == "example", else [batch, *element_shape] (`noise_shape`); its
distribution is "normal" (N(0, 1)) or "uniform" (U[0, 1)). The reader's `Program`, the
exporter's check of the step graphs and tfncsn's TensorFlow runner follow it; export/js/src
is its JavaScript twin, tested against this one.
"""

from __future__ import annotations

from typing import Callable, Iterable, Mapping

import numpy as np

# draw(distribution, shape): a standard draw, "normal" or "uniform", of that shape.
Draw = Callable[[str, tuple], np.ndarray]


def noise_shape(per: str, batch, element_shape) -> tuple:
    """(batch,) for a per-example entry, (batch, *element_shape) for a per-element one (state
    entries use the same rule). `batch` may be an int or a TensorFlow scalar."""
    return (batch,) if per == "example" else (batch, *element_shape)


def is_due(k, every):
    """Whether step k draws an entry of period `every`: k % every == 0.

    k may be a Python or NumPy integer (a bool comes back) or a TensorFlow tensor (a bool
    tensor comes back, for tf.cond). An entry with every == 1 is due at every step: that is
    a Python True whatever k is, so a graph needs no condition for it.
    """
    every = int(every)
    if every == 1:
        return True
    return k % every == 0


def step_noise(entries: Iterable[Mapping], k: int, batch: int, element_shape,
               draw: Draw) -> list[np.ndarray]:
    """The arrays step k feeds, one per noise entry in order: `draw(distribution, shape)` for
    the entries due at k, float32 zeros (nothing drawn) for the others. Each entry holds
    "per", "every" and "distribution", as the metadata's `noise` entries do."""
    arrays = []
    for entry in entries:
        shape = noise_shape(entry["per"], batch, element_shape)
        arrays.append(draw(entry["distribution"], shape) if is_due(k, entry["every"])
                      else np.zeros(shape, np.float32))
    return arrays


def standard_draws(source) -> Draw:
    """`draw` for `step_noise` from a noise source: anything with `normal(shape)` and
    `uniform(shape, low, high)`, as `NumpyNoise`."""
    def draw(distribution: str, shape: tuple) -> np.ndarray:
        if distribution == "uniform":
            return source.uniform(shape, 0.0, 1.0)
        return source.normal(shape)
    return draw


class NumpyNoise:
    """The default noise source: NumPy's PCG64 generator seeded with `seed`."""

    def __init__(self, seed: int):
        self._gen = np.random.default_rng(seed)

    def normal(self, shape) -> np.ndarray:
        return self._gen.standard_normal(tuple(shape), dtype=np.float32)

    def uniform(self, shape, low: float, high: float) -> np.ndarray:
        return self._gen.uniform(low, high, size=tuple(shape)).astype(np.float32)
