"""Built-in dataset plugins (group `tfncsn.datasets`)."""
