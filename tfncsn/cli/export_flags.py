"""Flags of `tfncsn export` (imported at the end of `tfncsn.cli.flags`)."""

from __future__ import annotations

from absl import flags

flags.DEFINE_bool("verify", True, "export: compare Keras, SavedModel and ONNX scores on the golden "
                  "inputs, and each step graph with TensorFlow on identical noise; fail beyond "
                  "the tolerance.")
flags.DEFINE_float("verify_atol", 1e-4, "export: absolute tolerance of --verify "
                   "(|diff| <= atol + rtol * rms of each input's Keras score).")
flags.DEFINE_float("verify_rtol", 1e-4, "export: relative tolerance of --verify.")
flags.DEFINE_integer("onnx_opset", 17, "export: ONNX opset of every graph.")
flags.DEFINE_bool("export_inpainting", True, "export: also write inpaint_step.onnx (and "
                  "inpaint_finish.onnx), when the sampler supports conditioning.")
flags.DEFINE_bool("export_float16", False, "export: also write model.float16.onnx, the score "
                  "network with float16 weights and values (float32 inputs and output), checked "
                  "against Keras with its own tolerance (docs/export.md).")
flags.DEFINE_float("float16_rtol", None, "export: relative tolerance of the float16 check "
                   "(|diff| <= atol + rtol * rms of each input's Keras score); default: the one "
                   "docs/export.md states.")
