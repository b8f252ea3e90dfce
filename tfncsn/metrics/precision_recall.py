"""Improved precision and recall (Kynkaanniemi et al., 2019), k-NN manifold estimates.

The manifold of a feature set is the union of balls around its points, each
with the radius to the point's k-th nearest neighbour in the set (k = 3 in the
paper). Precision is the fraction of generated points inside the real manifold;
recall the fraction of real points inside the generated manifold. Both sets
should have the same size, as in the paper.

Precision is fooled by outliers: real points far from the rest get large balls,
and generated points that collapse onto one spot (e.g. all noise images mapping
to similar features) can land in such a ball and all count as precise. Density
and coverage (Naeem et al., 2020; k = 5 there) use only the real balls and are
robust to that: density counts how many real balls hold each generated point
(divided by k; about 1 when the distributions match), coverage is the fraction
of real balls that hold at least one generated point.
"""

from __future__ import annotations

from typing import Iterator, NamedTuple

import numpy as np

CHUNK = 1024  # Rows of a pairwise-distance block: keeps memory at CHUNK x N.


class DensityCoverage(NamedTuple):
    density: float
    coverage: float
    k: int


class PrecisionRecall(NamedTuple):
    precision: float
    recall: float
    k: int


def pairwise_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances [len(a), len(b)] (float64, negative round-off clipped)."""
    squared = (np.square(a).sum(axis=1)[:, None] + np.square(b).sum(axis=1)[None, :]
               - 2.0 * a @ b.T)
    return np.sqrt(np.clip(squared, 0.0, None))


def _chunks(x: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    for start in range(0, len(x), CHUNK):
        yield start, x[start:start + CHUNK]


def knn_radii(features: np.ndarray, k: int) -> np.ndarray:
    """Distance of each point to its k-th nearest neighbour in the set, itself excluded."""
    features = np.asarray(features, np.float64)
    if not 1 <= k < len(features):
        raise ValueError(f"k must be in [1, {len(features) - 1}] for {len(features)} points, "
                         f"got {k}")
    radii = np.empty(len(features))
    for start, block in _chunks(features):
        d = pairwise_distances(block, features)
        # Index k of the sorted row: index 0 is the point itself (distance 0).
        radii[start:start + len(block)] = np.partition(d, k, axis=1)[:, k]
    return radii


def inside_manifold(manifold: np.ndarray, radii: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """bool [Q]: whether each query lies within some manifold point's ball."""
    manifold = np.asarray(manifold, np.float64)
    inside = np.empty(len(queries), bool)
    for start, block in _chunks(np.asarray(queries, np.float64)):
        d = pairwise_distances(block, manifold)
        inside[start:start + len(block)] = np.any(d <= radii[None, :], axis=1)
    return inside


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> PrecisionRecall:
    """k-NN precision and recall of `fake` [M, d] with respect to `real` [N, d]."""
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"need features [N, d] of equal d, got {real.shape} and {fake.shape}")
    precision = inside_manifold(real, knn_radii(real, k), fake).mean()
    recall = inside_manifold(fake, knn_radii(fake, k), real).mean()
    return PrecisionRecall(float(precision), float(recall), k)


def density_coverage(real: np.ndarray, fake: np.ndarray, k: int = 5) -> DensityCoverage:
    """Density and coverage of `fake` [M, d] with respect to `real` [N, d] (Naeem et al.)."""
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"need features [N, d] of equal d, got {real.shape} and {fake.shape}")
    radii = knn_radii(real, k)
    balls_per_fake = np.zeros(len(fake))
    covered = np.zeros(len(real), bool)
    for start, block in _chunks(fake):
        inside = pairwise_distances(block, real) <= radii[None, :]  # [block, N]
        balls_per_fake[start:start + len(block)] = inside.sum(axis=1)
        covered |= inside.any(axis=0)
    return DensityCoverage(float(balls_per_fake.sum() / (k * len(fake))), float(covered.mean()),
                           k)
