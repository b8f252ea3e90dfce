"""What several commands share: flags -> RunConfig, score sources, outputs, progress."""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import Any, Callable

import tensorflow as tf
from tqdm import tqdm

from tfncsn import builders, config as run_config, training
from tfncsn.cli.flags import FLAGS, explicitly_set, parse_options
from tfncsn.config import ConfigError, RunConfig
from tfncsn.interfaces import Dataset, HasExactScore, ScoreFn

# flag name -> (RunConfig section or None for top level, field name).
_FIELDS = {
    "dataset": (None, "dataset"), "dataset_options": (None, "dataset_options"),
    "model": (None, "model"), "model_options": (None, "model_options"),
    "sigma_schedule": ("sigmas", "schedule"), "sigma_max": ("sigmas", "sigma_max"),
    "sigma_min": ("sigmas", "sigma_min"), "num_levels": ("sigmas", "num_levels"),
    "sampler": ("sampler", "name"), "eps": ("sampler", "eps"),
    "steps_per_level": ("sampler", "steps_per_level"),
    "step_convention": ("sampler", "convention"), "denoise": ("sampler", "denoise"),
    "steps": ("train", "steps"), "batch_size": ("train", "batch_size"),
    "learning_rate": ("train", "learning_rate"), "seed": ("train", "seed"),
    "loss": ("train", "loss"), "ssm_projection": ("train", "ssm_projection"),
    "ssm_variance_reduced": ("train", "ssm_variance_reduced"),
    "checkpoint_every": ("train", "checkpoint_every"),
    "keep_checkpoints": ("train", "keep_checkpoints"), "log_every": ("train", "log_every"),
    "ema_decay": ("train", "ema_decay"), "grad_clip_norm": ("train", "grad_clip_norm"),
    "jit_compile": ("train", "jit_compile"), "sample_every": ("train", "sample_every"),
}


def _flag_value(name: str) -> Any:
    value = FLAGS[name].value
    if name in ("dataset_options", "model_options"):
        return parse_options(value or [], name)
    return value


def config_from_flags(base: RunConfig | None) -> RunConfig:
    """`base` with the flags given explicitly applied; all flags when there is no base."""
    sections: dict[str | None, dict[str, Any]] = {None: {}}
    for flag, (section, field) in _FIELDS.items():
        if base is None or explicitly_set(flag):
            sections.setdefault(section, {})[field] = _flag_value(flag)
    config = base or RunConfig()
    for section, values in sections.items():
        if section is None:
            config = dataclasses.replace(config, **values)
        else:
            config = dataclasses.replace(
                config, **{section: dataclasses.replace(getattr(config, section), **values)})
    return config


def saved_config_or_none(workdir: str | None) -> RunConfig | None:
    if workdir and os.path.exists(os.path.join(workdir, run_config.CONFIG_FILE)):
        return run_config.load(workdir)
    return None


@dataclasses.dataclass
class ScoreSource:
    """A score function with everything a sampler needs around it."""

    config: RunConfig
    dataset: Dataset
    sigmas: tf.Tensor
    score_fn: ScoreFn
    description: str


def score_source() -> ScoreSource:
    """The trained model of --workdir, or with --score=exact the dataset's analytic score."""
    saved = saved_config_or_none(FLAGS.workdir)
    if FLAGS.score == "model":
        if not FLAGS.workdir:
            raise ConfigError("--workdir is required to sample from a trained model "
                              "(or use --score=exact with a dataset that has an exact score)")
        if saved is None:
            run_config.load(FLAGS.workdir)  # Raises the one-line "train first" error.
    config = config_from_flags(saved)
    dataset = builders.make_dataset(config.dataset, config.dataset_options, FLAGS.data_dir)
    sigmas = builders.make_sigmas(config.sigmas)
    if FLAGS.score == "exact":
        if not isinstance(dataset, HasExactScore):
            raise ConfigError(f"dataset '{config.dataset}' has no exact score; use --score=model")
        return ScoreSource(config, dataset, sigmas,
                           lambda x, level: dataset.exact_score(x, tf.gather(sigmas, level)),
                           "exact score")
    model = builders.make_model(config.model, config.model_options, dataset.element_shape,
                                sigmas.numpy())
    step = training.restore_model(model, FLAGS.workdir)
    score_fn = tf.function(lambda x, level: model(x, level, training=False))
    return ScoreSource(config, dataset, sigmas, score_fn, f"model at step {step}")


def check_output(path: str | None, extensions: tuple[str, ...]) -> str:
    """Validates --output before any work is done and creates its directory."""
    if not path:
        raise ConfigError(f"--output is required ({', '.join(extensions)})")
    extension = os.path.splitext(path)[1].lower()
    if extension not in extensions:
        raise ConfigError(f"--output must end in {', '.join(extensions)}, got '{path}'")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    return extension


def progress_bar(total: int | None, description: str) -> tqdm:
    """A tqdm bar on stderr; in logs (no TTY) it prints a line every 10 s at most."""
    return tqdm(total=total, desc=description, unit="step", file=sys.stderr, dynamic_ncols=True,
                mininterval=0.5 if sys.stderr.isatty() else 10.0)


def step_callback(bar: tqdm) -> Callable[[dict], None]:
    def callback(info: dict) -> None:
        bar.update(1)
        if info["step"] == 0:
            bar.set_postfix(level=info["level"], sigma=f"{info['sigma']:.4g}")
    return callback


def sampler_steps(sampler, num_levels: int, steps_per_level: int) -> int | None:
    """Total Langevin steps of a sampler, when it says (its `total_steps` attribute)."""
    total_steps = getattr(sampler, "total_steps", None)
    return total_steps(num_levels, steps_per_level) if total_steps else None


def summarize(dataset: Dataset, samples) -> str:
    """The dataset's own one-line summary of samples, if it has one."""
    summary = getattr(dataset, "summarize", None)
    return summary(samples) if summary else ""
