"""The arithmetic of the Langevin-type samplers (Song & Ermon 2019; Song et al. 2021).

Step-size conventions of annealed Langevin dynamics, with a_i = eps * sigma_i^2 / sigma_L^2:

    "paper"      x <- x + a_i/2 * s(x, sigma_i) + sqrt(a_i) * z     (Algorithm 1 as printed)
    "reference"  x <- x + a_i   * s(x, sigma_i) + sqrt(2 a_i) * z   (the authors' image code)

"reference" equals "paper" with eps doubled. Both are written
x <- x + c_score * s + c_noise * z; `langevin_coefficients` gives (c_score, c_noise)
in float32, so every runtime that follows docs/samplers.md computes the same numbers.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

STEP_CONVENTIONS = ("paper", "reference")


def check_convention(convention: str) -> None:
    if convention not in STEP_CONVENTIONS:
        raise ValueError(
            f"unknown step convention '{convention}'; use one of {', '.join(STEP_CONVENTIONS)}")


def step_size(eps, sigma, sigma_min):
    """a_i = eps * sigma_i^2 / sigma_L^2 (Algorithm 1, line 3), in float32."""
    eps = np.float32(eps)
    ratio = np.asarray(sigma, np.float32) / np.float32(sigma_min)
    return eps * np.square(ratio)


def langevin_coefficients(alpha, convention: str) -> tuple[np.ndarray, np.ndarray]:
    """(c_score, c_noise) of x <- x + c_score s + c_noise z for step sizes `alpha` (float32)."""
    check_convention(convention)
    alpha = np.asarray(alpha, np.float32)
    if convention == "paper":
        return np.float32(0.5) * alpha, np.sqrt(alpha)
    return alpha, np.sqrt(np.float32(2.0) * alpha)


def langevin_update(x: tf.Tensor, score: tf.Tensor, alpha, noise: tf.Tensor,
                    convention: str = "paper") -> tf.Tensor:
    """One Langevin step (Algorithm 1, line 6) under the given convention."""
    c_score, c_noise = langevin_coefficients(alpha, convention)
    return x + c_score * score + c_noise * noise


def tweedie_denoise(x: tf.Tensor, score: tf.Tensor, sigma) -> tf.Tensor:
    """E[x_0 | x] = x + sigma^2 s(x, sigma) (Tweedie's formula; NCSNv2's final step)."""
    return x + tf.square(sigma) * score


def snr_step_size(score: tf.Tensor, z: tf.Tensor, snr: float) -> tf.Tensor:
    """Langevin corrector step eps = 2 (r ||z|| / ||s||)^2 (Song et al. 2021, Algorithm 4),
    a scalar: each norm is per example, averaged over the batch, as the authors' code does.

    Per-example ratios would give a sample near a mode (||s|| ~ 0) a huge step; in
    few dimensions, where the norms fluctuate, that ruins the samples.
    """
    axes = tf.range(1, tf.rank(score))
    score_norm = tf.reduce_mean(tf.sqrt(tf.reduce_sum(tf.square(score), axes)))
    noise_norm = tf.reduce_mean(tf.sqrt(tf.reduce_sum(tf.square(z), axes)))
    ratio = snr * noise_norm / tf.maximum(score_norm, 1e-12)
    return 2.0 * tf.square(ratio)
