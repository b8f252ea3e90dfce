"""What several commands share: flags -> RunConfig and score source, output checks."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import sys
from typing import TYPE_CHECKING, Iterator

from absl import logging

from tfncsn import config as run_config
from tfncsn.cli.flags import FLAGS, explicitly_set, parse_options
from tfncsn.config import ConfigError, RunConfig, SamplerConfig, TrainConfig
from tfncsn_runtime import output_paths  # The output path checks, shared with the reader.

if TYPE_CHECKING:  # TensorFlow is imported by the commands that compute, when they do.
    from tfncsn.sampling.score_source import ScoreSource

def start_tensorflow() -> None:
    """Imports TensorFlow and finds its devices with file descriptor 2 sent to /dev/null.

    On a CPU-only machine TensorFlow's C++ start-up prints CUDA probing and CPU-feature
    lines that the TF_CPP_MIN_LOG_LEVEL variable does not reach; a command's first screen
    should show its own progress. Python errors still propagate; --debug keeps everything.
    Finding the physical devices does not fix the logical ones (--num_cpu_devices still
    works). Commands call this just before their first TensorFlow import.
    """
    if "tensorflow" in sys.modules or FLAGS.debug:
        return
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow as tf
        tf.config.list_physical_devices()
    finally:
        os.dup2(saved, 2)
        os.close(devnull)
        os.close(saved)


# Shortcut flags for options of the Langevin samplers (flag name = option name).
SAMPLER_OPTION_FLAGS = ("eps", "steps_per_level", "step_convention", "denoise")


@dataclasses.dataclass(frozen=True)
class Group:
    """Flags a command takes as a set. In a command's `FLAGS_USED` beside single flag names;
    its help lists them under `title`, after `note` (tfncsn/cli/command_help.py)."""

    title: str
    note: str
    names: tuple[str, ...]


def setting_flags(config_class: type, skip: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The flags of the settings of `config_class`, except those of its sections in `skip`."""
    return tuple(run_config.flag_name(field) for path, field in run_config.settings(config_class)
                 if path[0] not in skip)


RUN_SETTINGS = Group(
    "run settings", "What the run is (tfncsn/config.py). With a --workdir that has "
    "config.json, its values are the defaults and the flags given override them.",
    setting_flags(RunConfig, skip=("sampler", "train")))
SAMPLER_SETTINGS = Group(
    "sampler", "The sampler (docs/samplers.md). --eps, --steps_per_level, --step_convention "
    "and --denoise set the Langevin samplers' options of those names; unset, the sampler's "
    "own defaults apply.", setting_flags(SamplerConfig) + SAMPLER_OPTION_FLAGS)
TRAIN_SETTINGS = Group("training", "The optimisation and the training loop (tfncsn/config.py).",
                       setting_flags(TrainConfig))
# What `score_source` reads: the flags of every command that samples a trained run.
SCORE_SOURCE_FLAGS = ("workdir", "data_dir", "score", "checkpoint_step", RUN_SETTINGS,
                      SAMPLER_SETTINGS)


def sampler_from_flags(base: SamplerConfig | None) -> SamplerConfig:
    """The sampler of `base` with --sampler, --sampler_options and the shortcut flags applied.

    Options given on the command line replace the saved ones of the same name; a
    different --sampler starts from that sampler's defaults. A shortcut flag the
    sampler has no option for is ignored with a warning (flagfiles set them for the
    Langevin samplers); --sampler_options are checked strictly when the sampler is
    built (`builders.make_program`).
    """
    name = FLAGS.sampler if (base is None or explicitly_set("sampler")) else base.name
    options = dict(base.options) if base is not None and base.name == name else {}
    given = [flag for flag in SAMPLER_OPTION_FLAGS if explicitly_set(flag)]
    if given:
        start_tensorflow()  # Loading the sampler plugin imports it.
        from tfncsn import builders
        from tfncsn.sampling.options import option_fields
        fields = option_fields(builders.make_sampler(name).Options)
        ignored = [flag for flag in given if flag not in fields]
        if ignored:  # E.g. a Langevin flagfile with --sampler=pc on the command line.
            logging.warning("sampler %s has no option %s; ignoring --%s", name,
                            ", ".join(ignored), ", --".join(ignored))
        options.update({flag: FLAGS[flag].value for flag in given if flag in fields})
    try:
        options.update(parse_options(FLAGS.sampler_options or [], "sampler_options"))
    except ValueError as e:
        raise ConfigError(str(e)) from None
    return SamplerConfig(name=name, options=options)


def config_from_flags(base: RunConfig | None) -> RunConfig:
    """`base` with the setting flags given explicitly applied; all of them when there is no base.

    The flags are derived from the settings of `tfncsn.config`; the sampler's two
    (--sampler, --sampler_options) go through `sampler_from_flags`.
    """
    with flags_named(RunConfig):  # "batch_size must ..." -> "--batch_size must ...".
        return _config_from_flags(base)


def _config_from_flags(base: RunConfig | None) -> RunConfig:
    values = {}
    for path, field in run_config.settings(RunConfig):
        name = run_config.flag_name(field)
        if path[0] != "sampler" and (base is None or explicitly_set(name)):
            value = FLAGS[name].value
            if run_config.is_options(field):
                try:
                    value = parse_options(value or [], name)
                except ValueError as e:
                    raise ConfigError(str(e)) from None
            values[path] = value
    config = run_config.with_settings(base or RunConfig(), values)
    return dataclasses.replace(config, sampler=sampler_from_flags(base.sampler if base else None))


@contextlib.contextmanager
def flags_named(*config_classes: type) -> Iterator[None]:
    """Rewrites a ConfigError's setting names as flags: "num_samples must ..." -> "--num_samples
    must ...". Library messages name settings; on the command line those are flags. A name
    is rewritten where it has an underscore or is followed by "=", so plain words stay."""
    names = {run_config.flag_name(field) for cls in config_classes
             for _, field in run_config.settings(cls)}
    names |= {field.name for cls in config_classes for field in dataclasses.fields(cls)
              if field.name in FLAGS}  # Plain fields that a command fills from its flags.
    try:
        yield
    except ConfigError as e:
        text = str(e)
        for name in sorted(names, key=len, reverse=True):
            pattern = (rf"(?<![-\w]){name}(?![\w])" if "_" in name
                       else rf"(?<![-\w]){name}(?==)")
            text = re.sub(pattern, f"--{name}", text)
        if text == str(e):
            raise
        raise ConfigError(text) from None


def saved_config_or_none(workdir: str | None) -> RunConfig | None:
    if workdir and os.path.exists(os.path.join(workdir, run_config.CONFIG_FILE)):
        return run_config.load(workdir)
    return None


def score_source() -> ScoreSource:
    """The trained model of --workdir, or with --score=exact the dataset's analytic score."""
    saved = saved_config_or_none(FLAGS.workdir)
    if FLAGS.score == "model":
        if not FLAGS.workdir:
            raise ConfigError("--workdir is required to sample from a trained model "
                              "(or use --score=exact with a dataset that has an exact score)")
        if saved is None:
            run_config.load(FLAGS.workdir)  # Raises the one-line "train first" error.
    elif FLAGS.checkpoint_step is not None:
        raise ConfigError("--checkpoint_step picks a trained model's checkpoint; drop it with "
                          "--score=exact")
    config = config_from_flags(saved)
    start_tensorflow()  # Only once the flags are known to be good.
    if FLAGS.score == "model":
        report_precision(config.precision)
    from tfncsn.sampling import score_source as score_sources
    try:
        return score_sources.load(config, FLAGS.workdir, FLAGS.data_dir,
                                  exact=FLAGS.score == "exact",
                                  checkpoint_step=FLAGS.checkpoint_step)
    except score_sources.NoExactScoreError as e:
        raise ConfigError(f"{e}; use --score=model") from None


def report_precision(precision: str) -> None:
    """Says on stderr what --precision=auto computes in on this machine (TensorFlow started)."""
    if precision == run_config.AUTO_PRECISION:
        from tfncsn import builders
        print(f"precision auto: {builders.resolve_precision(precision)} on this machine",
              file=sys.stderr)


# Wraps the writing: makes missing folders, removes them again if the writing fails.
output_folders = output_paths.output_folders


@contextlib.contextmanager
def _output_errors() -> Iterator[None]:
    try:
        yield
    except output_paths.OutputPathError as e:
        raise ConfigError(str(e)) from None


def check_output(path: str | None, extensions: tuple[str, ...], flag: str = "--output") -> str:
    """The extension of output file `path`, checked before any work; creates nothing
    (`output_folders` makes missing folders when writing)."""
    with _output_errors():
        return output_paths.check_output(path, extensions, flag)


def check_output_folder(path: str, flag: str = "--output", empty: bool = False) -> None:
    """Output folder `path` checked before any work; creates nothing."""
    with _output_errors():
        output_paths.check_output_folder(path, flag, empty)
