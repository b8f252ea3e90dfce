"""Kernel Inception Distance (Binkowski et al., 2018): unbiased MMD^2, cubic polynomial kernel.

k(x, y) = (x . y / d + 1)^3 on d-dimensional features. The estimate is
averaged over random subsets of equal size drawn from both sets (the paper:
100 subsets of 1000), which also gives its spread. Unlike FID it is unbiased:
its expectation does not depend on the number of samples, and it can be < 0.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class KIDResult(NamedTuple):
    mean: float
    std: float
    subset_size: int
    num_subsets: int


def polynomial_kernel(x: np.ndarray, y: np.ndarray, degree: int = 3, coef0: float = 1.0):
    """(x y^T / d + coef0)^degree."""
    return (x @ y.T / x.shape[1] + coef0) ** degree


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 between samples x [m, d] and y [n, d] under `polynomial_kernel`."""
    m, n = len(x), len(y)
    if m < 2 or n < 2:
        raise ValueError(f"unbiased MMD needs at least 2 examples per set, got {m} and {n}")
    kxx, kyy, kxy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    within_x = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    within_y = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(within_x + within_y - 2.0 * kxy.mean())


def kernel_inception_distance(real: np.ndarray, fake: np.ndarray, num_subsets: int = 100,
                              subset_size: int = 1000, seed: int = 0) -> KIDResult:
    """KID between feature sets [N, d]: mean and std of MMD^2 over random subsets.

    Each subset draws `subset_size` examples (capped at the smaller set) from each
    set without replacement, with a NumPy generator seeded by `seed`.
    """
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"need features [N, d] of equal d, got {real.shape} and {fake.shape}")
    size = min(subset_size, len(real), len(fake))
    rng = np.random.default_rng(seed)
    values = [mmd2_unbiased(real[rng.choice(len(real), size, replace=False)],
                            fake[rng.choice(len(fake), size, replace=False)])
              for _ in range(num_subsets)]
    return KIDResult(float(np.mean(values)), float(np.std(values)), size, num_subsets)
