"""`tfncsn noise-levels` on low-dimensional data (tfncsn/noise_rules.py,
docs/algorithms.md#noise-rules): Technique 2 sets nothing below noise_rules.MIN_DIMS dimensions,
so the command asks for --num_levels and then prints Techniques 1 and 4 with it. Also the spiral
of docs/writing-a-plugin.md's "Tuning a new low-dimensional dataset", its worked example."""

import math
import re

import numpy as np
import pytest
from absl import flags
from scipy import stats

import tfncsn.cli.flags  # noqa: F401  Defines the flags.
from conftest import REPO, error_line, run_cli
from tfncsn import noise_rules
from tfncsn.cli import common
from tfncsn.config import ConfigError

EXAMPLES = 2000  # Of the toy's training split: enough for its largest distance, quick.


def toy_sigma_1(count=EXAMPLES):
    from tfncsn_plugins.datasets.toy import ToyMixture
    x = np.concatenate(list(ToyMixture().load("train").take(count).batch(1000)
                            .as_numpy_iterator()))
    return noise_rules.max_pairwise_distance(x)


def flag_values(stdout):
    return dict(line[2:].split("=", 1) for line in stdout.splitlines() if line.startswith("--"))


@pytest.mark.parametrize("dims", [1, 2, 3, 4])
def test_below_five_dimensions_every_ratio_passes_the_overlap_test(dims):
    assert not noise_rules.technique2_applies(dims)
    # The overlap never falls to 0.5: it rises towards 1 as the ratio grows.
    gammas = np.geomspace(1.0, 1e4, 200)
    overlaps = [noise_rules.overlap(g, dims) for g in gammas]
    assert min(overlaps) > 0.99 and overlaps[-1] == pytest.approx(1.0)
    # Not an artefact of the normal approximation of the norm: with the exact (chi) law the
    # band of three standard deviations around level i-1's mean norm reaches below zero too.
    norm = stats.chi(dims)
    assert norm.mean() - 3 * norm.std() < 0
    with pytest.raises(ConfigError, match="every ratio passes its overlap test"):
        noise_rules.solve_gamma(dims)


def test_from_five_dimensions_the_rule_has_a_solution_with_either_law():
    assert noise_rules.technique2_applies(noise_rules.MIN_DIMS)
    norm = stats.chi(noise_rules.MIN_DIMS)
    assert norm.mean() - 3 * norm.std() > 0
    assert noise_rules.solve_gamma(noise_rules.MIN_DIMS) > 1


def test_propose_with_given_levels_applies_techniques_1_and_4_only():
    # The paper's toy: 10 levels from 20 to 1, T = 100, Alg. 1's step (convention paper).
    levels = noise_rules.propose(20.0, 1.0, 2, 100, "paper", levels=10)
    assert levels.gamma is None and levels.num_levels == 10 and levels.dims == 2
    assert levels.ratio == pytest.approx(20.0 ** (1 / 9)) == pytest.approx(noise_rules.TOY_RATIO)
    assert levels.eps == pytest.approx(noise_rules.solve_eps(1.0, levels.ratio, 100, "paper"))
    assert levels.eps == pytest.approx(0.0586, rel=0.01)
    # The toy's eps = 0.1 is near that optimum: its variance ratio is within 1% of the best.
    toy = noise_rules.variance_ratio(0.1, 1.0, levels.ratio, 100, "paper")
    assert levels.variance_ratio < toy < levels.variance_ratio * 1.01
    # Technique 4 scales with sigma_L^2: a ten times smaller sigma_L needs a 100 times smaller eps.
    finer = noise_rules.propose(2.0, 0.1, 2, 100, "paper", levels=10)
    assert finer.eps == pytest.approx(levels.eps / 100, rel=1e-6)


def test_propose_refuses_given_levels_it_cannot_use():
    with pytest.raises(ConfigError, match="Technique 2 sets the number of levels for 784"):
        noise_rules.propose(22.0, 0.01, 784, 5, levels=10)
    with pytest.raises(ConfigError, match="at least 2"):
        noise_rules.propose(20.0, 1.0, 2, 100, levels=1)
    with pytest.raises(ConfigError, match="sigma_max > sigma_min"):
        noise_rules.propose(1.0, 2.0, 2, 100, levels=10)


def test_noise_levels_on_2d_data_without_num_levels_says_what_to_give():
    line = error_line(run_cli("noise-levels", "--dataset=toy", f"--num_examples={EXAMPLES}",
                              check=False))
    assert "Technique 2 needs data of at least 5 dimensions" in line and "got 2" in line
    assert "give --num_levels and --sigma_min" in line and "Technique 4's eps" in line
    # Technique 1 is computed all the same and given in the line.
    given = float(line.split("--sigma_max=")[1].split(":")[0])
    assert given == pytest.approx(toy_sigma_1(), rel=1e-5)
    # The paper's toy uses 20 (its Technique 1 value, about 21 on the whole split).
    assert 19 < given < 22


def test_noise_levels_on_2d_data_with_num_levels_prints_a_flagfile(tmp_path):
    proc = run_cli("noise-levels", "--dataset=toy", f"--num_examples={EXAMPLES}",
                   "--num_levels=10", "--sigma_min=1", "--steps_per_level=100",
                   "--step_convention=paper")
    values = flag_values(proc.stdout)
    sigma_1 = toy_sigma_1()
    assert float(values["sigma_max"]) == pytest.approx(sigma_1, rel=1e-5)
    assert values["num_levels"] == "10" and values["sigma_min"] == "1"
    expected = noise_rules.propose(sigma_1, 1.0, 2, 100, "paper", levels=10)
    assert float(values["eps"]) == pytest.approx(expected.eps, rel=1e-3)
    assert values["step_convention"] == "paper" and values["steps_per_level"] == "100"
    assert "# Technique 2 does not apply below D = 5" in proc.stdout
    assert f"(ratio {expected.ratio:.6f})" in proc.stdout
    assert "--sigma_min's default" not in proc.stdout
    flagfile = tmp_path / "levels.cfg"
    flagfile.write_text(proc.stdout)
    flags.FLAGS.unparse_flags()
    try:
        flags.FLAGS(["tfncsn", f"--flagfile={flagfile}"])
        config = common.config_from_flags(None)
    finally:
        flags.FLAGS.unparse_flags()
    assert config.sigmas.num_levels == 10
    assert config.sigmas.sigma_max == pytest.approx(sigma_1, rel=1e-5)
    assert config.sampler.options["eps"] == float(values["eps"])


def test_noise_levels_on_2d_data_says_when_sigma_min_is_the_default_and_refuses_one_level():
    proc = run_cli("noise-levels", "--dataset=toy", "--num_examples=100", "--num_levels=30")
    assert "(--sigma_min's default: set it below the smallest detail to resolve)" in proc.stdout
    assert flag_values(proc.stdout)["sigma_min"] == "0.01"
    assert math.isfinite(float(flag_values(proc.stdout)["eps"]))
    line = error_line(run_cli("noise-levels", "--dataset=toy", "--num_examples=100",
                              "--num_levels=1", "--sigma_min=1", check=False))
    assert "--num_levels must be at least 2, got 1" in line


def guide_spiral():
    """The SpiralDataset class the plugin guide shows, executed."""
    guide = (REPO / "docs" / "writing-a-plugin.md").read_text()
    code = next(block for block in re.findall(r"```python\n(.*?)```", guide, re.S)
                if "class SpiralDataset(Dataset)" in block)
    namespace = {}
    exec(compile(code, "writing-a-plugin.md:spiral", "exec"), namespace)
    return namespace["SpiralDataset"]


def test_the_guide_spiral_is_the_data_and_metric_it_describes():
    spiral = guide_spiral()()
    train = np.concatenate(list(spiral.load("train").batch(5000).as_numpy_iterator()))
    assert train.shape == (20_000, 2) and train.dtype == np.float32
    # The guide's sigma_1 (Technique 1 over all training points) and the model's data_std.
    assert noise_rules.max_pairwise_distance(train) == pytest.approx(9.29251, abs=1e-4)
    assert train.std(0) == pytest.approx([2.44, 2.36], abs=0.01)
    # The data's own scores, as the guide gives them for fresh draws of 1280.
    near, median, tv = spiral.shape_stats(spiral.points(1280, 2))
    assert near >= 0.995 and 0.06 < median < 0.075 and tv < 0.045
    # A disc, the data blurred by N(0, 1), is far from it, and NaN samples count as far.
    blurred = spiral.points(1280, 2) + np.random.default_rng(0).standard_normal((1280, 2))
    assert spiral.shape_stats(blurred)[0] < 0.4
    assert "within 0.3 of the spiral 0.000" in spiral.summarize(np.full((5, 2), np.nan))
    with pytest.raises(ValueError, match="unknown split"):
        spiral.load("validation")
