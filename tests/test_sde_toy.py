"""The 2-D toy trained in continuous time on each SDE (configs/toy_sde.cfg): the (5, 5) mode weight
0.80 +- 0.05 with pc, ode and ancestral in TensorFlow, and from the export through ONNX Runtime
without TensorFlow. VP runs by default; VE and sub-VP are behind the `slow` marker (a minute
each). Also: a run from before the SDE family (no `sde` in config.json) samples and resumes as
it did."""

import json

import numpy as np
import pytest

from conftest import error_line, run_cli
from export_helpers import run_runtime
from tfncsn.gaussian_mixture import paper_toy

SAMPLERS = {"ve": ("pc", "ode", "ancestral"), "vp": ("pc", "ode", "ancestral"),
            "subvp": ("pc", "ode")}
SDES = [pytest.param("vp"), pytest.param("ve", marks=pytest.mark.slow),
        pytest.param("subvp", marks=pytest.mark.slow)]


def big_mode_weight(samples):
    return paper_toy().mode_weights(samples)[1]


@pytest.fixture(scope="module", params=SDES)
def trained(request, tmp_path_factory):
    workdir = tmp_path_factory.mktemp(request.param) / "run"
    run_cli("train", "--flagfile=configs/toy_sde.cfg", f"--sde={request.param}",
            f"--workdir={workdir}")
    return request.param, workdir


def test_each_sampler_gets_the_mode_weights_in_tensorflow(trained, tmp_path):
    sde, workdir = trained
    for sampler in SAMPLERS[sde]:
        out = tmp_path / f"{sampler}.npy"
        run_cli("sample", f"--workdir={workdir}", f"--sampler={sampler}",
                "--sampler_options=num_steps=100", "--num_samples=1280", f"--output={out}")
        weight = big_mode_weight(np.load(out))
        assert abs(weight - 0.80) <= 0.05, (sde, sampler, weight)
    if "ancestral" not in SAMPLERS[sde]:
        proc = run_cli("sample", f"--workdir={workdir}", "--sampler=ancestral",
                       f"--output={tmp_path / 'a.npy'}", check=False)
        assert "no ancestral discretisation" in error_line(proc)


def test_the_export_samples_the_mode_weights_without_tensorflow(trained, tmp_path):
    sde, workdir = trained
    export = tmp_path / "export"
    run_cli("export", f"--workdir={workdir}", f"--output={export}", "--sampler=ode",
            "--sampler_options=num_steps=100")
    meta = json.loads((export / "metadata.json").read_text())
    assert meta["programs"]["sample"]["score_evaluations"] == 99 * 2 + 1
    assert meta["sde"] == {"name": sde, "options": {}}
    out = tmp_path / "onnx.npy"
    proc = run_runtime(tmp_path, f"--model={export}", "--num_samples=1280", f"--output={out}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    weight = big_mode_weight(np.load(out))
    assert abs(weight - 0.80) <= 0.05, (sde, weight)


def test_a_run_from_before_the_sde_family_samples_and_resumes_as_before(tmp_path):
    """config.json without an `sde` section (as every run before it) loads as NCSN's levels:
    the same samples as with the section written out, and training resumes."""
    workdir = tmp_path / "old"
    run_cli("train", "--flagfile=configs/toy.cfg", "--steps=20", f"--workdir={workdir}")
    config_file = workdir / "config.json"
    config = json.loads(config_file.read_text())
    assert config["sde"] == {"name": "", "options": {}, "weighting": "std2", "train_eps": 1e-5}
    run_cli("sample", f"--workdir={workdir}", "--sampler=pc", f"--output={tmp_path / 'a.npy'}")
    del config["sde"]
    config_file.write_text(json.dumps(config))
    run_cli("sample", f"--workdir={workdir}", "--sampler=pc", f"--output={tmp_path / 'b.npy'}")
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"))
    run_cli("train", f"--workdir={workdir}", "--steps=30")
    proc = run_cli("train", f"--workdir={workdir}", "--steps=40", "--sde=vp", check=False)
    assert "different sde" in error_line(proc)


def test_the_held_out_loss_of_an_sde_run_is_its_own_objective(trained, tmp_path):
    sde, workdir = trained
    report = tmp_path / "report.json"
    run_cli("evaluate", f"--workdir={workdir}", "--eval_metrics=heldout", "--num_samples=0",
            f"--output={report}")
    heldout = json.loads(report.read_text())["heldout_dsm"]
    assert heldout["sde"] == sde and len(heldout["times"]) == 10
    assert heldout["times"][0] > 0.9 and heldout["times"][-1] < 0.1
    exact_report = tmp_path / "exact.json"
    run_cli("evaluate", "--flagfile=configs/toy_sde.cfg", f"--sde={sde}", "--score=exact",
            "--eval_metrics=heldout", "--num_samples=0", f"--output={exact_report}")
    exact = json.loads(exact_report.read_text())["heldout_dsm"]
    assert exact["times"] == heldout["times"]
    # The exact score's loss is the objective's minimum; the trained model comes close to it.
    np.testing.assert_allclose(heldout["per_level"], exact["per_level"], atol=0.03)
    assert heldout["total"] >= exact["total"] - 3 * max(exact["per_level_sem"])
