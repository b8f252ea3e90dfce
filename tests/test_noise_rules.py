"""NCSNv2's noise-level rules (tfncsn/noise_rules.py, docs/algorithms.md#noise-rules) against
closed forms, the literal Langevin recursion and the published settings; `tfncsn noise-levels`
end to end; configs/fashion_mnist_v2.cfg."""

import itertools
import math

import numpy as np
import pytest
from absl import flags

import tfncsn.cli.flags  # noqa: F401  Defines the flags.
from conftest import REPO, error_line, run_cli
from tfncsn import noise_rules
from tfncsn.cli import common
from tfncsn.config import ConfigError

V2_CONFIG = REPO / "configs" / "fashion_mnist_v2.cfg"
FASHION_DIMS = 28 * 28


def test_max_pairwise_distance_of_known_point_sets():
    cube = np.array(list(itertools.product([0.0, 1.0], repeat=6)))  # 64 vertices of [0, 1]^6.
    assert noise_rules.max_pairwise_distance(cube, block=5) == pytest.approx(math.sqrt(6))
    simplex = 3.0 * np.eye(7)  # A regular simplex: every pair at 3 sqrt(2).
    assert noise_rules.max_pairwise_distance(simplex) == pytest.approx(3 * math.sqrt(2))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((50, 2, 3))
    x[17] = 40.0  # The farthest pair is (17, the point farthest from it).
    brute = max(np.linalg.norm(a - b) for a, b in itertools.combinations(x.reshape(50, -1), 2))
    done = []
    assert noise_rules.max_pairwise_distance(x, block=7, callback=done.append) == \
        pytest.approx(brute, rel=1e-12)
    assert sum(done) == 50
    with pytest.raises(ConfigError, match="at least 2 examples"):
        noise_rules.max_pairwise_distance(np.zeros((1, 3)))


@pytest.mark.parametrize("dims", [5, 64, 784, 3072, 12288])
def test_gamma_solves_the_overlap_condition(dims):
    gamma = noise_rules.solve_gamma(dims)
    assert gamma > 1 and noise_rules.overlap(gamma, dims) == pytest.approx(0.5, abs=1e-9)
    # The overlap is Phi(3) - Phi(-3) at gamma = 1 and falls through 0.5 at the root.
    assert noise_rules.overlap(1.0, dims) == pytest.approx(0.9973002, abs=1e-7)
    assert noise_rules.overlap(gamma * 0.999 + 0.001, dims) > 0.5 > noise_rules.overlap(
        gamma * 1.001 - 0.001, dims)


def test_gamma_closes_in_on_one_as_the_dimension_grows_and_small_dimensions_are_refused():
    gammas = [noise_rules.solve_gamma(d) for d in (64, 784, 3072, 12288)]
    assert gammas == sorted(gammas, reverse=True)
    # For large D the root is about where sqrt(2D)(gamma - 1) = 3 gamma.
    assert gammas[-1] == pytest.approx(math.sqrt(2 * 12288) / (math.sqrt(2 * 12288) - 3),
                                       abs=2e-3)
    with pytest.raises(ConfigError, match="at least 5 dimensions"):
        noise_rules.solve_gamma(2)


def test_num_levels_is_the_fewest_geometric_levels_within_the_ratio():
    assert noise_rules.num_levels(8.0, 1.0, 2.0) == 4  # 8, 4, 2, 1 exactly.
    for sigma_max, sigma_min, gamma in ((50.0, 0.01, 1.0398), (22.0, 0.01, 1.082), (3, 1, 1.7)):
        levels = noise_rules.num_levels(sigma_max, sigma_min, gamma)
        assert noise_rules.geometric_ratio(sigma_max, sigma_min, levels) <= gamma
        assert noise_rules.geometric_ratio(sigma_max, sigma_min, levels - 1) > gamma
    with pytest.raises(ConfigError, match="sigma_max > sigma_min"):
        noise_rules.num_levels(1.0, 2.0, 1.1)


@pytest.mark.parametrize("convention", ["reference", "paper"])
def test_variance_ratio_is_the_langevin_recursion_on_a_gaussian(convention):
    """T steps of Langevin dynamics on N(0, sigma_i^2) from N(0, sigma_{i-1}^2): the variance
    ratio of the closed form, by the exact variance recursion and by simulation."""
    sigma_min, sigma_i, gamma, steps, eps = 0.01, 0.37, 1.08, 5, 2e-5
    alpha = eps * sigma_i ** 2 / sigma_min ** 2
    if convention == "reference":  # x += alpha s + sqrt(2 alpha) z
        drift, noise = alpha, 2 * alpha
    else:  # x += alpha/2 s + sqrt(alpha) z
        drift, noise = alpha / 2, alpha
    variance = (gamma * sigma_i) ** 2
    x = np.random.default_rng(0).standard_normal(400_000) * gamma * sigma_i
    rng = np.random.default_rng(1)
    for _ in range(steps):
        variance = (1 - drift / sigma_i ** 2) ** 2 * variance + noise
        x = x - drift * x / sigma_i ** 2 + math.sqrt(noise) * rng.standard_normal(x.shape)
    closed = noise_rules.variance_ratio(eps, sigma_min, gamma, steps, convention)
    assert closed == pytest.approx(variance / sigma_i ** 2, rel=1e-12)
    assert closed == pytest.approx(np.var(x) / sigma_i ** 2, rel=0.01)


def test_eps_minimises_the_gap_and_reproduces_the_published_settings():
    ratio = noise_rules.geometric_ratio(50.0, 0.01, 232)  # NCSNv2's CIFAR-10: 50 .. 0.01, L=232
    eps = noise_rules.solve_eps(0.01, ratio, 5)
    assert eps == pytest.approx(6.2e-6, rel=0.01)  # Their step_lr for T = 5.
    best = noise_rules.variance_ratio(eps, 0.01, ratio, 5)
    assert 1 < best < min(noise_rules.variance_ratio(eps * f, 0.01, ratio, 5)
                          for f in (0.9, 0.99, 1.01, 1.1))
    celeba = noise_rules.geometric_ratio(90.0, 0.01, 500)  # CelebA: 90 .. 0.01, L = 500.
    assert noise_rules.solve_eps(0.01, celeba, 5) == pytest.approx(3.3e-6, rel=0.02)
    # The paper convention's step is half the reference one: the same chain needs twice eps.
    assert noise_rules.solve_eps(0.01, ratio, 5, "paper") == pytest.approx(2 * eps, rel=1e-6)
    # More steps per level get closer to the stationary variance.
    assert noise_rules.variance_ratio(noise_rules.solve_eps(0.01, ratio, 100), 0.01, ratio,
                                      100) < best
    with pytest.raises(ConfigError, match="must be in \\(0, 1\\)"):
        noise_rules.variance_ratio(2e-4, 0.01, ratio, 5)


def test_propose_puts_the_rules_together():
    levels = noise_rules.propose(22.0, 0.01, FASHION_DIMS, 5)
    assert levels.gamma == pytest.approx(noise_rules.solve_gamma(FASHION_DIMS))
    assert levels.num_levels == noise_rules.num_levels(22.0, 0.01, levels.gamma)
    assert levels.ratio <= levels.gamma
    assert levels.eps == pytest.approx(noise_rules.solve_eps(0.01, levels.ratio, 5))
    assert levels.variance_ratio == pytest.approx(
        noise_rules.variance_ratio(levels.eps, 0.01, levels.ratio, 5))


def parse_flagfile(path):
    flags.FLAGS.unparse_flags()
    flags.FLAGS(["tfncsn", f"--flagfile={path}"])
    return common.config_from_flags(None)


def test_noise_levels_command_on_digits(tmp_path):
    proc = run_cli("noise-levels", "--dataset=digits", "--num_examples=0",
                   "--steps_per_level=3", "--sigma_min=0.02")
    lines = proc.stdout.splitlines()
    values = dict(line[2:].split("=", 1) for line in lines if line.startswith("--"))
    assert "all training examples" in proc.stdout
    from tfncsn_plugins.datasets.digits import Digits
    train = np.concatenate(list(Digits().load("train").batch(2000).as_numpy_iterator()))
    sigma_max = noise_rules.max_pairwise_distance(train)
    assert float(values["sigma_max"]) == pytest.approx(sigma_max, rel=1e-5)
    expected = noise_rules.propose(sigma_max, 0.02, 64, 3)
    assert int(values["num_levels"]) == expected.num_levels
    assert float(values["eps"]) == pytest.approx(expected.eps, rel=1e-3)
    assert values["steps_per_level"] == "3" and values["step_convention"] == "reference"
    # The output is a flagfile.
    flagfile = tmp_path / "levels.cfg"
    flagfile.write_text(proc.stdout)
    try:
        config = parse_flagfile(flagfile)
    finally:
        flags.FLAGS.unparse_flags()
    assert config.sigmas.num_levels == expected.num_levels
    assert config.sampler.options["eps"] == float(values["eps"])
    # A sample of the split says so.
    proc = run_cli("noise-levels", "--dataset=digits", "--num_examples=100")
    assert "the first 100 training examples (a lower bound" in proc.stdout


def test_noise_levels_refuses_what_the_rules_do_not_cover():
    line = error_line(run_cli("noise-levels", "--dataset=toy", check=False))
    assert "Technique 2 needs data of at least 5 dimensions" in line
    line = error_line(run_cli("noise-levels", "--dataset=digits", "--num_examples=1",
                              check=False))
    assert "--num_examples must be at least 2" in line


def test_the_fashion_mnist_v2_config_follows_the_rules():
    try:
        config = parse_flagfile(V2_CONFIG)
    finally:
        flags.FLAGS.unparse_flags()
    assert config.dataset == "fashion_mnist" and config.model == "refinenet_v2"
    assert config.train.ema_decay > 0 and config.sampler.options["denoise"] is True
    # The average starts from the random initial weights: by the last step their share in it
    # (decay^steps) must be negligible, which NCSNv2's 0.999 is not after 1500 steps (22%).
    assert config.train.ema_decay ** config.train.steps < 1e-3
    sigmas, options = config.sigmas, config.sampler.options
    gamma = noise_rules.solve_gamma(FASHION_DIMS)
    assert sigmas.num_levels == noise_rules.num_levels(sigmas.sigma_max, sigmas.sigma_min, gamma)
    ratio = noise_rules.geometric_ratio(sigmas.sigma_max, sigmas.sigma_min, sigmas.num_levels)
    assert options["step_convention"] == "reference"
    assert options["eps"] == pytest.approx(
        noise_rules.solve_eps(sigmas.sigma_min, ratio, options["steps_per_level"]), rel=1e-3)
    assert "tfncsn noise-levels --dataset=fashion_mnist" in V2_CONFIG.read_text()


@pytest.mark.slow  # Fashion-MNIST's files and a minute of CPU.
def test_the_fashion_mnist_v2_config_trains(tmp_path):
    run_cli("train", f"--flagfile={V2_CONFIG}", "--steps=5", f"--workdir={tmp_path / 'run'}")
