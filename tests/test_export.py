"""`tfncsn export` and tfncsn_runtime: the exported contract of docs/export.md.

Two runs: the 2-D toy (MLP, 8000 steps, good enough for the paper's mode weights),
trained once per module, and conftest.py's tiny CondRefineNetDilated (ngf 8) on the
8x8 digits (its scores only need to be computed identically by Keras, the
SavedModel and ONNX Runtime).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import tensorflow as tf
from PIL import Image

import tfncsn_runtime
from conftest import error_line, run_cli
from export_helpers import blocked_env, check_float16_network, run_runtime, tf_trajectory
from tfncsn import builders, config as run_config, training
from tfncsn.config import SamplerConfig
from tfncsn.sampling.conditioning import Inpainting
from tfncsn.sampling.score_source import ScoreSource
from tfncsn_export import Tolerance, exporter, verify
from tfncsn.gaussian_mixture import paper_toy
from tfncsn_runtime import masks

TOLERANCE = Tolerance()  # The documented default: atol 1e-4, rtol 1e-4.
TOY_STEPS = 8000


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy")
    run_cli("train", "--flagfile=configs/toy.cfg", f"--steps={TOY_STEPS}", "--log_every=1000",
            f"--workdir={root / 'run'}")
    proc = run_cli("export", f"--workdir={root / 'run'}", f"--output={root / 'export'}")
    return root / "run", root / "export", proc.stdout


@pytest.fixture(scope="module")
def digits(digits_run, tmp_path_factory):
    """conftest.py's tiny CondRefineNet (reference convention) exported with 4 steps per
    level, the denoising step and the float16 network on, so all are exercised."""
    export = tmp_path_factory.mktemp("digits") / "export"
    proc = run_cli("export", f"--workdir={digits_run}", f"--output={export}",
                   "--steps_per_level=4", "--denoise", "--export_float16")
    return digits_run, export, proc.stdout


def export_run(workdir, output, *flags):
    return run_cli("export", f"--workdir={workdir}", f"--output={output}", *flags).stdout


@pytest.fixture(scope="module")
def toy_variants(toy, tmp_path_factory):
    """The toy run exported with each built-in sampler, short settings for trajectories."""
    from conftest import run_cli_commands
    root = tmp_path_factory.mktemp("toy_variants")
    workdir = toy[0]
    variants = {
        "annealed_paper": ["--steps_per_level=3", *(f"--extra_samplers={e}" for e in EXTRA)],
        "annealed_reference_denoise": ["--steps_per_level=3", "--step_convention=reference",
                                       "--denoise"],
        "langevin": ["--sampler=langevin", "--steps_per_level=7", "--denoise"],
        "pc": ["--sampler=pc", "--sampler_options=corrector_steps=2"],
        "ode": ["--sampler=ode"],
        "ode_euler": ["--sampler=ode", '--sampler_options=solver="euler"'],
    }
    run_cli_commands(*[["export", f"--workdir={workdir}", f"--output={root / name}", *flags]
                       for name, flags in variants.items()])  # One process: TF starts once.
    return root


# Extra samplers of the "annealed_paper" variant, and the programs they make: ancestral
# sampling on the 10 levels (9 steps and the denoising step: 10 score evaluations) and pc with
# a stronger corrector (9 steps of 2 evaluations, and denoising: 19).
EXTRA = ("ancestral", "pc:snr=0.2,corrector_steps=1")
EXTRA_PROGRAMS = {"sample_ancestral_10": ("ancestral", 9), "sample_pc_19": ("pc", 9)}


def keras_model(workdir):
    config = run_config.load(str(workdir))
    dataset = builders.make_dataset(config.dataset, config.dataset_options)
    sigmas = builders.make_sigmas(config.sigmas)
    model = builders.make_model(config.model, config.model_options, dataset.element_shape,
                                sigmas.numpy())
    training.restore_model(model, str(workdir))
    return model, config, sigmas


def tf_program(workdir, export, name="sample"):
    """The TensorFlow program of the export's sample program `name` (its metadata's sampler),
    and its score."""
    model, config, sigmas = keras_model(workdir)
    meta = json.loads((export / "metadata.json").read_text())
    dataset = builders.make_dataset(config.dataset, config.dataset_options)
    source = ScoreSource.for_model(config, dataset, sigmas, model, "test")
    sampler = meta["programs"][name]["sampler"]
    program = source.program(SamplerConfig(sampler["name"], sampler["options"]))
    return program, source.score_for(program), meta


def runtime_cli(tmp_path, *args, check=True):
    proc = run_runtime(tmp_path, *args)
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

PROGRAM_FILES = ["inpaint_step.onnx", "sample_step.onnx"]


def test_export_writes_the_contract(toy):
    workdir, export, stdout = toy
    assert sorted(os.listdir(export)) == sorted(
        ["golden", "golden.npz", "metadata.json", "model.onnx", "saved_model", *PROGRAM_FILES,
         "inpaint.program.txt", "sample.program.txt"])
    assert not os.path.exists(f"{export}.partial")
    meta = json.loads((export / "metadata.json").read_text())
    config = run_config.load(str(workdir))
    assert meta["format"] == "tfncsn.score/2" and meta["training_step"] == TOY_STEPS
    assert meta["element_shape"] == [2] and meta["prior_range"] == [-8.0, 8.0]
    assert meta["sampler"] == {"name": "annealed_langevin", "options": {
        "eps": 0.1, "steps_per_level": 100, "step_convention": "paper", "denoise": False}}
    sample = meta["programs"]["sample"]
    assert (sample["step"], sample["finish"], sample["num_steps"]) == ("sample_step.onnx", None,
                                                                      1000)
    assert sample["sampler"] == meta["sampler"]  # Every sample program names its sampler.
    assert sample["state"] == [{"name": "x", "per": "element"}]
    assert sample["noise"] == [{"name": "z", "input": "noise_z", "distribution": "normal",
                                "per": "element", "every": 1}]
    assert sample["prior"] == {"kind": "uniform", "low": -8.0, "high": 8.0}
    inpaint = meta["programs"]["inpaint"]
    assert inpaint["inputs"] == ["y", "mask"] and inpaint["noise"][0]["every"] == 100
    np.testing.assert_array_equal(np.float32(meta["sigmas"]),
                                  builders.make_sigmas(config.sigmas).numpy())
    for name in ["model.onnx", *PROGRAM_FILES]:
        model = onnx.load(str(export / name))
        props = {p.key: json.loads(p.value) for p in model.metadata_props}
        assert props.pop("graph") == name
        assert props == {k: v for k, v in meta.items() if k != "files"}
        assert [(o.domain, o.version) for o in model.opset_import] == [("", 17)]
        assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"
    for name, entry in meta["files"].items():  # Sizes and sha256 of every exported file.
        data = (export / name).read_bytes()
        assert entry == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    assert set(meta["files"]) >= {"model.onnx", "golden/x.float32.bin", *PROGRAM_FILES,
                                  "sample.program.txt", "inpaint.program.txt"}
    with np.load(export / "golden.npz") as golden:  # The raw golden files: any runtime reads.
        for key, entry in meta["golden"].items():
            raw = np.fromfile(export / "golden" / entry["file"], dtype="<" + {
                "float32": "f4", "int32": "i4"}[entry["dtype"]]).reshape(entry["shape"])
            np.testing.assert_array_equal(raw, golden[key])
    for line in ("SavedModel vs Keras", "ONNX vs Keras", "sample step graph vs TensorFlow",
                 "inpaint step graph vs TensorFlow"):
        assert line in stdout


def test_finish_graphs_and_the_options_of_each_sampler(toy_variants):
    expected = {"annealed_paper": None, "annealed_reference_denoise": "sample_finish.onnx",
                "langevin": "sample_finish.onnx", "pc": "sample_finish.onnx",
                "ode": "sample_finish.onnx"}
    for name, finish in expected.items():
        meta = json.loads((toy_variants / name / "metadata.json").read_text())
        assert meta["programs"]["sample"]["finish"] == finish, name
    pc = json.loads((toy_variants / "pc" / "metadata.json").read_text())
    assert pc["sampler"] == {"name": "pc", "options": {"snr": 0.16, "corrector_steps": 2,
                                                       "denoise": True, "num_steps": None}}
    assert [n["name"] for n in pc["programs"]["sample"]["noise"]] == [
        "predictor", "corrector_0", "corrector_1"]
    assert pc["programs"]["sample"]["prior"] == {"kind": "normal", "mean": 0.0, "std": 20.0}
    assert pc["programs"]["sample"]["score_evaluations"] == 9 * 3 + 1


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
    assert "golden check passed" in runtime_cli(tmp_path, f"--model={export}",
                                                "--check").stdout


def test_the_float16_condrefinenet_stays_within_its_tolerance(digits, tmp_path):
    _, export, stdout = digits
    golden = np.load(export / "golden.npz")
    check_float16_network(onnx.load(export / "model.onnx"),
                          onnx.load(export / "model.float16.onnx"),
                          golden["x"], golden["level"], golden["score"])
    assert "float16 ONNX vs Keras: max abs diff" in stdout
    assert "golden check of model.float16.onnx passed" in runtime_cli(
        tmp_path, f"--model={export}", "--check").stdout
    with pytest.raises(tfncsn_runtime.SampleError, match="'sample_step.onnx' is not a score "
                       "network of this export"):
        tfncsn_runtime.load(str(export)).score(golden["x"], golden["level"], "sample_step.onnx")


def test_savedmodel_sample_signature(toy, tmp_path):
    """In-graph Algorithm 1: the paper's mode weights, a function of the seed (independent
    streams for different seeds), and the same samples as `tfncsn sample --seed` draws."""
    workdir, export, _ = toy
    sample = tf.saved_model.load(str(export / "saved_model")).signatures["sample"]
    draw = lambda seed, n: sample(seed=tf.constant(seed, tf.int64),  # noqa: E731
                                  num_samples=tf.constant(n))["samples"].numpy()
    samples = draw(7, 1280)
    assert samples.shape == (1280, 2)
    assert abs(big_mode_weight(samples) - 0.80) <= 0.05, big_mode_weight(samples)
    np.testing.assert_array_equal(draw(3, 16), draw(3, 16))
    assert not np.isin(draw(3, 16), draw(4, 1280)).any()  # Not a shifted copy either.
    run_cli("sample", f"--workdir={workdir}", "--seed=7", "--num_samples=1280",
            f"--output={tmp_path / 'cli.npy'}")
    cli = np.load(tmp_path / "cli.npy")
    print("SavedModel sample vs tfncsn sample: max abs diff", np.abs(samples - cli).max())
    np.testing.assert_allclose(samples, cli, atol=1e-3)


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


# ----------------------------------------------------------------------------- tfncsn_runtime


def test_onnx_sampler_runs_without_tensorflow_and_gets_the_mode_weights(toy, tmp_path):
    _, export, _ = toy
    blocked = subprocess.run([sys.executable, "-c", "import tensorflow"], capture_output=True,
                             text=True, env=blocked_env(tmp_path))
    assert blocked.returncode != 0 and "is blocked" in blocked.stderr  # The guard works.
    npy, png = tmp_path / "samples.npy", tmp_path / "samples.png"
    proc = runtime_cli(tmp_path, f"--model={export}", "--num_samples=1280",
                       f"--output={npy}", "--seed=0", "--batch_size=512")
    assert "onnx_sample: 100% (3000/3000 steps)" in proc.stderr  # 3 batches x 1000 steps.
    samples = np.load(npy)
    assert samples.shape == (1280, 2) and samples.dtype == np.float32
    assert abs(big_mode_weight(samples) - 0.80) <= 0.05, big_mode_weight(samples)
    toy_mixture = paper_toy()
    modes = toy_mixture.nearest_component(samples)
    for k, mean in enumerate(toy_mixture.means):
        assert np.all(np.abs(samples[modes == k].mean(axis=0) - mean) < 0.5)
    runtime_cli(tmp_path, f"--model={export / 'model.onnx'}", "--num_samples=200",
                f"--output={png}", "--quiet")
    image = np.asarray(Image.open(png))
    assert image.shape == (320, 320) and (image < 100).sum() > 200  # Dots were drawn.


@pytest.mark.parametrize("variant, name", [
    ("annealed_paper", "sample"), ("annealed_reference_denoise", "sample"),
    ("langevin", "sample"), ("pc", "sample"), ("ode", "sample"), ("ode_euler", "sample"),
    *(("annealed_paper", name) for name in EXTRA_PROGRAMS)])
def test_looped_step_graph_follows_the_tensorflow_trajectory(toy, toy_variants, variant, name):
    """tfncsn_runtime's loop of the exported step graph of sample program `name` (the
    export's sampler, or an extra sampler's) vs the TF program, identical noise."""
    program, score_fn, meta = tf_program(toy[0], toy_variants / variant, name)
    tf_x, tf_states = tf_trajectory(program, score_fn, 64, seed=11)
    exported = tfncsn_runtime.load(str(toy_variants / variant))
    onnx_states = []

    class Record:
        def advance(self, steps):
            onnx_states.append(None)

    onnx_x = exported.sample(64, tfncsn_runtime.NumpyNoise(11), progress=Record(), program=name)
    assert len(onnx_states) == len(tf_states) == program.num_steps == \
        meta["programs"][name]["num_steps"]
    assert_close(f"ONNX vs TF {variant} {name}, {program.num_steps} steps", onnx_x, tf_x)


def read_program_text(path):
    """NAME.program.txt as {key: [values of each line with that key]}."""
    lines = {}
    for line in path.read_text().splitlines():
        key, *values = line.split(" ")
        lines.setdefault(key, []).append(values)
    return lines


def test_extra_samplers_are_sample_programs_of_their_own(toy_variants):
    """Each extra sampler is a program sample_<sampler>_<evaluations> with its own graphs,
    its sampler and options in its entry, and a flat text that says what the entry says."""
    export = toy_variants / "annealed_paper"
    meta = json.loads((export / "metadata.json").read_text())
    assert list(meta["programs"]) == ["sample", *EXTRA_PROGRAMS, "inpaint"]
    assert meta["programs"]["sample"]["sampler"] == meta["sampler"]
    assert meta["sampler"]["name"] == "annealed_langevin"  # The export's own stays the default.
    assert "sampler" not in meta["programs"]["inpaint"]  # The main sampler's, always.
    for name, (sampler, steps) in EXTRA_PROGRAMS.items():
        entry = meta["programs"][name]
        assert (entry["sampler"]["name"], entry["num_steps"]) == (sampler, steps)
        assert name == f"sample_{sampler}_{entry['score_evaluations']}"
        assert (entry["step"], entry["finish"]) == (f"{name}_step.onnx", f"{name}_finish.onnx")
        assert {entry["step"], entry["finish"], f"{name}.program.txt"} <= set(meta["files"])
    assert meta["programs"]["sample_pc_19"]["sampler"]["options"] == {
        "snr": 0.2, "corrector_steps": 1, "denoise": True, "num_steps": None}
    for name, entry in meta["programs"].items():
        text = read_program_text(export / f"{name}.program.txt")
        prior = entry["prior"]
        assert text.pop("format") == [["tfncsn.program/1"]] and text.pop("name") == [[name]]
        assert text.pop("sampler", None) == ([[entry["sampler"]["name"]]] if "sampler" in entry
                                             else None)
        assert text.pop("step") == [[entry["step"]]]
        assert text.pop("finish", None) == ([[entry["finish"]]] if entry["finish"] else None)
        assert text.pop("num_steps") == [[str(entry["num_steps"])]]
        assert text.pop("score_evaluations") == [[str(entry["score_evaluations"])]]
        assert text.pop("element_shape") == [["2"]]
        assert text.pop("prior") == [[prior["kind"], *map(repr, (
            (prior["low"], prior["high"]) if prior["kind"] == "uniform"
            else (prior["mean"], prior["std"])))]]
        assert text.pop("state") == [[s["name"], s["per"]] for s in entry["state"]]
        assert text.pop("noise", []) == [[n["name"], n["input"], n["distribution"], n["per"],
                                          str(n["every"])] for n in entry["noise"]]
        assert text.pop("input", []) == [[i] for i in entry["inputs"]]
        assert text == {}, name


def test_the_runtime_lists_and_chooses_sample_programs(toy_variants, tmp_path):
    export = toy_variants / "annealed_paper"
    listed = runtime_cli(tmp_path, f"--model={export}", "--list_programs").stdout.splitlines()
    assert [line.split("\t")[0] for line in listed] == ["sample", *EXTRA_PROGRAMS]
    assert listed[2] == ('sample_pc_19\tsampler pc\toptions {"snr": 0.2, "corrector_steps": 1, '
                         '"denoise": true, "num_steps": null}\tnum_steps 9\tscore_evaluations 19')
    out = tmp_path / "ancestral.npy"
    proc = runtime_cli(tmp_path, f"--model={export}", "--program=sample_ancestral_10",
                       "--num_samples=20", "--batch_size=8", f"--output={out}", "--seed=4")
    assert "onnx_sample: 100% (27/27 steps)" in proc.stderr  # 3 batches of its 9 steps.
    assert ("20 samples with program sample_ancestral_10 (ancestral, 9 steps, 10 score "
            "evaluations)") in proc.stdout
    expected = tfncsn_runtime.load(str(export)).sample(
        20, tfncsn_runtime.NumpyNoise(4), batch_size=8, program="sample_ancestral_10")
    np.testing.assert_array_equal(np.load(out), expected)


def test_looped_inpainting_follows_the_tensorflow_trajectory_and_keeps_known_pixels(digits):
    workdir, export, _ = digits
    program, score_fn, meta = tf_program(workdir, export)
    gen = np.random.default_rng(3)
    y = gen.uniform(size=(2, 8, 8, 1)).astype(np.float32)
    mask = np.broadcast_to(masks.make_mask("center", (8, 8, 1)), y.shape)
    tf_x, _ = tf_trajectory(Inpainting(program, y, mask), score_fn, 2, seed=5)
    onnx_x = tfncsn_runtime.load(str(export)).inpaint(y, mask, tfncsn_runtime.NumpyNoise(5))
    assert_close("ONNX vs TF inpainting (40 steps + denoise)", onnx_x, tf_x)
    known = mask.astype(bool)
    np.testing.assert_array_equal(onnx_x[known], y[known])  # Denoised: y itself.


def test_image_sampling_and_inpainting_without_tensorflow(digits, tmp_path):
    _, export, _ = digits
    grid = tmp_path / "grid.png"
    runtime_cli(tmp_path, f"--model={export}", "--num_samples=4", f"--output={grid}",
                "--quiet")
    assert Image.open(grid).size == (2 + 2 * 34, 2 + 2 * 34)  # 2x2 grid of 8x8 images x 4.
    images = np.random.default_rng(0).uniform(size=(3, 8, 8, 1)).astype(np.float32)
    np.save(tmp_path / "images.npy", images)
    output = tmp_path / "inpainted.npy"
    runtime_cli(tmp_path, f"--model={export}", f"--images={tmp_path / 'images.npy'}",
                "--mask=left_half", "--num_completions=2", f"--output={output}", "--quiet")
    completions = np.load(output)
    assert completions.shape == (3, 2, 8, 8, 1)
    known = np.repeat(images[:, None], 2, axis=1)[..., :, 4:, :]
    np.testing.assert_allclose(completions[..., :, 4:, :], known, atol=1e-6)  # Denoised: y.
    png = tmp_path / "inpainted.png"
    runtime_cli(tmp_path, f"--model={export}", f"--images={tmp_path / 'images.npy'}",
                "--mask=center", "--num_completions=2", f"--output={png}", "--quiet")
    assert Image.open(png).size == (2 + 4 * 34, 2 + 3 * 34)  # Rows: image | masked | 2 done.


def test_stripped_onnx_metadata_falls_back_to_metadata_json_and_vice_versa(toy, tmp_path):
    _, export, _ = toy
    copy = tmp_path / "export"
    copy.mkdir()
    for name in ["model.onnx", "golden.npz", *PROGRAM_FILES]:
        (copy / name).write_bytes((export / name).read_bytes())
    with_props = tfncsn_runtime.load(str(copy / "model.onnx"))  # No metadata.json: the props.
    assert with_props.meta["programs"] == json.loads((export / "metadata.json").read_text()
                                                     )["programs"]
    stripped = onnx.load(str(copy / "model.onnx"))
    del stripped.metadata_props[:]
    onnx.save(stripped, str(copy / "model.onnx"))
    (copy / "metadata.json").write_bytes((export / "metadata.json").read_bytes())
    assert "golden check passed" in runtime_cli(tmp_path, f"--model={copy / 'model.onnx'}",
                                                "--check").stdout


def test_score_checks_its_inputs(toy):
    exported = tfncsn_runtime.load(str(toy[1]))
    x = np.zeros((2, 2), np.float32)
    for level, message in (([-1, 0], "level must be 2 integers in"), ([0, 10], r"\[0, 10\)"),
                           ([0.5, 1], "level must be")):
        with pytest.raises(tfncsn_runtime.SampleError, match=message):
            exported.score(x, np.array(level))
    with pytest.raises(tfncsn_runtime.SampleError, match=r"N >= 1"):
        exported.score(np.zeros((0, 2), np.float32), np.zeros(0, np.int32))
    assert exported.score(x, np.array([0, 9])).shape == (2, 2)


# ----------------------------------------------------------------------------- bad input


@pytest.fixture(scope="module")
def bad_files(toy, tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    (root / "corrupt").mkdir()
    (root / "corrupt" / "model.onnx").write_bytes(b"\x08\x07not really an onnx model" * 10)
    (root / "bare").mkdir()
    stripped = onnx.load(str(toy[1] / "model.onnx"))
    del stripped.metadata_props[:]
    onnx.save(stripped, str(root / "bare" / "model.onnx"))
    np.save(root / "small_images.npy", np.zeros((2, 4, 4, 1), np.float32))
    np.save(root / "images.npy", np.zeros((2, 8, 8, 1), np.float32))
    np.save(root / "mask.npy", np.ones((5, 5), np.float32))
    os.makedirs(root / "golden")
    for name in ("model.onnx", "metadata.json", "golden.npz"):
        (root / "golden" / name).write_bytes((toy[1] / name).read_bytes())
    meta = json.loads((toy[1] / "metadata.json").read_text())
    del meta["golden"]  # Read golden.npz, changed:
    (root / "golden" / "metadata.json").write_text(json.dumps(meta))
    golden = dict(np.load(toy[1] / "golden.npz"))
    golden["score"] = golden["score"] + 0.01
    np.savez(root / "golden" / "golden.npz", **golden)
    (root / "old").mkdir()
    (root / "old" / "metadata.json").write_text(json.dumps({**meta, "format": "tfncsn.score/1"}))
    return root


def test_a_logit_export_must_state_its_lambda():
    """The readers take the logit transform's lambda from the export (one source: the trainer's
    tfncsn.data.preprocessing), so metadata without it is refused."""
    meta = {"format": tfncsn_runtime.reader.FORMAT, "element_shape": [2], "sigmas": [1.0, 0.5],
            "sampler": {}, "programs": {}, "prior_range": [0.0, 1.0], "postprocess": "clip"}
    tfncsn_runtime.reader.check_metadata(meta, "metadata.json")
    logit = {**meta, "postprocess": "inverse_logit"}
    with pytest.raises(tfncsn_runtime.SampleError,
                       match="^metadata.json lacks the tfncsn metadata logit_lambda; "):
        tfncsn_runtime.reader.check_metadata(logit, "metadata.json")
    tfncsn_runtime.reader.check_metadata({**logit, "logit_lambda": 1e-6}, "metadata.json")


@pytest.mark.parametrize("args, expected", [
    (["--model={bad}/missing", "--output={tmp}/s.npy"], "does not exist; give the directory"),
    (["--model={bad}/corrupt", "--output={tmp}/s.npy"], "cannot load"),
    (["--model={bad}/bare", "--output={tmp}/s.npy"], "has neither metadata.json nor"),
    (["--model={bad}/old", "--output={tmp}/s.npy"], "has format 'tfncsn.score/1'"),
    (["--model={toy}", "--output={tmp}/s.txt"], "--output must end in .npy or .png"),
    (["--model={toy}", "--output={tmp}"], "is a directory"),  # More: tests/test_output_paths.py.
    (["--model={toy}", "--output={tmp}/s.npy", "--num_samples=0"], "at least 1"),
    (["--model={toy}", "--output={tmp}/s.npy", "--mask=left_half",
      "--images={bad}/images.npy"], "needs images"),
    (["--model={digits}", "--output={tmp}/s.npy", "--mask=left_half",
      "--images={bad}/small_images.npy"], "needs [M, 8, 8, 1]"),
    (["--model={digits}", "--output={tmp}/s.npy", "--mask={bad}/mask.npy",
      "--images={bad}/images.npy"], "--mask"),
    (["--model={ode}", "--output={tmp}/s.npy", "--mask=center",
      "--images={bad}/images.npy"], "needs images"),
    (["--model={bad}/golden", "--check"], "golden check failed: max abs diff"),
    (["--model={toy}", "--output={tmp}/s.npy", "--seed=x"], "invalid int value"),
    (["--model={toy}", "--output={tmp}/s.npy", "--program=sample_ode_19"],
     "the export has no sample program 'sample_ode_19' (--program); it has sample "
     "(annealed_langevin, 1000 steps, 1000 score evaluations) (`tfncsn export "
     "--extra_samplers` adds more)"),
    (["--model={digits}", "--output={tmp}/s.npy", "--mask=left_half", "--program=sample",
      "--images={bad}/images.npy"], "--program picks a sample program; inpainting"),
])
def test_runtime_bad_input_gives_one_line(toy, digits, toy_variants, bad_files, tmp_path,
                                          args, expected):
    paths = {"{toy}": str(toy[1]), "{digits}": str(digits[1]), "{bad}": str(bad_files),
             "{tmp}": str(tmp_path), "{ode}": str(toy_variants / "ode")}
    for key, value in paths.items():
        args = [a.replace(key, value) for a in args]
    line = one_line_error(runtime_cli(tmp_path, *args, check=False))
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
    line = error_line(run_cli("export", f"--workdir={workdir}", f"--output={tmp_path / 'e2'}",
                              "--sampler=ode", "--sampler_options=num_steps=50", check=False))
    assert "cannot do; drop num_steps" in line and not (tmp_path / "e2.partial").exists()
    line = error_line(run_cli("export", f"--workdir={workdir}", f"--output={tmp_path / 'e3'}",
                              "--sampler=pc", "--sampler_options=snr=-1", check=False))
    assert "snr must be positive" in line


def test_extra_samplers_are_checked_before_any_work(toy, tmp_path):
    """--extra_samplers: NAME or NAME:key=value,... (JSON values keep their commas), each
    built for the run's problem, errors named by the flag; a program name made twice is one
    line, and nothing is written."""
    from tfncsn.cli.export import extra_sampler, extra_sampler_configs
    assert extra_sampler_configs(["ode", 'ode:solver="euler",num_steps=10', 'pc:x=[1,2],y="a,b"'
                                  ]) == [SamplerConfig("ode", {}),
                                         SamplerConfig("ode", {"solver": "euler", "num_steps": 10}),
                                         SamplerConfig("pc", {"x": [1, 2], "y": "a,b"})]
    for value, message in ((":snr=1", "--extra_samplers=:snr=1: give a sampler name"),
                           ("pc:snr", "--extra_samplers=pc:snr: --extra_samplers entries must "
                                      "look like key=value, got 'snr'")):
        with pytest.raises(run_config.ConfigError, match=re.escape(message)):
            extra_sampler_configs([value])
    model, config, sigmas = keras_model(toy[0])
    dataset = builders.make_dataset(config.dataset, config.dataset_options)
    source = ScoreSource.for_model(config, dataset, sigmas, model, "test")
    for value, message in (
            ("bogus", "--extra_samplers=bogus: unknown sampler 'bogus'; available: "),
            ("pc:snr=-1", "--extra_samplers=pc:snr=-1: sampler 'pc' "),
            ("ode:num_steps=5", "cannot do; drop num_steps")):
        with pytest.raises(run_config.ConfigError, match=re.escape(message)):
            extra_sampler(source, extra_sampler_configs([value])[0], value)
    output = tmp_path / "twice"
    line = error_line(run_cli("export", f"--workdir={toy[0]}", f"--output={output}",
                              "--extra_samplers=ode", '--extra_samplers=ode:solver="heun"',
                              check=False))
    assert line.endswith('--extra_samplers: ode {"solver": "heun", "num_steps": null} is given '
                         'twice (its program sample_ode_19); drop one'), line
    assert not output.exists() and not (tmp_path / "twice.partial").exists()


def test_variants_of_a_sampler_with_the_same_evaluations_get_numbered_programs():
    @dataclasses.dataclass(frozen=True)
    class Options:
        num_steps: int
        s_churn: float = 0.0

    @dataclasses.dataclass(frozen=True)
    class StandIn:  # What program_names reads of a sampler: Heun's 2N - 1 evaluations.
        options: Options

        @property
        def score_evaluations(self):
            return 2 * self.options.num_steps - 1

    def heun(num_steps, s_churn=0.0):
        return exporter.ExtraSampler("heun", StandIn(Options(num_steps, s_churn)))

    extras = [heun(10), heun(10, 10.0), heun(18), exporter.ExtraSampler("euler", heun(10).sampler),
              heun(10, 40.0)]
    assert exporter.program_names(extras) == [
        "sample_heun_19", "sample_heun_19_2", "sample_heun_35", "sample_euler_19",
        "sample_heun_19_3"]
    assert all(tfncsn_runtime.programs.is_sample_program(name)
               for name in exporter.program_names(extras))
    with pytest.raises(exporter.ExportError, match=re.escape(
            'heun {"num_steps": 10, "s_churn": 10.0} is given twice (its program '
            'sample_heun_19_2); drop one')):
        exporter.program_names([*extras, heun(10, 10.0)])


def test_export_of_an_earlier_checkpoint(toy, tmp_path):
    """--checkpoint_step exports that checkpoint's (EMA) weights and says so in the metadata;
    a step that was not kept is one line naming the kept ones, and nothing is written."""
    workdir, export, _ = toy
    earlier = 5000  # toy.cfg keeps one checkpoint every 5000 steps and the last one (8000).
    output = tmp_path / "at_5000"
    stdout = export_run(workdir, output, f"--checkpoint_step={earlier}", "--noverify")
    assert f"at step {earlier}," in stdout
    assert json.loads((output / "metadata.json").read_text())["training_step"] == earlier
    model, _, _ = keras_model(workdir)
    training.restore_model(model, str(workdir), checkpoint_step=earlier)
    with np.load(output / "golden.npz") as golden, np.load(export / "golden.npz") as latest:
        np.testing.assert_array_equal(golden["x"], latest["x"])
        assert_close("step-5000 golden score vs Keras", golden["score"],
                     model(golden["x"], golden["level"], training=False).numpy())
        assert not np.allclose(golden["score"], latest["score"], rtol=1e-3, atol=1e-3)
    line = error_line(run_cli("export", f"--workdir={workdir}", f"--output={tmp_path / 'at_6000'}",
                              "--checkpoint_step=6000", check=False))
    assert line.endswith(f"no checkpoint of step 6000 in '{workdir / 'checkpoints'}': it holds "
                         "steps 5000, 8000 (training keeps the last --keep_checkpoints, one every "
                         "--checkpoint_every steps)"), line
    assert not (tmp_path / "at_6000").exists() and not (tmp_path / "at_6000.partial").exists()


def test_export_verification_fails_loudly_and_leaves_nothing(toy, tmp_path):
    """With a zero tolerance the few-ulp difference of ONNX Runtime's float32 kernels fails."""
    workdir, _, _ = toy
    output = tmp_path / "strict"
    line = error_line(run_cli("export", f"--workdir={workdir}", f"--output={output}",
                              "--verify_atol=0", "--verify_rtol=0", check=False))
    assert "verification failed: ONNX vs Keras: max abs diff" in line and "max rel diff" in line
    assert not output.exists() and not (tmp_path / "strict.partial").exists()


def test_export_refuses_metadata_the_runtime_could_not_read(toy, tmp_path):
    """The writer checks the keys the reader requires (declared once, in tfncsn_runtime)."""
    workdir, export, _ = toy
    program, _, meta = tf_program(workdir, export)
    model, _, _ = keras_model(workdir)
    del meta["postprocess"]
    output = tmp_path / "incomplete"
    with pytest.raises(exporter.ExportError, match="lacks postprocess"):
        exporter.export(model, meta, program, str(output), verify=False)
    assert not output.exists() and not list(tmp_path.iterdir())


def test_compare_flags_shapes_and_non_finite_values():
    ok = verify.compare("a", np.ones(3), np.ones(3) + 5e-5, TOLERANCE)
    assert ok.passed and ok.max_abs == pytest.approx(5e-5)
    assert not verify.compare("b", np.ones(3), np.ones(3) + 1e-3, TOLERANCE).passed
    assert not verify.compare("c", np.ones(3), np.ones(4), TOLERANCE).passed
    assert not verify.compare("d", np.array([np.nan]), np.array([1.0]), TOLERANCE).passed
    with pytest.raises(verify.VerificationError, match="b: max abs diff 0.001"):
        verify.check([ok, verify.compare("b", np.ones(3), np.ones(3) + 1e-3, TOLERANCE)],
                     TOLERANCE)
