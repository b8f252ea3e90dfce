"""Random generators from user seeds: the seed is Philox's key, never its counter.

`tf.random.Generator.from_seed(s)` puts s into Philox's 128-bit counter, so seed s
replays seed 0's stream a few numbers later and runs that differ only in their seed
share most of their draws. Philox is a keyed bijection of the counter (Salmon et al.
2011, "Parallel random numbers: as easy as 1, 2, 3"): one key per seed gives one
independent stream per seed, each starting at counter 0 (docs/algorithms.md#seeds).
Seed 0 is key 0 at counter 0, the state `from_seed(0)` also starts from, so seed-0
runs draw what they drew before.
"""

from __future__ import annotations

import tensorflow as tf

ALGORITHM = tf.random.Algorithm.PHILOX


def state(seed) -> tf.Tensor:
    """Philox's state for `seed` (a Python int or an int64 tensor): [counter_lo, counter_hi, key]."""
    return tf.stack([tf.constant(0, tf.int64), tf.constant(0, tf.int64),
                     tf.cast(seed, tf.int64)])


def generator(seed: int) -> tf.random.Generator:
    """A new generator whose stream is keyed by `seed`."""
    return tf.random.Generator.from_state(state(seed), ALGORITHM)


def reset(rng: tf.random.Generator, seed) -> None:
    """Restarts `rng` at the stream keyed by `seed` (also inside a `tf.function`)."""
    rng.reset(state(seed))
