"""`tfncsn figure3`: the paper's Fig. 3, i.i.d. | Langevin | annealed Langevin, as one PNG."""

from __future__ import annotations

import numpy as np

from tfncsn import figures
from tfncsn.cli import common
from tfncsn.cli.flags import FLAGS
from tfncsn.cli.sample import draw
from tfncsn.config import ConfigError


def run() -> None:
    common.check_output(FLAGS.output, (".png",))
    source = common.score_source()
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
    figures.save_png(figures.scatter_panels(panels, box), FLAGS.output)
    print(f"wrote {FLAGS.output} ({source.description}, {FLAGS.num_samples} samples per panel)")
    for title, points in panels:
        summary = common.summarize(source.dataset, points)
        if summary:
            print(f"  {title}: {summary}")
