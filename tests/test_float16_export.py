"""The optional float16 score network (`tfncsn export --export_float16`, docs/export.md).

The library conversion is checked on an untrained MLP (CondRefineNetDilated's on the digits
export of test_export.py, which saves converting that graph again), the command on a short toy
run, read back by tfncsn_runtime.
"""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import tensorflow as tf

from conftest import error_line, run_cli
from export_helpers import check_float16_network, run_runtime
from tfncsn import builders
from tfncsn_export import exporter, float16

SIGMAS = np.geomspace(1.0, 0.01, 10).astype(np.float32)


def test_float16_network_rounds_like_float16_and_stays_within_its_tolerance():
    """The paper's toy MLP; CondRefineNetDilated is checked on test_export.py's digits export."""
    shape = (2,)
    model = builders.make_model("mlp", {}, shape, SIGMAS)
    level_fn, _ = exporter.score_functions(model)
    network = exporter.convert_score_network(level_fn, shape)
    x = np.random.default_rng(0).uniform(-8, 8, (2 * len(SIGMAS), *shape)).astype(np.float32)
    level = np.arange(2 * len(SIGMAS), dtype=np.int32) % len(SIGMAS)
    expected = model(tf.constant(x), tf.constant(level), training=False).numpy()
    check_float16_network(network, float16.convert(network), x, level, expected)


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
    check = run_runtime(tmp_path, f"--model={output}", "--check", timeout=300)
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
