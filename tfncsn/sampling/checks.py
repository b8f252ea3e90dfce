"""The checks of the sampler contract (`tfncsn.sampling.contract`), each error one line.

A plugin class is checked when the registry loads it (`check_sampler_class`), a program when
it is built (`build`: its options and what it states), and each step's result while the step
is traced (`check_step_result`), so a broken sampler fails before any work.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any, Mapping

import numpy as np
import tensorflow as tf

from tfncsn.sampling.contract import (DISTRIBUTIONS, PER_VALUES, PRIOR_KINDS, SCORE_INPUTS, Noise,
                                      Problem, Sampler, SamplerError, State, label_of)
from tfncsn.sampling.options import make_options


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
