"""The pipeline every image plugin shares (docs/algorithms.md section 7.1, paper section 5).

A plugin only says where its integer pixels come from (`_source`); this base
turns them into float32 examples: rescale to [0, 1]; with `training=True`
dequantise (x * 255/256 + U(0,1)/256, unless `dequantize=False`) and, if
enabled, flip left-right at random; finally the optional logit transform
(lambda = 1e-6).
"""

from __future__ import annotations

import abc

import tensorflow as tf

from tfncsn.data import preprocessing
from tfncsn.interfaces import Dataset

SPLITS = ("train", "test")


class ImageDataset(Dataset):
    """Base of the image plugins: integer pixels -> float32 [H, W, C] in [0, 1].

    Args:
      data_dir: where the plugin looks for its data (meaning depends on the plugin).
      logit_transform: give examples in logit space, logit(1e-6 + (1 - 2e-6) x);
        `postprocess` maps model outputs back to [0, 1].
      random_flip: flip left-right at random when `training=True`; `None` takes
        the dataset's default (`default_random_flip`).
      dequantize: add uniform noise within each pixel's bin when `training=True`
        (default; the NCSN reference code does, NCSNv2's CIFAR-10 config does not).

    Training-time randomness is drawn per example from seeds of
    `tf.data.Dataset.random(seed)`, re-drawn on each pass over the data, so a
    repeated dataset sees fresh noise every epoch and a fresh `load()` with the
    same seed gives the same sequence.
    """

    element_shape: tuple[int, int, int]
    prior_range = (0.0, 1.0)  # Samplers start from U[0, 1] as in the reference code, logit or not.
    levels = 256  # Number of pixel values; the source yields integers 0 .. levels - 1.
    default_random_flip = False

    def __init__(self, data_dir: str | None = None, *, logit_transform: bool = False,
                 random_flip: bool | None = None, dequantize: bool = True):
        super().__init__(data_dir)
        self.logit_transform = bool_option("logit_transform", logit_transform)
        self.dequantize = bool_option("dequantize", dequantize)
        self.random_flip = (self.default_random_flip if random_flip is None
                            else bool_option("random_flip", random_flip))

    @abc.abstractmethod
    def _source(self, split: str) -> tf.data.Dataset:
        """Examples {"image": integer [*element_shape], ("label": int64)} of `split`."""

    def load(self, split: str, *, training: bool = False, seed: int = 0) -> tf.data.Dataset:
        return self._finish(self._images(split), training=training, seed=seed)

    def load_dequantized(self, split: str, seed: int = 0) -> tf.data.Dataset:
        """`split` dequantised as training does, never flipped, for the held-out loss.

        The noise of example i is drawn from the stateless seed (seed, i), so the
        examples depend on `seed` alone (not on TensorFlow's global seed).
        """
        x = self._images(split).map(self._rescale, num_parallel_calls=tf.data.AUTOTUNE)
        if self.dequantize:
            def noisy(x, index):
                seed_pair = tf.stack([tf.constant(seed, tf.int64), index])
                return preprocessing.dequantize(x, seed_pair, self.levels)

            x = tf.data.Dataset.zip((x, tf.data.Dataset.counter())).map(
                noisy, num_parallel_calls=tf.data.AUTOTUNE)
        if self.logit_transform:
            x = x.map(self.to_model_space, num_parallel_calls=tf.data.AUTOTUNE)
        return x

    @property
    def postprocess_kind(self) -> str:
        """`postprocess` undoes the logit transform when it is on, and clips to [0, 1]."""
        return "inverse_logit" if self.logit_transform else "clip"

    def _images(self, split: str) -> tf.data.Dataset:
        return self._source(check_split(split)).map(lambda example: example["image"])

    def _finish(self, images: tf.data.Dataset, *, training: bool, seed: int) -> tf.data.Dataset:
        x = images.map(self._rescale, num_parallel_calls=tf.data.AUTOTUNE)
        if training:
            seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
            x = tf.data.Dataset.zip((x, seeds)).map(self._augment,
                                                    num_parallel_calls=tf.data.AUTOTUNE)
        if self.logit_transform:
            x = x.map(self.to_model_space, num_parallel_calls=tf.data.AUTOTUNE)
        return x

    def _rescale(self, image: tf.Tensor) -> tf.Tensor:
        image = tf.ensure_shape(image, self.element_shape)
        return preprocessing.to_unit_interval(image, self.levels - 1)

    def _augment(self, x: tf.Tensor, random: tf.Tensor) -> tf.Tensor:
        base = tf.stack([random, tf.constant(0, tf.int64)])
        noise_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(base, 2))
        if self.random_flip:
            x = preprocessing.random_flip(x, flip_seed)
        if not self.dequantize:
            return x
        return preprocessing.dequantize(x, noise_seed, self.levels)


class LabelledImageDataset(ImageDataset):
    """An image dataset whose examples carry an integer class label."""

    @abc.abstractmethod
    def _source(self, split: str) -> tf.data.Dataset:
        """Examples {"image": integer [*element_shape], "label": int64 []} of `split`."""

    def load_labelled(self, split: str) -> tf.data.Dataset:
        """Finite (image, label) pairs; images exactly as `load(split)` gives them."""
        def pair(example):
            image = self.to_model_space(self._rescale(example["image"]))
            return image, tf.cast(example["label"], tf.int64)

        return self._source(check_split(split)).map(pair, num_parallel_calls=tf.data.AUTOTUNE)


def check_split(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"unknown split '{split}'; use one of {', '.join(SPLITS)}")
    return split


def bool_option(name: str, value) -> bool:
    """`value` if it is a bool; options arrive as JSON, where "False" would be truthy."""
    if not isinstance(value, bool):
        raise TypeError(f"option {name} must be true or false, got {value!r}")
    return value
