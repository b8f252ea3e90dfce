"""The SavedModel of an export: `score(x, level)` and the sampler `sample(seed, num_samples)`."""

from __future__ import annotations

from typing import Sequence

import keras
import tensorflow as tf

from tfncsn.config import SamplerConfig
from tfncsn.interfaces import Sampler
from tfncsn.langevin import uniform_prior


class ScoreModule(tf.Module):
    """A `tf.Module` with explicit signatures around a score model (`model(x, level)`).

    Only the model's variables are tracked, not the Keras object itself: saving a
    Keras 3 model attribute would make Keras add its own one-input serving
    signature, which a two-input score model cannot trace.

    Signatures:
      score(x: float32 [N, *shape], level: int32 [N]) -> {"score": float32 [N, *shape]}
      sample(seed: int64 [], num_samples: int32 []) -> {"samples": float32 [num_samples, *shape]}

    `sample` draws x from the uniform prior and runs `sampler` (e.g. Algorithm 1)
    in-graph. Its randomness comes from a Philox generator reset from `seed` at
    the start of every call, so the result is a function of (seed, num_samples)
    and equals what `tfncsn sample --seed=SEED` draws with the same settings (up to
    float rounding). Concurrent calls on one loaded model share that generator:
    serialise them when reproducibility matters.
    """

    def __init__(self, model: keras.Model, element_shape: Sequence[int], sigmas: Sequence[float],
                 sampler: Sampler, settings: SamplerConfig, prior_range: Sequence[float]):
        super().__init__(name="tfncsn_score")
        # A closure keeps the Keras model untracked (see above); its weights are tracked here.
        self._score_fn = lambda x, level: model(x, level, training=False)
        self.model_variables = list(model.variables)
        self.sigmas = tf.constant(sigmas, tf.float32)
        self.element_shape = tuple(int(d) for d in element_shape)
        self.rng = tf.random.Generator.from_seed(0)
        self._sampler, self._settings = sampler, settings
        self._prior = (float(prior_range[0]), float(prior_range[1]))
        shape = self.element_shape
        self.score = tf.function(self._score, input_signature=[
            tf.TensorSpec([None, *shape], tf.float32, name="x"),
            tf.TensorSpec([None], tf.int32, name="level")])
        self.sample = tf.function(self._sample, input_signature=[
            tf.TensorSpec([], tf.int64, name="seed"),
            tf.TensorSpec([], tf.int32, name="num_samples")])

    def _score(self, x, level):
        return {"score": self._score_fn(x, level)}

    def _sample(self, seed, num_samples):
        self.rng.reset_from_seed(seed)
        shape = tf.concat([[num_samples], tf.constant(self.element_shape, tf.int32)], 0)
        x = uniform_prior(self.rng, shape, *self._prior)
        s = self._settings
        out = self._sampler(self._score_fn, x, self.sigmas, rng=self.rng, eps=s.eps,
                            steps_per_level=s.steps_per_level, convention=s.convention,
                            denoise=s.denoise)
        return {"samples": tf.ensure_shape(out.x, [None, *self.element_shape])}

    def save(self, path: str) -> None:
        tf.saved_model.save(self, path, signatures={
            "score": self.score, "sample": self.sample, "serving_default": self.score})
