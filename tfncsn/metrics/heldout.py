"""Held-out denoising score matching: the paper's tool for comparing models (section 4.2).

With the noise levels and the noise itself fixed, the DSM loss on data no model
was trained on ranks models by how well they estimate the scores. Every held-out
example is evaluated at every level (no random level assignment), and the
Gaussian noise z of level i is one draw of shape [N, ...] from the stateless
seed (seed, i): the result is a deterministic function of (model, data, sigmas,
seed), independent of the batch size, and two models evaluated with the same
seed see exactly the same perturbed inputs.

A run trained in continuous time on an SDE (`continuous`) is scored by its own objective at L
fixed times, the centres of the bins its training summaries use: t_i = 1 - (i + 1/2)(1 - eps) / L.

The held-out examples are the test split as training sees its data
(`heldout_examples`): image pixels dequantised, with noise fixed by the same seed,
as the reference code does for its test loss.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np
import tensorflow as tf

from tfncsn.interfaces import ScoreFn
from tfncsn.losses import ContinuousDSM, continuous_dsm_per_example, dsm_per_example


class HeldoutLoss(NamedTuple):
    total: float  # Mean over levels of `per_level`: the training objective with uniform levels.
    per_level: np.ndarray  # [L] mean of 1/2 ||sigma_i s(x + sigma_i z, i) + z||^2 over examples.
    per_level_sem: np.ndarray  # [L] standard error of each mean (over examples).
    num_examples: int
    seed: int


def heldout_examples(dataset, limit: int = 0, seed: int = 0, split: str = "test") -> np.ndarray:
    """The first `limit` (0: all) examples of `split` as training sees them, fixed by `seed`.

    Training dequantises pixels (x * 255/256 + U/256); raw pixels would score the
    model on inputs it never saw (with the logit transform 0 and 1 become -+13.8).
    Image datasets give `load_dequantized(split, seed)` (no flips); any other
    dataset its training-time randomness, `load(split, training=True, seed=seed)`.
    """
    load_dequantized = getattr(dataset, "load_dequantized", None)
    data = (load_dequantized(split, seed) if load_dequantized
            else dataset.load(split, training=True, seed=seed))
    if limit > 0:
        data = data.take(limit)
    batches = list(data.batch(4096).as_numpy_iterator())
    if not batches:
        return np.zeros([0, *dataset.element_shape], np.float32)
    return np.concatenate(batches)


def examples_note(dataset) -> str:
    """How `heldout_examples` prepared the examples of `dataset`, for reports."""
    if not hasattr(dataset, "load_dequantized"):
        return "the dataset's training-time randomness, seeded by the held-out seed"
    if not getattr(dataset, "dequantize", True):
        return "pixels not dequantised (dequantize=false, as in training)"
    return "dequantised as in training, noise seeded by the held-out seed; not flipped"


def level_noise(seed: int, level: int, shape) -> tf.Tensor:
    """The fixed noise z of one level for the whole held-out set."""
    return tf.random.stateless_normal(shape, tf.constant([seed, level], tf.int64))


def bin_times(num_levels: int, t_min: float) -> np.ndarray:
    """float32 [L]: the centre of each time bin of a continuous run (bin 0 nearest t = 1)."""
    return (1.0 - (np.arange(num_levels) + 0.5) * (1.0 - t_min) / num_levels).astype(np.float32)


def heldout_dsm_loss(score_fn: ScoreFn, x: np.ndarray, sigmas, seed: int = 0,
                     batch_size: int = 250,
                     callback: Callable[[int], None] | None = None,
                     continuous: ContinuousDSM | None = None) -> HeldoutLoss:
    """Denoising score-matching loss of `score_fn` on held-out `x` at every level of `sigmas`.

    Args:
      score_fn: `score_fn(x, level)` as everywhere in tfncsn; with `continuous`,
        `score_fn(x, sigma)` at the marginal's std.
      x: held-out examples [N, *shape], in the model's space (see `heldout_examples`).
      sigmas: the run's noise levels [L] (largest first).
      seed: seed of the fixed noise.
      batch_size: examples per call of `score_fn`.
      callback: called with the number of examples done after every batch.
      continuous: the run's continuous objective (its SDE, eps and weighting): level i is then
        the time `bin_times(L, eps)[i]`.
    """
    x = tf.convert_to_tensor(np.asarray(x, np.float32))
    sigmas = tf.convert_to_tensor(np.asarray(sigmas, np.float32))
    n = int(x.shape[0])
    if n < 1:
        raise ValueError("no held-out examples")
    means, sems = [], []
    for level in range(int(sigmas.shape[0])):
        noise = level_noise(seed, level, x.shape)
        values = []
        for start in range(0, n, batch_size):
            xb, zb = x[start:start + batch_size], noise[start:start + batch_size]
            if continuous is None:
                levels = tf.fill([xb.shape[0]], tf.constant(level, tf.int32))
                values.append(dsm_per_example(score_fn, xb, sigmas, levels, zb).numpy())
            else:
                t = tf.fill([xb.shape[0]], bin_times(int(sigmas.shape[0]),
                                                     continuous.t_min)[level])
                values.append(continuous_dsm_per_example(score_fn, continuous.sde, xb, t, zb,
                                                         continuous.weighting).numpy())
            if callback:
                callback(int(xb.shape[0]))
        values = np.concatenate(values).astype(np.float64)
        means.append(values.mean())
        sems.append(values.std(ddof=1) / np.sqrt(n) if n > 1 else 0.0)
    per_level = np.array(means)
    return HeldoutLoss(float(per_level.mean()), per_level, np.array(sems), n, seed)
