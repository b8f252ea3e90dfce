"""Which metrics an evaluation runs on a dataset and a model, and why it leaves the others out
(docs/evaluation.md): a metric asked for by name that cannot run is a ConfigError, one left
to `auto` is skipped with its reason in the report.
"""

from __future__ import annotations

import dataclasses

from tfncsn.config import ConfigError
from tfncsn.evaluation.config import WEIGHTS_ENV, EvalConfig
from tfncsn.metrics.inception import KERAS_FILE

LIKELIHOOD_KINDS = ("none", "clip", "inverse_logit")  # tfncsn.likelihood.model_space_log_det.
LEVEL_CONDITIONAL = ("needs a score model that accepts any sigma (the probability-flow ODE runs "
                     "between the trained levels): refinenet_v2, mlp with "
                     "noise_embedding=fourier, or --score=exact; this model is conditioned on "
                     "its trained levels only; --likelihood_levels=nearest scores each sigma at "
                     "the nearest trained level instead")


def missing_weights_message() -> str:
    return (f"Inception FID/IS need InceptionV3 ImageNet weights with the top: give "
            f"inception_weights=PATH or set {WEIGHTS_ENV}=PATH to Keras's {KERAS_FILE} "
            "(nothing is downloaded)")


def inception_weights(config: EvalConfig) -> str | None:
    """The InceptionV3 weights file (the configured one, else $TFNCSN_INCEPTION_WEIGHTS, else
    Keras's cached copy), None when there is none; raises ConfigError when the Inception
    metrics were asked for by name (or `reference_stats` given) and cannot run."""
    weights = None
    if "inception" in config.metrics:
        from tfncsn.metrics import inception as inc  # Keras applications: imported on use.
        weights = inc.find_weights(config.inception_weights, WEIGHTS_ENV)
    if weights is None and (config.reference_stats or (config.explicit
                                                       and "inception" in config.metrics)):
        raise ConfigError(missing_weights_message())
    if config.reference_stats and "inception" not in config.metrics:
        raise ConfigError("reference_stats is for the Inception FID; add inception to "
                          "eval_metrics")
    return weights


@dataclasses.dataclass
class Plan:
    """Which metrics run, and why the others do not."""

    run: list[str]
    skipped: dict[str, str]
    weights: str | None


def plan_metrics(dataset, names: list[str], explicit: bool, weights: str | None,
                 continuous_sigma: bool = True) -> Plan:
    """Drops what cannot run on `dataset` (and a model that is only defined at its trained
    levels: `continuous_sigma` False); raises if the user asked for it by name."""
    is_image = len(dataset.element_shape) == 3
    reasons = {
        "likelihood": (None if continuous_sigma else LEVEL_CONDITIONAL)
        or (None if dataset.postprocess_kind in LIKELIHOOD_KINDS or not is_image else
            f"needs the Jacobian of the dataset's map to model space, which postprocess_kind "
            f"'{dataset.postprocess_kind}' does not give (supported: "
            f"{', '.join(LIKELIHOOD_KINDS)})"),
        "offline": (None if is_image and hasattr(dataset, "load_labelled") else
                    "needs an image dataset with labels (a plugin with load_labelled)"),
        "inception": (("needs an image dataset with 1 or 3 channels" if not is_image
                       or dataset.element_shape[-1] not in (1, 3) else None)
                      or (None if weights else missing_weights_message())),
        "neighbours": None if is_image else "needs an image dataset",
        "heldout": None,
    }
    plan = Plan([], {}, weights)
    for name in names:
        if reasons[name] is None:
            plan.run.append(name)
        elif explicit:
            raise ConfigError(f"eval_metrics={name}: {reasons[name]}")
        else:
            plan.skipped[name] = reasons[name]
    return plan
