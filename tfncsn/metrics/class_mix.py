"""The mix of classes among samples, as a classifier predicts it, against the training set's.

A small score model often draws some classes far more often than the data holds them (a few
garment classes take half of the samples, trousers and sandals almost none), and that alone
raises FID, however good each sample is. The total variation distance
1/2 sum_k |p_k - q_k| is the fraction of samples that would have to change class for the mix to
match: 0 for the training set's own proportions, 1 - q_k when every sample falls in class k.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def class_mix(predicted: np.ndarray, reference: np.ndarray, num_classes: int) -> dict[str, Any]:
    """Counts and fractions of the `predicted` labels, the fractions of the `reference` labels,
    and the total variation distance between the two."""
    predicted, reference = np.asarray(predicted), np.asarray(reference)
    if len(predicted) == 0 or len(reference) == 0:
        raise ValueError("need at least one predicted and one reference label")
    counts = np.bincount(predicted, minlength=num_classes)
    reference_fractions = np.bincount(reference, minlength=num_classes) / len(reference)
    if len(counts) != num_classes or len(reference_fractions) != num_classes:
        raise ValueError(f"labels must lie in 0..{num_classes - 1}")
    fractions = counts / len(predicted)
    return {"counts": counts.tolist(), "fractions": fractions.tolist(),
            "reference_fractions": reference_fractions.tolist(),
            "total_variation": float(0.5 * np.abs(fractions - reference_fractions).sum())}
