"""Data helpers shared by the dataset plugins (`tfncsn_plugins.datasets`;
docs/algorithms.md section 7).

`preprocessing` holds the pure TensorFlow transforms of the paper's pipeline.
"""
