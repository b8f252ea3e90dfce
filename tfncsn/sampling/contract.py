"""The sampler contract: a sampler is a step program (docs/samplers.md).

A sampler plugin (entry-point group `tfncsn.samplers`) is a subclass of
`Sampler`. Built for one `Problem` (the noise levels, the shape of a sample,
the data's box) with its typed `Options`, it states

  * `num_steps`: how many steps K it takes;
  * `state`: the tensors it carries from step to step ("x" first);
  * `noise`: the standard draws each step consumes (`Noise`);
  * `prior`: how the initial x is drawn (`Prior`); every other state tensor
    starts at zero;
  * `step(score_fn, state, k, noise) -> state`: one step, pure TensorFlow;
  * `finish(score_fn, state) -> x`: the last map to samples (e.g. a denoising step).

Because the program is plain TensorFlow with its randomness fed in, one
definition runs eagerly with progress (`runner.Runner`), inside `tf.function`
and the SavedModel (`runner.run_in_graph`), and as ONNX graphs that any runtime
loops with its own random numbers (`tfncsn export`). `checks` holds the checks
of this contract (`build`), `options` the parsing of `Options`.
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Any, ClassVar, Mapping

import numpy as np
import tensorflow as tf

from tfncsn.interfaces import ScoreFn

State = dict[str, tf.Tensor]

PER_VALUES = ("element", "example")
DISTRIBUTIONS = ("normal", "uniform")
PRIOR_KINDS = ("uniform", "normal")
SCORE_INPUTS = ("level", "sigma")


class SamplerError(ValueError):
    """A sampler plugin breaks the contract, or its options are wrong; one line for users."""


def last_line(error: Exception) -> str:
    """The last line of an error: for a tracing error, the plugin's own message (the first
    line is TensorFlow's "in user code:")."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


@dataclasses.dataclass(frozen=True)
class Problem:
    """What a sampler is built for.

    Attributes:
      sigmas: float32 [L], the trained noise levels, strictly decreasing (0 = largest).
      element_shape: shape of one sample, e.g. (2,) or (28, 28, 1).
      prior_range: (low, high) of the data's box, where Algorithm 1 starts.
      continuous_sigma: the score function can be evaluated at any sigma > 0,
        not only at the trained levels (e.g. NCSNv2's s = f(x) / sigma).
      sde: the run's SDE (`tfncsn.sdes.SDE`, trained with `tfncsn train --sde`), whose
        marginal std is the score's sigma; None for NCSN's levels.
    """

    sigmas: np.ndarray
    element_shape: tuple[int, ...]
    prior_range: tuple[float, float] = (0.0, 1.0)
    continuous_sigma: bool = False
    sde: Any = None

    def __post_init__(self):
        object.__setattr__(self, "sigmas", np.asarray(self.sigmas, np.float32).reshape(-1))
        object.__setattr__(self, "element_shape", tuple(int(d) for d in self.element_shape))
        object.__setattr__(self, "prior_range", (float(self.prior_range[0]),
                                                 float(self.prior_range[1])))


@dataclasses.dataclass(frozen=True)
class Noise:
    """One standard random draw a step consumes.

    Attributes:
      name: its name (an input of the exported step graph is `noise_<name>`).
      distribution: "normal" (N(0, 1)) or "uniform" (U[0, 1)).
      per: "element" for shape [N, *element_shape], "example" for shape [N].
      every: drawn at the steps k with k % every == 0 and zero at the others
        (e.g. once per noise level).
    """

    name: str
    distribution: str = "normal"
    per: str = "element"
    every: int = 1


@dataclasses.dataclass(frozen=True)
class Prior:
    """Where the initial x comes from: U[low, high]^D or N(0, std^2 I)."""

    kind: str
    low: float = 0.0
    high: float = 1.0
    std: float = 1.0

    def describe(self) -> dict[str, Any]:
        if self.kind == "uniform":
            return {"kind": "uniform", "low": self.low, "high": self.high}
        return {"kind": "normal", "mean": 0.0, "std": self.std}


@dataclasses.dataclass(frozen=True)
class NoOptions:
    """A sampler without options."""


class Sampler(abc.ABC):
    """Base class of every sampler plugin; see the module docstring and docs/samplers.md.

    Class attributes:
      Options: a frozen dataclass of the sampler's options, every field with a default.
      supports_conditioning: `tfncsn.sampling.conditioning` (inpainting) may wrap this
        sampler.

    Instance attributes set here: `options`, `problem`, and `sigmas` (the
    trained levels as a float32 constant).
    """

    Options: ClassVar[type] = NoOptions
    supports_conditioning: ClassVar[bool] = False
    # How errors name this sampler, e.g. "sampler 'x' (package y 1.0)"; set by `build`.
    plugin_label: str = ""

    def __init__(self, options: Any, problem: Problem):
        self.options = options
        self.problem = problem
        self.sigmas = tf.constant(problem.sigmas, tf.float32)

    # What the program looks like ------------------------------------------------
    @property
    @abc.abstractmethod
    def num_steps(self) -> int:
        """K, the number of `step` calls."""

    @property
    def state(self) -> Mapping[str, str]:
        """State tensors carried between steps: name -> "element" or "example" ("x" first)."""
        return {"x": "element"}

    @property
    def noise(self) -> tuple[Noise, ...]:
        """The draws of one step, in the order they are drawn."""
        return (Noise("z"),)

    @property
    def prior(self) -> Prior:
        """The initial x: by default uniform on the data's box (Algorithm 1, line 1)."""
        low, high = self.problem.prior_range
        return Prior("uniform", low=low, high=high)

    @property
    def score_input(self) -> str:
        """"level": `step` calls score_fn(x, level int32 [N]); "sigma": score_fn(x, sigma)."""
        return "level"

    @property
    def steps_per_level(self) -> int:
        """Consecutive steps that work at one noise level (conditioning redraws once per level)."""
        return 1

    @property
    @abc.abstractmethod
    def step_sigmas(self) -> np.ndarray:
        """float32 [K]: the noise level of the state when step k begins (for conditioning,
        progress and docs)."""

    @property
    def step_mean_scales(self) -> np.ndarray:
        """float32 [K]: the mean scale m of the state when step k begins, x_t = m x0 + sigma z
        (1 except on an SDE such as VP); conditioning perturbs an observation y as m y + sigma z."""
        return np.ones(self.num_steps, np.float32)

    @property
    def has_finish(self) -> bool:
        """True when `finish` computes something (the export then writes a finish graph)."""
        return False

    @property
    def score_evaluations(self) -> int:
        """Score evaluations of one whole run, `finish` included."""
        return self.num_steps

    # The program ------------------------------------------------------------------
    @abc.abstractmethod
    def step(self, score_fn: ScoreFn, state: State, k: tf.Tensor, noise: State) -> State:
        """Step k (int32 scalar, 0-based) from `state` with this step's `noise` draws."""

    def finish(self, score_fn: ScoreFn, state: State) -> tf.Tensor:
        """The samples from the state after the last step."""
        return state["x"]

    # Helpers for subclasses -------------------------------------------------------
    def batch_vector(self, x: tf.Tensor, value) -> tf.Tensor:
        """`value` (a scalar tensor) repeated for every example of x: the score's second input."""
        return tf.fill(tf.shape(x)[:1], value)


def label_of(program: Sampler) -> str:
    """How errors name `program`: its `plugin_label`, or its class for one built by hand."""
    return program.plugin_label or f"sampler {type(program).__name__}"
