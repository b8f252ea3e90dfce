"""`tfncsn sample`: draws samples with the configured sampler and writes .npy/.npz/.png;
with --class=K, class-conditional samples by classifier guidance (docs/conditioning.md)."""

from __future__ import annotations

import json

import numpy as np

from tfncsn import figures
from tfncsn.cli import common
from tfncsn.cli.flags import FLAGS
from tfncsn.config import ConfigError

# The flags `run` reads: its --help and docs/cli.md list them (tests/test_cli_help.py).
FLAGS_USED = ("output", "num_samples", "seed", "keep_every", "class", "guidance",
              *common.SCORE_SOURCE_FLAGS)


def write(path: str, extension: str, samples: np.ndarray, states, source,
          columns: int | None = None, labels: np.ndarray | None = None) -> None:
    """Samples as .npy, .npz (with `states` and the guided `labels` when given) or a PNG
    (scatter for 2-D points, a grid of `columns` for images)."""
    if extension == ".npy":
        np.save(path, samples)
    elif extension == ".npz":
        extra = {} if states is None else {"states": states}
        if labels is not None:
            extra["labels"] = labels
        np.savez(path, samples=samples, sigmas=source.sigmas.numpy(), **extra)
    elif samples.ndim == 2 and samples.shape[1] == 2:
        box = source.dataset.prior_range
        figures.save_png(figures.scatter_panels([(source.description, samples)], box), path)
    elif samples.ndim == 4:
        pixels = source.dataset.to_pixels(samples)
        figures.save_png(figures.image_grid(pixels, columns=columns), path)
        if states is not None:
            strip = figures.states_strip(source.dataset.to_pixels(states), pixels)
            figures.save_png(strip, states_path(path))
    else:
        raise ConfigError(f"cannot draw samples of shape {samples.shape[1:]} as PNG; "
                          "use .npy or .npz")


def states_path(path: str) -> str:
    """Where the intermediate-states strip of a PNG output goes: NAME_states.png."""
    return path[:-len(".png")] + "_states.png"


def requested_class() -> str | None:
    """--class: None, "all" or a non-negative integer as text (checked before any work)."""
    value = FLAGS["class"].value
    if value is None:
        return None
    if value != "all" and not value.isdigit():
        raise ConfigError(f"--class must be a class index (0, 1, ...) or all, got '{value}'")
    return value


def guided(source, value: str, num_samples: int):
    """The source guided towards class `value` (or every class: `num_samples` each) by the
    run's classifier, and the labels [N]."""
    from tfncsn.sampling import score_source
    from tfncsn.models import noise_conditional_classifier as nets
    model, _ = nets.restore(FLAGS.workdir, source.dataset.element_shape)
    if value == "all":
        labels = np.repeat(np.arange(model.num_classes), num_samples)
    elif int(value) >= model.num_classes:
        raise ConfigError(f"--class={value}: the classifier knows classes 0 to "
                          f"{model.num_classes - 1}")
    else:
        labels = np.full([num_samples], int(value))
    return score_source.guided(source, nets.log_prob_fn(model), labels, FLAGS.guidance,
                               value), labels


def sampler_line(source) -> str:
    """"heun (num_steps=25, s_churn=10), 49 score evaluations each": the sampler and the options
    set for it (the run's, with the command line's replacing those of the same name)."""
    sampler = source.config.sampler
    options = ", ".join(f"{name}={json.dumps(value)}" for name, value in sampler.options.items())
    return (f"{sampler.name}{f' ({options})' if options else ''}, "
            f"{source.program().score_evaluations} score evaluations each")


def run() -> None:
    extension = common.check_output(FLAGS.output, (".npy", ".npz", ".png"))
    if FLAGS.num_samples < 1:
        raise ConfigError(f"--num_samples must be at least 1, got {FLAGS.num_samples}")
    label = requested_class()
    if label is not None and FLAGS.score != "model":
        raise ConfigError("--class guides a trained model's score; drop --score=exact")
    common.start_tensorflow()  # Only once the flags are known to be good.
    from tfncsn.sampling import score_source
    source = common.score_source()
    if extension == ".png" and len(source.dataset.element_shape) not in (1, 3):
        raise ConfigError("PNG output needs 2-D points or images; use .npy or .npz")
    num_samples, columns, labels = FLAGS.num_samples, None, None
    if label is not None:
        source, labels = guided(source, label, FLAGS.num_samples)
        num_samples = len(labels)
        columns = FLAGS.num_samples if label == "all" else None  # One row per class.
    out = score_source.draw(source, num_samples, FLAGS.seed, FLAGS.keep_every)
    samples = out.x.numpy()
    states = None if out.states is None else out.states.numpy()
    with common.output_folders(FLAGS.output):
        write(FLAGS.output, extension, samples, states, source, columns, labels)
    summary = score_source.summarize(source.dataset, samples)
    print(f"wrote {FLAGS.output}: {len(samples)} samples from the {source.description} by "
          f"{sampler_line(source)}" + (f"; {summary}" if summary else ""))
    if extension == ".png" and states is not None and samples.ndim == 4:
        print(f"wrote {states_path(FLAGS.output)}: intermediate states every "
              f"{FLAGS.keep_every} steps")
