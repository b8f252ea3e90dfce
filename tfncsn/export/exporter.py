"""Writes an export directory: SavedModel, ONNX score and sampler graphs, metadata, golden pair.

    E/saved_model/   signatures score(x, level), sample(seed, num_samples)
    E/model.onnx     score(x, level) with the sampler's settings in metadata_props
    E/sampler.onnx   the whole sampler in one graph (inputs x0, noise), same metadata
    E/metadata.json  the metadata, as JSON
    E/golden.npz     x, level and the Keras model's score on them

Everything is written to E.partial and moved to E once verified, so E only
ever holds a complete, checked export.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from typing import Any, Callable

import keras
import numpy as np
import onnx
import tensorflow as tf

from tfncsn.config import SamplerConfig
from tfncsn.export import onnx_loop, onnx_score, verify as verify_lib
from tfncsn.export.savedmodel import ScoreModule
from tfncsn.interfaces import Sampler
from tfncsn.langevin import annealed_loop, denoise as tweedie_denoise

SAVED_MODEL_DIR = "saved_model"
ONNX_FILE = "model.onnx"
SAMPLER_FILE = "sampler.onnx"
METADATA_FILE = "metadata.json"
GOLDEN_FILE = "golden.npz"
LOOP_CHECK_STEPS = 3  # Steps of the sampler graph compared with the Keras model's trajectory.


class ExportError(RuntimeError):
    """The export cannot be written where asked."""


@dataclasses.dataclass(frozen=True)
class ExportResult:
    directory: str
    comparisons: tuple[verify_lib.Comparison, ...]  # Empty without verification.
    notes: tuple[str, ...]  # E.g. why there is no sampler.onnx.


def golden_inputs(meta: dict[str, Any], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two inputs per noise level, drawn from the prior: x [2L, *shape], level [2L]."""
    num_levels = len(meta["sigmas"])
    gen = np.random.default_rng(seed)
    low, high = meta["prior_range"]
    x = gen.uniform(low, high, size=(2 * num_levels, *meta["element_shape"])).astype(np.float32)
    return x, np.arange(2 * num_levels, dtype=np.int32) % num_levels


def _prepare(directory: str) -> str:
    if os.path.exists(directory) and (not os.path.isdir(directory) or os.listdir(directory)):
        raise ExportError(f"--output '{directory}' already exists and is not an empty directory; "
                          "choose a new one or remove it")
    partial = directory.rstrip(os.sep) + ".partial"
    shutil.rmtree(partial, ignore_errors=True)
    os.makedirs(partial)
    return partial


def export(model: keras.Model, meta: dict[str, Any], sampler: Sampler, directory: str, *,
           opset: int = onnx_score.DEFAULT_OPSET, sampler_graph: bool = True,
           verify: bool = True, tolerance: verify_lib.Tolerance = verify_lib.Tolerance(),
           log: Callable[[str], None] = lambda message: None) -> ExportResult:
    """Exports `model` (called as model(x, level)) with the sampler described by `meta`.

    `meta` is `tfncsn.export.metadata.for_run(...)`; `sampler` is the registered
    sampler it names, run in-graph by the SavedModel's `sample` signature.
    Raises `VerificationError` (files kept in DIRECTORY.partial) when an export
    disagrees with the Keras model beyond `tolerance`.
    """
    partial = _prepare(directory)
    meta = {**meta, "golden_file": GOLDEN_FILE,
            "tolerance": {"atol": tolerance.atol, "rtol": tolerance.rtol}}
    settings = SamplerConfig(name=meta["sampler"], eps=meta["eps"],
                             steps_per_level=meta["steps_per_level"],
                             convention=meta["step_convention"], denoise=meta["denoise"])
    module = ScoreModule(model, meta["element_shape"], meta["sigmas"], sampler, settings,
                         meta["prior_range"])
    log("writing the SavedModel")
    module.save(os.path.join(partial, SAVED_MODEL_DIR))

    log("converting the score network to ONNX")
    score_model = onnx_score.convert(module.score, opset)
    onnx_score.attach_metadata(score_model, {**meta, "graph": "score"})
    onnx.save(score_model, os.path.join(partial, ONNX_FILE))

    notes = []
    if sampler_graph:
        try:
            loop_model = onnx_loop.build(score_model, meta)
        except onnx_loop.UnsupportedModelError as e:
            notes.append(f"no {SAMPLER_FILE}: {e}")
        else:
            onnx_score.attach_metadata(loop_model, {**meta, "graph": "sampler"}, onnx_loop.DOC)
            onnx.save(loop_model, os.path.join(partial, SAMPLER_FILE))

    x, level = golden_inputs(meta)
    score = model(tf.constant(x), tf.constant(level), training=False).numpy()
    np.savez(os.path.join(partial, GOLDEN_FILE), x=x, level=level, score=score)
    with open(os.path.join(partial, METADATA_FILE), "w") as f:
        json.dump(meta, f, indent=2)

    comparisons: tuple[verify_lib.Comparison, ...] = ()
    if verify:
        log("verifying Keras vs SavedModel vs ONNX on the golden inputs")
        comparisons = tuple(verify_export(model, partial, meta, tolerance))
        try:
            verify_lib.check(comparisons, tolerance)
        except verify_lib.VerificationError as e:
            raise verify_lib.VerificationError(f"{e}; the export is in {partial} "
                                               "for inspection") from None
    if os.path.isdir(directory):
        os.rmdir(directory)  # Empty (checked above).
    os.replace(partial, directory)
    return ExportResult(directory, comparisons, tuple(notes))


def verify_export(model: keras.Model, directory: str, meta: dict[str, Any],
                  tolerance: verify_lib.Tolerance) -> list[verify_lib.Comparison]:
    """Keras vs the SavedModel's and the ONNX model's scores on the golden inputs, and the
    sampler graph's first steps vs the Keras model's trajectory under the same noise."""
    import onnxruntime as ort

    with np.load(os.path.join(directory, GOLDEN_FILE)) as golden:
        x, level, expected = golden["x"], golden["level"], golden["score"]
    loaded = tf.saved_model.load(os.path.join(directory, SAVED_MODEL_DIR))
    saved = loaded.signatures["score"](x=tf.constant(x), level=tf.constant(level))["score"]
    session = ort.InferenceSession(os.path.join(directory, ONNX_FILE),
                                   providers=["CPUExecutionProvider"])
    onnx_score_ = session.run(["score"], {"x": x, "level": level})[0]
    comparisons = [verify_lib.compare("SavedModel vs Keras", saved.numpy(), expected, tolerance),
                   verify_lib.compare("ONNX vs Keras", onnx_score_, expected, tolerance)]
    sampler_path = os.path.join(directory, SAMPLER_FILE)
    if os.path.exists(sampler_path):
        steps = min(LOOP_CHECK_STEPS, int(meta["steps_per_level"]))
        noise = np.random.default_rng(1).standard_normal((steps, *x.shape)).astype(np.float32)
        session = ort.InferenceSession(sampler_path, providers=["CPUExecutionProvider"])
        got = session.run(["samples"], {"x0": x, "noise": noise})[0]
        comparisons.append(verify_lib.compare(
            f"ONNX sampler graph vs Keras ({steps} steps)", got,
            keras_trajectory(model, x, noise, meta), tolerance))
    return comparisons


def keras_trajectory(model: keras.Model, x0: np.ndarray, noise: np.ndarray,
                     meta: dict[str, Any]) -> np.ndarray:
    """The first len(noise) (<= T) steps of the TensorFlow sampler from x0 with the given noise."""
    sigmas = tf.constant(meta["sigmas"], tf.float32)
    langevin = meta["sampler"] == "langevin"
    first_level = len(meta["sigmas"]) - 1 if langevin else 0
    score_fn = lambda x, level: model(x, level, training=False)  # noqa: E731
    out = annealed_loop(score_fn, x0, sigmas, [first_level],
                        rng=verify_lib.ReplayNoise(list(noise)), eps=meta["eps"],
                        steps_per_level=len(noise), convention=meta["step_convention"],
                        fixed_step=langevin)
    x = tweedie_denoise(score_fn, out.x, sigmas) if meta["denoise"] else out.x
    return x.numpy()
