"""Typed run configuration: the one declaration of every run setting.

Each field declared with `setting(...)` is a setting of a run. Its field name is
also its command-line flag (`--name`, derived by `tfncsn/cli/flags.py`) and its
key in a workdir's `config.json`; its default, help text and allowed values are
written here only. Library code takes these dataclasses; only the CLI knows about
flags. This module imports no TensorFlow, so the CLI can parse and check flags
before loading it.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Callable, Iterator, Sequence

CONFIG_FILE = "config.json"
LOSSES = ("dsm", "ssm")
SSM_PROJECTIONS = ("gaussian", "rademacher")
# Continuous-time DSM weightings lambda(t): std(t)^2 (Song et al. 2021's default) or g(t)^2
# (their likelihood weighting).
SDE_WEIGHTINGS = ("std2", "likelihood")
# How the network's output becomes the score: as the model computes it, or EDM's
# preconditioned denoiser (Karras et al. 2022, docs/algorithms.md#edm).
PRECONDITIONINGS = ("none", "edm")
# Keras dtype policies of the score network: "mixed_*" computes in 16 bits and keeps
# the weights, the losses, the sigma arithmetic, the sampler updates and the EMA in float32.
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
# "auto" is resolved when a network is built, on the machine at hand
# (`builders.resolve_precision`): mixed_bfloat16 on a CPU-only machine whose CPU has
# native bfloat16, float32 elsewhere.
AUTO_PRECISION = "auto"


class ConfigError(ValueError):
    """A configuration value is invalid or a workdir's config cannot be used."""


def setting(default: Any, help: str, *, choices: Sequence[str] | None = None,
            minimum: float | None = None, flag: str | None = None) -> Any:
    """A dataclass field that is a run setting.

    Args:
      default: its default (a dict default means "keyword options", given on the
        command line as repeated key=value flags).
      help: one line for `--helpfull`.
      choices: the allowed values of a string setting.
      minimum: the smallest allowed value of a number.
      flag: the flag's name when it is not the field's (only where a section
        nests the name, e.g. `sampler.name` is `--sampler`).
    """
    metadata = {"help": help, "choices": tuple(choices) if choices else None,
                "minimum": minimum, "flag": flag}
    if isinstance(default, dict):
        return dataclasses.field(default_factory=lambda: dict(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def is_setting(field: dataclasses.Field) -> bool:
    return "help" in field.metadata


def flag_name(field: dataclasses.Field) -> str:
    return field.metadata.get("flag") or field.name


def default_of(field: dataclasses.Field) -> Any:
    return field.default_factory() if field.default is dataclasses.MISSING else field.default


def is_options(field: dataclasses.Field) -> bool:
    """A keyword-options setting: a dict, given as repeated key=value flags."""
    return isinstance(default_of(field), dict)


def check_settings(config: Any) -> None:
    """Raises ConfigError for a setting outside its declared choices or minimum."""
    for field in dataclasses.fields(config):
        if not is_setting(field):
            continue
        value, name = getattr(config, field.name), flag_name(field)
        choices, minimum = field.metadata["choices"], field.metadata["minimum"]
        if choices and value not in choices:
            raise ConfigError(f"{name} must be one of {', '.join(choices)}, got '{value}'")
        if minimum is not None and not value >= minimum:
            raise ConfigError(f"{name} must be at least {minimum:g}, got {value}")


@dataclasses.dataclass(frozen=True)
class SigmaConfig:
    """The noise levels sigma_1 > ... > sigma_L (paper section 4.1)."""

    sigma_schedule: str = setting("geometric", "Sigma schedule plugin name (tfncsn plugins).")
    sigma_max: float = setting(1.0, "Largest noise level sigma_1.")
    sigma_min: float = setting(0.01, "Smallest noise level sigma_L.")
    num_levels: int = setting(10, "Number of noise levels L.")

    def __post_init__(self):
        check_settings(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SigmaConfig":
        """Reads config.json's sigmas; `values` are the resolved levels, written for readers."""
        d = {k: v for k, v in d.items() if k != "values"}
        if "schedule" in d:  # config.json before the field took the flag's name.
            d["sigma_schedule"] = d.pop("schedule")
        return cls(**d)


@dataclasses.dataclass(frozen=True)
class SamplerConfig:
    """The sampler plugin and its options (validated against the plugin's `Options` when
    the sampler is built; `tfncsn.builders.make_program`)."""

    name: str = setting("annealed_langevin", "Sampler plugin name (tfncsn plugins).",
                        flag="sampler")
    options: dict[str, Any] = setting(
        {}, "A sampler option as key=value (JSON value), e.g. snr=0.16; repeat the flag for "
        "more. Replaces the saved options of the run's sampler; a different --sampler starts "
        "from its defaults.", flag="sampler_options")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SamplerConfig":
        """Reads config.json's sampler, also in the layout before samplers had options."""
        if "options" in d:
            return cls(name=d["name"], options=dict(d["options"]))
        legacy = {"eps": "eps", "steps_per_level": "steps_per_level",
                  "convention": "step_convention", "denoise": "denoise"}
        return cls(name=d["name"], options={new: d[old] for old, new in legacy.items()
                                            if old in d})


@dataclasses.dataclass(frozen=True)
class SDEConfig:
    """Continuous-time training on an SDE (Song et al. 2021); no name: NCSN's discrete levels."""

    name: str = setting(
        "", "SDE plugin name (ve, vp, subvp or a plugin's): train in continuous time, t ~ U(eps, "
        "1) per example; empty: NCSN's discrete noise levels. Needs a model that accepts any "
        "sigma. ve spans --sigma_max to --sigma_min.", flag="sde")
    options: dict[str, Any] = setting(
        {}, "An SDE option as key=value (JSON value), e.g. beta_max=20; repeat the flag for "
        "more.", flag="sde_options")
    weighting: str = setting("std2", "lambda(t) of continuous DSM: std(t)^2 or the likelihood "
                             "weighting g(t)^2.", choices=SDE_WEIGHTINGS, flag="sde_weighting")
    train_eps: float = setting(1e-5, "Smallest training time t of continuous DSM.",
                               minimum=0.0, flag="sde_eps")

    def __post_init__(self):
        check_settings(self)
        if not self.train_eps < 1.0:
            raise ConfigError(f"sde_eps must be below 1, got {self.train_eps}")

    @property
    def continuous(self) -> bool:
        return bool(self.name)


@dataclasses.dataclass(frozen=True)
class PreconditioningConfig:
    """EDM's preconditioned denoiser and its training (Karras et al. 2022, Table 1)."""

    name: str = setting(
        "none", "edm: the network F is used as the denoiser D = c_skip x + c_out F(c_in x, "
        "sigma), the score (D - x) / sigma^2, and trained with ln sigma ~ N(edm_p_mean, "
        "edm_p_std^2) and EDM's loss weight. Needs a model that accepts any sigma; the "
        "samplers walk --sigma_max to --sigma_min. none: the model's own score.",
        choices=PRECONDITIONINGS, flag="preconditioning")
    sigma_data: float = setting(0.5, "EDM's sigma_data, the data's standard deviation in the "
                                "preconditioning (0.5: theirs for images in [-1, 1]).",
                                minimum=0.0)
    p_mean: float = setting(-1.2, "Mean of ln sigma of EDM's training noise.",
                            flag="edm_p_mean")
    p_std: float = setting(1.2, "Standard deviation of ln sigma of EDM's training noise.",
                           minimum=0.0, flag="edm_p_std")

    def __post_init__(self):
        check_settings(self)
        if not self.sigma_data > 0:
            raise ConfigError(f"sigma_data must be positive, got {self.sigma_data}")

    @property
    def edm(self) -> bool:
        return self.name == "edm"


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """The optimisation (paper Appendix B.2) and the loop's bookkeeping."""

    steps: int = setting(200_000, "Total training steps (a resumed run continues to this).",
                         minimum=1)
    batch_size: int = setting(128, "Global batch size.", minimum=1)
    learning_rate: float = setting(1e-3, "Adam learning rate.")
    beta_1: float = setting(0.9, "Adam beta_1 (NCSNv2 uses 0.9 too).")
    adam_epsilon: float = setting(1e-7, "Adam epsilon, in Keras's form (added to sqrt(v) before "
                                  "bias correction; PyTorch adds its 1e-8 after).", minimum=0.0)
    loss: str = setting("dsm", "Denoising (dsm) or sliced (ssm) score matching.",
                        choices=LOSSES)
    ssm_projection: str = setting("gaussian", "Distribution of the SSM projection vectors.",
                                  choices=SSM_PROJECTIONS)
    ssm_variance_reduced: bool = setting(True, "Use the variance-reduced SSM objective.")
    seed: int = setting(0, "Seed of the data order, noise draws and sampling.")
    checkpoint_every: int = setting(5000, "Steps between checkpoints.", minimum=1)
    keep_checkpoints: int = setting(5, "How many recent checkpoints to keep.", minimum=1)
    log_every: int = setting(100, "Steps between summaries and progress lines.", minimum=1)
    shuffle_buffer: int = setting(10_000, "Examples in the training shuffle buffer.",
                                  minimum=1)
    ema_decay: float = setting(0.0, "EMA of the weights (0: off; NCSNv2 uses 0.999); "
                               "sampling uses the EMA weights when on.")
    grad_clip_norm: float = setting(0.0, "Clip the global (all-replica) gradient norm "
                                    "(0: off).", minimum=0.0)
    jit_compile: bool = setting(False, "Compile the train step with XLA: on one device the "
                                "whole loop of a call (optimizer and EMA included), with "
                                "several each replica's forward and backward pass.")
    steps_per_call: int = setting(
        0, "Optimisation steps per tf.function call (0: as many as take about half a second); "
        "logging, checkpoints, SIGTERM and the NaN check happen between calls. The weights "
        "are the same whatever it is.", minimum=0)
    sample_every: int = setting(0, "Steps between sample grids in TensorBoard (0: never); each "
                                "runs the full sampler on 16 samples.", minimum=0)

    def __post_init__(self):
        check_settings(self)
        if not self.learning_rate > 0:
            raise ConfigError(f"learning_rate must be positive, got {self.learning_rate}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError(f"ema_decay must be in [0, 1), got {self.ema_decay}")


@dataclasses.dataclass(frozen=True)
class RunConfig:
    dataset: str = setting("toy", "Dataset plugin name (tfncsn plugins).")
    dataset_options: dict[str, Any] = setting(
        {}, "A dataset keyword option as key=value (JSON value); repeat the flag for more.")
    model: str = setting("mlp", "Score network plugin name (tfncsn plugins).")
    model_options: dict[str, Any] = setting(
        {}, "A model keyword option as key=value (JSON value), e.g. hidden_units=[64,64]; "
        "repeat the flag for more.")
    precision: str = setting(
        "float32", "Compute precision of the score network (a Keras dtype policy) when "
        "training and sampling; mixed_float16 trains with dynamic loss scaling; auto is "
        "mixed_bfloat16 on a CPU-only machine with AVX512_BF16 or AMX, float32 elsewhere, "
        "decided by each command on the machine it runs on. Exports are float32.",
        choices=(AUTO_PRECISION, *PRECISIONS))
    sigmas: SigmaConfig = SigmaConfig()
    sampler: SamplerConfig = SamplerConfig()
    train: TrainConfig = TrainConfig()
    sde: SDEConfig = SDEConfig()
    preconditioning: PreconditioningConfig = PreconditioningConfig()

    def __post_init__(self):
        check_settings(self)
        if self.preconditioning.edm and self.sde.continuous:
            raise ConfigError(
                f"--preconditioning=edm draws its own training sigmas (ln sigma ~ N(edm_p_mean, "
                f"edm_p_std^2)) and cannot train on --sde={self.sde.name}: drop --sde (every "
                "sampler then walks --sigma_max to --sigma_min)")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunConfig":
        try:
            return cls(dataset=d["dataset"], dataset_options=dict(d.get("dataset_options", {})),
                       model=d["model"], model_options=dict(d.get("model_options", {})),
                       precision=d.get("precision", "float32"),
                       sigmas=SigmaConfig.from_dict(d["sigmas"]),
                       sampler=SamplerConfig.from_dict(d["sampler"]),
                       train=TrainConfig(**d["train"]),
                       sde=SDEConfig(**d.get("sde", {})),
                       preconditioning=PreconditioningConfig(**d.get("preconditioning", {})))
        except (KeyError, TypeError) as e:
            raise ConfigError(f"malformed run config: {e}") from e

    def architecture(self) -> dict[str, Any]:
        """What must not change when a run resumes: it decides the checkpoint's layout."""
        return {"dataset": self.dataset, "model": self.model,
                "model_options": self.model_options, "sigmas": dataclasses.asdict(self.sigmas),
                "ema": self.train.ema_decay > 0,
                # What the network's noise input means (runs before SDEs hold none).
                "sde": {"name": self.sde.name, "options": self.sde.options}
                if self.sde.continuous else None,
                # How the network's output becomes the score (runs before EDM hold none).
                "preconditioning": {"name": self.preconditioning.name,
                                    "sigma_data": self.preconditioning.sigma_data}
                if self.preconditioning.edm else None,
                # The loss scale's variables are part of the optimizer's checkpoint.
                "loss_scaling": self.precision == "mixed_float16"}


def settings(cls: type = RunConfig, path: tuple[str, ...] = ()
             ) -> Iterator[tuple[tuple[str, ...], dataclasses.Field]]:
    """Every setting of `cls` and its sections as (path of field names, field)."""
    for field in dataclasses.fields(cls):
        if is_setting(field):
            yield (*path, field.name), field
        elif dataclasses.is_dataclass(field.default):
            yield from settings(type(field.default), (*path, field.name))


def with_settings(config: RunConfig, values: dict[tuple[str, ...], Any]) -> RunConfig:
    """`config` with the settings at the given paths (as `settings` yields) replaced."""
    def replace(obj, items: dict[tuple[str, ...], Any]):
        direct = {path[0]: value for path, value in items.items() if len(path) == 1}
        nested: dict[str, dict[tuple[str, ...], Any]] = {}
        for path, value in items.items():
            if len(path) > 1:
                nested.setdefault(path[0], {})[path[1:]] = value
        for name, sub in nested.items():
            direct[name] = replace(getattr(obj, name), sub)
        return dataclasses.replace(obj, **direct)

    return replace(config, values)


def save(config: RunConfig, workdir: str, sigma_values: Sequence[float] | None = None) -> str:
    """Writes config.json atomically; `sigma_values`, the levels the schedule resolved to,
    are stored beside their recipe (`sigmas.values`) for readers of the file."""
    os.makedirs(workdir, exist_ok=True)
    path = os.path.join(workdir, CONFIG_FILE)
    data = config.to_dict()
    if sigma_values is not None:
        data["sigmas"]["values"] = [float(s) for s in sigma_values]
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=2, sort_keys=True)
    os.replace(tmp, path)  # Never leaves a half-written config behind.
    return path


def load(workdir: str) -> RunConfig:
    path = os.path.join(workdir, CONFIG_FILE)
    if not os.path.exists(path):
        raise ConfigError(f"no {CONFIG_FILE} in workdir '{workdir}'; train there first "
                          f"with `tfncsn train --workdir={workdir} ...`")
    try:
        with open(path) as f:
            return RunConfig.from_dict(json.load(f))
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path} is not valid JSON ({e}); restore it or use a new workdir") from e


def refuse_architecture_change(saved: Any, requested: Any,
                               refusal: Callable[[list[str], str], str],
                               key_prefix: str = "") -> None:
    """Raises ConfigError(refusal(changed, details)) when the `architecture()` (what a
    checkpoint's layout depends on) of the saved and the requested config differ: `changed`
    the differing keys, sorted; `details` `KEY: old -> new` for each, `; `-separated, with
    `key_prefix` before each key."""
    old, new = saved.architecture(), requested.architecture()
    changed = sorted(k for k in new if old[k] != new[k])
    if changed:
        details = "; ".join(f"{key_prefix}{k}: {old[k]} -> {new[k]}" for k in changed)
        raise ConfigError(refusal(changed, details))


def check_resumable(saved: RunConfig, requested: RunConfig, workdir: str) -> None:
    """Refuses to resume a workdir with a different model, dataset or noise levels."""
    refuse_architecture_change(
        saved, requested, lambda changed, details: (
            f"workdir '{workdir}' holds a run with a different {', '.join(changed)} "
            f"({details}); use a new --workdir"))
