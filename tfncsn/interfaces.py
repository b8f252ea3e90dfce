"""The contracts a plugin of each entry-point group honours.

A score function is the only thing samplers and losses know of a model:

    score_fn(x: float32 [N, *shape], level: int32 [N]) -> float32 [N, *shape]

where `level` indexes the sigma tensor (0 = largest sigma). This is also the
signature of exported models (docs/export.md). Models that can be evaluated at
any noise level also offer `score_at_sigma(x, sigma float32 [N], training=None)` and set
`continuous_sigma = True`.
"""

from __future__ import annotations

import abc
from typing import Any, Callable, Protocol, Sequence, runtime_checkable

import numpy as np
import tensorflow as tf

from tfncsn.data import preprocessing

# score_fn(x, level int32 [N]), or score_fn(x, sigma float32 [N]) for a sampler whose
# `score_input` is "sigma" (`tfncsn.sampling.Sampler`).
ScoreFn = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]
POSTPROCESS_KINDS = ("none", "clip", "inverse_logit", "custom")


class SigmaSchedule(Protocol):
    """Group `tfncsn.sigma_schedules`: a pure function returning the noise levels.

    Returns a float32 tensor [num_levels], strictly decreasing from `sigma_max`
    to `sigma_min` (index 0 = largest), validated with
    `tfncsn.schedules.validate_sigmas`.
    """

    def __call__(self, sigma_max: float, sigma_min: float, num_levels: int) -> tf.Tensor:
        ...


# Group `tfncsn.samplers`: a subclass of `tfncsn.sampling.Sampler` (a step program);
# the contract and a complete example are in docs/samplers.md.


class Dataset(abc.ABC):
    """Group `tfncsn.datasets`: a class whose instances give examples as `tf.data`.

    The entry point names the class; `tfncsn.builders.make_dataset` constructs it as
    `cls(data_dir=data_dir, **options)`: `data_dir` is --data_dir (always by keyword,
    None when not given), `options` the --dataset_options values (JSON-parsed). A
    `TypeError` or `ValueError` from the constructor ends the command with one line.

    Attributes:
      element_shape: shape of one example, e.g. (2,) or (28, 28, 1).
      prior_range: (low, high) of the uniform box samplers start from.
    """

    element_shape: tuple[int, ...]
    prior_range: tuple[float, float] = (0.0, 1.0)
    # Which map `postprocess` applies, declared so exports can record it (docs/export.md):
    # "none" (the identity: points, or images already in [0, 1]), "clip" (to [0, 1]),
    # "inverse_logit" (undo `tfncsn.data.preprocessing.logit_transform`, then clip), or
    # "custom" for an overriding `postprocess` (such a run cannot be exported).
    postprocess_kind: str = "none"

    def __init__(self, data_dir: str | None = None):
        self.data_dir = data_dir

    def postprocess(self, x):
        """Model-space examples (e.g. samples) -> pixels in [0, 1], by `postprocess_kind`."""
        kind = self.postprocess_kind
        if kind == "inverse_logit":
            x = preprocessing.inverse_logit_transform(x)
        if kind in ("clip", "inverse_logit"):
            return tf.clip_by_value(x, 0.0, 1.0)
        return x

    def to_model_space(self, pixels):
        """Pixels in [0, 1] -> the space the model works in: `postprocess`'s inverse."""
        if self.postprocess_kind == "inverse_logit":
            return preprocessing.logit_transform(pixels)
        return pixels

    def summarize(self, samples: np.ndarray) -> str:
        """One line about samples [N, *element_shape] that `sample` and `figure3` print and
        `evaluate` keeps (the toy prints its mode weights); empty for none."""
        return ""

    def explain_error(self, error: Exception) -> str | None:
        """Given a TensorFlow error this dataset's pipeline raised, one line naming the input at
        fault and the fix, or None (then the error is reported as it is)."""
        return None

    def to_pixels(self, x) -> np.ndarray:
        """Images as NumPy pixels in [0, 1]: `postprocess`, then a clip whatever its kind."""
        return np.clip(np.asarray(self.postprocess(x)), 0.0, 1.0)

    @abc.abstractmethod
    def load(self, split: str, *, training: bool = False, seed: int = 0) -> tf.data.Dataset:
        """Finite, unbatched dataset of float32 examples of `element_shape` for "train" or "test".

        In a fixed order: not shuffled, not repeated (the trainer shards, repeats, shuffles
        and batches). With `training=True` the training-time randomness (dequantisation,
        flips) is applied, seeded by `seed` (the run's --seed; the same seed gives the same
        examples from a fresh `load`). Missing data raises `DataNotFoundError` with a
        one-line message that says how to get it.
        """


class DataNotFoundError(Exception):
    """The data a dataset plugin needs is not on this machine; the message says how to get it."""


@runtime_checkable
class HasExactScore(Protocol):
    """A dataset that knows the exact score of its data perturbed by N(0, sigma^2 I).

    `x` is float32 [N, *element_shape]; `sigma` float32 [N], one per example (0: the
    data's own score, which `figure3 --score=exact` uses for its last level).
    """

    def exact_score(self, x: tf.Tensor, sigma: tf.Tensor) -> tf.Tensor:
        ...


@runtime_checkable
class HasLabels(Protocol):
    """A dataset whose examples carry integer class labels (optional; e.g. for the
    noise-conditional classifier of `tfncsn train-classifier`, docs/conditioning.md).

    `load_labelled(split)` gives finite (example, label int64 []) pairs of "train" or "test",
    the examples exactly as `load(split)` gives them; labels are 0, 1, ..., K - 1.
    """

    def load_labelled(self, split: str) -> tf.data.Dataset:
        ...


class ModelFactory(Protocol):
    """Group `tfncsn.models`: builds a Keras model called as `model(x, level)`.

    `options` are the model's own keyword hyperparameters (e.g. ngf); the model
    must implement `get_config` so it can be rebuilt from them.
    """

    def __call__(self, *, input_shape: Sequence[int], sigmas: Sequence[float],
                 **options: Any) -> Any:
        ...
