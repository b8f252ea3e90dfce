"""tfncsn: Noise Conditional Score Networks (Song & Ermon, 2019) in TensorFlow/Keras 3."""

__version__ = "0.1.0"
