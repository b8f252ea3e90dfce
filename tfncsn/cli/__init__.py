"""The `tfncsn` command line."""
