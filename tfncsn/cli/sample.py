"""`tfncsn sample`: draws samples with the configured sampler and writes .npy/.npz/.png."""

from __future__ import annotations

import dataclasses

import numpy as np

from tfncsn import builders, figures, programs, sampling
from tfncsn.cli import common
from tfncsn.cli.flags import FLAGS
from tfncsn.config import ConfigError, SamplerConfig


def draw(source: common.ScoreSource, num_samples: int, seed: int, keep_every: int = 0,
         sampler_name: str | None = None, steps_per_level: int | None = None
         ) -> sampling.SamplerOutput:
    """Samples with the run's sampler, or with `sampler_name` given the run's options that
    it shares (and `steps_per_level`), from the sampler's prior with a progress bar."""
    config = source.config.sampler
    if sampler_name is not None and sampler_name != config.name:
        fields = programs.option_fields(builders.make_sampler(sampler_name).Options)
        config = SamplerConfig(sampler_name, {k: v for k, v in config.options.items()
                                              if k in fields})
    if steps_per_level is not None:
        config = dataclasses.replace(config, options={**config.options,
                                                      "steps_per_level": steps_per_level})
    program = source.program(config)
    return common.run_program(source, program, num_samples, seed, keep_every, config.name)


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
