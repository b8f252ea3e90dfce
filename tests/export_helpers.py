"""Helpers shared by the export tests: the runtime reader, an environment without
TensorFlow, and the TensorFlow trajectory of a program on NumPy draws."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import tensorflow as tf

from conftest import REPO
from tfncsn.sampling.runner import draw_noise, initial_state
import tfncsn_runtime

# The reader's command line as users run it, here from the checkout's export/ folder (as from
# a copy of the package) with tfncsn and TensorFlow blocked: it needs neither.
RUNTIME = [sys.executable, "-m", "tfncsn_runtime"]


def blocked_env(tmp_path, names=("tensorflow", "keras", "tfncsn", "tfncsn_plugins")):
    """An environment where importing any of `names` fails."""
    shadow = tmp_path / "blocked"
    for name in names:
        (shadow / name).mkdir(parents=True, exist_ok=True)
        (shadow / name / "__init__.py").write_text(
            f"raise ImportError('{name} is blocked: tfncsn_runtime must not need it')\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(shadow)  # Searched before site-packages and the editable finder.
    return env


def run_runtime(tmp_path, *args, timeout=600) -> subprocess.CompletedProcess:
    """`python -m tfncsn_runtime ARGS` with `blocked_env` and export/ on the path."""
    env = blocked_env(tmp_path)
    env["PYTHONPATH"] += os.pathsep + str(REPO / "export")
    return subprocess.run([*RUNTIME, *map(str, args)], text=True, capture_output=True, env=env,
                          timeout=timeout)


class NumpyAsTF:
    """tfncsn_runtime's NumPy noise behind the `tf.random.Generator` calls the TF runner makes."""

    def __init__(self, seed):
        self.noise = tfncsn_runtime.NumpyNoise(seed)

    def normal(self, shape, dtype=None):
        return tf.constant(self.noise.normal([int(d) for d in shape]))

    def uniform(self, shape, minval=0.0, maxval=1.0, dtype=None):
        return tf.constant(self.noise.uniform([int(d) for d in shape], minval, maxval))


def tf_trajectory(program, score_fn, batch, seed):
    """The TF program step by step, eagerly, drawing from NumPy in the runner's order."""
    rng = NumpyAsTF(seed)
    state = initial_state(program, rng, batch)
    states = []
    for k in range(program.num_steps):
        state = program.step(score_fn, state, tf.constant(k),
                             draw_noise(program, rng, k, batch))
        states.append(state["x"].numpy())
    return program.finish(score_fn, state).numpy(), states


# --- the float16 score network (docs/export.md, "float16 score network")

def float_types(model: onnx.ModelProto) -> set[int]:
    """Element types of the graph's floating-point initializers."""
    floats = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE}
    return {t.data_type for t in model.graph.initializer if t.data_type in floats}


def weight_bytes(model: onnx.ModelProto) -> int:
    return sum(t.ByteSize() for t in model.graph.initializer)


def io_types(model: onnx.ModelProto) -> list[int]:
    return [v.type.tensor_type.elem_type for v in (*model.graph.input, *model.graph.output)]


def run_score(model: onnx.ModelProto, x: np.ndarray, level: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(["score"], {"x": x, "level": level})[0]


def check_float16_network(full: onnx.ModelProto, half: onnx.ModelProto, x: np.ndarray,
                          level: np.ndarray, expected: np.ndarray) -> None:
    """`half` is `full` in float16: float16 weights, the same float32 inputs and output, half
    the weight bytes, and scores within the float16 tolerance of Keras's `expected` with an
    error of float16 rounding (far above float32's, far below the tolerance)."""
    from tfncsn_export import float16, verify

    assert float_types(full) == {onnx.TensorProto.FLOAT}
    assert float_types(half) == {onnx.TensorProto.FLOAT16}  # Every weight is float16 ...
    assert io_types(half) == io_types(full)  # ... inputs and output as in model.onnx.
    assert [i.name for i in half.graph.input] == ["x", "level"]
    assert weight_bytes(half) < 0.55 * weight_bytes(full)
    assert half.ByteSize() < full.ByteSize()
    got_full = verify.compare("float32", run_score(full, x, level), expected, verify.Tolerance())
    got_half = verify.compare("float16", run_score(half, x, level), expected, float16.TOLERANCE)
    assert got_full.passed and got_half.passed, (got_full.describe(), got_half.describe())
    assert got_half.max_rel > 30 * got_full.max_rel and got_half.max_rel > 1e-4, \
        got_half.describe()
    assert not verify.compare("tight", run_score(half, x, level), expected,
                              verify.Tolerance(atol=0, rtol=1e-5)).passed
