"""The contracts a plugin of each entry-point group honours.

A score function is the only thing samplers and losses know of a model:

    score_fn(x: float32 [N, *shape], level: int32 [N]) -> float32 [N, *shape]

where `level` indexes the sigma tensor (0 = largest sigma). This is also the
signature of exported models (docs/export.md). Models that can be evaluated at
any noise level also offer `score_at_sigma(x, sigma float32 [N])` and set
`continuous_sigma = True`.
"""

from __future__ import annotations

import abc
from typing import Any, Callable, Protocol, Sequence, runtime_checkable

import tensorflow as tf

ScoreFn = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]


class SigmaSchedule(Protocol):
    """Group `tfncsn.sigma_schedules`: a pure function returning the noise levels.

    Returns a float32 tensor [num_levels], strictly decreasing from `sigma_max`
    to `sigma_min` (index 0 = largest), validated with
    `tfncsn.schedules.validate_sigmas`.
    """

    def __call__(self, sigma_max: float, sigma_min: float, num_levels: int) -> tf.Tensor:
        ...


# Group `tfncsn.samplers`: a subclass of `tfncsn.programs.Sampler` (a step program);
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

    # Optional: `summarize(samples: np.ndarray) -> str`, a one-line description of
    # samples that `tfncsn sample` prints (the toy prints its mode weights).
    # Optional for images: `postprocess(x)` (model space -> pixels in [0, 1]) and
    # `to_model_space(pixels)`, its inverse (e.g. the logit transform).

    def __init__(self, data_dir: str | None = None):
        self.data_dir = data_dir

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


class ModelFactory(Protocol):
    """Group `tfncsn.models`: builds a Keras model called as `model(x, level)`.

    `options` are the model's own keyword hyperparameters (e.g. ngf); the model
    must implement `get_config` so it can be rebuilt from them.
    """

    def __call__(self, *, input_shape: Sequence[int], sigmas: Sequence[float],
                 **options: Any) -> Any:
        ...
