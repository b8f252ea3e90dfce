"""`tfncsn evaluate` end to end on digits with a tiny trained CondRefineNet, the held-out
loss in-process, the refusals without Inception weights, and (slow) the Inception path
with randomly initialised weights."""

import json

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from conftest import error_line, run_cli
from tfncsn import builders, config as run_config, training
from tfncsn.metrics import heldout

REPORT_KEYS = {"dataset", "model", "score", "num_samples", "seed", "sampler", "sigmas",
               "samples_file", "heldout_dsm", "offline", "neighbours", "skipped", "files",
               "timings_s"}


@pytest.fixture(autouse=True)
def no_inception_weights(tmp_path, monkeypatch):
    """No weights unless a test gives them: hides a Keras copy and the variable."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.delenv("TFNCSN_INCEPTION_WEIGHTS", raising=False)


# digits_run (conftest.py): a tiny CondRefineNet trained 60 steps on the 8x8 digits.


@pytest.fixture(scope="module")
def evaluated(digits_run, tmp_path_factory):
    """One evaluation with every default metric: (report dict, output dir, stdout, cache)."""
    out = tmp_path_factory.mktemp("eval")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KERAS_HOME", str(out / "keras_home"))
        mp.delenv("TFNCSN_INCEPTION_WEIGHTS", raising=False)
        proc = run_cli("evaluate", f"--workdir={digits_run}", "--num_samples=20",
                       "--steps_per_level=3", f"--cache_dir={out / 'cache'}",
                       f"--output={out / 'report' / 'eval.json'}")
    return json.loads((out / "report" / "eval.json").read_text()), out, proc.stdout


def test_evaluate_writes_the_json_markdown_and_figures(evaluated):
    report, out, stdout = evaluated
    assert REPORT_KEYS <= set(report), sorted(REPORT_KEYS - set(report))
    assert report["num_samples"] == 20 and report["score"] == "model at step 60"
    assert report["sampler"]["options"]["steps_per_level"] == 3  # The flag overrides the run's.
    files = report["files"]
    assert set(files) == {"samples", "states", "neighbours", "markdown"}
    for name in files.values():
        assert (out / "report" / name).is_file(), name
    markdown = (out / "report" / "eval.md").read_text()
    for heading in ("## Samples", "## Intermediate states", "## Offline metrics",
                    "## Held-out denoising", "## Nearest training images", "20 samples"):
        assert heading in markdown, heading
    for png in ("eval_samples.png", "eval_states.png", "eval_neighbours.png"):
        assert f"]({png})" in markdown
    # Neighbour figure: 8 rows of sample | gap | 5 neighbours, 8x8 images enlarged 4x.
    width, height = Image.open(out / "report" / "eval_neighbours.png").size
    assert (width, height) == (4 * (7 * 10 + 2), 4 * (8 * 10 + 2))
    assert "held-out DSM loss" in stdout and "offline (20 samples): FID" in stdout


def test_evaluate_offline_metrics_and_neighbours(evaluated):
    report, out, stdout = evaluated
    offline = report["offline"]
    assert offline["classifier"]["test_accuracy"] > 0.9 and offline["classifier"]["trained_now"]
    assert offline["classifier"]["path"].startswith(str(out / "cache"))
    assert offline["reference"] == {"split": "train", "num_examples": 1437}
    for section in ("samples", "real_test_images"):
        metrics = offline[section]
        assert np.isfinite(metrics["fid"]) and metrics["fid"] >= 0
        assert 0 <= metrics["precision"] <= 1 and 0 <= metrics["recall"] <= 1
        assert metrics["kid"]["subset_size"] == 20
    assert offline["real_test_images"]["num_examples"] == 20
    hist = offline["class_histogram"]
    assert sum(hist["counts"]) == 20 and len(hist["fractions"]) == 10
    assert sum(hist["reference_fractions"]) == pytest.approx(1.0)
    assert 0 <= hist["total_variation"] <= 1
    assert f"class mix off by {hist['total_variation']:.3f}" in stdout
    assert (f"Class mix: total variation distance {hist['total_variation']:.3f}"
            in (out / "report" / "eval.md").read_text())
    nb = report["neighbours"]
    assert np.array(nb["train_indices"]).shape == (8, 5)
    assert np.all(np.diff(np.array(nb["distances"]), axis=1) >= 0)
    assert "inception_weights=PATH" in report["skipped"]["inception"]


def test_heldout_loss_is_deterministic_and_lower_after_training(evaluated, digits_run):
    """The CLI's number is reproduced in-process (other batch size); an untrained network
    with the same architecture scores worse."""
    report = evaluated[0]["heldout_dsm"]
    assert report["num_examples"] == 360 and len(report["per_level"]) == 10
    config = run_config.load(str(digits_run))
    dataset = builders.make_dataset(config.dataset, config.dataset_options)
    sigmas = builders.make_sigmas(config.sigmas)
    x = heldout.heldout_examples(dataset, seed=0)  # Dequantised as the CLI does.
    assert "dequantised as in training" in report["examples"]

    def score_fn(trained):
        model = builders.make_model(config.model, config.model_options, dataset.element_shape,
                                    sigmas.numpy())
        if trained:
            training.restore_model(model, str(digits_run))
        return lambda x, level: model(x, level, training=False)

    trained = score_fn(True)
    first = heldout.heldout_dsm_loss(trained, x, sigmas, seed=0, batch_size=128)
    again = heldout.heldout_dsm_loss(trained, x, sigmas, seed=0, batch_size=360)
    assert first.total == again.total or abs(first.total - again.total) < 1e-5 * first.total
    np.testing.assert_allclose(first.per_level, report["per_level"], rtol=1e-4)
    untrained = heldout.heldout_dsm_loss(score_fn(False), x, sigmas, seed=0)
    print(f"held-out DSM: trained {first.total:.3f}, untrained {untrained.total:.3f}")
    assert first.total < 0.95 * untrained.total


def test_heldout_examples_are_dequantised_like_training_and_fixed_by_the_seed():
    """Issue 10.2: the held-out loss scores test images as training feeds images, not raw
    pixels, with noise that depends on the seed alone (not on TensorFlow's global seed)."""
    dataset = builders.make_dataset("digits", {})
    pixels = np.concatenate(list(dataset.load("test").batch(512).as_numpy_iterator()))
    k = np.round(pixels * 16)
    x = heldout.heldout_examples(dataset, seed=3)
    assert x.shape == pixels.shape == (360, 8, 8, 1)
    assert np.all((x * 17 >= k - 1e-4) & (x * 17 <= k + 1 + 1e-4))  # Own bin: not flipped.
    assert abs(np.mean(x * 17 - k) - 0.5) < 0.02
    tf.random.set_seed(1234)  # Training sets the global seed; the examples must not move.
    np.testing.assert_array_equal(heldout.heldout_examples(dataset, seed=3), x)
    assert not np.array_equal(heldout.heldout_examples(dataset, seed=4), x)
    np.testing.assert_array_equal(heldout.heldout_examples(dataset, limit=5, seed=3), x[:5])
    off = builders.make_dataset("digits", {"dequantize": False})
    np.testing.assert_array_equal(heldout.heldout_examples(off, seed=3), pixels)
    assert "not dequantised" in heldout.examples_note(off)


def test_heldout_only_needs_no_samples_and_repeats_exactly(evaluated, digits_run, tmp_path):
    """Comparing models by held-out loss draws nothing; a new process gets the same number."""
    proc = run_cli("evaluate", f"--workdir={digits_run}", "--eval_metrics=heldout",
                   "--num_samples=1", f"--output={tmp_path / 'h.json'}")
    report = json.loads((tmp_path / "h.json").read_text())
    assert report["num_samples"] == 0 and set(report["files"]) == {"markdown"}
    assert report["heldout_dsm"] == evaluated[0]["heldout_dsm"]
    assert "sampling" not in report["timings_s"] and "held-out DSM loss" in proc.stdout
    assert "No samples" in (tmp_path / "h.md").read_text()


def test_evaluate_given_samples_reuses_the_cached_classifier(evaluated, digits_run, tmp_path):
    """Real test images as 'samples' score like the real baseline and far better than noise."""
    report, out, _ = evaluated
    dataset = builders.make_dataset("digits", {})
    real = np.concatenate(list(dataset.load("test").batch(512).as_numpy_iterator()))[:100]
    np.save(tmp_path / "real.npy", real)
    np.save(tmp_path / "noise.npy", np.random.default_rng(0).uniform(size=real.shape))
    results = {}
    for name in ("real", "noise"):
        run_cli("evaluate", f"--workdir={digits_run}", f"--samples={tmp_path / name}.npy",
                "--eval_metrics=offline", f"--cache_dir={out / 'cache'}",
                f"--output={tmp_path / name}.json")
        results[name] = json.loads((tmp_path / f"{name}.json").read_text())
    real_report = results["real"]
    assert real_report["num_samples"] == 100 and real_report["samples_file"].endswith("real.npy")
    assert not real_report["offline"]["classifier"]["trained_now"]
    assert real_report["offline"]["classifier"]["path"] == report["offline"]["classifier"]["path"]
    assert "heldout_dsm" not in real_report and "neighbours" not in real_report
    assert set(real_report["files"]) == {"samples", "markdown"}  # A .npy has no states.
    fid_real = real_report["offline"]["samples"]["fid"]
    assert fid_real < 0.2 * results["noise"]["offline"]["samples"]["fid"]
    assert real_report["offline"]["samples"]["precision"] > 0.8


def test_evaluate_refuses_inception_without_weights(tmp_path):
    output = f"--output={tmp_path / 'r.json'}"
    line = error_line(run_cli("evaluate", "--workdir=unused", "--eval_metrics=inception",
                              output, check=False))
    assert "--inception_weights=PATH" in line and "TFNCSN_INCEPTION_WEIGHTS" in line
    assert "inception_v3_weights_tf_dim_ordering_tf_kernels.h5" in line
    line = error_line(run_cli("evaluate", "--workdir=unused", "--reference_stats=stats.npz",
                              output, check=False))
    assert "--inception_weights=PATH" in line
    line = error_line(run_cli("evaluate", "--workdir=unused", "--eval_metrics=fid", output,
                              check=False))
    assert "unknown --eval_metrics fid" in line
    line = error_line(run_cli("evaluate", "--workdir=unused", "--num_samples=5", output,
                              check=False))
    assert "--num_samples must be at least 10, got 5" in line
    assert not (tmp_path / "r.json").exists()


def test_evaluate_refuses_a_file_that_is_not_inception_weights(digits_run, tmp_path):
    bad = tmp_path / "weights.h5"
    bad.write_text("not HDF5")
    line = error_line(run_cli("evaluate", f"--workdir={digits_run}", "--eval_metrics=inception",
                              f"--inception_weights={bad}", f"--output={tmp_path / 'r.json'}",
                              check=False))
    assert "does not hold InceptionV3 weights" in line and str(bad) in line


def test_evaluate_a_toy_run_gives_the_heldout_loss_and_a_scatter(tmp_path):
    """2-D data: only the held-out loss applies; the exact score needs no training."""
    proc = run_cli("evaluate", "--flagfile=configs/toy.cfg", "--score=exact",
                   "--num_samples=200", "--steps_per_level=10", "--heldout_examples=500",
                   f"--output={tmp_path / 'toy.json'}")
    report = json.loads((tmp_path / "toy.json").read_text())
    assert set(report["skipped"]) == {"offline", "inception", "neighbours"}
    assert report["heldout_dsm"]["num_examples"] == 500
    assert "mode weights" in report["summary"]
    assert Image.open(tmp_path / "toy_samples.png").size == (320, 340)
    assert "offline: skipped: needs an image dataset" in proc.stdout


@pytest.mark.slow
def test_inception_metrics_with_random_weights(digits_run, tmp_path):
    """The whole Inception path with randomly initialised weights from a .weights.h5 file."""
    import keras
    weights = tmp_path / "random_inception.weights.h5"
    keras.applications.InceptionV3(weights=None, include_top=True).save_weights(str(weights))
    common = [f"--workdir={digits_run}", "--eval_metrics=inception", "--num_samples=12",
              "--steps_per_level=1", "--reference_examples=30", f"--cache_dir={tmp_path / 'c'}",
              f"--inception_weights={weights}"]
    run_cli("evaluate", *common, f"--output={tmp_path / 'a.json'}")
    first = json.loads((tmp_path / "a.json").read_text())["inception"]
    assert first["num_samples"] == 12 and first["inception_score"]["splits"] == 10
    assert np.isfinite(first["fid"]) and 1.0 - 1e-6 <= first["inception_score"]["mean"] <= 1000
    reference = first["reference"]
    assert reference["num_examples"] == 30 and not reference["from_cache"]
    with np.load(reference["stats"]) as stats:
        assert stats["mu"].shape == (2048,) and stats["sigma"].shape == (2048, 2048)
    run_cli("evaluate", *common, f"--output={tmp_path / 'b.json'}")  # Statistics from the cache.
    second = json.loads((tmp_path / "b.json").read_text())["inception"]
    assert second["reference"]["from_cache"] and second["fid"] == pytest.approx(first["fid"])
    run_cli("evaluate", *common, f"--reference_stats={reference['stats']}",
            f"--output={tmp_path / 'c.json'}")
    given = json.loads((tmp_path / "c.json").read_text())["inception"]
    assert given["reference"]["given"] and given["fid"] == pytest.approx(first["fid"])
