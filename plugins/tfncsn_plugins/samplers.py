"""Built-in samplers (group `tfncsn.samplers`); each follows `tfncsn.interfaces.Sampler`."""

from __future__ import annotations

import tensorflow as tf

from tfncsn.interfaces import Callback, SamplerOutput, ScoreFn
from tfncsn.langevin import annealed_loop, denoise as tweedie_denoise


def annealed_langevin(score_fn: ScoreFn, x: tf.Tensor, sigmas: tf.Tensor, *,
                      rng: tf.random.Generator, eps: float, steps_per_level: int,
                      convention: str = "paper", denoise: bool = False,
                      callback: Callback | None = None, keep_every: int = 0,
                      **unused) -> SamplerOutput:
    """Annealed Langevin dynamics, Algorithm 1 of Song & Ermon (2019).

    T = `steps_per_level` steps at every level, step size eps * sigma_i^2 / sigma_L^2,
    then optionally the final denoising step of NCSNv2.
    """
    out = annealed_loop(score_fn, x, sigmas, tf.range(tf.size(sigmas)), rng=rng, eps=eps,
                        steps_per_level=steps_per_level, convention=convention,
                        callback=callback, keep_every=keep_every)
    if denoise:
        return out._replace(x=tweedie_denoise(score_fn, out.x, sigmas))
    return out


def langevin(score_fn: ScoreFn, x: tf.Tensor, sigmas: tf.Tensor, *,
             rng: tf.random.Generator, eps: float, steps_per_level: int,
             convention: str = "paper", denoise: bool = False,
             callback: Callback | None = None, keep_every: int = 0,
             **unused) -> SamplerOutput:
    """Plain Langevin dynamics at the smallest noise level with a fixed step eps (paper Fig. 3b).

    x <- x + eps/2 s(x, sigma_L) + sqrt(eps) z, repeated `steps_per_level` times.
    """
    last = tf.size(sigmas, out_type=tf.int32)[None] - 1
    out = annealed_loop(score_fn, x, sigmas, last, rng=rng, eps=eps,
                        steps_per_level=steps_per_level, convention=convention,
                        fixed_step=True, callback=callback, keep_every=keep_every)
    if denoise:
        return out._replace(x=tweedie_denoise(score_fn, out.x, sigmas))
    return out


annealed_langevin.total_steps = lambda num_levels, steps_per_level: num_levels * steps_per_level
langevin.total_steps = lambda num_levels, steps_per_level: steps_per_level
