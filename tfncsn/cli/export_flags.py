"""Flags of `tfncsn export` (imported at the end of `tfncsn.cli.flags`)."""

from __future__ import annotations

from absl import flags

flags.DEFINE_bool("verify", True, "export: compare Keras, SavedModel and ONNX scores on the golden "
                  "inputs (and the sampler graph's first steps) and fail beyond the tolerance.")
flags.DEFINE_float("verify_atol", 1e-4, "export: absolute tolerance of --verify "
                   "(|diff| <= atol + rtol |keras|).")
flags.DEFINE_float("verify_rtol", 1e-4, "export: relative tolerance of --verify.")
flags.DEFINE_integer("onnx_opset", 17, "export: ONNX opset of model.onnx and sampler.onnx.")
flags.DEFINE_bool("sampler_graph", True, "export: also write sampler.onnx, the whole sampler as "
                  "one ONNX Loop graph fed with x0 and the noise.")
