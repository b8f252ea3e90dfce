"""tf2onnx's conversion as the export runs it (tfncsn_export.step_graphs.convert): its optimizer
passes without a deep copy of the graph before each, and with the copies again (a failing pass
skipped) when a pass fails."""

import copy
import os

import numpy as np
import onnxruntime as ort
import pytest
import tensorflow as tf
import tf2onnx.graph
import tf2onnx.optimizer
from tf2onnx.optimizer.identity_optimizer import IdentityOptimizer

from tfncsn_export import step_graphs

SIGNATURE = [tf.TensorSpec([None, 3], tf.float32, name="x")]


def small_function():
    """relu(x W) + 1 with an identity (which a pass removes), and W."""
    weights = np.random.default_rng(0).standard_normal((3, 3)).astype(np.float32)
    return tf.function(lambda x: {"y": tf.identity(tf.nn.relu(x @ tf.constant(weights)) + 1.0)},
                       input_signature=SIGNATURE), weights


def graph_copies(monkeypatch) -> list[int]:
    """Counts the deep copies of a whole tf2onnx graph that its optimizer makes."""
    copies, deepcopy = [0], copy.deepcopy

    def counting(value, *args, **kwargs):
        copies[0] += isinstance(value, tf2onnx.graph.Graph)
        return deepcopy(value, *args, **kwargs)

    monkeypatch.setattr(tf2onnx.optimizer.copy, "deepcopy", counting)
    return copies


def run(model, x):
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(["y"], {"x": x})[0]


def test_the_optimizer_passes_run_without_copying_the_graph(monkeypatch):
    function, weights = small_function()
    copies = graph_copies(monkeypatch)
    assert "TF2ONNX_CATCH_ERRORS" not in os.environ
    model = step_graphs.convert(function, 17, "doc")
    assert copies[0] == 0
    assert "TF2ONNX_CATCH_ERRORS" not in os.environ  # Set for the conversion only.
    x = np.random.default_rng(1).standard_normal((4, 3)).astype(np.float32)
    np.testing.assert_allclose(run(model, x), np.maximum(x @ weights, 0) + 1, rtol=1e-6)
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == step_graphs.BATCH_DIM


def test_a_failing_optimizer_pass_is_skipped_as_tf2onnx_does(monkeypatch):
    def fails(self, graph):
        raise RuntimeError("this pass fails")

    monkeypatch.setattr(IdentityOptimizer, "_optimize", fails)
    function, weights = small_function()
    copies = graph_copies(monkeypatch)
    model = step_graphs.convert(function, 17, "doc")
    assert copies[0] > 0  # The second conversion, with tf2onnx's copies.
    x = np.ones((2, 3), np.float32)
    np.testing.assert_allclose(run(model, x), np.maximum(x @ weights, 0) + 1, rtol=1e-6)


def test_an_error_outside_the_optimizer_is_one_conversion_error(monkeypatch):
    calls = []
    original = tf2onnx.convert.from_function

    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(tf2onnx.convert, "from_function", counted)
    broken = tf.function(lambda x: {"y": x + "text"}, input_signature=SIGNATURE)
    with pytest.raises(step_graphs.ConversionError, match="^cannot convert to ONNX: "):
        step_graphs.convert(broken, 17, "doc")
    assert len(calls) == 1  # Not converted again: only an optimizer's failure is retried.
