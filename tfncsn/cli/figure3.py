"""`tfncsn figure3`: the paper's Fig. 3, i.i.d. | Langevin | annealed Langevin, as one PNG."""

from __future__ import annotations

import dataclasses

from typing import TYPE_CHECKING

import numpy as np

from tfncsn import figures
from tfncsn.cli import common
from tfncsn.cli.flags import FLAGS
from tfncsn.config import ConfigError

if TYPE_CHECKING:
    from tfncsn.sampling.score_source import ScoreSource

# The flags `run` reads: its --help and docs/cli.md list them (tests/test_cli_help.py).
FLAGS_USED = ("output", "num_samples", "seed", "langevin_steps", *common.SCORE_SOURCE_FLAGS)


def with_data_score(source: ScoreSource) -> ScoreSource:
    """`source` whose last level scores the data itself (sigma = 0): the --score=exact panels.

    Paper Appendix B.1: "Both Langevin methods use the ground-truth data score". Its
    sigma_L = 1 is the data's own spread (the reference code scores N(mu_k, sigma^2 I)),
    so plain Langevin (b) and the last level of annealing (c) use the data score, not the
    score of the data perturbed by sigma_L (variance 1 + 1 = 2 here, visibly wider than (a)).
    The levels before the last keep the exact perturbed scores.
    """
    import tensorflow as tf
    dataset, sigmas = source.dataset, source.sigmas
    last = int(sigmas.shape[0]) - 1

    def score_fn(x, level):
        sigma = tf.where(tf.equal(level, last), 0.0, tf.gather(sigmas, level))
        return dataset.exact_score(x, sigma)

    return dataclasses.replace(source, score_fn=score_fn)


def run() -> None:
    common.check_output(FLAGS.output, (".png",))
    common.start_tensorflow()  # Only once the flags are known to be good.
    from tfncsn.sampling.score_source import draw, summarize
    source = common.score_source()
    if FLAGS.score == "exact":
        source = with_data_score(source)
    if tuple(source.dataset.element_shape) != (2,):
        raise ConfigError("figure3 draws 2-D data; the dataset has shape "
                          f"{source.dataset.element_shape}")
    data = np.stack(list(source.dataset.load("test").take(FLAGS.num_samples).as_numpy_iterator()))
    plain = draw(source, FLAGS.num_samples, FLAGS.seed, sampler_name="langevin",
                 steps_per_level=FLAGS.langevin_steps).x.numpy()
    annealed = draw(source, FLAGS.num_samples, FLAGS.seed).x.numpy()
    panels = [("(a) i.i.d. samples", data), ("(b) Langevin dynamics", plain),
              ("(c) annealed Langevin dynamics", annealed)]
    box = source.dataset.prior_range
    with common.output_folders(FLAGS.output):
        figures.save_png(figures.scatter_panels(panels, box), FLAGS.output)
    print(f"wrote {FLAGS.output} ({source.description}, {FLAGS.num_samples} samples per panel)")
    for title, points in panels:
        summary = summarize(source.dataset, points)
        if summary:
            print(f"  {title}: {summary}")
