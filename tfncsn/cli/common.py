"""What several commands share: flags -> RunConfig, score sources, outputs, progress."""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import Any, Callable

import tensorflow as tf
from absl import logging
from tqdm import tqdm

from tfncsn import builders, config as run_config, programs, sampling, training
from tfncsn.cli.flags import FLAGS, explicitly_set, parse_options
from tfncsn.config import ConfigError, RunConfig, SamplerConfig
from tfncsn.interfaces import Dataset, HasExactScore, ScoreFn
from tfncsn.programs import Problem, Sampler

# flag name -> (RunConfig section or None for top level, field name).
_FIELDS = {
    "dataset": (None, "dataset"), "dataset_options": (None, "dataset_options"),
    "model": (None, "model"), "model_options": (None, "model_options"),
    "sigma_schedule": ("sigmas", "schedule"), "sigma_max": ("sigmas", "sigma_max"),
    "sigma_min": ("sigmas", "sigma_min"), "num_levels": ("sigmas", "num_levels"),
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


# Shortcut flags for options of the Langevin samplers (flag name = option name).
SAMPLER_OPTION_FLAGS = ("eps", "steps_per_level", "step_convention", "denoise")


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
        fields = programs.option_fields(builders.make_sampler(name).Options)
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
    """`base` with the flags given explicitly applied; all flags when there is no base."""
    sections: dict[str | None, dict[str, Any]] = {None: {}}
    for flag, (section, field) in _FIELDS.items():
        if base is None or explicitly_set(flag):
            sections.setdefault(section, {})[field] = _flag_value(flag)
    config = dataclasses.replace(base or RunConfig(),
                                 sampler=sampler_from_flags(base.sampler if base else None))
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
    """A score function with everything a sampler needs around it.

    `score_fn(x, level)` scores at the trained levels; `sigma_score_fn(x, sigma)`,
    when the model (or exact score) can be evaluated at any sigma, scores anywhere.
    """

    config: RunConfig
    dataset: Dataset
    sigmas: tf.Tensor
    score_fn: ScoreFn
    description: str
    sigma_score_fn: ScoreFn | None = None

    @classmethod
    def for_model(cls, config: RunConfig, dataset: Dataset, sigmas: tf.Tensor, model,
                  description: str) -> "ScoreSource":
        """The model's score, compiled; with `score_at_sigma` too when the model has it."""
        score_fn = tf.function(lambda x, level: model(x, level, training=False))
        sigma_score_fn = None
        if getattr(model, "continuous_sigma", False):
            sigma_score_fn = tf.function(lambda x, sigma: model.score_at_sigma(x, sigma))
        return cls(config, dataset, sigmas, score_fn, description, sigma_score_fn)

    def problem(self) -> Problem:
        return Problem(sigmas=self.sigmas.numpy(), element_shape=self.dataset.element_shape,
                       prior_range=self.dataset.prior_range,
                       continuous_sigma=self.sigma_score_fn is not None)

    def program(self, sampler: SamplerConfig | None = None) -> Sampler:
        """The run's sampler (or `sampler`) built for this source, options validated."""
        sampler = sampler or self.config.sampler
        program = builders.make_program(sampler, self.problem())
        if (len(self.dataset.element_shape) == 3 and "step_convention" not in sampler.options
                and hasattr(program.options, "step_convention")):
            logging.warning(
                "sampler %s: no step_convention set for an image model, so 'paper' (x += a/2 s "
                "+ sqrt(a) z) is used; the authors' image results used 'reference', twice that "
                "step: pass --step_convention=reference to reproduce them (or =paper to keep "
                "this and silence the note)", sampler.name)
        return program

    def score_for(self, program: Sampler) -> ScoreFn:
        return self.sigma_score_fn if program.score_input == "sigma" else self.score_fn


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
                           "exact score", lambda x, sigma: dataset.exact_score(x, sigma))
    model = builders.make_model(config.model, config.model_options, dataset.element_shape,
                                sigmas.numpy())
    step = training.restore_model(model, FLAGS.workdir)
    return ScoreSource.for_model(config, dataset, sigmas, model, f"model at step {step}")


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
    """A sampler callback that moves `bar` to the steps done and shows the current sigma."""
    def callback(info: dict) -> None:
        bar.update(info["step"] - bar.n)
        bar.set_postfix(sigma=f"{info['sigma']:.4g}", refresh=False)
    return callback


def run_program(source: ScoreSource, program: programs.Sampler, num_samples: int,
                seed: int, keep_every: int = 0, label: str = "sample") -> sampling.SamplerOutput:
    """Runs `program` on the source's score with a progress bar (contract checked first)."""
    runner = sampling.Runner(program, source.score_for(program))
    rng = tf.random.Generator.from_seed(seed)
    runner.check(rng)
    with progress_bar(program.num_steps, label) as bar:
        return runner(rng, num_samples, callback=step_callback(bar),
                      keep_every=keep_every)


def summarize(dataset: Dataset, samples) -> str:
    """The dataset's own one-line summary of samples, if it has one."""
    summary = getattr(dataset, "summarize", None)
    return summary(samples) if summary else ""
