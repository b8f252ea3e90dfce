"""Turns a `RunConfig` into objects, through the plugin registries."""

from __future__ import annotations

import contextlib
from typing import Any, Iterator, Sequence

import keras
import tensorflow as tf

from tfncsn import hardware, losses, registry, sdes
from tfncsn.config import (AUTO_PRECISION, PRECISIONS, ConfigError, PreconditioningConfig,
                           RunConfig, SamplerConfig, SigmaConfig)
from tfncsn.interfaces import POSTPROCESS_KINDS, Dataset
from tfncsn.preconditioning import EDMPreconditioned
from tfncsn.sampling.checks import build
from tfncsn.sampling.contract import Problem, Sampler
from tfncsn.schedules import InvalidSigmasError, validate_sigmas


def make_sigmas(config: SigmaConfig) -> tf.Tensor:
    """The noise levels of `config`, validated (positive, strictly decreasing); an error names
    the schedule and the package that ships it."""
    schedule = registry.sigma_schedules.get(config.sigma_schedule)
    try:
        return validate_sigmas(schedule(config.sigma_max, config.sigma_min, config.num_levels))
    except InvalidSigmasError as e:
        raise InvalidSigmasError(f"{registry.sigma_schedules.label(config.sigma_schedule)}: "
                                 f"{e}") from None


def make_sde(config: RunConfig) -> sdes.SDE | None:
    """The run's SDE (`--sde`), or None for NCSN's discrete levels; bad options name the flag."""
    if not config.sde.continuous:
        return None
    try:
        return sdes.build(registry.sdes.get(config.sde.name), config.sde.options,
                          config.sigmas.sigma_max, config.sigmas.sigma_min, config.sde.name)
    except sdes.SDEError as e:
        raise ConfigError(f"--sde_options: {e}") from None


def run_sde(config: RunConfig, sigmas) -> tuple[sdes.SDE, float]:
    """The SDE a run's samplers and likelihood work on, and its t_min (where the data are):
    `--sde` with t_min = `--sde_eps`; for NCSN's levels, the VE SDE from sigma_L (t = 0) to
    sigma_1, which they discretise."""
    sde = make_sde(config)
    if sde is not None:
        return sde, config.sde.train_eps
    values = [float(s) for s in sigmas]
    return sdes.build(registry.sdes.get("ve"), {}, max(values), min(values), "ve"), 0.0


def make_continuous_objective(config: RunConfig) -> losses.ContinuousDSM | None:
    """Continuous-time DSM on the run's SDE, or None for NCSN's discrete levels."""
    sde = make_sde(config)
    if sde is None:
        return None
    return losses.ContinuousDSM(sde, config.sde.train_eps, config.sde.weighting)


def make_training_objective(config: RunConfig
                            ) -> losses.ContinuousDSM | losses.EDMObjective | None:
    """What `tfncsn train` minimises: EDM's loss (`--preconditioning=edm`), continuous DSM on
    the run's SDE, or None for NCSN's DSM/SSM at the levels (`--loss`)."""
    if config.preconditioning.edm:
        edm = config.preconditioning
        return losses.EDMObjective(edm.sigma_data, edm.p_mean, edm.p_std)
    return make_continuous_objective(config)


def check_continuous_model(model: keras.Model, config: RunConfig) -> None:
    """An SDE run scores x_t at std(t): its model must accept any sigma."""
    if config.sde.continuous and not getattr(model, "continuous_sigma", False):
        raise ConfigError(
            f"--sde={config.sde.name} needs a model that accepts any sigma (continuous_sigma, "
            f"score_at_sigma); --model={config.model} with these --model_options does not: "
            "use --model=unet, --model=refinenet_v2 or --model=mlp with "
            "--model_options=noise_embedding=\"fourier\"")


def make_dataset(name: str, options: dict[str, Any], data_dir: str | None = None) -> Dataset:
    cls = registry.datasets.get(name)
    try:
        dataset = cls(data_dir=data_dir, **options)
    except (TypeError, ValueError) as e:  # Unknown or invalid keyword options.
        raise ConfigError(f"dataset '{name}' rejected options {options}: {e}") from e
    if not isinstance(dataset, Dataset):
        raise ConfigError(f"dataset plugin '{name}' is a {type(dataset).__name__}, not a "
                          "subclass of tfncsn.interfaces.Dataset; subclass it (see "
                          "docs/writing-a-plugin.md)")
    if dataset.postprocess_kind not in POSTPROCESS_KINDS:
        raise ConfigError(f"dataset plugin '{name}' declares postprocess_kind "
                          f"'{dataset.postprocess_kind}'; use one of {', '.join(POSTPROCESS_KINDS)}")
    return dataset


def resolve_precision(precision: str) -> str:
    """`precision`, with "auto" replaced by what is fastest here without a known quality
    cost: mixed_bfloat16 when TensorFlow sees no GPU and the CPU has native bfloat16
    (`hardware.native_bfloat16`), else float32 (docs/performance.md, "--precision")."""
    if precision == AUTO_PRECISION:
        native = not tf.config.list_physical_devices("GPU") and hardware.native_bfloat16()
        return "mixed_bfloat16" if native else "float32"
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {AUTO_PRECISION}, {', '.join(PRECISIONS)}, "
                          f"got '{precision}'")
    return precision


@contextlib.contextmanager
def dtype_policy(precision: str) -> Iterator[None]:
    """Keras layers made inside take the dtype policy `precision` (a name of
    `config.PRECISIONS`, or "auto", see `resolve_precision`); the global policy is
    restored afterwards."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(resolve_precision(precision))
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def make_model(name: str, options: dict[str, Any], input_shape: Sequence[int],
               sigmas: Sequence[float], precision: str = "float32",
               preconditioning: PreconditioningConfig | None = None) -> keras.Model:
    """Builds model `name` in `precision` and creates its weights with one call on zeros;
    with `preconditioning` edm, wrapped as EDM's preconditioned denoiser.

    Under a mixed policy the weights stay float32 and the layers compute in 16 bits;
    the built-in models return float32 scores and take their normalisation statistics
    in float32.
    """
    factory = registry.models.get(name)
    with dtype_policy(precision):
        try:
            model = factory(input_shape=tuple(input_shape), sigmas=[float(s) for s in sigmas],
                            **options)
        except (TypeError, ValueError) as e:  # Keras raises ValueError for unknown keywords.
            raise ConfigError(f"model '{name}' rejected options {options}: {e}") from e
        if preconditioning is not None and preconditioning.edm:
            try:
                model = EDMPreconditioned(model, preconditioning.sigma_data)
            except ValueError as e:
                raise ConfigError(f"--preconditioning=edm with --model={name}: {e}") from None
        model(tf.zeros([1, *input_shape]), tf.zeros([1], tf.int32))
    return model


def model_for(config: RunConfig, input_shape: Sequence[int], sigmas: Sequence[float]
              ) -> keras.Model:
    """The run's model (`make_model` with the run's model, options, precision and
    preconditioning)."""
    return make_model(config.model, config.model_options, input_shape, sigmas, config.precision,
                      config.preconditioning)


def make_sampler(name: str) -> type:
    """The sampler class registered as `name` (the registry checks it against the contract)."""
    return registry.samplers.get(name)


def make_program(config: SamplerConfig, problem: Problem) -> Sampler:
    """The sampler of `config` built for `problem`, its options and program validated."""
    return build(make_sampler(config.name), config.options, problem, config.name,
                          registry.samplers.origin(config.name))
