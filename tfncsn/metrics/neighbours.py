"""Nearest training images of generated samples (paper Appendix C.2), in pixel L2.

A model that memorised its training set would produce samples that are
near-copies of training images; the figure puts each sample next to its
closest ones so that can be checked by eye.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from tfncsn.metrics.precision_recall import pairwise_distances

CHUNK = 8192  # Reference images compared at a time.


class Neighbours(NamedTuple):
    indices: np.ndarray  # int [Q, k] into the references, nearest first.
    distances: np.ndarray  # float [Q, k] pixel L2 distances.


def nearest_neighbours(queries: np.ndarray, references: np.ndarray, k: int) -> Neighbours:
    """The k nearest references of every query by Euclidean distance of the flattened pixels."""
    q = np.asarray(queries, np.float64).reshape(len(queries), -1)
    r = np.asarray(references).reshape(len(references), -1)
    if q.shape[1] != r.shape[1]:
        raise ValueError(f"queries {queries.shape[1:]} and references {references.shape[1:]} "
                         "differ in shape")
    if not 1 <= k <= len(r):
        raise ValueError(f"k must be in [1, {len(r)}], got {k}")
    best_d = np.full((len(q), 0), np.inf)
    best_i = np.zeros((len(q), 0), np.int64)
    for start in range(0, len(r), CHUNK):  # Merge each block's k best into the running k best.
        d = pairwise_distances(q, r[start:start + CHUNK].astype(np.float64))
        take = min(k, d.shape[1])
        part = np.argpartition(d, take - 1, axis=1)[:, :take]
        best_d = np.concatenate([best_d, np.take_along_axis(d, part, axis=1)], axis=1)
        best_i = np.concatenate([best_i, part + start], axis=1)
        keep = np.argsort(best_d, axis=1, kind="stable")[:, :k]
        best_d = np.take_along_axis(best_d, keep, axis=1)
        best_i = np.take_along_axis(best_i, keep, axis=1)
    return Neighbours(best_i, best_d)


def neighbours_rows(queries: np.ndarray, references: np.ndarray, indices: np.ndarray,
                    separator: bool = True) -> np.ndarray:
    """[Q * (k + 1 + separator), H, W, C]: each query, a blank tile, then its neighbours.

    Tile with `tfncsn.figures.image_grid(rows, columns=k + 1 + separator)`; the blank
    (white, value 1) tile keeps the sample apart from its neighbours.
    """
    blank = np.ones((int(separator), *queries.shape[1:]), np.float32)
    rows = [np.concatenate([q[None], blank, references[i]], axis=0)
            for q, i in zip(np.asarray(queries, np.float32), indices)]
    return np.concatenate(rows, axis=0)
