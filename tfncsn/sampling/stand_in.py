"""Trying a sampler before any model exists: `Runner.check` with the exact score of N(0, I)
data standing in for the model, so a broken step fails before training or export starts, and
`tfncsn plugins --load` can try a plugin on a small problem."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfncsn import seeds
from tfncsn.sampling.checks import build
from tfncsn.sampling.contract import Problem, Sampler
from tfncsn.sampling.runner import Runner

# The problem a sampler plugin is tried on when checked (`tfncsn plugins --load`): the 2-D
# toy's ten levels.
TRIAL_PROBLEM = Problem(sigmas=np.geomspace(20.0, 1.0, 10), element_shape=(2,),
                        prior_range=(-8.0, 8.0), continuous_sigma=True)
TRIAL_BATCH = 4


def check_with_stand_in(program: Sampler, num_samples: int = TRIAL_BATCH) -> None:
    """`Runner.check` with the exact score of N(0, I) data in place of a model: the program's
    steps traced on its real shapes before a model exists (e.g. before training)."""
    sigmas = tf.constant(program.problem.sigmas)

    def at_sigma(x, sigma):
        shape = tf.concat([tf.shape(x)[:1], tf.ones([tf.rank(x) - 1], tf.int32)], 0)
        return -x / (1.0 + tf.reshape(tf.square(sigma), shape))

    score_fn = at_sigma if program.score_input == "sigma" else \
        (lambda x, level: at_sigma(x, tf.gather(sigmas, level)))
    Runner(program, score_fn).check(seeds.generator(0), num_samples)


def try_sampler(sampler_class: type, name: str) -> None:
    """Builds the sampler with its default options for `TRIAL_PROBLEM` and traces its steps:
    the contract checks a run makes, on a small problem. Raises `SamplerError` (a ValueError)
    with the reason."""
    check_with_stand_in(build(sampler_class, {}, TRIAL_PROBLEM, name))
