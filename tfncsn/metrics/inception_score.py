"""Inception Score (Salimans et al., 2016): exp(E_x KL(p(y|x) || p(y))), over splits."""

from __future__ import annotations

import numpy as np


def log_softmax(logits: np.ndarray) -> np.ndarray:
    logits = np.asarray(logits, np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def inception_score(logits: np.ndarray, splits: int = 10) -> tuple[float, float]:
    """Mean and standard deviation over `splits` equal parts of the Inception Score.

    `logits` [N, K] are unnormalised class scores (softmax is applied here). As in
    the reference implementations, the marginal p(y) is estimated within each split
    and the examples are split in their given order.
    """
    logits = np.asarray(logits, np.float64)
    if logits.ndim != 2:
        raise ValueError(f"need logits [N, K], got shape {logits.shape}")
    if not 1 <= splits <= len(logits):
        raise ValueError(f"need at least one example per split: {len(logits)} examples, "
                         f"{splits} splits")
    scores = []
    for part in np.array_split(log_softmax(logits), splits):
        log_marginal = np.log(np.exp(part).mean(axis=0))
        kl = (np.exp(part) * (part - log_marginal)).sum(axis=1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))
