"""Typed run configuration, saved as `config.json` in every workdir.

Library code takes these dataclasses; only the CLI knows about flags.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

from tfncsn.losses import LOSSES, SSM_PROJECTIONS

CONFIG_FILE = "config.json"


class ConfigError(ValueError):
    """A configuration value is invalid or a workdir's config cannot be used."""


@dataclasses.dataclass(frozen=True)
class SigmaConfig:
    schedule: str = "geometric"
    sigma_max: float = 1.0
    sigma_min: float = 0.01
    num_levels: int = 10


@dataclasses.dataclass(frozen=True)
class SamplerConfig:
    """The sampler plugin and its options (validated against the plugin's `Options` when
    the sampler is built; `tfncsn.builders.make_program`)."""

    name: str = "annealed_langevin"
    options: dict[str, Any] = dataclasses.field(default_factory=dict)

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
class TrainConfig:
    steps: int = 200_000
    batch_size: int = 128
    learning_rate: float = 1e-3
    beta_1: float = 0.9
    loss: str = "dsm"
    ssm_projection: str = "gaussian"
    ssm_variance_reduced: bool = True
    seed: int = 0
    checkpoint_every: int = 5000
    keep_checkpoints: int = 5
    log_every: int = 100
    shuffle_buffer: int = 10_000
    ema_decay: float = 0.0  # 0 disables; NCSNv2 uses 0.999. Sampling uses the EMA weights.
    grad_clip_norm: float = 0.0  # 0 disables; clips the global (all-replica) gradient norm.
    jit_compile: bool = False
    sample_every: int = 0  # Steps between sample grids in TensorBoard (0: never).

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise ConfigError(f"unknown loss '{self.loss}'; use one of {', '.join(LOSSES)}")
        if self.ssm_projection not in SSM_PROJECTIONS:
            raise ConfigError(f"unknown SSM projection '{self.ssm_projection}'; use one of "
                              f"{', '.join(SSM_PROJECTIONS)}")
        if self.sample_every < 0:
            raise ConfigError(f"sample_every must be >= 0, got {self.sample_every}")
        for name in ("steps", "batch_size", "checkpoint_every", "keep_checkpoints", "log_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not self.learning_rate > 0:
            raise ConfigError(f"learning_rate must be positive, got {self.learning_rate}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        if self.grad_clip_norm < 0:
            raise ConfigError(f"grad_clip_norm must be >= 0, got {self.grad_clip_norm}")


@dataclasses.dataclass(frozen=True)
class RunConfig:
    dataset: str = "toy"
    dataset_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    model: str = "mlp"
    model_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    sigmas: SigmaConfig = SigmaConfig()
    sampler: SamplerConfig = SamplerConfig()
    train: TrainConfig = TrainConfig()

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunConfig":
        try:
            return cls(dataset=d["dataset"], dataset_options=dict(d.get("dataset_options", {})),
                       model=d["model"], model_options=dict(d.get("model_options", {})),
                       sigmas=SigmaConfig(**d["sigmas"]),
                       sampler=SamplerConfig.from_dict(d["sampler"]),
                       train=TrainConfig(**d["train"]))
        except (KeyError, TypeError) as e:
            raise ConfigError(f"malformed run config: {e}") from e

    def architecture(self) -> dict[str, Any]:
        """What must not change when a run resumes: it decides the checkpoint's layout."""
        return {"dataset": self.dataset, "model": self.model,
                "model_options": self.model_options, "sigmas": dataclasses.asdict(self.sigmas),
                "ema": self.train.ema_decay > 0}


def save(config: RunConfig, workdir: str) -> str:
    os.makedirs(workdir, exist_ok=True)
    path = os.path.join(workdir, CONFIG_FILE)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(config.to_dict(), f, indent=2, sort_keys=True)
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


def check_resumable(saved: RunConfig, requested: RunConfig, workdir: str) -> None:
    """Refuses to resume a workdir with a different model, dataset or noise levels."""
    old, new = saved.architecture(), requested.architecture()
    changed = sorted(k for k in new if old[k] != new[k])
    if changed:
        details = "; ".join(f"{k}: {old[k]} -> {new[k]}" for k in changed)
        raise ConfigError(f"workdir '{workdir}' holds a run with a different {', '.join(changed)} "
                          f"({details}); use a new --workdir")
