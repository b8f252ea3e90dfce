"""EDM's preconditioning and training (tfncsn/preconditioning.py, losses.EDMObjective,
`--preconditioning=edm`): the formulas against their definitions, the config rules, and the toy
(configs/toy_edm.cfg) sampled by heun at 35 evaluations and dpmpp_2m at 20 with the (5, 5) mode
weight 0.80 +- 0.05 in TensorFlow, from the export through ONNX Runtime without TensorFlow, and
in Node."""

import json
import subprocess

import numpy as np
import pytest
import tensorflow as tf

from conftest import error_line, run_cli
from export_helpers import run_runtime
from runtime_helpers import JS, node_or_skip
from tfncsn import builders, losses
from tfncsn.config import ConfigError, PreconditioningConfig, RunConfig, SDEConfig
from tfncsn.evaluation import report
from tfncsn.gaussian_mixture import paper_toy
from tfncsn.preconditioning import (EDMPreconditioned, edm_coefficients, edm_loss_weight,
                                           edm_score)

SIGMA = tf.constant([0.002, 0.1, 1.0, 80.0])
SD = 0.5


def test_the_coefficients_are_edms():
    c_skip, c_out, c_in = (v.numpy() for v in edm_coefficients(SIGMA, SD))
    sigma = SIGMA.numpy().astype(np.float64)
    np.testing.assert_allclose(c_skip, SD ** 2 / (sigma ** 2 + SD ** 2), rtol=1e-6)
    np.testing.assert_allclose(c_out, sigma * SD / np.sqrt(sigma ** 2 + SD ** 2), rtol=1e-6)
    np.testing.assert_allclose(c_in, 1 / np.sqrt(sigma ** 2 + SD ** 2), rtol=1e-6)
    np.testing.assert_allclose(edm_loss_weight(SIGMA, SD), 1 / c_out ** 2, rtol=1e-5)


def test_the_score_is_the_denoisers_and_exact_for_gaussian_data_when_f_is_zero():
    """(D - x) / sigma^2 with D = c_skip x + c_out F; with F = 0, D is E[x0 | x] for x0 ~
    N(0, sd^2 I), so the score is that data's exact score -x / (sd^2 + sigma^2)."""
    x = tf.random.stateless_normal([4, 3], seed=[1, 2]) * 3.0
    output = tf.random.stateless_normal([4, 3], seed=[3, 4])
    c_skip, c_out, _ = edm_coefficients(SIGMA, SD)
    denoised = c_skip[:, None] * x + c_out[:, None] * output
    np.testing.assert_allclose(edm_score(x, SIGMA, output, SD),
                               (denoised - x) / SIGMA[:, None] ** 2, rtol=2e-3, atol=1e-5)
    np.testing.assert_allclose(edm_score(x, SIGMA, tf.zeros_like(x), SD),
                               -x / (SD ** 2 + SIGMA[:, None] ** 2), rtol=1e-6)


def test_the_loss_is_lambda_times_the_denoising_error():
    x0 = tf.random.stateless_normal([4, 2], seed=[5, 6])
    noise = tf.random.stateless_normal([4, 2], seed=[7, 8])

    def score(x, sigma):
        return tf.sin(x) / sigma[:, None]

    per_example = losses.edm_per_example(score, x0, SIGMA, noise, SD)
    x = x0 + SIGMA[:, None] * noise
    denoised = x + SIGMA[:, None] ** 2 * score(x, SIGMA)
    expected = edm_loss_weight(SIGMA, SD) * tf.reduce_sum(tf.square(denoised - x0), axis=1)
    np.testing.assert_allclose(per_example, expected, rtol=1e-4)


def test_training_sigmas_are_log_normal_and_binned_at_the_nearest_level():
    draws = losses.draw_edm_noise(tf.random.Generator.from_seed(0), [20000, 2], -1.2, 1.2)
    log_sigma = np.log(draws["sigma"].numpy())
    assert abs(log_sigma.mean() + 1.2) < 0.03 and abs(log_sigma.std() - 1.2) < 0.03
    levels = losses.nearest_levels(tf.constant([30.0, 0.9, 0.011]),
                                   tf.constant([20.0, 1.0, 0.01]))
    np.testing.assert_array_equal(levels, [0, 1, 2])


def test_the_wrapper_scores_through_the_networks_raw_output():
    sigmas = [20.0, 1.0]
    config = PreconditioningConfig(name="edm", sigma_data=2.0)
    model = builders.make_model("mlp", {"noise_embedding": "fourier", "data_std": 0.0}, (2,),
                                sigmas, preconditioning=config)
    assert isinstance(model, EDMPreconditioned) and model.continuous_sigma
    x, sigma = tf.constant([[1.0, -2.0], [3.0, 0.5]]), tf.constant([0.3, 7.0])
    _, _, c_in = edm_coefficients(sigma, 2.0)
    output = model.network.raw_output(c_in[:, None] * x, sigma)
    np.testing.assert_allclose(model.score_at_sigma(x, sigma), edm_score(x, sigma, output, 2.0),
                               rtol=1e-6)
    np.testing.assert_allclose(model(x, tf.constant([0, 1])),
                               model.score_at_sigma(x, tf.constant(sigmas)), rtol=1e-6)
    with pytest.raises(ConfigError, match="raw_output"):
        builders.make_model("refinenet", {"ngf": 4}, (8, 8, 1), sigmas, preconditioning=config)


def test_the_evaluation_report_names_edms_training():
    edm = {"name": "edm", "sigma_data": 0.5, "p_mean": -1.2, "p_std": 1.2}
    assert report._noise({"preconditioning": edm, "sde": None, "sigmas": [22.4561, 0.002]}) == (
        "EDM's preconditioned denoiser (sigma_data 0.5) trained at ln sigma ~ N(-1.2, 1.2^2), "
        "sampled from sigma 22.46 to 0.002")


def test_edm_refuses_an_sde_and_is_part_of_the_architecture():
    with pytest.raises(ConfigError, match="--preconditioning=edm"):
        RunConfig(sde=SDEConfig(name="vp"), preconditioning=PreconditioningConfig(name="edm"))
    edm = RunConfig(preconditioning=PreconditioningConfig(name="edm"))
    assert edm.architecture()["preconditioning"] == {"name": "edm", "sigma_data": 0.5}
    assert RunConfig().architecture()["preconditioning"] is None
    old = RunConfig().to_dict()
    del old["preconditioning"]  # config.json before EDM.
    assert RunConfig.from_dict(old) == RunConfig()


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("edm") / "run"
    run_cli("train", "--flagfile=configs/toy_edm.cfg", f"--workdir={workdir}")
    return workdir


def big_mode_weight(samples):
    return paper_toy().mode_weights(samples)[1]


FAST = {"heun": "num_steps=18", "dpmpp_2m": "num_steps=20"}


def test_the_toy_samples_its_modes_with_heun_and_dpmpp_2m(toy, tmp_path):
    for sampler, options in FAST.items():
        out = tmp_path / f"{sampler}.npy"
        run_cli("sample", f"--workdir={toy}", f"--sampler={sampler}",
                f"--sampler_options={options}", f"--output={out}")
        weight = big_mode_weight(np.load(out))
        assert abs(weight - 0.80) <= 0.05, (sampler, weight)
    proc = run_cli("train", f"--workdir={toy}", "--steps=20001", "--preconditioning=none",
                   check=False)
    assert "different preconditioning" in error_line(proc)


NODE_SAMPLE = """
import * as ort from 'onnxruntime-node';
import { writeFileSync } from 'node:fs';
import { loadExport } from './src/index.js';
import { nodeFiles } from './src/node.js';
const model = await loadExport({ ort, files: nodeFiles(process.argv[1]) });
const x = await model.sample(Number(process.argv[2]), { seed: 3, program: process.argv[3] });
writeFileSync(process.argv[4], JSON.stringify(Array.from(x)));
"""


def test_the_export_samples_the_modes_in_python_and_node(toy, tmp_path):
    """One export holds both samplers: heun as its `sample` program, dpmpp_2m as an extra one."""
    export = tmp_path / "export"
    run_cli("export", f"--workdir={toy}", f"--output={export}", "--sampler=heun",
            "--sampler_options=num_steps=18", "--extra_samplers=dpmpp_2m:num_steps=20")
    meta = json.loads((export / "metadata.json").read_text())
    assert meta["preconditioning"] == {"name": "edm", "sigma_data": 5.0}
    programs = {"sample": 35, "sample_dpmpp_2m_20": 20}
    assert {name: meta["programs"][name]["score_evaluations"] for name in programs} == programs
    node = node_or_skip("onnxruntime-node")
    for program in programs:
        out = tmp_path / f"{program}.npy"
        proc = run_runtime(tmp_path, f"--model={export}", f"--program={program}",
                           "--num_samples=1280", f"--output={out}")
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert abs(big_mode_weight(np.load(out)) - 0.80) <= 0.05, program
        out = tmp_path / f"{program}.json"
        proc = subprocess.run([node, "--input-type=module", "-e", NODE_SAMPLE, str(export),
                               "1280", program, str(out)], cwd=JS, capture_output=True,
                              text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        samples = np.array(json.loads(out.read_text()), np.float32).reshape(1280, 2)
        assert abs(big_mode_weight(samples) - 0.80) <= 0.05, program
