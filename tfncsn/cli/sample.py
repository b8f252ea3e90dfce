"""`tfncsn sample`: draws samples with the configured sampler and writes .npy/.npz/.png."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfncsn import builders, figures
from tfncsn.cli import common
from tfncsn.cli.flags import FLAGS
from tfncsn.config import ConfigError
from tfncsn.langevin import uniform_prior


def draw(source: common.ScoreSource, num_samples: int, seed: int, keep_every: int = 0,
         sampler_name: str | None = None, steps_per_level: int | None = None):
    """Runs a sampler from the uniform prior with a progress bar; returns SamplerOutput."""
    settings = source.config.sampler
    sampler = builders.make_sampler(sampler_name or settings.name)
    steps = steps_per_level or settings.steps_per_level
    rng = tf.random.Generator.from_seed(seed)
    x = uniform_prior(rng, [num_samples, *source.dataset.element_shape],
                      *source.dataset.prior_range)
    num_levels = int(source.sigmas.shape[0])
    with common.progress_bar(common.sampler_steps(sampler, num_levels, steps),
                             sampler_name or settings.name) as bar:
        return sampler(source.score_fn, x, source.sigmas, rng=rng, eps=settings.eps,
                       steps_per_level=steps, convention=settings.convention,
                       denoise=settings.denoise, callback=common.step_callback(bar),
                       keep_every=keep_every)


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
        figures.save_png(figures.image_grid(to_pixels(samples, source)), path)
        if states is not None:
            strip = figures.states_strip(to_pixels(states, source), to_pixels(samples, source))
            figures.save_png(strip, states_path(path))
    else:
        raise ConfigError(f"cannot draw samples of shape {samples.shape[1:]} as PNG; "
                          "use .npy or .npz")


def to_pixels(images: np.ndarray, source) -> np.ndarray:
    """Model-space images -> [0, 1] pixels through the dataset's `postprocess`, if any."""
    postprocess = getattr(source.dataset, "postprocess", None)
    return np.asarray(postprocess(images)) if postprocess else np.clip(images, 0.0, 1.0)


def states_path(path: str) -> str:
    """Where the intermediate-states strip of a PNG output goes: NAME_states.png."""
    return path[:-len(".png")] + "_states.png"


def run() -> None:
    extension = common.check_output(FLAGS.output, (".npy", ".npz", ".png"))
    if FLAGS.num_samples < 1:
        raise ConfigError(f"--num_samples must be at least 1, got {FLAGS.num_samples}")
    source = common.score_source()
    if extension == ".png" and len(source.dataset.element_shape) not in (1, 3):
        raise ConfigError("PNG output needs 2-D points or images; use .npy or .npz")
    out = draw(source, FLAGS.num_samples, FLAGS.seed, FLAGS.keep_every)
    samples = out.x.numpy()
    states = None if out.states is None else out.states.numpy()
    write(FLAGS.output, extension, samples, states, source)
    summary = common.summarize(source.dataset, samples)
    print(f"wrote {FLAGS.output}: {len(samples)} samples from the {source.description}"
          + (f"; {summary}" if summary else ""))
    if extension == ".png" and states is not None and samples.ndim == 4:
        print(f"wrote {states_path(FLAGS.output)}: intermediate states every "
              f"{FLAGS.keep_every} steps")
