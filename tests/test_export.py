"""`tfncsn export` and export/onnx_sample.py: the exported contract of docs/export.md.

Two runs are trained once per module: the 2-D toy (MLP, 8000 steps, good enough
for the paper's mode weights) and a tiny CondRefineNetDilated (ngf 8) on the
8x8 digits, trained for a few steps (its scores only need to be computed
identically by Keras, the SavedModel and ONNX Runtime).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import tensorflow as tf
from PIL import Image

from conftest import REPO, error_line, run_cli
from tfncsn import builders, config as run_config, registry, training
from tfncsn.export import ReplayNoise, Tolerance, verify
from tfncsn.gaussian_mixture import paper_toy
from tfncsn.inpainting import inpaint as tf_inpaint
from tfncsn.langevin import uniform_prior

SCRIPT = REPO / "export" / "onnx_sample.py"
TOLERANCE = Tolerance()  # The documented default: atol 1e-4, rtol 1e-4.
TOY_STEPS = 8000


def load_onnx_sample():
    """export/onnx_sample.py as a module (it is a standalone script, not a package)."""
    spec = importlib.util.spec_from_file_location("onnx_sample", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


onnx_sample = load_onnx_sample()


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy")
    run_cli("train", "--flagfile=configs/toy.cfg", f"--steps={TOY_STEPS}", "--log_every=1000",
            f"--workdir={root / 'run'}")
    proc = run_cli("export", f"--workdir={root / 'run'}", f"--output={root / 'export'}")
    return root / "run", root / "export", proc.stdout


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """Reference convention and the denoising step on, so both are exercised."""
    root = tmp_path_factory.mktemp("digits")
    run_cli("train", "--dataset=digits", "--model=refinenet", "--model_options=ngf=8",
            "--batch_size=8", "--steps=3", "--log_every=1", "--step_convention=reference",
            "--steps_per_level=4", "--denoise", f"--workdir={root / 'run'}")
    proc = run_cli("export", f"--workdir={root / 'run'}", f"--output={root / 'export'}")
    return root / "run", root / "export", proc.stdout


def keras_model(workdir):
    config = run_config.load(str(workdir))
    dataset = builders.make_dataset(config.dataset, config.dataset_options)
    sigmas = builders.make_sigmas(config.sigmas)
    model = builders.make_model(config.model, config.model_options, dataset.element_shape,
                                sigmas.numpy())
    training.restore_model(model, str(workdir))
    return model, config, sigmas


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


def onnx_sample_cli(tmp_path, *args, check=True):
    proc = subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], text=True,
                          capture_output=True, env=blocked_env(tmp_path), timeout=600)
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def one_line_error(proc, prefix="onnx_sample"):
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith(prefix)]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def assert_close(name, got, expected):
    comparison = verify.compare(name, got, expected, TOLERANCE)
    print(comparison.describe())
    assert comparison.passed, comparison.describe()


def big_mode_weight(samples):
    return paper_toy().mode_weights(samples)[1]


# ----------------------------------------------------------------------------- the export


def test_export_writes_the_contract(toy):
    workdir, export, stdout = toy
    assert sorted(os.listdir(export)) == ["golden.npz", "metadata.json", "model.onnx",
                                          "sampler.onnx", "saved_model"]
    assert not os.path.exists(f"{export}.partial")
    meta = json.loads((export / "metadata.json").read_text())
    config = run_config.load(str(workdir))
    assert meta["format"] == "tfncsn.score/1" and meta["training_step"] == TOY_STEPS
    assert meta["element_shape"] == [2] and meta["prior_range"] == [-8.0, 8.0]
    assert (meta["eps"], meta["steps_per_level"], meta["step_convention"], meta["denoise"],
            meta["sampler"]) == (0.1, 100, "paper", False, "annealed_langevin")
    np.testing.assert_array_equal(np.float32(meta["sigmas"]),
                                  builders.make_sigmas(config.sigmas).numpy())
    for name in ("model.onnx", "sampler.onnx"):
        model = onnx.load(str(export / name))
        props = {p.key: json.loads(p.value) for p in model.metadata_props}
        assert props.pop("graph") == name.split(".")[0].replace("model", "score")
        assert props == meta
    for line in ("SavedModel vs Keras", "ONNX vs Keras", "ONNX sampler graph vs Keras"):
        assert line in stdout


@pytest.mark.parametrize("run", ["toy", "digits"])
def test_keras_savedmodel_and_onnx_agree(run, request, tmp_path):
    workdir, export, _ = request.getfixturevalue(run)
    model, _, _ = keras_model(workdir)
    golden = np.load(export / "golden.npz")
    x, level = golden["x"], golden["level"]
    assert_close(f"{run} golden score vs Keras", golden["score"],
                 model(x, level, training=False).numpy())
    # Other inputs and another batch size than the golden ones (the batch dimension is free).
    meta = json.loads((export / "metadata.json").read_text())
    gen = np.random.default_rng(5)
    x3 = gen.uniform(*meta["prior_range"], size=(3, *meta["element_shape"])).astype(np.float32)
    level3 = np.array([0, len(meta["sigmas"]) // 2, len(meta["sigmas"]) - 1], np.int32)
    saved = tf.saved_model.load(str(export / "saved_model"))
    session = ort.InferenceSession(str(export / "model.onnx"), providers=["CPUExecutionProvider"])
    for xs, levels in ((x, level), (x3, level3)):
        keras_score = model(xs, levels, training=False).numpy()
        assert_close(f"{run} SavedModel vs Keras", saved.signatures["score"](
            x=tf.constant(xs), level=tf.constant(levels))["score"].numpy(), keras_score)
        assert_close(f"{run} ONNX vs Keras",
                     session.run(["score"], {"x": xs, "level": levels})[0], keras_score)
    assert "golden check passed" in onnx_sample_cli(
        tmp_path, f"--model={export / 'model.onnx'}", "--check").stdout


def test_savedmodel_sample_signature(toy):
    """In-graph Algorithm 1: the paper's mode weights, a function of the seed, and the same
    samples as `tfncsn sample --seed` draws eagerly."""
    workdir, export, _ = toy
    sample = tf.saved_model.load(str(export / "saved_model")).signatures["sample"]
    draw = lambda seed, n: sample(seed=tf.constant(seed, tf.int64),  # noqa: E731
                                  num_samples=tf.constant(n))["samples"].numpy()
    samples = draw(0, 1280)
    assert samples.shape == (1280, 2)
    assert abs(big_mode_weight(samples) - 0.80) <= 0.05, big_mode_weight(samples)
    np.testing.assert_array_equal(draw(3, 16), draw(3, 16))
    assert not np.array_equal(draw(3, 16), draw(4, 16))
    # The eager TF sampler from the same Philox generator.
    model, config, sigmas = keras_model(workdir)
    rng = tf.random.Generator.from_seed(0)
    x = uniform_prior(rng, [1280, 2], -8.0, 8.0)
    s = config.sampler
    eager = registry.samplers.get(s.name)(
        tf.function(lambda x, level: model(x, level, training=False)), x, sigmas, rng=rng,
        eps=s.eps, steps_per_level=s.steps_per_level, convention=s.convention).x.numpy()
    print("SavedModel sample vs eager sampler: max abs diff", np.abs(samples - eager).max())
    np.testing.assert_allclose(samples, eager, atol=1e-3)


SAVED_MODEL_CHILD = """
import sys
import numpy as np
import tensorflow as tf
loaded = tf.saved_model.load(sys.argv[1])
images = loaded.signatures["sample"](seed=tf.constant(1, tf.int64),
                                     num_samples=tf.constant(2))["samples"].numpy()
golden = np.load(sys.argv[2])
score = loaded.signatures["score"](x=tf.constant(golden["x"]),
                                   level=tf.constant(golden["level"]))["score"].numpy()
print(images.shape, bool(np.all(np.isfinite(images))),
      bool(np.allclose(score, golden["score"], atol=float(sys.argv[3]), rtol=float(sys.argv[4]))))
"""


def test_savedmodel_needs_tensorflow_only(digits, tmp_path):
    """The SavedModel loads and samples images where keras and tfncsn cannot be imported."""
    _, export, _ = digits
    proc = subprocess.run([sys.executable, "-c", SAVED_MODEL_CHILD, str(export / "saved_model"),
                           str(export / "golden.npz"), str(TOLERANCE.atol), str(TOLERANCE.rtol)],
                          capture_output=True, text=True,
                          env=blocked_env(tmp_path, ("keras", "tfncsn", "tfncsn_plugins")),
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "(2, 8, 8, 1) True True", proc.stdout


# ----------------------------------------------------------------------------- onnx_sample.py


def test_onnx_sampler_runs_without_tensorflow_and_gets_the_mode_weights(toy, tmp_path):
    _, export, _ = toy
    blocked = subprocess.run([sys.executable, "-c", "import tensorflow"], capture_output=True,
                             text=True, env=blocked_env(tmp_path))
    assert blocked.returncode != 0 and "is blocked" in blocked.stderr  # The guard works.
    npy, png = tmp_path / "samples.npy", tmp_path / "samples.png"
    proc = onnx_sample_cli(tmp_path, f"--model={export / 'model.onnx'}", "--num_samples=1280",
                           f"--output={npy}", "--seed=0", "--batch_size=512")
    assert "onnx_sample: 100% (3000/3000 steps)" in proc.stderr  # 3 batches x 1000 steps.
    samples = np.load(npy)
    assert samples.shape == (1280, 2) and samples.dtype == np.float32
    assert abs(big_mode_weight(samples) - 0.80) <= 0.05, big_mode_weight(samples)
    toy_mixture = paper_toy()
    modes = toy_mixture.nearest_component(samples)
    for k, mean in enumerate(toy_mixture.means):
        assert np.all(np.abs(samples[modes == k].mean(axis=0) - mean) < 0.5)
    onnx_sample_cli(tmp_path, f"--model={export / 'model.onnx'}", "--num_samples=200",
                    f"--output={png}", "--quiet")
    image = np.asarray(Image.open(png))
    assert image.shape == (320, 320) and (image < 100).sum() > 200  # Dots were drawn.


def test_sampler_graph_equals_the_step_by_step_sampler(toy, tmp_path):
    """sampler.onnx (one session.run, ONNX Loop) vs model.onnx step by step, same seed."""
    _, export, _ = toy
    outputs = []
    for name in ("model.onnx", "sampler.onnx"):
        output = tmp_path / f"{name}.npy"
        onnx_sample_cli(tmp_path, f"--model={export / name}", "--num_samples=300",
                        "--seed=7", f"--output={output}", "--quiet")
        outputs.append(np.load(output))
    print("sampler.onnx vs model.onnx: max abs diff", np.abs(outputs[0] - outputs[1]).max())
    assert_close("sampler.onnx vs model.onnx", outputs[1], outputs[0])


@pytest.mark.parametrize("convention, denoise", [("paper", False), ("reference", True)])
def test_tf_and_onnx_samplers_follow_the_same_trajectory(toy, convention, denoise):
    workdir, export, _ = toy
    model, config, sigmas = keras_model(workdir)
    exported = onnx_sample.ExportedModel(str(export / "model.onnx"))
    meta = {**exported.meta, "step_convention": convention, "denoise": denoise}
    steps_per_level, shape = 3, (64, 2)
    gen = np.random.default_rng(11)
    x0 = gen.uniform(-8, 8, size=shape).astype(np.float32)
    draws = list(gen.standard_normal((10 * steps_per_level, *shape)).astype(np.float32))
    tf_states, onnx_states = [], []
    tf_out = registry.samplers.get("annealed_langevin")(
        lambda x, level: model(x, level, training=False), x0, sigmas, rng=ReplayNoise(draws),
        eps=config.sampler.eps, steps_per_level=steps_per_level, convention=convention,
        denoise=denoise, callback=lambda info: tf_states.append(info["x"].numpy()))
    onnx_out = onnx_sample.annealed_langevin(
        exported.score, x0, meta, ReplayNoise(draws), steps_per_level=steps_per_level,
        callback=lambda info: onnx_states.append(info["x"]))
    assert len(tf_states) == len(onnx_states) == 30
    for step, (a, b) in enumerate(zip(onnx_states, tf_states)):
        assert verify.compare("", a, b, TOLERANCE).passed, (step, np.abs(a - b).max())
    assert_close(f"ONNX vs TF sampler ({convention}, denoise={denoise}), 30 steps",
                 onnx_out, tf_out.x.numpy())


def test_tf_and_onnx_inpainting_follow_the_same_trajectory(digits):
    workdir, export, _ = digits
    model, config, sigmas = keras_model(workdir)
    exported = onnx_sample.ExportedModel(str(export / "model.onnx"))
    gen = np.random.default_rng(3)
    y = gen.uniform(size=(2, 8, 8, 1)).astype(np.float32)
    mask = onnx_sample.make_mask("center", (8, 8, 1))
    x0 = gen.uniform(size=y.shape).astype(np.float32)
    steps_per_level = 2
    draws = list(gen.standard_normal((10 * (steps_per_level + 1), *y.shape)).astype(np.float32))
    tf_out = tf_inpaint(lambda x, level: model(x, level, training=False), y, mask, sigmas, x0,
                        rng=ReplayNoise(draws), eps=config.sampler.eps,
                        steps_per_level=steps_per_level, convention=config.sampler.convention)
    onnx_out = onnx_sample.inpaint(exported.score, y, mask, x0, exported.meta,
                                   ReplayNoise(draws), steps_per_level=steps_per_level)
    assert_close("ONNX vs TF inpainting, 20 steps", onnx_out, tf_out.x.numpy())
    known = mask.astype(bool)
    last_draw = draws[-steps_per_level - 1]  # y~ of the last level.
    np.testing.assert_allclose(onnx_out[:, known], (y + sigmas[-1].numpy() * last_draw)[:, known],
                               rtol=1e-6)


def test_image_sampling_and_inpainting_without_tensorflow(digits, tmp_path):
    _, export, _ = digits
    model = export / "model.onnx"
    grid = tmp_path / "grid.png"
    onnx_sample_cli(tmp_path, f"--model={model}", "--num_samples=4", "--steps_per_level=2",
                    f"--output={grid}", "--quiet")
    assert Image.open(grid).size == (2 + 2 * 34, 2 + 2 * 34)  # 2x2 grid of 8x8 images x 4.
    images = np.random.default_rng(0).uniform(size=(3, 8, 8, 1)).astype(np.float32)
    np.save(tmp_path / "images.npy", images)
    output = tmp_path / "inpainted.npy"
    onnx_sample_cli(tmp_path, f"--model={model}", f"--images={tmp_path / 'images.npy'}",
                    "--mask=left_half", "--num_completions=2", "--steps_per_level=2",
                    f"--output={output}", "--quiet")
    completions = np.load(output)
    assert completions.shape == (3, 2, 8, 8, 1)
    known = np.repeat(images[:, None], 2, axis=1)[..., :, 4:, :]
    np.testing.assert_allclose(completions[..., :, 4:, :], known, atol=0.06)  # + sigma_L z.
    png = tmp_path / "inpainted.png"
    onnx_sample_cli(tmp_path, f"--model={model}", f"--images={tmp_path / 'images.npy'}",
                    "--mask=center", "--num_completions=2", "--steps_per_level=1",
                    f"--output={png}", "--quiet")
    assert Image.open(png).size == (2 + 4 * 34, 2 + 3 * 34)  # Rows: image | masked | 2 done.


def test_digits_sampler_graph_with_denoise_equals_the_step_by_step_sampler(digits):
    _, export, _ = digits
    results = []
    for name in ("model.onnx", "sampler.onnx"):
        model = onnx_sample.ExportedModel(str(export / name))
        results.append(onnx_sample.sample(model, 3, onnx_sample.NumpyNoise(2)))
    assert_close("digits sampler.onnx vs model.onnx (4 steps x 10 levels + denoise)",
                 results[1], results[0])


def test_sampler_graph_for_plain_langevin_with_denoise(toy, tmp_path):
    """onnx_loop.build for the `langevin` sampler (one level, fixed step) and the Tweedie step."""
    from tfncsn.export import onnx_loop, onnx_score
    _, export, _ = toy
    meta = {**json.loads((export / "metadata.json").read_text()), "sampler": "langevin",
            "steps_per_level": 7, "step_convention": "reference", "denoise": True}
    graph = onnx_loop.build(onnx.load(str(export / "model.onnx")), meta)
    onnx_score.attach_metadata(graph, {**meta, "graph": "sampler"})
    onnx.save(graph, str(tmp_path / "langevin.onnx"))
    results = []
    for path in (export / "model.onnx", tmp_path / "langevin.onnx"):
        model = onnx_sample.ExportedModel(str(path))
        model.meta.update(meta)  # model.onnx: the same settings as the graph.
        results.append(onnx_sample.sample(model, 50, onnx_sample.NumpyNoise(4)))
    assert_close("langevin sampler graph vs step by step", results[1], results[0])
    with pytest.raises(onnx_loop.UnsupportedModelError, match="only annealed_langevin"):
        onnx_loop.build(onnx.load(str(export / "model.onnx")), {**meta, "sampler": "ode"})


# ----------------------------------------------------------------------------- bad input


@pytest.fixture(scope="module")
def bad_files(toy, tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    (root / "corrupt.onnx").write_bytes(b"\x08\x07not really an onnx model" * 10)
    stripped = onnx.load(str(toy[1] / "model.onnx"))
    del stripped.metadata_props[:]
    onnx.save(stripped, str(root / "no_metadata.onnx"))
    np.save(root / "small_images.npy", np.zeros((2, 4, 4, 1), np.float32))
    np.save(root / "images.npy", np.zeros((2, 8, 8, 1), np.float32))
    np.save(root / "mask.npy", np.ones((5, 5), np.float32))
    os.makedirs(root / "golden")
    for name in ("model.onnx", "metadata.json"):
        (root / "golden" / name).write_bytes((toy[1] / name).read_bytes())
    golden = dict(np.load(toy[1] / "golden.npz"))
    golden["score"] = golden["score"] + 0.01
    np.savez(root / "golden" / "golden.npz", **golden)
    return root


@pytest.mark.parametrize("args, expected", [
    (["--model={bad}/missing.onnx", "--output={tmp}/s.npy"], "does not exist"),
    (["--model={bad}/corrupt.onnx", "--output={tmp}/s.npy"], "cannot load"),
    (["--model={bad}/no_metadata.onnx", "--output={tmp}/s.npy"], "lacks the tfncsn metadata"),
    (["--model={toy}/model.onnx", "--output={tmp}/s.txt"], "--output must end in .npy or .png"),
    (["--model={toy}/model.onnx", "--output={tmp}/s.npy", "--num_samples=0"], "at least 1"),
    (["--model={toy}/model.onnx", "--output={tmp}/s.npy", "--mask=left_half",
      "--images={bad}/images.npy"], "needs images"),
    (["--model={digits}/model.onnx", "--output={tmp}/s.npy", "--mask=left_half",
      "--images={bad}/small_images.npy"], "needs [M, 8, 8, 1]"),
    (["--model={digits}/model.onnx", "--output={tmp}/s.npy", "--mask={bad}/mask.npy",
      "--images={bad}/images.npy"], "--mask"),
    (["--model={digits}/sampler.onnx", "--output={tmp}/s.npy", "--mask=center",
      "--images={bad}/images.npy"], "inpainting needs model.onnx"),
    (["--model={bad}/golden/model.onnx", "--check"], "golden check failed: max abs diff"),
    (["--model={toy}/model.onnx", "--output={tmp}/s.npy", "--seed=x"], "invalid int value"),
])
def test_onnx_sample_bad_input_gives_one_line(toy, digits, bad_files, tmp_path, args, expected):
    paths = {"{toy}": str(toy[1]), "{digits}": str(digits[1]), "{bad}": str(bad_files),
             "{tmp}": str(tmp_path)}
    for key, value in paths.items():
        args = [a.replace(key, value) for a in args]
    line = one_line_error(onnx_sample_cli(tmp_path, *args, check=False))
    assert expected in line, line


def test_export_bad_input_gives_one_line(toy, tmp_path):
    workdir, _, _ = toy
    untrained = tmp_path / "untrained"
    run_config.save(run_config.load(str(workdir)), str(untrained))  # A config, no checkpoint.
    assert "no checkpoint" in error_line(run_cli(
        "export", f"--workdir={untrained}", f"--output={tmp_path / 'e1'}", check=False))
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("x")
    assert "already exists" in error_line(run_cli(
        "export", f"--workdir={workdir}", f"--output={tmp_path / 'full'}", check=False))


def test_export_verification_fails_loudly_beyond_the_tolerance(toy, tmp_path):
    """With a zero tolerance the few-ulp difference of ONNX Runtime's float32 kernels fails."""
    workdir, _, _ = toy
    output = tmp_path / "strict"
    line = error_line(run_cli("export", f"--workdir={workdir}", f"--output={output}",
                              "--verify_atol=0", "--verify_rtol=0", check=False))
    assert "verification failed: ONNX vs Keras: max abs diff" in line and "max rel diff" in line
    assert not output.exists() and (tmp_path / "strict.partial" / "model.onnx").exists()


def test_onnx_sample_requires_the_keys_the_exporter_promises():
    from tfncsn.export import metadata
    assert onnx_sample.REQUIRED_KEYS == metadata.REQUIRED_KEYS
    assert onnx_sample.FORMAT == metadata.FORMAT


def test_compare_flags_shapes_and_non_finite_values():
    ok = verify.compare("a", np.ones(3), np.ones(3) + 5e-5, TOLERANCE)
    assert ok.passed and ok.max_abs == pytest.approx(5e-5)
    assert not verify.compare("b", np.ones(3), np.ones(3) + 1e-3, TOLERANCE).passed
    assert not verify.compare("c", np.ones(3), np.ones(4), TOLERANCE).passed
    assert not verify.compare("d", np.array([np.nan]), np.array([1.0]), TOLERANCE).passed
    with pytest.raises(verify.VerificationError, match="b: max abs diff 0.001"):
        verify.check([ok, verify.compare("b", np.ones(3), np.ones(3) + 1e-3, TOLERANCE)],
                     TOLERANCE)
