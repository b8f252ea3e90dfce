"""The paper's 2-D toy: 1/5 N((-5,-5), I) + 4/5 N((5,5), I).

Paper section 3.2 and Appendix B.1; docs/algorithms.md section 7.2.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfncsn.gaussian_mixture import paper_toy
from tfncsn.interfaces import Dataset

_SPLITS = {"train": (100_000, 1), "test": (10_000, 2)}  # size, sampling seed.


class ToyMixture(Dataset):
    """Fixed draws from the two-mode mixture; sampling starts uniform on [-8, 8]^2."""

    element_shape = (2,)
    prior_range = (-8.0, 8.0)

    def __init__(self, data_dir: str | None = None):
        super().__init__(data_dir)
        self.mixture = paper_toy()

    def load(self, split: str, *, training: bool = False, seed: int = 0) -> tf.data.Dataset:
        if split not in _SPLITS:
            raise ValueError(f"unknown split '{split}'; use one of {', '.join(_SPLITS)}")
        size, sampling_seed = _SPLITS[split]
        return tf.data.Dataset.from_tensor_slices(self.mixture.sample(size, sampling_seed))

    def exact_score(self, x: tf.Tensor, sigma: tf.Tensor) -> tf.Tensor:
        return self.mixture.score(x, sigma)

    def summarize(self, samples: np.ndarray) -> str:
        """Mode weights (paper Fig. 3 statistic; the data has 0.20 and 0.80) and the spread
        around the nearest mode (the data's std is 1)."""
        weights = self.mixture.mode_weights(samples)
        modes = ", ".join(f"({m[0]:g},{m[1]:g}): {w:.3f}"
                          for m, w in zip(self.mixture.means, weights))
        offsets = samples - self.mixture.means[self.mixture.nearest_component(samples)]
        spread = float(np.sqrt(np.mean(np.square(offsets)))) if len(samples) else float("nan")
        return f"mode weights {modes}; std around the modes {spread:.2f}"
