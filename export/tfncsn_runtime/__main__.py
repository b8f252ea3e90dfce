"""`python -m tfncsn_runtime`: the `onnx_sample` command line."""

import sys

from tfncsn_runtime.onnx_sample import main

sys.exit(main())
