"""Writes an export directory: SavedModel, the ONNX score and step-program graphs, metadata,
the golden pair.

    E/saved_model/          signatures score(x, level), sample(seed, num_samples)
    E/model.onnx            score(x, level), the network alone
    E/model.float16.onnx    the same in float16 (float32 inputs and output), when asked
    E/sample_step.onnx      one step of the sampler (network inside, noise fed per step)
    E/sample_finish.onnx    its final map to samples, when it has one (e.g. denoising)
    E/sample_ode_19_step.onnx, ...  the same for each extra sampler, when asked (program
                            sample_<sampler>_<score evaluations>, tfncsn_runtime.programs)
    E/inpaint_step.onnx     the same wrapped in inpainting (inputs y, mask), when the
    E/inpaint_finish.onnx   sampler supports conditioning
    E/colorize_step.onnx    the same in the colour basis (inputs y, mask: the luminance
    E/colorize_finish.onnx  known), for RGB images
    E/NAME.program.txt      each program NAME's metadata entry as flat text (program_text)
    E/metadata.json         everything a runtime needs, with each file's size and sha256
    E/golden.npz, E/golden/ x, level and the Keras model's score on them (.npz, and raw
                            little-endian files described in metadata.json)

Everything is written to E.partial and moved to E once verified, so E only
ever holds a complete, checked export. docs/export.md is the contract.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
from typing import Any, Callable, Sequence

import keras
import numpy as np
import onnx
import tensorflow as tf

from tfncsn.interfaces import ScoreFn
from tfncsn.sampling.conditioning import COLOUR_BASIS
from tfncsn.sampling.contract import Sampler, last_line
from tfncsn_export import (float16, metadata, onnx_score, program_text, step_graphs,
                           verify as verify_lib, verify_files)
from tfncsn_export.savedmodel import ScoreModule
from tfncsn_runtime import programs
from tfncsn_runtime.reader import METADATA_FILE, SCORE_FILE

SAVED_MODEL_DIR = "saved_model"
ONNX_FILE = SCORE_FILE  # The readers' names (tfncsn_runtime.reader), written once.
GOLDEN_FILE = "golden.npz"
GOLDEN_DIR = "golden"


class ExportError(RuntimeError):
    """The export cannot be written where asked, or a graph cannot be converted."""


@dataclasses.dataclass(frozen=True)
class ExtraSampler:
    """A sampler exported as one more sample program, beside the export's own.

    Attributes:
      name: its plugin name (the `sampler` of its metadata entry).
      sampler: its program, built for the same problem as the export's sampler
        (e.g. `ScoreSource.program(SamplerConfig(name, options))`).
    """

    name: str
    sampler: Sampler


def program_names(extra_samplers: Sequence[ExtraSampler]) -> list[str]:
    """The program of each extra sampler: `sample_<name>_<score evaluations>`, and `_2`, `_3`,
    ... after it for later variants that would take the same name (e.g. heun with and
    without churn; `--list_programs` shows each one's options). Raises `ExportError` for the
    same sampler with the same options twice."""
    names: list[str] = []
    entries: dict[str, str] = {}
    for extra in extra_samplers:
        options = metadata.sampler_entry(extra.name, extra.sampler)["options"]
        entry = json.dumps([extra.name, options], sort_keys=True)
        if entry in entries:
            raise ExportError(f"{extra.name} {json.dumps(options)} is given twice (its program "
                              f"{entries[entry]}); drop one")
        base = name = programs.sample_program(extra.name, extra.sampler.score_evaluations)
        variant = 1
        while name in names:
            variant += 1
            name = f"{base}_{variant}"
        names.append(name)
        entries[entry] = name
    return names


@dataclasses.dataclass(frozen=True)
class ExportResult:
    directory: str
    comparisons: tuple[verify_lib.Comparison, ...]  # Empty without verification.
    files: tuple[str, ...]  # What was written, relative to `directory`.
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)  # metadata.json's content.


def golden_inputs(meta: dict[str, Any], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two inputs per noise level, drawn from the data's box: x [2L, *shape], level [2L]."""
    num_levels = len(meta["sigmas"])
    gen = np.random.default_rng(seed)
    low, high = meta["prior_range"]
    x = gen.uniform(low, high, size=(2 * num_levels, *meta["element_shape"])).astype(np.float32)
    return x, np.arange(2 * num_levels, dtype=np.int32) % num_levels


def score_functions(model: keras.Model) -> tuple[ScoreFn, ScoreFn | None]:
    """(score at levels, score at any sigma or None) of a model, in inference mode."""
    level_fn = lambda x, level: model(x, level, training=False)  # noqa: E731
    sigma_fn = None
    if getattr(model, "continuous_sigma", False):
        sigma_fn = lambda x, sigma: model.score_at_sigma(x, sigma)  # noqa: E731
    return level_fn, sigma_fn


def _prepare(directory: str) -> str:
    if os.path.exists(directory) and (not os.path.isdir(directory) or os.listdir(directory)):
        raise ExportError(f"--output '{directory}' already exists and is not an empty directory; "
                          "choose a new one or remove it")
    parent = os.path.dirname(os.path.abspath(directory))
    if not os.path.isdir(parent):
        raise ExportError(f"--output '{directory}': its parent folder '{parent}' does not exist; "
                          "create it first")
    partial = directory.rstrip(os.sep) + ".partial"
    shutil.rmtree(partial, ignore_errors=True)
    os.makedirs(partial)
    return partial


def export(model: keras.Model, meta: dict[str, Any], sampler: Sampler, directory: str, *,
           extra_samplers: Sequence[ExtraSampler] = (),
           opset: int = onnx_score.DEFAULT_OPSET, inpainting: bool = True, verify: bool = True,
           tolerance: verify_lib.Tolerance = verify_lib.Tolerance(),
           float16_tolerance: verify_lib.Tolerance | None = None,
           log: Callable[[str], None] = lambda message: None) -> ExportResult:
    """Exports `model` (called as model(x, level)) with the step program `sampler`.

    `meta` is `tfncsn_export.metadata.for_run(...)`. Each of `extra_samplers` is written
    and verified as one more sample program (`program_names`); inpainting and
    colorization are `sampler`'s only. With `float16_tolerance` it also
    writes the float16 score network, verified against Keras within it. Raises `VerificationError`
    when an export disagrees with TensorFlow beyond `tolerance`, `ExportError`
    when it cannot be written; either way nothing is left behind.
    """
    program_names(extra_samplers)  # Two of the same sampler: refused before any work.
    partial = _prepare(directory)
    try:
        result = _write(model, meta, sampler, extra_samplers, partial, opset, inpainting, verify,
                        tolerance, float16_tolerance, log)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    if os.path.isdir(directory):
        os.rmdir(directory)  # Empty (checked above).
    os.replace(partial, directory)
    return dataclasses.replace(result, directory=directory)


def graph_programs(sampler: Sampler, sampler_name: str, extra_samplers: Sequence[ExtraSampler],
                   score_fns: dict[str, ScoreFn | None], inpainting: bool
                   ) -> dict[str, step_graphs.GraphProgram]:
    """{program name: its graphs}: `sample` (the sampler), each extra sampler's, and for a
    sampler that supports conditioning `inpaint` (and `colorize` for RGB images).
    `score_fns` maps a sampler's `score_input` ("level", "sigma") to its score function."""
    def graph(program: Sampler, **kwargs) -> step_graphs.GraphProgram:
        return step_graphs.GraphProgram(program, score_fns[program.score_input], **kwargs)

    graphs = {programs.DEFAULT: graph(sampler, sampler_name=sampler_name)}
    for name, extra in zip(program_names(extra_samplers), extra_samplers):
        graphs[name] = graph(extra.sampler, sampler_name=extra.name)
    if inpainting and sampler.supports_conditioning:
        graphs["inpaint"] = graph(sampler, inpaint=True)
        shape = tuple(sampler.problem.element_shape)
        if len(shape) == 3 and shape[-1] == 3:  # Colorization: the same in the colour basis.
            graphs["colorize"] = graph(sampler, inpaint=True, basis=COLOUR_BASIS)
    return graphs


def _write(model, meta, sampler, extra_samplers, partial, opset, inpainting, verify, tolerance,
           float16_tolerance, log) -> ExportResult:
    level_fn, sigma_fn = score_functions(model)
    score_fns = {"level": level_fn, "sigma": sigma_fn}
    meta = {**meta, "tolerance": tolerance.as_metadata()}
    if float16_tolerance is not None:
        meta["float16"] = {"graph": float16.FILE, "tolerance": float16_tolerance.as_metadata()}
    graphs = graph_programs(sampler, meta["sampler"]["name"], extra_samplers, score_fns,
                            inpainting)
    meta["programs"] = {name: graph.describe(name) for name, graph in graphs.items()}
    missing = [key for key in metadata.REQUIRED_KEYS if key not in meta]
    if missing:  # What the runtime reader refuses to load without: fail before any work.
        raise ExportError(f"export metadata lacks {', '.join(missing)}, which tfncsn_runtime "
                          "needs; build it with tfncsn_export.metadata.for_run")
    try:
        texts = {programs.text_file(name): program_text.describe(name, entry,
                                                                 meta["element_shape"])
                 for name, entry in meta["programs"].items()}
    except ValueError as e:
        raise ExportError(str(e)) from None

    log("writing the SavedModel")
    try:
        ScoreModule(model, sampler, score_fns[sampler.score_input]).save(
            os.path.join(partial, SAVED_MODEL_DIR))
    except Exception as e:  # noqa: BLE001 -- a tracing error names the plugin's line last.
        raise ExportError(f"cannot write the SavedModel: {last_line(e)}") from None

    log("converting the score network to ONNX")
    shape = meta["element_shape"]
    models = {ONNX_FILE: convert_score_network(level_fn, shape, opset)}
    onnx_score.check_io(models[ONNX_FILE])
    networks = {"level": models[ONNX_FILE]}  # The network each program calls, by score_input.
    if float16_tolerance is not None:
        log("converting the score network to float16")
        models[float16.FILE] = float16.convert(models[ONNX_FILE])
    if any(graph.sampler.score_input == "sigma" for graph in graphs.values()):
        networks["sigma"] = _convert(tf.function(  # Programs that call the score at any sigma.
            lambda x, sigma: {"score": sigma_fn(x, sigma)}, input_signature=[
                tf.TensorSpec([None, *shape], tf.float32, name="x"),
                tf.TensorSpec([None], tf.float32, name="sigma")]), opset, onnx_score.DOC)
    for name, graph in graphs.items():
        log(f"converting the {name} step program to ONNX")
        network = networks[graph.sampler.score_input]
        models[programs.step_file(name)] = _convert_program(
            graph.step_function(step_graphs.stub_score), network, opset, step_graphs_doc(name))
        if graph.has_finish:
            models[programs.finish_file(name)] = _convert_program(
                graph.finish_function(step_graphs.stub_score), network, opset,
                step_graphs_doc(name, finish=True))
    x, level = golden_inputs(meta)
    score = level_fn(tf.constant(x), tf.constant(level)).numpy()
    np.savez(os.path.join(partial, GOLDEN_FILE), x=x, level=level, score=score)
    meta["golden"] = write_raw_golden(os.path.join(partial, GOLDEN_DIR),
                                      {"x": x, "level": level, "score": score})
    meta["golden_file"] = GOLDEN_FILE
    for filename, onnx_model in models.items():
        graph_meta = {**meta, "graph": filename}
        onnx_score.attach_metadata(onnx_model, graph_meta, onnx_model.doc_string)
        onnx.save(onnx_model, os.path.join(partial, filename))
    for filename, text in texts.items():
        with open(os.path.join(partial, filename), "w") as f:
            f.write(text)

    files = [SAVED_MODEL_DIR + "/", *models, *texts, GOLDEN_FILE,
             *(f"{GOLDEN_DIR}/{entry['file']}" for entry in meta["golden"].values())]
    meta["files"] = file_table(partial, [f for f in files if not f.endswith("/")])
    with open(os.path.join(partial, METADATA_FILE), "w") as f:
        json.dump(meta, f, indent=2)

    comparisons: tuple[verify_lib.Comparison, ...] = ()
    if verify:
        log("verifying Keras vs SavedModel vs ONNX, and each step graph vs TensorFlow")
        comparisons = tuple(verify_files.verify_export(
            graphs, partial, SAVED_MODEL_DIR, ONNX_FILE, x, level, score, tolerance))
        verify_lib.check(comparisons, tolerance)
        if float16_tolerance is not None:
            half = verify_lib.compare(
                "float16 ONNX vs Keras",
                verify_files.onnx_score_of(os.path.join(partial, float16.FILE), x, level),
                score, float16_tolerance)
            verify_lib.check([half], float16_tolerance)
            comparisons += (half,)
    return ExportResult(partial, comparisons, tuple(files) + (METADATA_FILE,), meta)


def convert_score_network(level_fn: ScoreFn, element_shape, opset: int = onnx_score.DEFAULT_OPSET
                          ) -> onnx.ModelProto:
    """`level_fn(x, level)` as the ONNX score network: inputs x [N, *element_shape] float32
    and level [N] int32, output "score" (docs/export.md)."""
    function = tf.function(lambda x, level: {"score": level_fn(x, level)}, input_signature=[
        tf.TensorSpec([None, *element_shape], tf.float32, name="x"),
        tf.TensorSpec([None], tf.int32, name="level")])
    return _convert(function, opset, onnx_score.DOC)


def _convert(function, opset: int, doc: str) -> onnx.ModelProto:
    try:
        return step_graphs.convert(function, opset, doc)
    except step_graphs.ConversionError as e:
        raise ExportError(str(e)) from None


def _convert_program(function, network: onnx.ModelProto, opset: int, doc: str
                     ) -> onnx.ModelProto:
    try:
        return step_graphs.convert_with_network(function, network, opset, doc)
    except step_graphs.ConversionError as e:
        raise ExportError(str(e)) from None


def step_graphs_doc(name: str, finish: bool = False) -> str:
    if finish:
        return (f"tfncsn {name} finish graph: samples = finish(state..., inputs...); see "
                "metadata_props 'programs' and docs/export.md. Metadata values are JSON.")
    return (f"tfncsn {name} step graph: next_<state>... = step(state..., k: int32 [], "
            "noise_<name>..., inputs...); loop it programs[...]['num_steps'] times as "
            "metadata_props 'programs' describes (docs/export.md). Metadata values are JSON.")


def write_raw_golden(folder: str, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """Each array as a raw little-endian file; returns {name: {file, dtype, shape}}."""
    os.makedirs(folder)
    table = {}
    for name, array in arrays.items():
        dtype = {np.dtype(np.float32): "float32", np.dtype(np.int32): "int32"}[array.dtype]
        filename = f"{name}.{dtype}.bin"
        np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tofile(
            os.path.join(folder, filename))
        table[name] = {"file": filename, "dtype": dtype, "shape": list(array.shape)}
    return table


def file_table(folder: str, files: list[str]) -> dict[str, dict[str, Any]]:
    """{relative path: {bytes, sha256}} of the given files."""
    table = {}
    for name in files:
        path = os.path.join(folder, name)
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        table[name] = {"bytes": os.path.getsize(path), "sha256": digest.hexdigest()}
    return table
