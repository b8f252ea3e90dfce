"""scikit-learn's 8x8 handwritten digits: a tiny real image dataset for fast tests.

The 1797 images ship inside scikit-learn's wheel, so nothing is downloaded.
Pixels are integers 0..16, rescaled to [0, 1] and dequantised over 17 levels
(x * 16/17 + U(0,1)/17, the 8-bit rule of docs/algorithms.md section 7.1 at this bit depth).
Split: every fifth image (index % 5 == 0, 360 images) is "test", the other
1437 are "train".
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfncsn.interfaces import DataNotFoundError
from tfncsn_plugins.datasets.image_base import LabelledImageDataset

TEST_EVERY = 5


class Digits(LabelledImageDataset):
    """8x8x1 digits in [0, 1], not flipped (options: logit_transform, random_flip, dequantize).

    `data_dir` is ignored: the data comes with scikit-learn.
    """

    element_shape = (8, 8, 1)
    levels = 17

    def _source(self, split: str) -> tf.data.Dataset:
        try:
            from sklearn.datasets import load_digits  # Lazy: only this plugin needs sklearn.
        except ImportError:
            raise DataNotFoundError("digits: needs scikit-learn, which ships the data; "
                                    "run `pip install scikit-learn`") from None
        bunch = load_digits()
        is_test = np.arange(len(bunch.target)) % TEST_EVERY == 0
        keep = is_test if split == "test" else ~is_test
        images = bunch.images[keep].astype(np.uint8)[..., None]
        return tf.data.Dataset.from_tensor_slices(
            {"image": images, "label": bunch.target[keep].astype(np.int64)})
