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
                  "inpaint_finish.onnx), when the sampler supports conditioning (the "
                  "export's sampler only, not --extra_samplers).")
flags.DEFINE_bool("export_float16", False, "export: also write model.float16.onnx, the score "
                  "network with float16 weights and values (float32 inputs and output), checked "
                  "against Keras with its own tolerance (docs/export.md).")
flags.DEFINE_float("float16_rtol", None, "export: relative tolerance of the float16 check "
                   "(|diff| <= atol + rtol * rms of each input's Keras score); default: the one "
                   "docs/export.md states.")
flags.DEFINE_multi_string("extra_samplers", [], "export: one more sample program per value, "
                          "beside the run's sampler: NAME or NAME:key=value,key=value (values "
                          "as in --sampler_options), written as sample_<NAME>_<score "
                          "evaluations> (e.g. ode:num_steps=10 -> sample_ode_19; a later "
                          "variant with as many evaluations gets _2, _3, ...) and verified "
                          "like the main one; runtimes choose a program by name "
                          "(docs/export.md).")
