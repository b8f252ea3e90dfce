"""A program's metadata entry as flat text (NAME.program.txt), for readers without JSON.

One `key value...` per line, values separated by single spaces, written from the same
`programs` entry that metadata.json holds (docs/export.md, "The program as text"):

    format tfncsn.program/1
    name sample_ode_19
    sampler ode                                  (sample programs)
    step sample_ode_19_step.onnx
    finish sample_ode_19_finish.onnx             (only when the program has one)
    num_steps 10
    score_evaluations 19
    element_shape 2
    prior normal 0.0 20.0                        (or: prior uniform LOW HIGH)
    state x element                              (NAME PER, in the graphs' order)
    noise z noise_z normal element 1             (NAME INPUT DISTRIBUTION PER EVERY, in order)
    input y                                      (extra inputs, e.g. inpainting's y and mask)

export/c/sample.c reads it. Readers skip keys they do not know.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

FORMAT = "tfncsn.program/1"


def _number(value: float) -> str:
    return repr(float(value))  # The shortest text that reads back as the same double.


def describe(name: str, entry: Mapping[str, Any], element_shape: Sequence[int]) -> str:
    """The text of program `name` from its metadata `entry` (`GraphProgram.describe`)."""
    prior = entry["prior"]
    prior_values = ((prior["low"], prior["high"]) if prior["kind"] == "uniform"
                    else (prior.get("mean", 0.0), prior["std"]))
    lines = [["format", FORMAT], ["name", name]]
    if entry.get("sampler"):
        lines.append(["sampler", entry["sampler"]["name"]])
    lines.append(["step", entry["step"]])
    if entry.get("finish"):
        lines.append(["finish", entry["finish"]])
    lines += [["num_steps", str(int(entry["num_steps"]))],
              ["score_evaluations", str(int(entry["score_evaluations"]))],
              ["element_shape", *(str(int(d)) for d in element_shape)],
              ["prior", prior["kind"], *(_number(v) for v in prior_values)]]
    lines += [["state", s["name"], s["per"]] for s in entry["state"]]
    lines += [["noise", n["name"], n["input"], n["distribution"], n["per"], str(int(n["every"]))]
              for n in entry["noise"]]
    lines += [["input", input_name] for input_name in entry.get("inputs", [])]
    for words in lines:
        if any(not word or any(c.isspace() for c in word) for word in words):
            raise ValueError(f"program {name}: {words} has an empty value or one with "
                             "white space, which the text format cannot hold")
    return "".join(" ".join(words) + "\n" for words in lines)
