"""Langevin dynamics building blocks shared by samplers and inpainting (SPEC sections 4-5).

Step-size conventions, with a_i = eps * sigma_i^2 / sigma_L^2:

    "paper"      x <- x + a_i/2 * s(x, sigma_i) + sqrt(a_i) * z     (Algorithm 1 as printed)
    "reference"  x <- x + a_i   * s(x, sigma_i) + sqrt(2 a_i) * z   (the authors' image code)

"reference" equals "paper" with eps doubled. "paper" is the default.

`annealed_loop` runs under eager execution (where it calls `callback` after
each step) and inside `tf.function` (where autograph turns its loops into
`tf.while_loop`s; use `keep_every` there to get intermediate states).
"""

from __future__ import annotations

from typing import Callable

import tensorflow as tf

from tfncsn.interfaces import STEP_CONVENTIONS, Callback, SamplerOutput, ScoreFn

# begin_level(x, level, sigma) -> (x, aux); after_step(x, aux) -> x.
BeginLevel = Callable[[tf.Tensor, tf.Tensor, tf.Tensor], tuple[tf.Tensor, tf.Tensor]]
AfterStep = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]


def check_convention(convention: str) -> None:
    if convention not in STEP_CONVENTIONS:
        raise ValueError(
            f"unknown step convention '{convention}'; use one of {', '.join(STEP_CONVENTIONS)}")


def step_size(eps, sigma, sigma_min) -> tf.Tensor:
    """a_i = eps * sigma_i^2 / sigma_L^2 (Algorithm 1, line 3)."""
    return eps * tf.square(sigma / sigma_min)


def langevin_update(x: tf.Tensor, score: tf.Tensor, alpha, noise: tf.Tensor,
                    convention: str = "paper") -> tf.Tensor:
    """One Langevin step (Algorithm 1, line 6) under the given convention."""
    if convention == "paper":
        return x + 0.5 * alpha * score + tf.sqrt(alpha) * noise
    if convention == "reference":
        return x + alpha * score + tf.sqrt(2.0 * alpha) * noise
    check_convention(convention)


def annealed_loop(score_fn: ScoreFn, x: tf.Tensor, sigmas: tf.Tensor, levels: tf.Tensor, *,
                  rng: tf.random.Generator, eps: float, steps_per_level: int,
                  convention: str = "paper", fixed_step: bool = False,
                  callback: Callback | None = None, keep_every: int = 0,
                  begin_level: BeginLevel | None = None,
                  after_step: AfterStep | None = None) -> SamplerOutput:
    """Langevin dynamics over the noise levels `levels` (indices into `sigmas`), in order.

    The step size is a_i = eps * sigma_i^2 / sigma_L^2, or eps itself when
    `fixed_step`. `begin_level` and `after_step` let Algorithm 2 re-impose the
    known pixels without a copy of this loop.
    """
    check_convention(convention)
    if keep_every < 0 or steps_per_level < 1:
        raise ValueError(f"need keep_every >= 0 and steps_per_level >= 1, got "
                         f"{keep_every} and {steps_per_level}")
    if callback is not None and not tf.executing_eagerly():
        raise ValueError("callback needs eager execution; inside tf.function use keep_every")
    sigmas = tf.convert_to_tensor(sigmas, tf.float32)
    levels = tf.convert_to_tensor(levels, tf.int32)
    x = tf.convert_to_tensor(x, tf.float32)
    batch = tf.shape(x)[0]
    sigma_min = sigmas[-1]
    states = tf.TensorArray(tf.float32, size=0, dynamic_size=True, element_shape=x.shape)
    num_kept = tf.constant(0)
    total_steps = tf.constant(0)
    aux = tf.zeros_like(x)
    for i in tf.range(tf.size(levels)):
        level = levels[i]
        sigma = sigmas[level]
        alpha = tf.constant(eps, tf.float32) if fixed_step else step_size(eps, sigma, sigma_min)
        level_vector = tf.fill([batch], level)
        if begin_level is not None:
            x, aux = begin_level(x, level, sigma)
        for step in tf.range(steps_per_level):
            x = langevin_update(x, score_fn(x, level_vector), alpha,
                                rng.normal(tf.shape(x)), convention)
            if after_step is not None:
                x = after_step(x, aux)
            total_steps += 1
            if keep_every > 0 and total_steps % keep_every == 0:
                states = states.write(num_kept, x)
                num_kept += 1
            if callback is not None:
                callback({"x": x, "level": int(level), "step": int(step),
                          "sigma": float(sigma), "alpha": float(alpha), "aux": aux})
    return SamplerOutput(x, states.stack() if keep_every > 0 else None)


def denoise(score_fn: ScoreFn, x: tf.Tensor, sigmas: tf.Tensor) -> tf.Tensor:
    """Final Tweedie step x + sigma_L^2 s(x, sigma_L) (NCSNv2, Song & Ermon 2020)."""
    last = tf.fill([tf.shape(x)[0]], tf.size(sigmas) - 1)
    return x + tf.square(sigmas[-1]) * score_fn(x, last)


def uniform_prior(rng: tf.random.Generator, shape, low: float, high: float) -> tf.Tensor:
    """Initial samples uniform on [low, high]^D (Algorithm 1, line 1)."""
    return rng.uniform(shape, minval=low, maxval=high, dtype=tf.float32)
