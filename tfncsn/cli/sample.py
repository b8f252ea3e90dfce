"""`tfncsn sample`: draws samples with the configured sampler and writes .npy/.npz/.png."""

from __future__ import annotations

import numpy as np

from tfncsn import figures
from tfncsn.cli import common
from tfncsn.cli.flags import FLAGS
from tfncsn.config import ConfigError


def write(path: str, extension: str, samples: np.ndarray, states, source) -> None:
    if extension == ".npy":
        np.save(path, samples)
    elif extension == ".npz":
        extra = {} if states is None else {"states": states}
        np.savez(path, samples=samples, sigmas=source.sigmas.numpy(), **extra)
    elif samples.ndim == 2 and samples.shape[1] == 2:
        box = source.dataset.prior_range
        figures.save_png(figures.scatter_panels([(source.description, samples)], box), path)
    elif samples.ndim == 4:
        pixels = source.dataset.to_pixels(samples)
        figures.save_png(figures.image_grid(pixels), path)
        if states is not None:
            strip = figures.states_strip(source.dataset.to_pixels(states), pixels)
            figures.save_png(strip, states_path(path))
    else:
        raise ConfigError(f"cannot draw samples of shape {samples.shape[1:]} as PNG; "
                          "use .npy or .npz")


def states_path(path: str) -> str:
    """Where the intermediate-states strip of a PNG output goes: NAME_states.png."""
    return path[:-len(".png")] + "_states.png"


def run() -> None:
    extension = common.check_output(FLAGS.output, (".npy", ".npz", ".png"))
    if FLAGS.num_samples < 1:
        raise ConfigError(f"--num_samples must be at least 1, got {FLAGS.num_samples}")
    common.start_tensorflow()  # Only once the flags are known to be good.
    from tfncsn import score_source
    source = common.score_source()
    if extension == ".png" and len(source.dataset.element_shape) not in (1, 3):
        raise ConfigError("PNG output needs 2-D points or images; use .npy or .npz")
    out = score_source.draw(source, FLAGS.num_samples, FLAGS.seed, FLAGS.keep_every)
    samples = out.x.numpy()
    states = None if out.states is None else out.states.numpy()
    write(FLAGS.output, extension, samples, states, source)
    summary = source.dataset.summarize(samples)
    print(f"wrote {FLAGS.output}: {len(samples)} samples from the {source.description}"
          + (f"; {summary}" if summary else ""))
    if extension == ".png" and states is not None and samples.ndim == 4:
        print(f"wrote {states_path(FLAGS.output)}: intermediate states every "
              f"{FLAGS.keep_every} steps")
