"""NCSNv2's rules for the noise levels and the Langevin step size (docs/algorithms.md#noise-rules).

Song & Ermon (2020), "Improved Techniques for Training Score-Based Generative Models":

- Technique 1: sigma_1 = the largest Euclidean distance between two training examples.
- Technique 2: geometric sigmas with ratio gamma = sigma_{i-1} / sigma_i > 1 chosen so that
  Phi(sqrt(2D)(gamma - 1) + 3 gamma) - Phi(sqrt(2D)(gamma - 1) - 3 gamma) = 0.5: a sample of
  N(0, sigma_i^2 I), whose norm is about N(sqrt(D) sigma_i, sigma_i^2 / 2), lands within three
  standard deviations of the norm of N(0, sigma_{i-1}^2 I) half of the time.
- Technique 4: with alpha_i = eps sigma_i^2 / sigma_L^2 and T steps per level, eps makes the
  variance that T Langevin steps reach on N(0, sigma_i^2 I), started from N(0, sigma_{i-1}^2 I),
  as close as possible to sigma_i^2 (their Eq. (4)):
      s_T^2 / sigma_i^2 = (1 - d)^(2T) (gamma^2 - 2d / (1 - (1 - d)^2)) + 2d / (1 - (1 - d)^2)
  with d = eps / sigma_L^2 for the step x += alpha s + sqrt(2 alpha) z of their Algorithm 1
  (tfncsn's step_convention=reference; the `paper` convention's eps is twice as large).

Techniques 1 and 4 hold in any dimension (Technique 4's chain acts on each coordinate alone).
Technique 2 does not below MIN_DIMS = 5 dimensions: there the norm of N(0, sigma^2 I) is about as
spread as it is large (2-D: mean 1.25 sigma, std 0.66 sigma), three standard deviations below
level i-1's mean norm is below zero (for the exact chi distribution too), and every ratio passes
the test; `propose(..., levels=L)` then takes the number of levels from the user.

Pure NumPy/SciPy: no TensorFlow.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

import numpy as np
from scipy import optimize

from tfncsn.config import ConfigError

CONVENTIONS = ("reference", "paper")
OVERLAP = 0.5  # Technique 2's target probability.
MIN_DIMS = 5  # Technique 2 needs sqrt(2D) > 3.
TOY_RATIO = 20.0 ** (1.0 / 9.0)  # The paper's 2-D toy: 10 geometric levels from 20 to 1.


class NoiseRuleError(ConfigError):
    """The rules cannot be applied to these inputs."""


def max_pairwise_distance(x: np.ndarray, block: int = 1024,
                          callback: Callable[[int], None] | None = None) -> float:
    """Technique 1: the largest Euclidean distance between two rows of x [N, ...] (N >= 2).

    Exact: every pair is computed, `block` rows at a time against the rows after them
    (|a|^2 + |b|^2 - 2 a.b in float64). `callback(rows)` reports progress.
    """
    flat = np.asarray(x, np.float64).reshape(len(x), -1)
    if len(flat) < 2:
        raise NoiseRuleError(f"the largest pairwise distance needs at least 2 examples, got "
                             f"{len(flat)}")
    norms = np.einsum("ij,ij->i", flat, flat)
    best = 0.0
    for start in range(0, len(flat), block):
        rows = flat[start:start + block]
        squared = (norms[start:start + block, None] + norms[None, start:]
                   - 2.0 * rows @ flat[start:].T)
        best = max(best, float(squared.max()))
        if callback is not None:
            callback(len(rows))
    return math.sqrt(max(best, 0.0))


def normal_cdf(z: float) -> float:
    """Phi(z), the standard normal distribution function."""
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


def overlap(gamma: float, dims: int) -> float:
    """Technique 2's Phi(sqrt(2D)(gamma - 1) + 3 gamma) - Phi(sqrt(2D)(gamma - 1) - 3 gamma)."""
    shift = math.sqrt(2.0 * dims) * (gamma - 1.0)
    return normal_cdf(shift + 3.0 * gamma) - normal_cdf(shift - 3.0 * gamma)


def technique2_applies(dims: int) -> bool:
    """Whether Technique 2's overlap condition has a solution gamma > 1 for dims dimensions."""
    return dims >= MIN_DIMS


def solve_gamma(dims: int, target: float = OVERLAP) -> float:
    """The ratio gamma > 1 with overlap(gamma, dims) = target (the overlap falls from
    Phi(3) - Phi(-3) = 0.997 at gamma = 1 to 0 as gamma grows)."""
    if not technique2_applies(dims):  # Then sqrt(2D) <= 3 and the overlap tends to 1, not 0.
        raise NoiseRuleError(f"Technique 2 needs data of at least {MIN_DIMS} dimensions (its "
                             f"normal approximation of the norm), got {dims}: below that every "
                             "ratio passes its overlap test; choose the number of levels by hand "
                             f"(the paper's 2-D toy: 20 to 1, L = 10, ratio {TOY_RATIO:.2f})")
    if not 0.0 < target < overlap(1.0, dims):
        raise NoiseRuleError(f"the overlap target must be in (0, {overlap(1.0, dims):.4f}), got "
                             f"{target}")
    upper = 2.0
    while overlap(upper, dims) > target:
        upper *= 2.0
    return float(optimize.brentq(lambda g: overlap(g, dims) - target, 1.0, upper, xtol=1e-12))


def num_levels(sigma_max: float, sigma_min: float, gamma: float) -> int:
    """The fewest geometric levels from sigma_max to sigma_min whose ratio is at most gamma."""
    if not sigma_max > sigma_min > 0:
        raise NoiseRuleError(f"need sigma_max > sigma_min > 0, got {sigma_max} and {sigma_min}")
    if not gamma > 1:
        raise NoiseRuleError(f"gamma must be above 1, got {gamma}")
    steps = math.log(sigma_max / sigma_min) / math.log(gamma)
    return int(math.ceil(steps - 1e-9)) + 1


def geometric_ratio(sigma_max: float, sigma_min: float, levels: int) -> float:
    """sigma_{i-1} / sigma_i of `levels` geometric levels from sigma_max to sigma_min."""
    return (sigma_max / sigma_min) ** (1.0 / (levels - 1))


def _step_fraction(eps: float, sigma_min: float, convention: str) -> float:
    """d = the fraction of the distance to the mean one step removes: alpha / sigma_i^2."""
    if convention not in CONVENTIONS:
        raise NoiseRuleError(f"convention must be one of {', '.join(CONVENTIONS)}, got "
                             f"'{convention}'")
    d = eps / sigma_min ** 2
    return d if convention == "reference" else d / 2.0


def variance_ratio(eps: float, sigma_min: float, gamma: float, steps: int,
                   convention: str = "reference") -> float:
    """Technique 4's s_T^2 / sigma_i^2 (module docstring), the same at every level."""
    d = _step_fraction(eps, sigma_min, convention)
    if not 0.0 < d < 1.0:
        raise NoiseRuleError(f"eps={eps} moves a step by {d:g} of the distance to the mean; "
                             "it must be in (0, 1): use a smaller eps")
    stationary = 2.0 * d / (1.0 - (1.0 - d) ** 2)
    return (1.0 - d) ** (2 * steps) * (gamma ** 2 - stationary) + stationary


def solve_eps(sigma_min: float, gamma: float, steps: int, convention: str = "reference"
              ) -> float:
    """Technique 4: the eps whose variance_ratio is closest to 1 (the ratio is above 1 for
    every eps, so this is its minimum), in the given step convention."""
    if steps < 1:
        raise NoiseRuleError(f"steps per level must be at least 1, got {steps}")
    scale = sigma_min ** 2 * (1.0 if convention == "reference" else 2.0)
    _step_fraction(1.0, 1.0, convention)  # Checks the name.

    def ratio(log_d: float) -> float:
        return variance_ratio(math.exp(log_d) * scale, sigma_min, gamma, steps, convention)

    result = optimize.minimize_scalar(ratio, bounds=(math.log(1e-12), math.log(1.0 - 1e-9)),
                                      method="bounded", options={"xatol": 1e-10})
    return float(math.exp(result.x) * scale)


@dataclasses.dataclass(frozen=True)
class NoiseLevels:
    """The proposal of Techniques 1, 2 and 4 for one dataset."""

    sigma_max: float
    sigma_min: float
    num_levels: int
    gamma: float | None  # Technique 2's solution (None: the levels were given, D < MIN_DIMS);
    # the levels' own ratio is `ratio` (<= gamma).
    ratio: float
    eps: float
    steps_per_level: int
    convention: str
    variance_ratio: float  # Technique 4's s_T^2 / sigma_i^2 at `eps`.
    dims: int


def propose(sigma_max: float, sigma_min: float, dims: int, steps_per_level: int,
            convention: str = "reference", levels: int | None = None) -> NoiseLevels:
    """Techniques 2 and 4 given sigma_1 (Technique 1's distance) and sigma_L.

    `levels` replaces Technique 2 by that many geometric levels: only where it does not apply
    (dims < MIN_DIMS; elsewhere it is an error, so that the rule is not overridden unawares).
    """
    if levels is None:
        gamma = solve_gamma(dims)
        levels = num_levels(sigma_max, sigma_min, gamma)
    elif technique2_applies(dims):
        raise NoiseRuleError(f"Technique 2 sets the number of levels for {dims} dimensions; "
                             f"it is given only below {MIN_DIMS}")
    else:
        gamma = None
        if not sigma_max > sigma_min > 0:
            raise NoiseRuleError(f"need sigma_max > sigma_min > 0, got {sigma_max} and "
                                 f"{sigma_min}")
        if levels < 2:
            raise NoiseRuleError(f"the number of levels must be at least 2, got {levels}")
    ratio = geometric_ratio(sigma_max, sigma_min, levels)
    eps = solve_eps(sigma_min, ratio, steps_per_level, convention)
    return NoiseLevels(sigma_max, sigma_min, levels, gamma, ratio, eps, steps_per_level,
                       convention, variance_ratio(eps, sigma_min, ratio, steps_per_level,
                                                  convention), dims)
