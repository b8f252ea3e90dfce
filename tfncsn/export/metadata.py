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
from tfncsn.programs import Sampler, options_dict

FORMAT = "tfncsn.score/2"

# Keys a runtime needs to sample; `onnx_sample.py` refuses a model without them.
REQUIRED_KEYS = ("format", "element_shape", "sigmas", "sampler", "programs", "prior_range",
                 "postprocess")


def postprocess_kind(dataset) -> str:
    """Which known map the dataset's model space -> pixels `postprocess` is, found by probing it.

    "none": no `postprocess` (e.g. 2-D points); "clip": clip to [0, 1];
    "inverse_logit": (sigmoid(z) - lambda) / (1 - 2 lambda), clipped to [0, 1].
    """
    postprocess = getattr(dataset, "postprocess", None)
    if postprocess is None:
        return "none"
    probe = np.linspace(-3.0, 3.0, 61, dtype=np.float32)
    got = np.asarray(postprocess(probe), np.float64)
    candidates = {
        "clip": np.clip(probe, 0.0, 1.0),
        "inverse_logit": np.clip((1.0 / (1.0 + np.exp(-probe.astype(np.float64))) - LOGIT_LAMBDA)
                                 / (1.0 - 2.0 * LOGIT_LAMBDA), 0.0, 1.0),
    }
    for kind, expected in candidates.items():
        if np.allclose(got, expected, atol=1e-5):
            return kind
    raise ValueError(f"dataset {type(dataset).__name__} has a postprocess that is neither a clip "
                     "to [0, 1] nor the inverse logit transform; it cannot be exported as metadata")


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
        "sampler": {"name": config.sampler.name, "options": options_dict(sampler.options)},
        "prior_range": [float(prior_range[0]), float(prior_range[1])],
        "postprocess": postprocess,
        "data_range": [0.0, 1.0] if postprocess in ("clip", "inverse_logit") else None,
    }
    if postprocess == "inverse_logit":
        meta["logit_lambda"] = LOGIT_LAMBDA
    return meta


def to_onnx_props(meta: dict[str, Any]) -> dict[str, str]:
    """ONNX `metadata_props`: every value JSON-encoded (strings included, so all decode alike)."""
    return {key: json.dumps(value) for key, value in meta.items()}
