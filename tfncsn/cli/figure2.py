"""`tfncsn figure2`: the paper's Fig. 2, the data score | the estimated score, as one PNG."""

from __future__ import annotations

import numpy as np

from tfncsn import figures
from tfncsn.cli import common
from tfncsn.cli.flags import FLAGS
from tfncsn.config import ConfigError

# The flags `run` reads: its --help and docs/cli.md list them (tests/test_cli_help.py). Those
# of the score source but its sampler's: nothing is sampled (a flagfile may still set them).
FLAGS_USED = ("output", "workdir", "data_dir", "score", "checkpoint_step", common.RUN_SETTINGS)
GRID = 80  # Cells per side: the density and the errors; an arrow every 4 cells.
ARROW_EVERY = 4


def check_dataset(dataset, name: str) -> None:
    """figure2 needs 2-D examples and the dataset's exact score (`HasExactScore`)."""
    from tfncsn.interfaces import HasExactScore
    if tuple(dataset.element_shape) != (2,):
        raise ConfigError(f"figure2 draws the scores of 2-D data; dataset '{name}' has examples "
                          f"of shape {tuple(dataset.element_shape)}")
    if not isinstance(dataset, HasExactScore):
        raise ConfigError(f"figure2 compares with the data's exact score; dataset '{name}' has "
                          "no exact_score (docs/writing-a-plugin.md)")


def run() -> None:
    common.check_output(FLAGS.output, (".png",))
    common.start_tensorflow()  # Only once the flags are known to be good.
    import tensorflow as tf
    if FLAGS.score == "exact":  # Before score_source, whose error would suggest --score=model.
        from tfncsn import builders
        config = common.config_from_flags(common.saved_config_or_none(FLAGS.workdir))
        check_dataset(builders.make_dataset(config.dataset, config.dataset_options,
                                            FLAGS.data_dir), config.dataset)
    source = common.score_source()
    dataset = source.dataset
    check_dataset(dataset, source.config.dataset)
    box = tuple(float(v) for v in dataset.prior_range)
    points = figures.score_grid(box, GRID).reshape(-1, 2).astype(np.float32)
    last = int(source.sigmas.shape[0]) - 1
    sigma = float(source.sigmas[last])
    # The model's smallest level estimates the score of the data perturbed by sigma_L.
    data = dataset.exact_score(tf.constant(points), tf.fill([len(points)], sigma))
    estimated = source.score_fn(tf.constant(points), tf.fill([len(points)], last))
    data, estimated = (np.asarray(s, np.float64).reshape(GRID, GRID, 2)
                       for s in (data, estimated))
    log_density = figures.log_density_from_score(data, box)
    exact = FLAGS.score == "exact"
    titles = (f"(a) data score, sigma_L = {sigma:g}",
              "(b) the same, exact (a check)" if exact else
              f"(b) estimated score, sigma_L = {sigma:g} ({source.description})")
    image = figures.score_panels(box, log_density, data, estimated, titles,
                                 arrow_every=ARROW_EVERY)
    with common.output_folders(FLAGS.output):
        figures.save_png(image, FLAGS.output)
    comparison = figures.compare_scores(log_density, data, estimated)
    print(f"wrote {FLAGS.output} ({source.description} at sigma_L = {sigma:g}, {GRID}x{GRID} "
          f"grid on [{box[0]:g}, {box[1]:g}]^2): {comparison.summary()}")
