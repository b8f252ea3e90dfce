"""`python -m tfncsn` is the `tfncsn` command."""

from tfncsn.cli.main import run

run()
