"""The SavedModel of an export: `score(x, level)` and the sampler `sample(seed, num_samples)`."""

from __future__ import annotations

import keras
import tensorflow as tf

from tfncsn import sampling, seeds
from tfncsn.interfaces import ScoreFn
from tfncsn.sampling.contract import Sampler


class ScoreModule(tf.Module):
    """A `tf.Module` with explicit signatures around a score model (`model(x, level)`).

    Only the model's variables are tracked, not the Keras object itself: saving a
    Keras 3 model attribute would make Keras add its own one-input serving
    signature, which a two-input score model cannot trace.

    Signatures:
      score(x: float32 [N, *shape], level: int32 [N]) -> {"score": float32 [N, *shape]}
      sample(seed: int64 [], num_samples: int32 []) -> {"samples": float32 [num_samples, *shape]}

    `sample` runs the step program `sampler` in-graph (`tfncsn.sampling.run_in_graph`)
    with `program_score_fn`, the score it asks for. Its randomness comes from a
    Philox generator reset to the stream keyed by `seed` (`tfncsn.seeds`) at the start
    of every call, so the result
    is a function of (seed, num_samples) and equals what `tfncsn sample --seed=SEED`
    draws with the same sampler (up to float rounding). Concurrent calls on one
    loaded model share that generator: serialise them when reproducibility matters.
    """

    def __init__(self, model: keras.Model, sampler: Sampler, program_score_fn: ScoreFn):
        super().__init__(name="tfncsn_score")
        # Closures keep the Keras model untracked (see above); its weights are tracked here.
        self._score_fn = lambda x, level: model(x, level, training=False)
        self._program_score_fn = program_score_fn
        self.model_variables = list(model.variables)
        self.rng = seeds.generator(0)
        self._sampler = sampler
        shape = tuple(sampler.problem.element_shape)
        self.element_shape = shape
        self.score = tf.function(self._score, input_signature=[
            tf.TensorSpec([None, *shape], tf.float32, name="x"),
            tf.TensorSpec([None], tf.int32, name="level")])
        self.sample = tf.function(self._sample, input_signature=[
            tf.TensorSpec([], tf.int64, name="seed"),
            tf.TensorSpec([], tf.int32, name="num_samples")])

    def _score(self, x, level):
        return {"score": self._score_fn(x, level)}

    def _sample(self, seed, num_samples):
        seeds.reset(self.rng, seed)
        program = type(self._sampler)(self._sampler.options, self._sampler.problem)  # In-graph.
        x = sampling.run_in_graph(program, self._program_score_fn, self.rng, num_samples)
        return {"samples": tf.ensure_shape(x, [None, *self.element_shape])}

    def save(self, path: str) -> None:
        tf.saved_model.save(self, path, signatures={
            "score": self.score, "sample": self.sample, "serving_default": self.score})
