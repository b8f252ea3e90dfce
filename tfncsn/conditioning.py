"""Inpainting as a conditioning of any sampler (Algorithm 2 of Song & Ermon 2019).

`Inpainting(sampler, y, mask)` is itself a step program: it carries the
current observation y~ = y + sigma z in its state, draws a fresh z whenever the
wrapped sampler enters a new noise level (its `steps_per_level`), and imposes
y~ on the known pixels before and after every step of the wrapped sampler:

    x <- x * (1 - m) + y~ * m       (m = 1 where the pixel is known)

So the known pixels end as y plus the last level's noise, as in Algorithm 2;
when the wrapped sampler has a final step (e.g. denoising) they end as y itself.
y and mask may be symbolic (the export feeds them as graph inputs).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfncsn.programs import Noise, Sampler, SamplerError

OBSERVATION_NOISE = "observation"
OBSERVATION_STATE = "y_tilde"


class Inpainting(Sampler):
    """Fills the pixels where `mask` is 0 with `sampler`, keeping those where it is 1.

    Args:
      sampler: a program with `supports_conditioning`.
      y: observed images [N, ...] in model space; values at unknown pixels are ignored.
      mask: 1 where known, 0 where to fill; broadcastable to y.
    """

    def __init__(self, sampler: Sampler, y, mask):
        if not sampler.supports_conditioning:
            raise SamplerError(f"sampler {type(sampler).__name__} does not support "
                               "conditioning (inpainting); choose one that does")
        clash = {OBSERVATION_NOISE} & {n.name for n in sampler.noise} or \
            {OBSERVATION_STATE} & set(sampler.state)
        if clash:
            raise SamplerError(f"sampler {type(sampler).__name__} uses the name "
                               f"{clash.pop()!r}, which inpainting needs for itself")
        super().__init__(sampler.options, sampler.problem)
        self.inner = sampler
        self.y = tf.convert_to_tensor(y, tf.float32)
        self.mask = tf.broadcast_to(tf.cast(mask, tf.float32), tf.shape(self.y))
        self._step_sigmas = tf.constant(np.asarray(sampler.step_sigmas, np.float32))

    num_steps = property(lambda self: self.inner.num_steps)
    prior = property(lambda self: self.inner.prior)
    score_input = property(lambda self: self.inner.score_input)
    steps_per_level = property(lambda self: self.inner.steps_per_level)
    step_sigmas = property(lambda self: self.inner.step_sigmas)
    has_finish = property(lambda self: self.inner.has_finish)
    score_evaluations = property(lambda self: self.inner.score_evaluations)

    @property
    def state(self):
        return {**self.inner.state, OBSERVATION_STATE: "element"}

    @property
    def noise(self):
        every = self.inner.steps_per_level
        return (Noise(OBSERVATION_NOISE, every=every),) + tuple(self.inner.noise)

    def impose(self, x, observed):
        return x * (1.0 - self.mask) + observed * self.mask

    def step(self, score_fn, state, k, noise):
        new_level = k % self.inner.steps_per_level == 0
        fresh = self.y + self._step_sigmas[k] * noise[OBSERVATION_NOISE]
        y_tilde = tf.where(new_level, fresh, state[OBSERVATION_STATE])
        inner_state = {name: state[name] for name in self.inner.state}
        inner_state["x"] = self.impose(state["x"], y_tilde)
        inner_noise = {n.name: noise[n.name] for n in self.inner.noise}
        out = dict(self.inner.step(score_fn, inner_state, k, inner_noise))
        out["x"] = self.impose(out["x"], y_tilde)
        out[OBSERVATION_STATE] = y_tilde
        return out

    def finish(self, score_fn, state):
        inner_state = {name: state[name] for name in self.inner.state}
        x = self.inner.finish(score_fn, inner_state)
        return self.impose(x, self.y) if self.inner.has_finish else x
