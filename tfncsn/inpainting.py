"""Inpainting with annealed Langevin dynamics, Algorithm 2 of Song & Ermon (2019)."""

from __future__ import annotations

import tensorflow as tf

from tfncsn.interfaces import Callback, SamplerOutput, ScoreFn
from tfncsn.langevin import annealed_loop


def inpaint(score_fn: ScoreFn, y: tf.Tensor, mask: tf.Tensor, sigmas: tf.Tensor, x: tf.Tensor,
            *, rng: tf.random.Generator, eps: float, steps_per_level: int,
            convention: str = "paper", callback: Callback | None = None,
            keep_every: int = 0) -> SamplerOutput:
    """Fills the pixels where `mask` is 0, keeping those where it is 1 (any mask shape).

    At each level a fresh y~ = y + sigma_i z is drawn and imposed on the known
    pixels before and after every Langevin step, so at the end the known pixels
    equal y plus the last level's draw. The callback's "aux" entry is that y~.

    Args:
      y: observed images [N, ...]; values at unknown pixels are ignored.
      mask: 1 where the pixel is known, 0 where it is to be filled; broadcastable to y.
      x: initial samples (e.g. uniform noise), same shape as y.
    """
    y = tf.convert_to_tensor(y, tf.float32)
    mask = tf.broadcast_to(tf.cast(mask, tf.float32), tf.shape(y))

    def impose(x, y_tilde):
        return x * (1.0 - mask) + y_tilde * mask

    def begin_level(x, level, sigma):
        y_tilde = y + sigma * rng.normal(tf.shape(y))
        return impose(x, y_tilde), y_tilde

    return annealed_loop(score_fn, x, sigmas, tf.range(tf.size(sigmas)), rng=rng, eps=eps,
                         steps_per_level=steps_per_level, convention=convention,
                         callback=callback, keep_every=keep_every,
                         begin_level=begin_level, after_step=impose)
