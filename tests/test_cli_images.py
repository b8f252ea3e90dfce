"""Image runs through the `tfncsn` command: a tiny CondRefineNet, inpainting, strips, bench."""

import glob
import json
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from conftest import DIGITS_STEPS, REPO, TINY_REFINENET, cli_env, error_line, run_cli

# The real CLI inside tfds.testing.mock_data: TFDS hands out random examples, nothing is read.
MOCK_TFDS_CLI = """
import sys
import tensorflow_datasets as tfds
from tfncsn.cli.main import run
sys.argv = ["tfncsn", *sys.argv[1:]]
with tfds.testing.mock_data(num_examples=64):
    run()
"""


def logged_losses(workdir):
    """The `loss` scalars of a run's TensorBoard events, in step order."""
    values = []
    for path in glob.glob(str(workdir / "train" / "events*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.tag == "loss":
                    values.append((event.step, float(tf.make_ndarray(value.tensor))))
    return [v for _, v in sorted(values)]


def assert_trained(workdir, steps):
    losses = logged_losses(workdir)
    assert len(losses) == steps // 10
    half = len(losses) // 2  # The loss falls: later windows average clearly lower.
    assert np.mean(losses[half:]) < 0.95 * np.mean(losses[:half]), losses
    assert (workdir / "checkpoints" / f"ckpt-{steps}.index").exists()


@pytest.mark.slow  # Minutes: TFDS mock data; the digits runs cover image training by default.
def test_tiny_refinenet_trains_on_mock_cifar10(tmp_path):
    workdir = tmp_path / "cifar"
    proc = subprocess.run([sys.executable, "-c", MOCK_TFDS_CLI, "train", "--dataset=cifar10",
                           *TINY_REFINENET, "--steps=40", f"--workdir={workdir}"], cwd=REPO,
                          text=True, capture_output=True, env=cli_env(), timeout=600)
    assert proc.returncode == 0, (proc.returncode, proc.stdout, proc.stderr[-2000:])
    assert_trained(workdir, 40)


# digits_run (conftest.py): a tiny CondRefineNet trained on scikit-learn's 8x8 digits.


def test_tiny_refinenet_trains_on_digits(digits_run):
    assert_trained(digits_run, DIGITS_STEPS)


def test_inpainting_keeps_known_pixels_with_an_irregular_mask(digits_run, tmp_path):
    gen = np.random.default_rng(0)
    known = (gen.uniform(size=(8, 8)) < 0.5).astype(np.float32)  # Not a rectangle.
    np.save(tmp_path / "mask.npy", known)
    images = gen.uniform(size=(2, 8, 8, 1)).astype(np.float32)
    np.save(tmp_path / "images.npy", images)
    output = tmp_path / "out.npz"
    run_cli("inpaint", f"--workdir={digits_run}", f"--images={tmp_path / 'images.npy'}",
            f"--mask={tmp_path / 'mask.npy'}", "--num_completions=3", "--steps_per_level=5",
            f"--output={output}")
    result = np.load(output)
    completions = result["completions"]
    assert completions.shape == (2, 3, 8, 8, 1)
    mask = known[None, None, :, :, None] == 1
    expected = np.broadcast_to(images[:, None], completions.shape)
    # Known pixels end at the observation plus the last level's noise (sigma_L = 0.01).
    assert np.abs(completions - expected)[np.broadcast_to(mask, completions.shape)].max() < 0.06
    hidden = np.broadcast_to(~mask, completions.shape)
    assert np.abs(completions - expected)[hidden].mean() > 0.1


def test_inpainting_figure_and_dataset_images(digits_run, tmp_path):
    output = tmp_path / "fig.png"
    proc = run_cli("inpaint", f"--workdir={digits_run}", "--images=test:3", "--mask=center",
                   "--num_completions=2", "--steps_per_level=2", f"--output={output}")
    assert "75% of pixels known" in proc.stdout
    width, height = Image.open(output).size  # 3 rows x (original, masked, 2 completions).
    assert (width, height) == (2 + 4 * 10, 2 + 3 * 10)


def test_sample_grid_and_intermediate_states_strip(digits_run, tmp_path):
    output = tmp_path / "grid.png"
    run_cli("sample", f"--workdir={digits_run}", "--num_samples=4", "--steps_per_level=4",
            "--keep_every=10", f"--output={output}")
    assert Image.open(output).size == (2 + 2 * 10, 2 + 2 * 10)
    strip = Image.open(tmp_path / "grid_states.png")
    assert strip.size == (2 + (4 + 1) * 10, 2 + 4 * 10)  # 40 steps / 10 = 4 states + final.


def test_bad_inpainting_input_is_one_line(digits_run, tmp_path):
    np.save(tmp_path / "wrong.npy", np.zeros((2, 5, 5, 1), np.float32))
    for args, expected in [
        ([f"--images={tmp_path / 'wrong.npy'}"], "the model needs [M, 8, 8, 1]"),
        (["--images=test:2", "--mask=diagonal"], "--mask must be one of"),
        (["--images=nowhere.npy"], "does not exist"),
    ]:
        proc = run_cli("inpaint", f"--workdir={digits_run}", *args,
                       f"--output={tmp_path / 'o.png'}", check=False)
        assert expected in error_line(proc)


@pytest.mark.slow  # A few minutes: bench runs one process per configuration.
def test_bench_writes_its_table(tmp_path):
    output = tmp_path / "bench.json"
    run_cli("bench", "--bench_networks=8x8x1:4", "--bench_batch_sizes=2", "--bench_jit=off",
            "--bench_steps=1", f"--output={output}")
    table = json.loads(output.read_text())
    assert set(table["machine"]["matmul_gflops"]) == {"float32", "bfloat16", "float16"}
    assert min(table["machine"]["matmul_gflops"].values()) > 0
    rows = {row["precision"]: row for row in table["results"]}
    assert set(rows) == {"float32", "mixed_bfloat16"}  # The default --bench_precisions.
    for row in rows.values():
        for key in ("train_images_per_second", "score_evaluations_per_second",
                    "sampler_evaluations_per_second", "peak_memory_mb", "parameters",
                    "forward_gflop_per_example", "train_fraction_of_peak"):
            assert row[key] > 0, key
    assert rows["float32"]["onnx_score_evaluations_per_second"] > 0
    assert "onnx_score_evaluations_per_second" not in rows["mixed_bfloat16"]


@pytest.mark.slow  # Two rounds of one configuration, each in its own process.
def test_bench_rounds_report_medians_with_their_range(tmp_path):
    output = tmp_path / "bench.json"
    proc = run_cli("bench", "--bench_networks=8x8x1:4", "--bench_batch_sizes=2",
                   "--bench_jit=off", "--bench_precisions=float32", "--nobench_onnx",
                   "--bench_steps=1", "--bench_rounds=2", f"--output={output}")
    assert "medians of 2 rounds" in proc.stdout and "round 2/2: measuring" in proc.stderr
    table = json.loads(output.read_text())
    assert table["machine"]["rounds"] == 2
    low, high = table["machine"]["matmul_gflops_range"]["float32"]
    assert 0 < low <= table["machine"]["matmul_gflops"]["float32"] <= high
    (row,) = table["results"]
    assert row["rounds"] == 2
    low, high = row["range"]["train_images_per_second"]
    assert 0 < low <= row["train_images_per_second"] <= high
