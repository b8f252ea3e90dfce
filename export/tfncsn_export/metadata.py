"""What travels with an exported score model: the sampler, its step programs, the data's form.

The same dictionary is written to `metadata.json` (JSON values) and to every
ONNX graph's `metadata_props` (each value JSON-encoded, since ONNX metadata
values are strings), so a runtime can sample from either (docs/export.md).
"""

from __future__ import annotations

import json
from typing import Any, Sequence

import numpy as np

import tfncsn
from tfncsn.config import RunConfig
from tfncsn.data.preprocessing import LOGIT_LAMBDA
from tfncsn.sampling.contract import Sampler
from tfncsn.sampling.options import options_dict
# The format's name and the keys a runtime needs are the reader's facts, declared there once
# (the exporter checks REQUIRED_KEYS through this module).
from tfncsn_runtime.reader import FORMAT, REQUIRED_KEYS  # noqa: F401


def postprocess_kind(dataset) -> str:
    """The dataset's declared model space -> pixels map, as a runtime can apply it.

    "none": the identity (e.g. 2-D points); "clip": clip to [0, 1];
    "inverse_logit": (sigmoid(z) - lambda) / (1 - 2 lambda), clipped to [0, 1].
    """
    kind = dataset.postprocess_kind
    if kind not in ("none", "clip", "inverse_logit"):
        raise ValueError(f"dataset {type(dataset).__name__} has postprocess_kind '{kind}'; only "
                         "none, clip and inverse_logit can be exported as metadata")
    return kind


def for_run(config: RunConfig, element_shape: Sequence[int], prior_range: Sequence[float],
            postprocess: str, sigmas: Sequence[float], training_step: int,
            sampler: Sampler) -> dict[str, Any]:
    """The metadata of a trained run; `sampler` is the program built for the export (its
    resolved options are recorded). The exporter adds `programs`, `golden` and `files`."""
    meta: dict[str, Any] = {
        "format": FORMAT,
        "tfncsn_version": tfncsn.__version__,
        "dataset": config.dataset,
        "model": config.model,
        "training_step": int(training_step),
        "element_shape": [int(d) for d in element_shape],
        # The float32 sigmas as their shortest decimals: cast to float32, they are exact.
        "sigmas": [float(str(np.float32(s))) for s in sigmas],
        "sampler": sampler_entry(config.sampler.name, sampler),
        "prior_range": [float(prior_range[0]), float(prior_range[1])],
        "postprocess": postprocess,
        "data_range": [0.0, 1.0] if postprocess in ("clip", "inverse_logit") else None,
    }
    if postprocess == "inverse_logit":
        meta["logit_lambda"] = LOGIT_LAMBDA
    if config.sde.continuous:  # For readers: the runtimes need nothing of it (the graphs hold it).
        meta["sde"] = {"name": config.sde.name, "options": dict(config.sde.options)}
    if config.preconditioning.edm:  # For readers too: the graphs hold the preconditioning.
        meta["preconditioning"] = {"name": "edm",
                                   "sigma_data": config.preconditioning.sigma_data}
    return meta


def sampler_entry(name: str, sampler: Sampler) -> dict[str, Any]:
    """{"name", "options"}: the sampler plugin `name` and the resolved options of its program
    (the metadata's `sampler`, and the `sampler` of each sample program)."""
    return {"name": name, "options": options_dict(sampler.options)}


def to_onnx_props(meta: dict[str, Any]) -> dict[str, str]:
    """ONNX `metadata_props`: every value JSON-encoded (strings included, so all decode alike)."""
    return {key: json.dumps(value) for key, value in meta.items()}
