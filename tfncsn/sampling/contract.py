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
definition runs eagerly with progress (`tfncsn.sampling.runner.Runner`), inside
`tf.function` and the SavedModel (`runner.run_in_graph`), and as ONNX
graphs that any runtime loops with its own random numbers (`tfncsn export`).
"""

from __future__ import annotations

import abc
import dataclasses
import inspect
import typing
from typing import Any, ClassVar, Literal, Mapping

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
    """

    sigmas: np.ndarray
    element_shape: tuple[int, ...]
    prior_range: tuple[float, float] = (0.0, 1.0)
    continuous_sigma: bool = False

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

    def shape(self, batch: int, element_shape) -> list:
        return [batch] if self.per == "example" else [batch, *element_shape]


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


# ----------------------------------------------------------------------------- options


def option_fields(options_class: type) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(options_class)}


def _check_type(name: str, value: Any, annotation: Any, label: str) -> Any:
    """`value` converted to the field's type, or a one-line SamplerError."""
    origin = typing.get_origin(annotation)
    if origin is Literal:
        choices = typing.get_args(annotation)
        if value not in choices:
            raise SamplerError(f"{label}: option {name}={value!r} is not one of "
                               f"{', '.join(map(repr, choices))}")
        return value
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        args = typing.get_args(annotation)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _check_type(name, value, inner[0], label)
    if annotation is bool:
        if not isinstance(value, bool):
            raise SamplerError(f"{label}: option {name} must be true or false, "
                               f"got {value!r}")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise SamplerError(f"{label}: option {name} must be an integer, "
                               f"got {value!r}")
        return int(value)
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
            raise SamplerError(f"{label}: option {name} must be a number, "
                               f"got {value!r}")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise SamplerError(f"{label}: option {name} must be a string, "
                               f"got {value!r}")
        return value
    return value


def make_options(sampler_class: type, values: Mapping[str, Any], label: str) -> Any:
    """The sampler's `Options` from a dict (e.g. parsed `--sampler_options`), validated.

    Unknown names and wrong types raise one-line `SamplerError`s that start with `label`
    (`plugin_label`) and list the valid options; the dataclass's own `__post_init__`
    checks the values.
    """
    options_class = sampler_class.Options
    fields = option_fields(options_class)
    unknown = sorted(set(values) - set(fields))
    if unknown:
        valid = ", ".join(f"{n} (default {describe_default(f)})" for n, f in fields.items())
        raise SamplerError(f"{label} has no option {', '.join(unknown)}; its "
                           f"options are: {valid or 'none'}")
    hints = typing.get_type_hints(options_class)
    converted = {name: _check_type(name, value, hints[name], label)
                 for name, value in values.items()}
    try:
        return options_class(**converted)
    except (TypeError, ValueError) as e:
        raise SamplerError(f"{label}: {e}") from None


def describe_default(field: dataclasses.Field) -> str:
    if field.default is not dataclasses.MISSING:
        return repr(field.default)
    return "required"


def options_dict(options: Any) -> dict[str, Any]:
    """The options as plain JSON-able values (for config.json and export metadata)."""
    return dataclasses.asdict(options)


# ----------------------------------------------------------------------------- the contract check


def check_sampler_class(obj: Any, name: str) -> None:
    """Raises a one-line `SamplerError` unless `obj` is a complete `Sampler` subclass."""
    where = f"sampler plugin '{name}'"
    guide = "see docs/samplers.md"
    if not (inspect.isclass(obj) and issubclass(obj, Sampler)):
        raise SamplerError(f"{where} is {type(obj).__name__} {getattr(obj, '__name__', obj)!r}, "
                           f"not a subclass of tfncsn.sampling.Sampler; {guide}")
    missing = sorted(getattr(obj, "__abstractmethods__", ()))
    if missing:
        raise SamplerError(f"{where} ({obj.__name__}) does not define {', '.join(missing)}; "
                           f"{guide}")
    options = getattr(obj, "Options", None)
    if not (inspect.isclass(options) and dataclasses.is_dataclass(options)):
        raise SamplerError(f"{where}: Options must be a dataclass, got {options!r}; {guide}")
    no_default = [f.name for f in dataclasses.fields(options)
                  if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if no_default:
        raise SamplerError(f"{where}: every option needs a default; "
                           f"{', '.join(no_default)} has none")
    for method, arity in (("step", 4), ("finish", 2)):
        params = list(inspect.signature(getattr(obj, method)).parameters)[1:]
        if len(params) != arity:
            expected = {"step": "(self, score_fn, state, k, noise)",
                        "finish": "(self, score_fn, state)"}[method]
            raise SamplerError(f"{where}: {method} takes {tuple(params)}; the contract is "
                               f"{method}{expected}")


def check_program(program: Sampler, where: str) -> None:
    """Checks what a constructed sampler states, before any work starts; errors start with
    `where` (its `plugin_label`)."""
    num_steps = program.num_steps
    if isinstance(num_steps, bool) or not isinstance(num_steps, (int, np.integer)) \
            or num_steps < 1:
        raise SamplerError(f"{where}: num_steps must be a positive integer, got {num_steps!r}")
    state = dict(program.state)
    if next(iter(state), None) != "x" or any(v not in PER_VALUES for v in state.values()):
        raise SamplerError(f"{where}: state must map 'x' (first) and other names to "
                           f"'element' or 'example', got {state}")
    names = [n.name for n in program.noise]
    if len(set(names)) != len(names) or not all(isinstance(n, Noise) for n in program.noise):
        raise SamplerError(f"{where}: noise must be Noise entries with distinct names, got "
                           f"{program.noise!r}")
    for n in program.noise:
        if n.distribution not in DISTRIBUTIONS or n.per not in PER_VALUES or n.every < 1:
            raise SamplerError(f"{where}: bad noise entry {n!r} (distribution in "
                               f"{DISTRIBUTIONS}, per in {PER_VALUES}, every >= 1)")
    if program.prior.kind not in PRIOR_KINDS:
        raise SamplerError(f"{where}: prior kind must be one of {PRIOR_KINDS}, got "
                           f"{program.prior.kind!r}")
    if program.score_input not in SCORE_INPUTS:
        raise SamplerError(f"{where}: score_input must be one of {SCORE_INPUTS}, got "
                           f"{program.score_input!r}")
    sigmas = np.asarray(program.step_sigmas)
    if sigmas.shape != (int(num_steps),):
        raise SamplerError(f"{where}: step_sigmas must have shape [num_steps] = "
                           f"[{num_steps}], got {list(sigmas.shape)}")


def build(sampler_class: type, options: Mapping[str, Any] | Any, problem: Problem,
          name: str, origin: str = "") -> Sampler:
    """Validates the options and the program: every contract error surfaces here, as one line
    naming the sampler and `origin`, the package that ships it (`Registry.origin`)."""
    check_sampler_class(sampler_class, name)
    label = f"sampler '{name}'" + (f" ({origin})" if origin else "")
    if not isinstance(options, sampler_class.Options):
        options = make_options(sampler_class, dict(options or {}), label)
    try:
        program = sampler_class(options, problem)
    except SamplerError:
        raise
    except (TypeError, ValueError) as e:
        raise SamplerError(f"{label}: {e}") from None
    check_program(program, label)
    program.plugin_label = label
    if program.score_input == "sigma" and not problem.continuous_sigma:
        raise SamplerError(f"{label} with these options evaluates the score between "
                           "the trained noise levels, which this model cannot do; drop "
                           "num_steps (use the trained levels) or train a model that accepts "
                           "any sigma (refinenet_v2, or mlp with noise_embedding=fourier)")
    return program


def label_of(program: Sampler) -> str:
    """How errors name `program`: its `plugin_label`, or its class for one built by hand."""
    return program.plugin_label or f"sampler {type(program).__name__}"


def _shape_text(shape: tf.TensorShape) -> str:
    """"[N, 28, 28, 1]": the batch dimension as N, unknown ones as ?."""
    if shape.rank is None:
        return "unknown"
    dims = ["?" if d is None else str(d) for d in shape.as_list()]
    return "[" + ", ".join(["N", *dims[1:]] if dims else []) + "]"


def check_step_result(program: Sampler, new: Any, before: State) -> State:
    """`new`, what `program.step` returned from `before`, unless it breaks the contract: the
    same names, each with the same dtype and shape. Called while the step is traced, so a
    broken step fails before any work with one line naming the plugin. A dimension the step
    left unknown (a batch of 1 broadcast) is pinned to `before`'s, as a loop needs."""
    where = label_of(program)
    out = {}
    if not isinstance(new, Mapping) or set(new) != set(before):
        got = (sorted(new) if isinstance(new, Mapping) else
               "a tensor" if tf.is_tensor(new) else type(new).__name__)
        raise SamplerError(f"{where}: step must return a dict with keys {sorted(before)}, "
                           f"got {got}")
    for name, old in before.items():
        value = new[name]
        dtype = getattr(value, "dtype", None)
        if dtype != old.dtype:
            raise SamplerError(f"{where}: step returned {name} of dtype "
                               f"{getattr(dtype, 'name', type(value).__name__)}, expected "
                               f"{old.dtype.name}")
        shape = tf.TensorShape(value.shape)
        if shape.rank is None or not shape.is_compatible_with(old.shape):
            raise SamplerError(f"{where}: step returned {name} of shape {_shape_text(shape)}, "
                               f"expected {_shape_text(old.shape)}")
        out[name] = value if shape.as_list() == old.shape.as_list() else \
            tf.ensure_shape(value, old.shape)
    return out
