"""Helpers shared by the export tests: the runtime reader, an environment without
TensorFlow, and the TensorFlow trajectory of a program on NumPy draws."""

from __future__ import annotations

import os

import tensorflow as tf

from conftest import REPO
from tfncsn import sampling
from tfncsn_runtime import onnx_sample

# Run as a script from the checkout: the file needs no package and no tfncsn.
SCRIPT = REPO / "runtime" / "tfncsn_runtime" / "onnx_sample.py"


def blocked_env(tmp_path, names=("tensorflow", "keras", "tfncsn", "tfncsn_plugins")):
    """An environment where importing any of `names` fails."""
    shadow = tmp_path / "blocked"
    for name in names:
        (shadow / name).mkdir(parents=True, exist_ok=True)
        (shadow / name / "__init__.py").write_text(
            f"raise ImportError('{name} is blocked: onnx_sample.py must not need it')\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(shadow)  # Searched before site-packages and the editable finder.
    return env


class NumpyAsTF:
    """onnx_sample's NumPy noise behind the `tf.random.Generator` calls the TF runner makes."""

    def __init__(self, seed):
        self.noise = onnx_sample.NumpyNoise(seed)

    def normal(self, shape, dtype=None):
        return tf.constant(self.noise.normal([int(d) for d in shape]))

    def uniform(self, shape, minval=0.0, maxval=1.0, dtype=None):
        return tf.constant(self.noise.uniform([int(d) for d in shape], minval, maxval))


def tf_trajectory(program, score_fn, batch, seed):
    """The TF program step by step, eagerly, drawing from NumPy in the runner's order."""
    rng = NumpyAsTF(seed)
    state = sampling.initial_state(program, rng, batch)
    states = []
    for k in range(program.num_steps):
        state = program.step(score_fn, state, tf.constant(k), sampling.draw_noise(
            program, rng, k, batch))
        states.append(state["x"].numpy())
    return program.finish(score_fn, state).numpy(), states
