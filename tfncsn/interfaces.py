"""The contracts a plugin of each entry-point group honours.

A score function is the only thing samplers and losses know of a model:

    score_fn(x: float32 [N, *shape], level: int32 [N]) -> float32 [N, *shape]

where `level` indexes the sigma tensor (0 = largest sigma). This is also the
signature of exported models (SPEC section 10).
"""

from __future__ import annotations

import abc
from typing import Any, Callable, NamedTuple, Protocol, Sequence, runtime_checkable

import tensorflow as tf

ScoreFn = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]
Callback = Callable[[dict[str, Any]], None]

STEP_CONVENTIONS = ("paper", "reference")


class SigmaSchedule(Protocol):
    """Group `tfncsn.sigma_schedules`: a pure function returning the noise levels.

    Returns a float32 tensor [num_levels], strictly decreasing from `sigma_max`
    to `sigma_min` (index 0 = largest), validated with
    `tfncsn.schedules.validate_sigmas`.
    """

    def __call__(self, sigma_max: float, sigma_min: float, num_levels: int) -> tf.Tensor:
        ...


class SamplerOutput(NamedTuple):
    x: tf.Tensor  # Final samples [N, *shape].
    states: tf.Tensor | None  # [K, N, *shape] every `keep_every` steps, or None.


class Sampler(Protocol):
    """Group `tfncsn.samplers`: a function that turns a score function into samples.

    It receives the score function and the sigmas, never a model or a config.
    Keywords it does not use are accepted and ignored, so every sampler can be
    called the same way:

    Args:
      score_fn: see `ScoreFn`.
      x: initial samples (drawn from the prior by the caller).
      sigmas: float32 [L], strictly decreasing.
      rng: the `tf.random.Generator` all noise is drawn from.
      eps: base step size.
      steps_per_level: Langevin steps per noise level (T).
      convention: "paper" (x += a/2 s + sqrt(a) z) or "reference" (x += a s + sqrt(2a) z).
      denoise: add the final Tweedie step x += sigma_L^2 s(x, L-1) (NCSNv2).
      callback: called eagerly after every step with a dict holding at least
        "x", "level", "step" (within the level), "sigma" and "alpha".
      keep_every: keep the state every this many steps (0: keep none).

    A sampler may carry an attribute `total_steps(num_levels, steps_per_level) -> int`
    so progress bars can show an ETA.
    """

    def __call__(self, score_fn: ScoreFn, x: tf.Tensor, sigmas: tf.Tensor, *,
                 rng: tf.random.Generator, eps: float, steps_per_level: int,
                 convention: str = "paper", denoise: bool = False,
                 callback: Callback | None = None, keep_every: int = 0) -> SamplerOutput:
        ...


class Dataset(abc.ABC):
    """Group `tfncsn.datasets`: a class whose instances give examples as `tf.data`.

    The entry point names the class; it is constructed as `cls(data_dir=...)`.

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
        """Finite dataset of float32 examples of `element_shape` for "train" or "test".

        With `training=True` the training-time randomness (dequantisation, flips)
        is applied, seeded by `seed`. Missing data raises `DataNotFoundError`
        with a one-line message that says how to get it.
        """


class DataNotFoundError(Exception):
    """The data a dataset plugin needs is not on this machine; the message says how to get it."""


@runtime_checkable
class HasExactScore(Protocol):
    """A dataset that knows the exact score of its data perturbed by N(0, sigma^2 I)."""

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
