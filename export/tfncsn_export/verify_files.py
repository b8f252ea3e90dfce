"""Checks of a written export against TensorFlow (`tfncsn export` verifies unless --noverify):
the SavedModel's and the ONNX network's scores against Keras's on the golden inputs, and each
program's step graph (looped a few steps from the start and once at the last step) and finish
graph against its TensorFlow program, on the same inputs and noise (docs/export.md)."""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from tfncsn_export import step_graphs, verify as verify_lib
from tfncsn_runtime import programs
from tfncsn_runtime.noise import step_noise

CHECK_STEPS = 3  # Steps of each step graph looped and compared with TensorFlow's trajectory.


def verify_export(graphs: dict[str, step_graphs.GraphProgram], directory: str,
                  saved_model_dir: str, score_file: str, x: np.ndarray, level: np.ndarray,
                  expected: np.ndarray, tolerance: verify_lib.Tolerance
                  ) -> list[verify_lib.Comparison]:
    """Keras's golden scores `expected` vs those of the SavedModel `saved_model_dir` and the ONNX
    score network `score_file` (both in `directory`) on (x, level); each step graph and finish
    graph vs the TensorFlow program on identical inputs and noise."""
    loaded = tf.saved_model.load(os.path.join(directory, saved_model_dir))
    saved = loaded.signatures["score"](x=tf.constant(x), level=tf.constant(level))["score"]
    comparisons = [
        verify_lib.compare("SavedModel vs Keras", saved.numpy(), expected, tolerance),
        verify_lib.compare("ONNX vs Keras",
                           onnx_score_of(os.path.join(directory, score_file), x, level),
                           expected, tolerance)]
    for name, graph in graphs.items():
        comparisons += verify_program(name, graph, directory, x, tolerance)
    return comparisons


def onnx_score_of(path: str, x: np.ndarray, level: np.ndarray) -> np.ndarray:
    """The score that the ONNX score network at `path` computes on (x, level)."""
    import onnxruntime as ort  # Here: importing tfncsn_export does not load ONNX Runtime.

    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return session.run(["score"], {"x": x, "level": level})[0]


def program_inputs(graph: step_graphs.GraphProgram, x: np.ndarray, seed: int = 1):
    """An initial state (x given, other state random), and random y and mask."""
    gen = np.random.default_rng(seed)
    state = {"x": x}
    for name, per in graph.state.items():
        if name != "x":
            shape = x.shape[:1] if per == "example" else x.shape
            state[name] = gen.standard_normal(shape).astype(np.float32)
    inputs = {}
    if graph.inputs:
        inputs = {"y": gen.uniform(size=x.shape).astype(np.float32),
                  "mask": (gen.uniform(size=x.shape) < 0.5).astype(np.float32)}
    return state, inputs, gen


def draw_step_noise(graph: step_graphs.GraphProgram, gen: np.random.Generator, k: int,
                    batch: int) -> dict[str, np.ndarray]:
    """The noise of step k from a NumPy generator, zeros where not due (the runtimes' rule,
    tfncsn_runtime.noise)."""
    def draw(distribution: str, shape: tuple) -> np.ndarray:
        if distribution == "uniform":
            return gen.uniform(size=shape).astype(np.float32)
        return gen.standard_normal(shape).astype(np.float32)

    entries = [{"per": n.per, "every": n.every, "distribution": n.distribution}
               for n in graph.noise]
    arrays = step_noise(entries, k, batch, graph.sampler.problem.element_shape, draw)
    return {n.name: array for n, array in zip(graph.noise, arrays)}


def verify_program(name: str, graph: step_graphs.GraphProgram, directory: str, x: np.ndarray,
                   tolerance: verify_lib.Tolerance) -> list[verify_lib.Comparison]:
    """The step graph looped CHECK_STEPS times from k = 0 and once at the last step, and the
    finish graph, against the TensorFlow program with the same noise."""
    import onnxruntime as ort

    step_tf = graph.step_function()
    step_onnx = ort.InferenceSession(os.path.join(directory, programs.step_file(name)),
                                     providers=["CPUExecutionProvider"])
    state, inputs, gen = program_inputs(graph, x)
    steps = list(range(min(CHECK_STEPS, graph.num_steps)))
    if graph.num_steps - 1 not in steps:
        steps.append(graph.num_steps - 1)
    tf_state, onnx_state = dict(state), dict(state)
    for k in steps:
        noise = draw_step_noise(graph, gen, k, len(x))
        tf_out = step_graphs.run_tf_step(step_tf, graph, tf_state, k, noise, inputs)
        feeds = {**onnx_state, "k": np.array(k, np.int32),
                 **{f"noise_{n}": v for n, v in noise.items()}, **inputs}
        outputs = [f"next_{n}" for n in graph.state]
        onnx_out = dict(zip(outputs, step_onnx.run(outputs, feeds)))
        tf_state = {n: tf_out[f"next_{n}"] for n in graph.state}
        onnx_state = {n: onnx_out[f"next_{n}"] for n in graph.state}
    comparisons = [verify_lib.compare(f"{name} step graph vs TensorFlow (steps {steps})",
                                      onnx_state["x"], tf_state["x"], tolerance)]
    if graph.has_finish:
        finish_onnx = ort.InferenceSession(os.path.join(directory, programs.finish_file(name)),
                                           providers=["CPUExecutionProvider"])
        expected = graph.finish_function()(*[tf_state[n] for n in graph.state],
                                           *[inputs[n] for n in graph.inputs])["samples"]
        got = finish_onnx.run(["samples"], {**tf_state, **inputs})[0]
        comparisons.append(verify_lib.compare(f"{name} finish graph vs TensorFlow", got,
                                              expected.numpy(), tolerance))
    return comparisons
