"""Isotropic Gaussian mixtures with exact scores of their noise-perturbed densities.

Perturbing N(mu_k, s^2 I) with N(0, sigma^2 I) gives N(mu_k, (s^2 + sigma^2) I), so
the score of the perturbed mixture is known exactly (docs/algorithms.md section 7.2): the tool
for testing losses and samplers against analytic answers.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import tensorflow as tf


class GaussianMixture:
    """p(x) = sum_k w_k N(x; mu_k, std^2 I)."""

    def __init__(self, weights: Sequence[float], means: Sequence[Sequence[float]],
                 std: float = 1.0):
        self.weights = np.asarray(weights, np.float64)
        self.means = np.asarray(means, np.float64)
        if self.weights.ndim != 1 or self.means.shape[0] != self.weights.size:
            raise ValueError("need one weight per mean")
        if np.any(self.weights <= 0) or not np.isclose(self.weights.sum(), 1.0):
            raise ValueError(f"weights must be positive and sum to 1, got {self.weights}")
        self.std = float(std)

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    def sample(self, n: int, seed: int) -> np.ndarray:
        """n i.i.d. samples as float32 [n, dim]."""
        gen = np.random.default_rng(seed)
        components = gen.choice(self.weights.size, size=n, p=self.weights)
        x = self.means[components] + self.std * gen.standard_normal((n, self.dim))
        return x.astype(np.float32)

    def log_prob(self, x: tf.Tensor, sigma=0.0) -> tf.Tensor:
        """log p_sigma(x) for p perturbed by N(0, sigma^2 I): [N]."""
        x = tf.convert_to_tensor(x, tf.float32)
        variance = self.std ** 2 + tf.square(tf.reshape(tf.cast(sigma, tf.float32), [-1, 1]))
        means = tf.constant(self.means, tf.float32)
        squared = tf.reduce_sum(tf.square(x[:, None, :] - means[None]), -1)  # [N, K]
        log_normal = -0.5 * squared / variance - 0.5 * self.dim * tf.math.log(
            2.0 * np.pi * variance)
        log_w = tf.math.log(tf.constant(self.weights, tf.float32))[None, :]
        return tf.reduce_logsumexp(log_w + log_normal, axis=-1)

    def score(self, x: tf.Tensor, sigma) -> tf.Tensor:
        """grad_x log p_sigma(x) for p perturbed by N(0, sigma^2 I); sigma scalar or [N]."""
        x = tf.convert_to_tensor(x, tf.float32)
        sigma = tf.convert_to_tensor(sigma, tf.float32)
        variance = self.std ** 2 + tf.square(tf.reshape(sigma, [-1, 1]))  # [N or 1, 1]
        means = tf.constant(self.means, tf.float32)  # [K, D]
        diff = means[None, :, :] - x[:, None, :]  # [N, K, D]
        # The components share one variance, so the Gaussian normaliser cancels.
        logits = (tf.math.log(tf.constant(self.weights, tf.float32))[None, :]
                  - tf.reduce_sum(tf.square(diff), -1) / (2.0 * variance))
        responsibilities = tf.nn.softmax(logits, axis=-1)  # [N, K]
        return tf.einsum("nk,nkd->nd", responsibilities, diff) / variance

    def nearest_component(self, x) -> np.ndarray:
        """Index of the closest mean for each sample: [N] int."""
        x = np.asarray(x, np.float64)
        distances = ((x[:, None, :] - self.means[None, :, :]) ** 2).sum(-1)
        return distances.argmin(axis=1)

    def mode_weights(self, x) -> np.ndarray:
        """Fraction of samples nearest to each mean: the paper's Fig. 3 statistic."""
        counts = np.bincount(self.nearest_component(x), minlength=self.weights.size)
        return counts / max(len(x), 1)


def paper_toy() -> GaussianMixture:
    """p = 1/5 N((-5,-5), I) + 4/5 N((5,5), I), paper section 3.2 and Appendix B.1."""
    return GaussianMixture([0.2, 0.8], [[-5.0, -5.0], [5.0, 5.0]], std=1.0)
