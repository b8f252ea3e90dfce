"""A third-party plugin package trains and samples through the CLI."""

import shutil
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
    out = run_cli("plugins", extra_path=[plugin_site]).stdout
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
