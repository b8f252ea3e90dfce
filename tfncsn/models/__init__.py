"""Score networks, each registered in the `tfncsn.models` entry-point group."""
