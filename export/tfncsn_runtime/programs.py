"""The names of an export's step programs and their files, written once.

An export holds the sample program `sample` (the export's sampler) and, with `tfncsn export
--extra_samplers`, one more sample program per extra sampler, named
`sample_<sampler>_<score evaluations>` (e.g. `sample_ode_19`); inpainting and colorization
are the programs `inpaint` and `colorize`. Program NAME's graphs are NAME_step.onnx and
NAME_finish.onnx, and NAME.program.txt describes it in flat text for readers without JSON
(docs/export.md). The exporter names what it writes with these functions, the runtimes
choose among them by name.
"""

from __future__ import annotations

from typing import Any, Mapping

DEFAULT = "sample"  # The export's own sampler: what every runtime samples unless told.
_PREFIX = DEFAULT + "_"


def sample_program(sampler: str, score_evaluations: int) -> str:
    """The name of an extra sample program: `sample_<sampler>_<score evaluations>`."""
    return f"{_PREFIX}{sampler}_{int(score_evaluations)}"


def is_sample_program(name: str) -> bool:
    """Whether program `name` samples (the default or an extra sampler's), rather than
    inpainting or colorizing."""
    return name == DEFAULT or name.startswith(_PREFIX)


def step_file(program: str) -> str:
    return f"{program}_step.onnx"


def finish_file(program: str) -> str:
    return f"{program}_finish.onnx"


def text_file(program: str) -> str:
    """The program's flat text description (`tfncsn_export.program_text`)."""
    return f"{program}.program.txt"


def sample_programs(meta: Mapping[str, Any]) -> dict[str, dict]:
    """{name: entry} of the export's sample programs, `sample` first. An entry without
    `sampler` (exports written before extra samplers) is the export's own sampler's."""
    programs = meta["programs"]
    names = sorted((n for n in programs if is_sample_program(n)), key=lambda n: n != DEFAULT)
    return {name: {"sampler": meta.get("sampler"), **programs[name]} for name in names}


def summary(name: str, entry: Mapping[str, Any]) -> str:
    """"sample_ode_19 (ode, 10 steps, 19 score evaluations)"."""
    sampler = (entry.get("sampler") or {}).get("name", "?")
    return (f"{name} ({sampler}, {entry['num_steps']} steps, {entry['score_evaluations']} "
            "score evaluations)")
