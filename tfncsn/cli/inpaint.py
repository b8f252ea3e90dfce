"""`tfncsn inpaint`: completes the hidden part of images (Algorithm 2) and draws the figure;
with --mask=grayscale it colours them instead (the luminance known, docs/conditioning.md)."""

from __future__ import annotations

import numpy as np

from tfncsn import figures
from tfncsn.cli import common, image_io
from tfncsn.cli.flags import FLAGS
from tfncsn.config import ConfigError

# The flags `run` reads: its --help and docs/cli.md list them (tests/test_cli_help.py).
FLAGS_USED = ("output", "images", "mask", "num_completions", "seed",
              *common.SCORE_SOURCE_FLAGS)


def dataset_images(dataset, spec: str) -> np.ndarray | None:
    """`test:N` / `train:N`: the first N examples of the run's dataset, as pixels."""
    split, sep, count = spec.partition(":")
    if not sep or split not in ("test", "train"):
        return None
    if not count.isdigit() or int(count) < 1:
        raise ConfigError(f"--images={spec}: N must be a positive integer")
    from tfncsn.data.errors import explained
    with explained(dataset):  # An unreadable file of the dataset is named.
        examples = np.stack(list(dataset.load(split).take(int(count)).as_numpy_iterator()))
    return dataset.to_pixels(examples)


def figure(images: np.ndarray, known: np.ndarray, completions: np.ndarray) -> np.ndarray:
    """Rows: original | masked (hidden pixels grey) | completions."""
    masked = images * known + 0.5 * (1 - known)
    rows = [np.concatenate([[img], [msk], done]) for img, msk, done in
            zip(images, masked, completions)]
    return figures.image_grid(np.concatenate(rows), columns=2 + completions.shape[1])


def colour_figure(images: np.ndarray, completions: np.ndarray) -> np.ndarray:
    """Rows: original | gray | colorizations."""
    from tfncsn.sampling.conditioning import luminance
    gray = np.repeat(luminance(images), 3, axis=-1)
    rows = [np.concatenate([[img], [g], done]) for img, g, done in
            zip(images, gray, completions)]
    return figures.image_grid(np.concatenate(rows), columns=2 + completions.shape[1])


def run() -> None:
    extension = common.check_output(FLAGS.output, (".png", ".npz"))
    if not FLAGS.images:
        raise ConfigError("--images is required (test:N, train:N, a .npy/.npz file, an image "
                          "or a folder of images)")
    if FLAGS.num_completions < 1:
        raise ConfigError(f"--num_completions must be at least 1, got {FLAGS.num_completions}")
    common.start_tensorflow()  # Only now, with the flags known to be good.
    import tensorflow as tf
    from tfncsn.sampling.conditioning import Colorization, Inpainting, luminance
    from tfncsn.sampling.contract import SamplerError
    from tfncsn.sampling.score_source import run_program
    source = common.score_source()
    shape = tuple(source.dataset.element_shape)
    if len(shape) != 3:
        raise ConfigError(f"inpaint needs an image dataset; '{source.config.dataset}' has "
                          f"examples of shape {shape}")
    colour = FLAGS.mask == image_io.GRAYSCALE
    if colour:
        image_io.check_colour(shape, source.config.dataset)
    images = dataset_images(source.dataset, FLAGS.images)
    if images is None:
        images = image_io.load_images(FLAGS.images, shape)
    known = None if colour else image_io.make_mask(FLAGS.mask, shape)
    k = FLAGS.num_completions
    y = tf.repeat(tf.convert_to_tensor(source.dataset.to_model_space(images), tf.float32), k,
                  axis=0)
    program = source.program()
    if not program.supports_conditioning:
        raise SamplerError(f"sampler '{source.config.sampler.name}' does not support "
                           "inpainting; pass --sampler=annealed_langevin, pc or ode")
    # Colorization observes the luminance of the images in model space.
    conditioned = (Colorization(program, luminance(y)) if colour
                   else Inpainting(program, y, known))
    out = run_program(source, conditioned, int(y.shape[0]), FLAGS.seed,
                      label="colorize" if colour else "inpaint")
    completions = source.dataset.to_pixels(out.x).reshape(len(images), k, *shape)
    with common.output_folders(FLAGS.output):
        if extension == ".npz":
            observed = {"gray": luminance(images)} if colour else {"mask": known}
            np.savez(FLAGS.output, images=images, completions=completions, **observed)
        elif colour:
            figures.save_png(colour_figure(images, completions), FLAGS.output)
        else:
            figures.save_png(figure(images, known, completions), FLAGS.output)
    what = ("colorizations (the gray image known)" if colour else
            f"completions ({known.mean():.0%} of pixels known)")
    print(f"wrote {FLAGS.output}: {len(images)} images x {k} {what} from the "
          f"{source.description}")
