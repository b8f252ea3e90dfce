"""A third-party plugin package trains and samples through the CLI."""

import shutil
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from conftest import error_line, run_cli, write_distribution

PACKAGE = Path(__file__).parent / "third_party_plugin"


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory):
    """tfncsn-ring exposed through a temporary dist-info built from its pyproject.toml."""
    project = tomllib.loads((PACKAGE / "pyproject.toml").read_text())["project"]
    site = tmp_path_factory.mktemp("site")
    write_distribution(site, project["name"], project["version"], project["entry-points"])
    shutil.copytree(PACKAGE / "tfncsn_ring", site / "tfncsn_ring")
    return str(site)


def test_plugins_command_lists_the_third_party_plugins(plugin_site):
    out = run_cli("plugins", "--load", extra_path=[plugin_site]).stdout
    for name in ("ring", "quadratic", "clipped_langevin"):
        line = next(l for l in out.splitlines() if l.strip().startswith(name))
        assert "tfncsn-ring 0.1.0" in line and "[ok]" in line


def test_train_and_sample_with_the_third_party_dataset_schedule_and_sampler(plugin_site, tmp_path):
    workdir = tmp_path / "run"
    run_cli("train", "--dataset=ring", "--sigma_schedule=quadratic", "--sigma_max=3",
            "--sigma_min=0.1", "--num_levels=6", "--model=mlp", "--steps=1500",
            "--log_every=500", "--sampler=clipped_langevin", "--eps=0.01",
            "--steps_per_level=50", f"--workdir={workdir}", extra_path=[plugin_site])
    output = tmp_path / "samples.npy"
    proc = run_cli("sample", f"--workdir={workdir}", "--num_samples=400",
                   f"--output={output}", extra_path=[plugin_site])
    samples = np.load(output)
    assert samples.shape == (400, 2) and np.all(np.abs(samples) <= 5.0)
    radius = np.linalg.norm(samples, axis=1)
    assert abs(np.median(radius) - 3.0) < 0.5, radius.mean()  # It learned the ring.
    assert "mean radius" in proc.stdout

    # Without the plugin package on the path the run cannot be used: one clear line.
    missing = run_cli("sample", f"--workdir={workdir}", "--num_samples=4",
                      f"--output={output}", check=False)
    assert "unknown dataset 'ring'" in error_line(missing)


def test_the_third_party_sampler_takes_its_option_exports_and_samples_without_tensorflow(
        plugin_site, tmp_path):
    """clipped_langevin (no ONNX code of its own) with its option bound=2: TF sampling, the
    export's step graph verified against TF, and tfncsn_runtime where TF cannot be imported."""
    from export_helpers import run_runtime

    workdir = tmp_path / "run"
    run_cli("train", "--dataset=ring", "--model=mlp", "--sigma_max=3", "--sigma_min=0.1",
            "--num_levels=6", "--steps=300", "--log_every=100", "--sampler=clipped_langevin",
            "--sampler_options=bound=2.0", "--sampler_options=steps_per_level=10",
            f"--workdir={workdir}", extra_path=[plugin_site])
    output = tmp_path / "tf.npy"
    run_cli("sample", f"--workdir={workdir}", "--num_samples=100", f"--output={output}",
            extra_path=[plugin_site])
    assert np.abs(np.load(output)).max() <= 2.0
    bad = run_cli("sample", f"--workdir={workdir}", "--sampler_options=bounds=1",
                  f"--output={output}", check=False, extra_path=[plugin_site])
    assert "sampler 'clipped_langevin' (package tfncsn-ring 0.1.0) has no option bounds; its " \
        "options are: eps" in error_line(bad)
    export = tmp_path / "export"
    proc = run_cli("export", f"--workdir={workdir}", f"--output={export}",
                   extra_path=[plugin_site])
    assert "sample step graph vs TensorFlow" in proc.stdout
    assert "inpaint step graph vs TensorFlow" in proc.stdout
    samples = tmp_path / "onnx.npy"
    child = run_runtime(tmp_path, f"--model={export}", "--num_samples=100",
                        f"--output={samples}", "--quiet", timeout=300)
    assert child.returncode == 0, child.stderr
    onnx_samples = np.load(samples)
    assert onnx_samples.shape == (100, 2) and np.abs(onnx_samples).max() <= 2.0
    assert onnx_samples.min() == -2.0 or onnx_samples.max() == 2.0 or \
        np.abs(onnx_samples).max() > 1.5  # Samples reach the clipped box.
    # The looped step graph follows the TensorFlow program on identical NumPy draws.
    import importlib
    from tfncsn import builders, config as run_config, training
    from tfncsn.sampling import Problem, build
    import tfncsn_runtime
    from export_helpers import tf_trajectory
    from tfncsn_export import Tolerance, verify

    sys.path.insert(0, plugin_site)
    try:
        ring = importlib.import_module("tfncsn_ring")
    finally:
        sys.path.remove(plugin_site)
    config = run_config.load(str(workdir))
    sigmas = builders.make_sigmas(config.sigmas).numpy()
    model = builders.make_model("mlp", config.model_options, (2,), sigmas)
    training.restore_model(model, str(workdir))
    program = build(ring.ClippedLangevin, config.sampler.options,
                    Problem(sigmas, (2,), (-5.0, 5.0)), "clipped_langevin")
    tf_x, _ = tf_trajectory(program, lambda x, level: model(x, level, training=False), 32, 3)
    onnx_x = tfncsn_runtime.load(str(export)).sample(32, tfncsn_runtime.NumpyNoise(3))
    comparison = verify.compare("clipped_langevin ONNX vs TF", onnx_x, tf_x, Tolerance())
    assert comparison.passed, comparison.describe()
