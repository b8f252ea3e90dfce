"""tfncsn_runtime: reads and samples `tfncsn export` directories without TensorFlow.

Needs NumPy and ONNX Runtime only; installed with tfncsn, usable without it (copy this
folder next to your code, or put export/ of a checkout on PYTHONPATH):

    python -m tfncsn_runtime --model=EXPORT --num_samples=64 --output=grid.png
    import tfncsn_runtime
    export = tfncsn_runtime.load("EXPORT")
    samples = export.sample(256, tfncsn_runtime.NumpyNoise(seed=0))

Modules: reader (the library: metadata, sessions, the step programs looped), programs (the
programs' names and files: `sample`, `sample_<sampler>_<evaluations>`, ...), noise (the
per-step noise rule and NumPy's noise source), cli (the command line), golden (the golden
check), masks (--mask), pixels (model space and pixels, --images), png (image output),
output_paths (output checks shared with tfncsn's commands).

The export's contract (metadata.json, the step programs, the golden pair) is in
docs/export.md. `tfncsn_export` writes exports; this package only reads them.
"""

from tfncsn_runtime.noise import NumpyNoise
from tfncsn_runtime.reader import Export, Program, SampleError, load

__all__ = ["Export", "NumpyNoise", "Program", "SampleError", "load"]
