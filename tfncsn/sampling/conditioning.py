"""Conditionings of any sampler: inpainting, colorization and classifier guidance.

`Inpainting(sampler, y, mask)` (Algorithm 2 of Song & Ermon 2019) is itself a
step program: it carries the current observation y~ = m y + sigma z in its state (m = 1
but on an SDE such as VP, whose x_t = m x0 + sigma z),
draws a fresh z whenever the wrapped sampler enters a new noise level (its
`steps_per_level`), and imposes y~ on the known coordinates before and after
every step of the wrapped sampler:

    x <- B^T [ (B x) * (1 - m) + (B y~) * m ]      (m = 1 where a coordinate is known)

where B is an orthogonal matrix acting on the channels (the identity, i.e. the
pixels themselves, unless `basis` is given). So the known coordinates end as
y plus the last level's noise, as in Algorithm 2; when the wrapped sampler has a
final step (e.g. denoising) they end as y itself. Because B is orthogonal, B z is
standard normal too, so perturbing y in either basis is the same.

`Colorization(sampler, gray)` is inpainting in the colour basis `COLOUR_BASIS`,
whose first coordinate is the luminance (r + g + b) / sqrt(3): that coordinate
is known from the gray image and the two chroma coordinates are sampled (Song
et al. 2021, Section 5 and Appendix I, colorization). y and mask may be symbolic
(the export feeds them as graph inputs). docs/conditioning.md has the maths.

`guided_score(score_fn, log_prob_fn, label, scale)` is classifier guidance
(Song et al. 2021, eq. 14 with p_t(y | x) a noise-conditional classifier): a
score-function transform, so it works inside any sampler.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import tensorflow as tf

from tfncsn import sdes
from tfncsn.interfaces import ScoreFn
from tfncsn.sampling.checks import check_step_result
from tfncsn.sampling.contract import Noise, Sampler, SamplerError

# log_prob_fn(x [N, ...], sigma float32 [N], labels int32 [N]) -> log p(labels | x, sigma) [N].
LogProbFn = Callable[[tf.Tensor, tf.Tensor, tf.Tensor], tf.Tensor]

OBSERVATION_NOISE = "observation"
OBSERVATION_STATE = "y_tilde"

# Orthogonal colour basis B (rows): luminance, then two chroma directions (red - green, and
# red + green - 2 blue). B @ B.T = I, so B.T maps colour coordinates back to RGB.
COLOUR_BASIS = np.array([[1.0, 1.0, 1.0], [1.0, -1.0, 0.0], [1.0, 1.0, -2.0]], np.float64) \
    / np.array([[np.sqrt(3.0)], [np.sqrt(2.0)], [np.sqrt(6.0)]])
# The known coordinates of colorization in that basis: the luminance only.
COLOUR_MASK = np.array([1.0, 0.0, 0.0], np.float32)


class Inpainting(Sampler):
    """Fills the coordinates where `mask` is 0 with `sampler`, keeping those where it is 1.

    Args:
      sampler: a program with `supports_conditioning`.
      y: observed images [N, ...] in model space; values at unknown pixels are ignored.
      mask: 1 where known, 0 where to fill; broadcastable to y (in the `basis`).
      basis: None (the pixels) or an orthogonal [C, C] matrix B whose rows are the basis in
        which `mask` is given: the known coordinates are those of B x (channels last).
    """

    def __init__(self, sampler: Sampler, y, mask, basis=None):
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
        self._step_mean_scales = tf.constant(np.asarray(sampler.step_mean_scales, np.float32))
        self.basis = None if basis is None else check_basis(basis, self.y.shape[-1])

    plugin_label = property(lambda self: self.inner.plugin_label)
    num_steps = property(lambda self: self.inner.num_steps)
    prior = property(lambda self: self.inner.prior)
    score_input = property(lambda self: self.inner.score_input)
    steps_per_level = property(lambda self: self.inner.steps_per_level)
    step_sigmas = property(lambda self: self.inner.step_sigmas)
    step_mean_scales = property(lambda self: self.inner.step_mean_scales)
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
        """x with its known coordinates (in the basis) replaced by those of `observed`."""
        if self.basis is None:
            return x * (1.0 - self.mask) + observed * self.mask
        into = lambda v: tf.einsum("...c,dc->...d", v, self.basis)  # noqa: E731 -- B v
        mixed = into(x) * (1.0 - self.mask) + into(observed) * self.mask
        return tf.einsum("...d,dc->...c", mixed, self.basis)  # B^T back to the pixels.

    def step(self, score_fn, state, k, noise):
        new_level = k % self.inner.steps_per_level == 0
        fresh = (self._step_mean_scales[k] * self.y
                 + self._step_sigmas[k] * noise[OBSERVATION_NOISE])
        y_tilde = tf.where(new_level, fresh, state[OBSERVATION_STATE])
        inner_state = {name: state[name] for name in self.inner.state}
        inner_state["x"] = self.impose(state["x"], y_tilde)
        inner_noise = {n.name: noise[n.name] for n in self.inner.noise}
        out = check_step_result(self.inner, self.inner.step(score_fn, inner_state, k, inner_noise),
                                inner_state)
        out["x"] = self.impose(out["x"], y_tilde)
        out[OBSERVATION_STATE] = y_tilde
        return out

    def finish(self, score_fn, state):
        inner_state = {name: state[name] for name in self.inner.state}
        x = self.inner.finish(score_fn, inner_state)
        return self.impose(x, self.y) if self.inner.has_finish else x


def check_basis(basis, channels) -> tf.Tensor:
    """`basis` as a float32 constant after checking it is an orthogonal [C, C] matrix."""
    matrix = np.asarray(basis, np.float64)
    if channels is not None and matrix.shape != (channels, channels):
        raise SamplerError(f"the conditioning basis must be a {channels}x{channels} matrix for "
                           f"images with {channels} channels, got shape {matrix.shape}")
    if not np.allclose(matrix @ matrix.T, np.eye(len(matrix)), atol=1e-6):
        raise SamplerError("the conditioning basis must be orthogonal (B B^T = I)")
    return tf.constant(matrix, tf.float32)


def luminance(images):
    """The gray image of RGB images [..., 3]: their mean over the channels, [..., 1]."""
    return np.mean(np.asarray(images, np.float32), axis=-1, keepdims=True)


class Colorization(Inpainting):
    """Samples the colours of gray images: inpainting in `COLOUR_BASIS` with the luminance known.

    Args:
      sampler: a program with `supports_conditioning`, for RGB images [H, W, 3].
      gray: the gray images [N, H, W, 1] (or [N, H, W, 3] with equal channels) in model space,
        the channel mean of the images sought (`luminance`); their luminance coordinate is
        sqrt(3) * gray.
    """

    def __init__(self, sampler: Sampler, gray):
        channels = sampler.problem.element_shape[-1]
        if len(sampler.problem.element_shape) != 3 or channels != 3:
            raise SamplerError(f"colorization needs RGB images [H, W, 3]; this model's examples "
                               f"have shape {sampler.problem.element_shape}")
        gray = tf.convert_to_tensor(gray, tf.float32)
        # (g, g, g), whose coordinates in the basis are (sqrt(3) g, 0, 0).
        y = gray * tf.ones([3]) if gray.shape[-1] == 1 else gray
        super().__init__(sampler, y, COLOUR_MASK, basis=COLOUR_BASIS)


def guided_score(score_fn: ScoreFn, log_prob_fn: LogProbFn, labels, scale: float,
                 score_input: str, sigmas, sde: sdes.SDE | None = None) -> ScoreFn:
    """Classifier guidance: the score of p(x | y) up to the guidance scale,

        s(x, sigma) + scale * grad_x log p(y | x, sigma)

    (Song et al. 2021, eq. 14, where p_t(y | x) is a noise-conditional classifier; with
    scale = 1 this is Bayes' rule, grad log p(x | y) = grad log p(x) + grad log p(y | x)).
    A score-function transform, so it works inside any sampler: `score_input` is the
    sampler's ("level": the second input indexes `sigmas`; "sigma": it is sigma itself).

    Args:
      score_fn: the unconditional score the sampler asks for.
      log_prob_fn: log p(labels | x, sigma) per example (independent across examples).
      labels: int32 [N], the class of each sample (or a scalar for all).
      scale: the guidance scale (0: unconditional).
      score_input: `Sampler.score_input`.
      sigmas: float32 [L], the trained levels (used when score_input is "level").
      sde: the run's SDE, or None for NCSN's levels. The classifier is trained on x0 + sigma z;
        on an SDE x_t = m x0 + std z it sees x_t / m at sigma = std / m (the chain rule's 1/m
        comes with the gradient).
    """
    sigmas = tf.constant(np.asarray(sigmas, np.float32))
    labels = tf.convert_to_tensor(labels, tf.int32)

    def guided(x, noise):
        sigma = tf.gather(sigmas, noise) if score_input == "level" else noise
        with tf.GradientTape() as tape:
            tape.watch(x)
            seen, seen_sigma = x, sigma
            if sde is not None:
                mean_scale = sde.mean_scale_at_std(sigma)
                seen = x / sdes.expand(mean_scale, x)
                seen_sigma = sigma / mean_scale
            # The sum's gradient is each example's own: the examples are independent.
            total = tf.reduce_sum(log_prob_fn(seen, seen_sigma,
                                              tf.broadcast_to(labels, tf.shape(x)[:1])))
        gradient = tape.gradient(total, x)
        return score_fn(x, noise) + scale * gradient

    return guided
