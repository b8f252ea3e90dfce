"""A score function with everything a sampler needs around it, and sampling from it.

`load` gives the trained model of a workdir (or a dataset's exact score);
`draw` samples from it with the run's sampler (or another) and a progress bar.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import tensorflow as tf
from absl import logging

from tfncsn import builders, sdes, seeds, training
from tfncsn.config import ConfigError, RunConfig, SamplerConfig
from tfncsn.interfaces import Dataset, HasExactScore, ScoreFn
from tfncsn.progress import progress_bar, step_callback
from tfncsn.sampling.conditioning import LogProbFn, guided_score
from tfncsn.sampling.contract import Problem, Sampler
from tfncsn.sampling.options import option_fields
from tfncsn.sampling.runner import Runner, SamplerOutput


class NoExactScoreError(ConfigError):
    """An exact score was asked of a dataset that has none."""


@dataclasses.dataclass
class ScoreSource:
    """`score_fn(x, level)` scores at the trained levels; `sigma_score_fn(x, sigma)`, when the
    model (or exact score) can be evaluated at any sigma, scores anywhere."""

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
                       continuous_sigma=self.sigma_score_fn is not None,
                       sde=builders.make_sde(self.config))

    def program(self, sampler: SamplerConfig | None = None) -> Sampler:
        """The run's sampler (or `sampler`) built for this source, options validated."""
        sampler = sampler or self.config.sampler
        program = builders.make_program(sampler, self.problem())
        sde = self.config.sde.name
        if sde and sde != "ve" and program.score_input == "level":
            raise ConfigError(
                f"--sampler={sampler.name} works at the run's --sigma_max..--sigma_min levels, "
                f"which are not noise levels of a --sde={sde} run; use --sampler=pc, ode or "
                "ancestral")
        if (len(self.dataset.element_shape) == 3 and "step_convention" not in sampler.options
                and hasattr(program.options, "step_convention")):
            logging.warning(
                "sampler %s: no step_convention set for an image model, so 'paper' (x += a/2 s "
                "+ sqrt(a) z) is used; the authors' image results used 'reference', twice that "
                "step: set the option step_convention=reference to reproduce them (or =paper to "
                "keep this and silence the note)", sampler.name)
        return program

    def score_for(self, program: Sampler) -> ScoreFn:
        return self.sigma_score_fn if program.score_input == "sigma" else self.score_fn


def nearest_level(level_fn: ScoreFn, sigmas) -> ScoreFn:
    """s(x, sigma) of a model trained at the levels `sigmas` only: each example is scored at
    the level nearest to its sigma in log sigma. For a geometric schedule this is how the
    score-SDE code (Song et al. 2021) rounds the time of a model trained at discrete levels;
    the score is then piecewise constant in sigma, changing halfway (in log sigma) between
    two levels (docs/algorithms.md#likelihood)."""
    log_sigmas = tf.math.log(tf.reshape(tf.cast(sigmas, tf.float32), [1, -1]))

    def score(x, sigma):
        distance = tf.abs(tf.math.log(tf.reshape(tf.cast(sigma, tf.float32), [-1, 1]))
                          - log_sigmas)
        return level_fn(x, tf.argmin(distance, axis=1, output_type=tf.int32))
    return score


def load(config: RunConfig, workdir: str | None, data_dir: str | None = None,
         exact: bool = False, checkpoint_step: int | None = None) -> ScoreSource:
    """The (EMA) weights of the run in `workdir`, from its latest checkpoint or the one of
    training step `checkpoint_step`; or with `exact` the dataset's score."""
    dataset = builders.make_dataset(config.dataset, config.dataset_options, data_dir)
    sigmas = builders.make_sigmas(config.sigmas)
    if exact:
        if not isinstance(dataset, HasExactScore):
            raise NoExactScoreError(f"dataset '{config.dataset}' has no exact score")
        sde = builders.make_sde(config)
        sigma_score = dataset.exact_score
        if sde is not None:  # The score of x_t = m x0 + std z from the dataset's VE one.
            sigma_score = functools.partial(sdes.score_from_ve, dataset.exact_score, sde)
        return ScoreSource(config, dataset, sigmas,
                           lambda x, level: sigma_score(x, tf.gather(sigmas, level)),
                           "exact score", sigma_score)
    model = builders.model_for(config, dataset.element_shape, sigmas.numpy())
    step = training.restore_model(model, workdir, checkpoint_step=checkpoint_step)
    return ScoreSource.for_model(config, dataset, sigmas, model, f"model at step {step}")


def guided(source: ScoreSource, log_prob_fn: LogProbFn, labels, scale: float,
           target: str) -> ScoreSource:
    """`source` with classifier guidance towards `labels` [N] at `scale` in both of its score
    functions (`conditioning.guided_score`; Song et al. 2021, eq. 14); `target` names the
    class(es) in the description."""
    sigmas = source.sigmas.numpy()
    sde = builders.make_sde(source.config)
    level_fn = guided_score(source.score_fn, log_prob_fn, labels, scale, "level", sigmas, sde)
    sigma_fn = (None if source.sigma_score_fn is None else
                guided_score(source.sigma_score_fn, log_prob_fn, labels, scale, "sigma",
                             sigmas, sde))
    return dataclasses.replace(
        source, score_fn=level_fn, sigma_score_fn=sigma_fn,
        description=f"{source.description}, guided by the classifier (scale {scale:g}) to "
                    f"class {target}")


def run_program(source: ScoreSource, program: Sampler, num_samples: int, seed: int,
                keep_every: int = 0, label: str = "sample") -> SamplerOutput:
    """Runs `program` on the source's score with a progress bar (contract checked first)."""
    runner = Runner(program, source.score_for(program))
    rng = seeds.generator(seed)
    runner.check(rng, num_samples)
    with progress_bar(program.num_steps, label) as bar:
        return runner(rng, num_samples, callback=step_callback(bar), keep_every=keep_every)


def draw(source: ScoreSource, num_samples: int, seed: int, keep_every: int = 0,
         sampler_name: str | None = None, steps_per_level: int | None = None
         ) -> SamplerOutput:
    """Samples with the run's sampler, or with `sampler_name` given the run's options that
    it shares (and `steps_per_level`), from the sampler's prior with a progress bar."""
    config = source.config.sampler
    if sampler_name is not None and sampler_name != config.name:
        fields = option_fields(builders.make_sampler(sampler_name).Options)
        config = SamplerConfig(sampler_name, {k: v for k, v in config.options.items()
                                              if k in fields})
    if steps_per_level is not None:
        config = dataclasses.replace(config, options={**config.options,
                                                      "steps_per_level": steps_per_level})
    return run_program(source, source.program(config), num_samples, seed, keep_every,
                       config.name)


def summarize(dataset: Dataset, samples: np.ndarray) -> str:
    """The dataset's one-line summary of the finite samples, and how many are not: NaN or inf
    means the sampler diverged (its step size is too large for the smallest noise level)."""
    finite = np.isfinite(samples.reshape(len(samples), -1)).all(axis=1)
    parts = [dataset.summarize(samples[finite])] if finite.any() else []
    if not finite.all():
        parts.append(f"{int((~finite).sum())} of {len(samples)} samples are not finite: the "
                     "sampler diverged; lower its step size (--eps or --sampler_options=eps=...)")
    return "; ".join(p for p in parts if p)
