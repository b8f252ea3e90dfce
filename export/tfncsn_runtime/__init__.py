"""tfncsn_runtime: reads and samples `tfncsn export` directories without TensorFlow.

Needs NumPy and ONNX Runtime only; installed with tfncsn, usable without it:

    python -m tfncsn_runtime --model=EXPORT --num_samples=64 --output=grid.png
    from tfncsn_runtime import onnx_sample
    export = onnx_sample.load("EXPORT")

The export's contract (metadata.json, the step programs, the golden pair) is in
docs/export.md. `tfncsn_export` writes exports; this package only reads them.
"""

__all__ = ["onnx_sample"]
