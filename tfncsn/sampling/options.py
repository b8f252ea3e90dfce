"""A sampler's typed `Options` from plain values (e.g. parsed `--sampler_options`) and back.

`Sampler.Options` is a frozen dataclass, every field with a default (docs/samplers.md); the
values given by name are checked against its type hints before it is constructed.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal, Mapping

import numpy as np

from tfncsn.sampling.contract import SamplerError


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
    if origin in (typing.Union, getattr(types, "UnionType", None)):
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
