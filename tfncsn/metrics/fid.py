"""Frechet distance between Gaussians fitted to features (Heusel et al., 2017).

FID = ||mu_1 - mu_2||^2 + tr(S_1 + S_2 - 2 (S_1 S_2)^(1/2)).

tr((S_1 S_2)^(1/2)) is the sum of the square roots of the eigenvalues of
S_1 S_2, which are those of the symmetric positive semi-definite matrix
S_1^(1/2) S_2 S_1^(1/2). Computing them with `eigh` gives real, non-negative
values even for singular covariances (fewer samples than feature dimensions),
where a general matrix square root returns complex noise.
"""

from __future__ import annotations

import os

import numpy as np

STATS_KEYS = ("mu", "sigma")


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean [D] and covariance [D, D] (unbiased, float64) of features [N, D]."""
    features = np.asarray(features, np.float64)
    if features.ndim != 2 or len(features) < 2:
        raise ValueError(f"need features [N >= 2, D], got shape {features.shape}")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric PSD matrix (negative round-off clipped)."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """tr((S_1 S_2)^(1/2)) for symmetric PSD S_1, S_2."""
    root = _psd_sqrt(np.asarray(sigma1, np.float64))
    inner = root @ np.asarray(sigma2, np.float64) @ root
    values = np.linalg.eigvalsh((inner + inner.T) / 2)
    return float(np.sqrt(np.clip(values, 0.0, None)).sum())


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2)."""
    mu1 = np.atleast_1d(np.asarray(mu1, np.float64))
    mu2 = np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != mu1.shape * 2:
        raise ValueError(f"statistics do not match: mu {mu1.shape} vs {mu2.shape}, sigma "
                         f"{sigma1.shape} vs {sigma2.shape}")
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2)
                 - 2.0 * trace_sqrt_product(sigma1, sigma2))


def fid_from_features(features1: np.ndarray, features2: np.ndarray) -> float:
    """FID between two feature sets [N1, D] and [N2, D]."""
    return frechet_distance(*feature_statistics(features1), *feature_statistics(features2))


def save_statistics(path: str, mu: np.ndarray, sigma: np.ndarray, **metadata) -> None:
    """Writes `mu`, `sigma` (and scalar metadata) as .npz, atomically."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp.npz"
    np.savez(tmp, mu=mu, sigma=sigma, **{k: np.asarray(v) for k, v in metadata.items()})
    os.replace(tmp, path)


def load_statistics(path: str, dim: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(mu, sigma) from an .npz with keys `mu` and `sigma`, as the published files have."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"reference statistics '{path}' not found")
    try:
        data = np.load(path)
    except (OSError, EOFError, ValueError) as e:  # Not NumPy's format, truncated, pickled...
        raise ValueError(f"cannot read reference statistics '{path}': {e}") from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise ValueError(f"'{path}' holds a single array; an .npz with `mu` [D] and `sigma` "
                         "[D, D] is expected")
    with data:
        missing = [k for k in STATS_KEYS if k not in data]
        if missing:
            raise ValueError(f"'{path}' lacks {', '.join(missing)}; an .npz with `mu` [D] and "
                             f"`sigma` [D, D] is expected (has: {', '.join(data.files)})")
        mu, sigma = np.asarray(data["mu"], np.float64), np.asarray(data["sigma"], np.float64)
    if mu.ndim != 1 or sigma.shape != (len(mu), len(mu)):
        raise ValueError(f"'{path}': mu {mu.shape} and sigma {sigma.shape} are not [D] and [D, D]")
    if dim is not None and len(mu) != dim:
        raise ValueError(f"'{path}' holds {len(mu)}-d statistics; these features are {dim}-d")
    return mu, sigma
