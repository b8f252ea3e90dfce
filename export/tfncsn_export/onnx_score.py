"""The score network as ONNX: `score(x, level)`, and the metadata every exported graph carries."""

from __future__ import annotations

from typing import Any

import onnx

from tfncsn_export import metadata as meta_lib

DEFAULT_OPSET = 17  # ONNX Runtime >= 1.14, onnxruntime-web and -node all run it.

DOC = ("tfncsn score network (Song & Ermon 2019): score(x: float32 [N, *element_shape], "
       "level: int32 [N]) -> score: float32 [N, *element_shape]; level indexes the sigmas in "
       "metadata_props (0 = largest). Every metadata value is JSON.")


def check_io(model: onnx.ModelProto) -> None:
    """The converted score graph must read (x, level) and write score."""
    names = ([i.name for i in model.graph.input], [o.name for o in model.graph.output])
    if names != (["x", "level"], ["score"]):
        raise RuntimeError(f"tf2onnx named the score graph's inputs and outputs {names}, "
                           "expected (['x', 'level'], ['score'])")


def attach_metadata(model: onnx.ModelProto, meta: dict[str, Any], doc: str = DOC) -> None:
    """Writes `meta` into `model.metadata_props` (replacing any), the contract into doc_string."""
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, meta_lib.to_onnx_props(meta))
    model.doc_string = doc
    model.model_version = int(meta.get("training_step", 0))
