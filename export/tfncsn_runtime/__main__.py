"""`python -m tfncsn_runtime`: the command line (tfncsn_runtime.cli)."""

import sys

from tfncsn_runtime.cli import main

sys.exit(main())
