"""The JavaScript runtime (export/js/, package tfncsn-runtime) under Node's test runner.

One toy export per module (configs/toy.cfg trained for 4000 steps, which puts the
(5, 5) mode's weight within 0.01 of 4/5; exported with 30 steps per level, the
`reference` step convention and the denoising step, 300 steps in all, and pc as an extra
sample program); `node --test
export/js/test/` then checks the golden pair, the mode weight, inpainting, progress,
cancellation and the errors of a wrong export, and replays draws recorded here from
tfncsn_runtime (the Python reader) to check that both loops agree.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess

import numpy as np
import pytest

import tfncsn_runtime
from conftest import run_cli
from runtime_helpers import JS, DocumentedRng, documented_next, documented_words, node_or_skip

TOY_TRAIN_STEPS = 4000
TOY_EXPORT_FLAGS = ("--steps_per_level=30", "--step_convention=reference", "--denoise",
                    "--extra_samplers=pc")  # pc on the 10 levels: program sample_pc_19.
EXTRA_PROGRAM = "sample_pc_19"
REPLAY_TOLERANCE = 1e-3  # atol = rtol after 300 steps: ONNX Runtime 1.30 (Node) vs the wheel's.


class RecordingNoise(tfncsn_runtime.NumpyNoise):
    """tfncsn_runtime's NumPy noise that keeps every draw, in order."""

    def __init__(self, seed):
        super().__init__(seed)
        self.draws = []

    def normal(self, shape):
        self.draws.append(super().normal(shape))
        return self.draws[-1]

    def uniform(self, shape, low, high):
        self.draws.append(super().uniform(shape, low, high))
        return self.draws[-1]

    def save(self, path):
        np.concatenate([d.ravel() for d in self.draws]).astype("<f4").tofile(path)


@pytest.fixture(scope="module")
def toy_export(tmp_path_factory):
    node_or_skip("onnxruntime-node")
    root = tmp_path_factory.mktemp("js_toy")
    run_cli("train", "--flagfile=configs/toy.cfg", f"--steps={TOY_TRAIN_STEPS}",
            "--log_every=1000", f"--workdir={root / 'run'}")
    run_cli("export", f"--workdir={root / 'run'}", f"--output={root / 'export'}",
            *TOY_EXPORT_FLAGS, "--export_float16")  # The JS golden check of both networks.
    return root / "export"


@pytest.fixture(scope="module")
def replay(toy_export, tmp_path_factory):
    """Draws and results of tfncsn_runtime for a sample run and an inpainting run."""
    root = tmp_path_factory.mktemp("js_replay")
    export = tfncsn_runtime.load(str(toy_export))
    runs = []
    noise = RecordingNoise(seed=5)
    samples = export.sample(8, noise, batch_size=3)
    noise.save(root / "sample_draws.bin")
    samples.astype("<f4").tofile(root / "sample_expected.bin")
    runs.append({"program": "sample", "count": 8, "batch_size": 3,
                 "draws": "sample_draws.bin", "expected": "sample_expected.bin"})
    noise = RecordingNoise(seed=7)  # The extra sampler's program, chosen by name.
    samples = export.sample(8, noise, batch_size=4, program=EXTRA_PROGRAM)
    noise.save(root / "extra_draws.bin")
    samples.astype("<f4").tofile(root / "extra_expected.bin")
    runs.append({"program": EXTRA_PROGRAM, "count": 8, "batch_size": 4,
                 "draws": "extra_draws.bin", "expected": "extra_expected.bin"})
    y = np.random.default_rng(0).uniform(-6, 6, (5, 2)).astype(np.float32)
    mask = np.array([0.0, 1.0], np.float32)
    noise = RecordingNoise(seed=6)
    completions = export.inpaint(y, mask, noise, batch_size=2)
    noise.save(root / "inpaint_draws.bin")
    completions.astype("<f4").tofile(root / "inpaint_expected.bin")
    y.astype("<f4").tofile(root / "y.bin")
    mask.astype("<f4").tofile(root / "mask.bin")
    runs.append({"program": "inpaint", "count": 5, "batch_size": 2, "draws": "inpaint_draws.bin",
                 "expected": "inpaint_expected.bin", "y": "y.bin", "mask": "mask.bin"})
    (root / "replay.json").write_text(json.dumps(
        {"atol": REPLAY_TOLERANCE, "rtol": REPLAY_TOLERANCE, "runs": runs}))
    return root


def test_node_test_runner_passes_on_the_toy_export(toy_export, replay):
    node = node_or_skip("onnxruntime-node")
    env = dict(os.environ, TFNCSN_TEST_EXPORT=str(toy_export), TFNCSN_TEST_REPLAY=str(replay))
    proc = subprocess.run([node, "--test", "--test-reporter=tap", "test/"], cwd=JS, env=env,
                          capture_output=True, text=True, timeout=600)
    print(proc.stdout[-6000:])
    counts = dict(re.findall(r"^# (tests|pass|fail|skipped) (\d+)$", proc.stdout, re.M))
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    assert counts.get("fail") == "0" and counts.get("skipped") == "0", counts
    assert int(counts["pass"]) == int(counts["tests"]) >= 15, counts
    assert "weight of the (5, 5) mode" in proc.stdout


# --- the generator is the one export/js/src/random.js documents (runtime_helpers has a
# second implementation).


def test_the_generator_is_the_documented_xoshiro128_with_box_muller():
    node = node_or_skip("onnxruntime-node")
    code = ("import('./src/random.js').then(({Rng}) => { const r = new Rng(12345); "
            "const ints = Array.from({length: 6}, () => r.next()); "
            "console.log(JSON.stringify({ints, normal: Array.from(new Rng(9).normal(3)), "
            "uniform: Array.from(new Rng(9).uniform(2, -8, 8))})); })")
    proc = subprocess.run([node, "-e", code], cwd=JS, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    state = documented_words(12345)
    assert got["ints"] == [documented_next(state) for _ in range(6)]
    np.testing.assert_array_equal(got["normal"], DocumentedRng(9).normal([3]))
    np.testing.assert_array_equal(got["uniform"], DocumentedRng(9).uniform([2], -8, 8))
    state = documented_words(9)  # The description's formulas, spelled out once more.
    units = [(documented_next(state) + 0.5) / 2**32 for _ in range(4)]
    r = math.sqrt(-2 * math.log(units[0]))
    expected = [r * math.cos(2 * math.pi * units[1]), r * math.sin(2 * math.pi * units[1]),
                math.sqrt(-2 * math.log(units[2])) * math.cos(2 * math.pi * units[3])]
    np.testing.assert_array_equal(got["normal"], np.float32(expected))
