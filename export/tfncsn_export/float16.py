"""The optional float16 score network, `model.float16.onnx` (docs/export.md, "float16 score network").

The same graph as `model.onnx` with its weights and every value passed between operations in
float16; its inputs and output stay float32 (x, level -> score), so a runtime swaps one file for the
other. It is half the size, and faster where a runtime has float16 kernels (GPUs, WebGPU, ARM
CPUs). ONNX Runtime's x86 CPU provider runs most float16 operations by casting to float32 and
back (every result is still rounded to float16), so there it is no faster.
"""

from __future__ import annotations

import copy
import logging
import warnings

import onnx

from tfncsn_export.verify import Tolerance

FILE = "model.float16.onnx"
# |diff| <= atol + rtol * rms(score of the input), against the Keras model. Float16 keeps 11
# significant bits (unit roundoff 4.9e-4), and the error grows with depth and width: measured
# up to 2.5e-3 of the RMS on a trained ngf 16 CondRefineNet and 1.1e-2 on the paper's ngf 64
# network (docs/export.md), so 5e-2 leaves a margin of 4.5x; a conversion error is of the
# order of the RMS itself.
TOLERANCE = Tolerance(atol=1e-4, rtol=5e-2)


def convert(network: onnx.ModelProto) -> onnx.ModelProto:
    """A float16 copy of the float32 score network `network`, float32 inputs and output kept.

    Constants beyond float16's range are clamped to +-65504 and positive ones below 6e-8
    raised to it (the converter's rule); the verification against Keras tells whether that
    mattered.
    """
    from onnxruntime.transformers.float16 import convert_float_to_float16

    # The converter warns once per clamped constant and logs through its own logger.
    logging.getLogger("onnxruntime.transformers.float16").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = convert_float_to_float16(copy.deepcopy(network), keep_io_types=True)
    # The converter leaves the shapes it inferred in value_info: optional, and for a
    # CondRefineNet about as large as small weights; runtimes infer them again.
    del model.graph.value_info[:]
    model.doc_string = network.doc_string
    return model
