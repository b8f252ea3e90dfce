"""The optional float16 score network (`tfncsn export --export_float16`, docs/export.md).

The library conversion is checked on an untrained CondRefineNetDilated (ngf 8, 8x8 digits) and
the paper's MLP; the command on a short toy run, read back by tfncsn_runtime.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import tensorflow as tf

from conftest import error_line, run_cli
from export_helpers import SCRIPT, blocked_env
from tfncsn import builders
from tfncsn.export import exporter, float16, verify

SIGMAS = np.geomspace(1.0, 0.01, 10).astype(np.float32)


def float_types(model: onnx.ModelProto) -> set[int]:
    """Element types of the graph's floating-point initializers."""
    floats = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE}
    return {t.data_type for t in model.graph.initializer if t.data_type in floats}


def weight_bytes(model: onnx.ModelProto) -> int:
    return sum(t.ByteSize() for t in model.graph.initializer)


def io_types(model: onnx.ModelProto) -> list[int]:
    return [v.type.tensor_type.elem_type for v in (*model.graph.input, *model.graph.output)]


def run(model: onnx.ModelProto, x: np.ndarray, level: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(["score"], {"x": x, "level": level})[0]


@pytest.mark.parametrize("name, options, shape", [
    ("refinenet", {"ngf": 8}, (8, 8, 1)),
    ("mlp", {}, (2,)),
])
def test_float16_network_rounds_like_float16_and_stays_within_its_tolerance(name, options, shape):
    model = builders.make_model(name, options, shape, SIGMAS)
    level_fn, _ = exporter.score_functions(model)
    network = exporter.convert_score_network(level_fn, shape)
    half = float16.convert(network)

    assert float_types(network) == {onnx.TensorProto.FLOAT}
    assert float_types(half) == {onnx.TensorProto.FLOAT16}  # Every weight is float16 ...
    assert io_types(half) == io_types(network)  # ... inputs and output as in model.onnx.
    assert [i.name for i in half.graph.input] == ["x", "level"]
    assert weight_bytes(half) < 0.55 * weight_bytes(network)
    assert half.ByteSize() < network.ByteSize()

    x = np.random.default_rng(0).uniform(-1, 1, (2 * len(SIGMAS), *shape)).astype(np.float32)
    level = np.arange(2 * len(SIGMAS), dtype=np.int32) % len(SIGMAS)
    expected = model(tf.constant(x), tf.constant(level), training=False).numpy()
    full = verify.compare("float32", run(network, x, level), expected, verify.Tolerance())
    halved = verify.compare("float16", run(half, x, level), expected, float16.TOLERANCE)
    assert full.passed and halved.passed, (full.describe(), halved.describe())
    # It really computes in float16: its error is that of 11-bit rounding, far above
    # float32's and well below the tolerance.
    assert halved.max_rel > 30 * full.max_rel and halved.max_rel > 1e-4, halved.describe()
    assert not verify.compare("tight", run(half, x, level), expected,
                              verify.Tolerance(atol=0, rtol=1e-5)).passed


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy16")
    run_cli("train", "--flagfile=configs/toy.cfg", "--steps=300", "--log_every=100",
            f"--workdir={root / 'run'}")
    return root


def test_export_writes_checks_and_describes_the_float16_network(toy_run, tmp_path):
    output = toy_run / "export"
    proc = run_cli("export", f"--workdir={toy_run / 'run'}", f"--output={output}",
                   "--export_float16", "--steps_per_level=2")
    assert "model.float16.onnx" in proc.stdout
    assert "float16 ONNX vs Keras: max abs diff" in proc.stdout, proc.stdout
    meta = json.loads((output / "metadata.json").read_text())
    assert meta["float16"] == {"graph": "model.float16.onnx",
                               "tolerance": float16.TOLERANCE.as_metadata()}
    assert "model.float16.onnx" in meta["files"]
    onnx_model = onnx.load(output / "model.float16.onnx")
    props = {p.key: json.loads(p.value) for p in onnx_model.metadata_props}
    assert props["graph"] == "model.float16.onnx" and props["float16"] == meta["float16"]

    # The runtime, without TensorFlow, checks both networks on the golden pair.
    check = subprocess.run([sys.executable, str(SCRIPT), f"--model={output}", "--check"],
                           text=True, capture_output=True, env=blocked_env(tmp_path), timeout=300)
    assert check.returncode == 0, check.stderr
    lines = check.stdout.splitlines()
    assert lines[0].startswith("golden check passed on 20 inputs")
    assert lines[1].startswith("golden check of model.float16.onnx passed on 20 inputs")


def test_float16_export_is_off_by_default_and_its_flags_are_checked(toy_run, tmp_path):
    plain = tmp_path / "plain"
    run_cli("export", f"--workdir={toy_run / 'run'}", f"--output={plain}", "--steps_per_level=2",
            "--noexport_inpainting")
    assert not (plain / "model.float16.onnx").exists()
    assert "float16" not in json.loads((plain / "metadata.json").read_text())

    line = error_line(run_cli("export", f"--workdir={toy_run / 'run'}",
                              f"--output={tmp_path / 'a'}", "--float16_rtol=0.1", check=False))
    assert "--float16_rtol is the tolerance of --export_float16" in line
    line = error_line(run_cli("export", f"--workdir={toy_run / 'run'}",
                              f"--output={tmp_path / 'b'}", "--export_float16",
                              "--float16_rtol=-1", check=False))
    assert "--float16_rtol must be >= 0" in line
    # A float16 network cannot meet a zero relative tolerance: the export fails as a whole.
    output = tmp_path / "strict"
    line = error_line(run_cli("export", f"--workdir={toy_run / 'run'}", f"--output={output}",
                              "--export_float16", "--float16_rtol=0", "--steps_per_level=2",
                              check=False))
    assert "verification failed: float16 ONNX vs Keras: max abs diff" in line
    assert not output.exists() and not (tmp_path / "strict.partial").exists()
