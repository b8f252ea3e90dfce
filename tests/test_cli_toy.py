"""The 2-D toy end to end through the `tfncsn` command (paper Fig. 3; Fig. 2: test_figure2.py)."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from conftest import REPO, cli_env, error_line, run_cli, run_cli_commands, run_cli_each
from tfncsn import builders
from tfncsn.config import SigmaConfig
from tfncsn.gaussian_mixture import paper_toy

README = (REPO / "README.md").read_text()

TOY = "--flagfile=configs/toy.cfg"


@pytest.mark.slow  # configs/toy.cfg as shipped; test_export.py trains the toy 8k steps by default.
def test_toy_trains_and_samples_with_the_paper_mode_weights(tmp_path):
    """configs/toy.cfg as shipped (20k steps, about a minute here), then 1280 samples."""
    workdir, output = tmp_path / "toy", tmp_path / "samples.npy"
    started = time.perf_counter()
    run_cli("train", TOY, f"--workdir={workdir}")
    print(f"toy training took {time.perf_counter() - started:.0f} s")
    proc = run_cli("sample", f"--workdir={workdir}", "--num_samples=1280", f"--output={output}")
    samples = np.load(output)
    assert samples.shape == (1280, 2)
    toy = paper_toy()
    assert abs(toy.mode_weights(samples)[1] - 0.80) <= 0.05, proc.stdout
    modes = toy.nearest_component(samples)
    for k, mean in enumerate(toy.means):
        assert np.all(np.abs(samples[modes == k].mean(axis=0) - mean) < 0.5)
    assert (workdir / "checkpoints" / "checkpoint").exists()
    assert any(name.startswith("events") for name in os.listdir(workdir / "train"))


def test_sliced_score_matching_trains(tmp_path):
    workdir = tmp_path / "ssm"
    proc = run_cli("train", TOY, "--loss=ssm", "--steps=300", "--log_every=100",
                   f"--workdir={workdir}")
    loss = float(proc.stdout.split("loss ")[1].split(";")[0])
    assert np.isfinite(loss)
    assert json.loads((workdir / "config.json").read_text())["train"]["loss"] == "ssm"


def test_command_line_overrides_the_flagfile_and_the_run_resumes(tmp_path):
    workdir = tmp_path / "run"
    proc = run_cli("train", TOY, "--steps=60", "--batch_size=32", "--seed=7", "--log_every=20",
                   "--checkpoint_every=40", f"--workdir={workdir}")
    # No TensorFlow C++ start-up lines (CUDA probing, CPU features) before the progress bar.
    assert not re.search(r"cuda|cuInit|InitializeLog|cpu_feature_guard", proc.stderr, re.I), \
        proc.stderr[:1000]
    config = json.loads((workdir / "config.json").read_text())
    assert (config["train"]["steps"], config["train"]["batch_size"],
            config["train"]["seed"]) == (60, 32, 7)
    assert config["sigmas"]["sigma_max"] == 20.0  # From the flagfile.
    proc = run_cli("train", f"--workdir={workdir}", "--steps=100")  # Saved config + new steps.
    assert "trained to step 100" in proc.stdout
    checkpoints = sorted(os.listdir(workdir / "checkpoints"))
    assert "ckpt-60.index" in checkpoints and "ckpt-100.index" in checkpoints
    proc = run_cli("train", f"--workdir={workdir}")  # Nothing left to do: said, not "loss nan".
    assert proc.stdout.startswith("already trained to step 100; checkpoint"), proc.stdout
    assert sorted(os.listdir(workdir / "checkpoints")) == checkpoints
    sigmas = builders.make_sigmas(SigmaConfig.from_dict(config["sigmas"]))
    assert config["sigmas"]["values"] == [float(s) for s in sigmas.numpy()]

    # The README's library example runs on this workdir as written.
    code = re.findall(r"```python\n(.*?)```", README, re.S)[1]
    proc = subprocess.run([sys.executable, "-c", code.replace("runs/fmnist", str(workdir))],
                          capture_output=True, text=True, env=cli_env())
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads((workdir / "eval" / "report.json").read_text())
    assert float(proc.stdout.split()[-1]) == pytest.approx(report["heldout_dsm"]["total"])

    # An earlier checkpoint by its step; a step that was not kept is one line naming those kept.
    steps = (None, 40, 100)  # The default first: it gets no flag a command before it gave.
    run_cli_commands(*[["sample", f"--workdir={workdir}", "--num_samples=8",
                        "--steps_per_level=2", f"--output={tmp_path / f'at_{step}.npy'}",
                        *([f"--checkpoint_step={step}"] if step else [])] for step in steps])
    drawn = {step: np.load(tmp_path / f"at_{step}.npy") for step in steps}
    np.testing.assert_array_equal(drawn[100], drawn[None])
    assert not np.array_equal(drawn[40], drawn[100])
    failed = run_cli("sample", f"--workdir={workdir}", "--checkpoint_step=50",
                     f"--output={tmp_path / 'at_50.npy'}", check=False)
    assert error_line(failed) == (
        f"tfncsn sample: error: no checkpoint of step 50 in '{workdir / 'checkpoints'}': it holds "
        "steps 40, 60, 80, 100 (training keeps the last --keep_checkpoints, one every "
        "--checkpoint_every steps)")
    assert not (tmp_path / "at_50.npy").exists()


def test_sample_npz_and_png_outputs(tmp_path):
    npz, png = tmp_path / "s.npz", tmp_path / "s.png"
    proc = run_cli("sample", TOY, "--score=exact", "--num_samples=50", "--steps_per_level=10",
                   "--keep_every=25", f"--output={npz}")
    # The line names the sampler, the options set for it and what a sample cost.
    assert (f"wrote {npz}: 50 samples from the exact score by annealed_langevin (" in proc.stdout
            and "steps_per_level=10" in proc.stdout
            and "), 100 score evaluations each; mode weights" in proc.stdout), proc.stdout
    data = np.load(npz)
    assert data["samples"].shape == (50, 2) and data["states"].shape == (4, 50, 2)
    np.testing.assert_allclose(data["sigmas"][[0, -1]], [20.0, 1.0], rtol=1e-5)
    run_cli("sample", TOY, "--score=exact", "--num_samples=50", "--steps_per_level=10",
            f"--output={png}")
    assert Image.open(png).size == (320, 340)


def test_figure3_with_the_exact_score(tmp_path):
    """Paper Fig. 3 with the data's own score: plain Langevin gets the mode weights wrong,
    annealing right, and both end as narrow as the data (issue 10.3: with the score of the
    data perturbed by sigma_L = 1 they were sqrt(2) times wider)."""
    output = tmp_path / "fig3.png"
    proc = run_cli("figure3", TOY, "--score=exact", f"--output={output}")
    image = Image.open(output)
    assert image.size == (3 * 320, 340)
    pixels = np.asarray(image.convert("L"))
    for panel in range(3):  # Every panel has points drawn in it.
        assert (pixels[30:, panel * 320 + 5:(panel + 1) * 320 - 5] < 200).sum() > 500
    panels = [line for line in proc.stdout.splitlines() if line.startswith("  (")]
    weights = {line.split(":")[0].strip(): float(line.split("(5,5): ")[1].split(";")[0])
               for line in panels}
    spreads = {line.split(":")[0].strip(): float(line.rsplit(" ", 1)[1]) for line in panels}
    assert abs(weights["(c) annealed Langevin dynamics"] - 0.8) <= 0.03
    assert abs(weights["(b) Langevin dynamics"] - 0.8) > 0.1
    for title, spread in spreads.items():  # The data's std is 1 (sigma_L-perturbed: 1.41).
        assert abs(spread - 1.0) < 0.1, (title, spreads)


def test_a_diverged_sampler_is_named_not_summarised_as_nan(tmp_path):
    """Too large an eps turns samples into NaN: they are written (nothing is lost), and the
    summary counts them and says what to lower instead of failing on NaN statistics."""
    output = tmp_path / "nan.npy"
    proc = run_cli("sample", "--flagfile=configs/toy.cfg", "--score=exact", "--eps=100",
                   "--steps_per_level=5", "--num_samples=64", f"--output={output}")
    assert "64 of 64 samples are not finite: the sampler diverged; lower its step size " \
        "(--eps" in proc.stdout
    assert np.isnan(np.load(output)).all()


def test_the_summary_covers_the_finite_samples_and_counts_the_others():
    from tfncsn.sampling.score_source import summarize
    from tfncsn_plugins.datasets.toy import ToyMixture

    samples = np.array([[5.0, 5.0], [5.0, 5.0], [-5.0, -5.0], [np.nan, 0.0]], np.float32)
    summary = summarize(ToyMixture(), samples)
    assert summary.startswith("mode weights (-5,-5): 0.333, (5,5): 0.667;"), summary
    assert summary.endswith("1 of 4 samples are not finite: the sampler diverged; lower its "
                            "step size (--eps or --sampler_options=eps=...)")
    assert summarize(ToyMixture(), samples[:3]).count(";") == 1  # No note when all are finite.


def test_sigterm_writes_a_checkpoint_before_exiting(tmp_path):
    workdir = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "tfncsn", "train", TOY, "--steps=1000000",
                             f"--workdir={workdir}"], cwd=REPO, env=cli_env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while not (workdir / "train").exists() and time.time() < deadline:
        time.sleep(0.2)  # The summary folder appears once training has started.
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    step = int(stdout.split("stopped at step ")[1].split(";")[0])
    assert step > 0 and (workdir / "checkpoints" / f"ckpt-{step}.index").exists()


def test_divergence_stops_with_a_clear_message_and_keeps_the_last_checkpoint(tmp_path):
    workdir = tmp_path / "run"
    run_cli("train", TOY, "--steps=20", "--log_every=10", f"--workdir={workdir}")
    proc = run_cli("train", f"--workdir={workdir}", "--steps=200", "--learning_rate=1e30",
                   check=False)
    line = error_line(proc)
    assert "loss became" in line and "ckpt-20" in line
    with open(workdir / "checkpoints" / "checkpoint") as f:
        assert 'model_checkpoint_path: "ckpt-20"' in f.read()


BAD_INPUT = [
    (["train", "--dataset=nope", "--workdir={tmp}/w"], "unknown dataset 'nope'; available:"),
    (["train", TOY, "--sigma_min=30", "--workdir={tmp}/w"], "must be larger than sigma_min"),
    (["train", TOY, "--model_options=width", "--workdir={tmp}/w"], "key=value"),
    (["train", TOY, "--model_options=widht=3", "--workdir={tmp}/w"], "rejected options"),
    (["train", TOY], "--workdir is required"),
    (["sample", "--workdir={tmp}/none", "--output={tmp}/s.npy"], "train there first"),
    (["sample", TOY, "--score=exact", "--output={tmp}/s.txt"], "--output must end in"),
    (["sample", TOY, "--score=exact", "--step_convention=paper", "--num_samples=0",
      "--output={tmp}/s.npy"], "--num_samples must be at least 1"),
    (["sample", "--dataset=toy", "--output={tmp}/s.npy"], "--workdir is required"),
    (["figure3", TOY, "--score=exact", "--output={tmp}/f.jpg"], "--output must end in .png"),
    (["sample", TOY, "--score=exact", "--checkpoint_step=10", "--output={tmp}/s.npy"],
     "--checkpoint_step picks a trained model's checkpoint; drop it with --score=exact"),
    (["sample", TOY, "--checkpoint_step=-1", "--output={tmp}/s.npy"], "--checkpoint_step"),
    (["launch"], "unknown command 'launch'"),
    (["bench", "--bench_rounds=0", "--output={tmp}/b.json"], "--bench_rounds"),
]


@pytest.fixture(scope="module")
def bad_input_runs(tmp_path_factory):
    """Each command of BAD_INPUT, all in one process, each with a folder of its own as {tmp}."""
    root = tmp_path_factory.mktemp("bad_input")
    for i in range(len(BAD_INPUT)):
        (root / str(i)).mkdir()
    return root, run_cli_each(*[[a.replace("{tmp}", str(root / str(i))) for a in args]
                                for i, (args, _) in enumerate(BAD_INPUT)])


@pytest.mark.parametrize("case", range(len(BAD_INPUT)), ids=[e for _, e in BAD_INPUT])
def test_bad_input_gives_one_line(bad_input_runs, case):
    root, runs = bad_input_runs
    assert BAD_INPUT[case][1] in error_line(runs[case])
    assert not (root / str(case) / "w").exists()  # Nothing written.


def test_resuming_with_other_noise_levels_is_refused(tmp_path):
    workdir = tmp_path / "run"
    run_cli("train", TOY, "--steps=10", "--log_every=10", f"--workdir={workdir}")
    proc = run_cli("train", f"--workdir={workdir}", "--sigma_min=0.5", check=False)
    assert "use a new --workdir" in error_line(proc)
    assert sorted(os.listdir(workdir / "checkpoints")) == [
        "checkpoint", "ckpt-10.data-00000-of-00001", "ckpt-10.index"]
