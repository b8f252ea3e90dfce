"""Export of trained score models: SavedModel, ONNX score and step-program graphs, metadata,
golden pair.

`export(model, meta, sampler, directory, extra_samplers=[ExtraSampler(name, program), ...])`
writes everything; `metadata.for_run` builds `meta` from a run. The `tfncsn_runtime` package
(export/tfncsn_runtime/, free of TensorFlow) reads and samples the result. The contract is in
docs/export.md.
"""

from tfncsn_export.exporter import (GOLDEN_FILE, METADATA_FILE, ONNX_FILE, SAVED_MODEL_DIR,
                                    ExportError, ExportResult, ExtraSampler, export,
                                    golden_inputs)
from tfncsn_export.metadata import for_run as metadata_for_run
from tfncsn_export.verify import ReplayNoise, Tolerance, VerificationError

__all__ = ["GOLDEN_FILE", "METADATA_FILE", "ONNX_FILE", "SAVED_MODEL_DIR", "ExportError",
           "ExportResult", "ExtraSampler", "ReplayNoise", "Tolerance", "VerificationError",
           "export", "golden_inputs", "metadata_for_run"]
