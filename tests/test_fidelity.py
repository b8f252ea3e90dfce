"""What the comparison with the authors' PyTorch code (docs/evaluation.md, "Fidelity against
the original code") found equal, pinned so a change shows up here before it shows up as a
drift in sample quality.

- Every convolution kernel of CondRefineNetDilated starts as PyTorch's Conv2d default,
  U(+-1/sqrt(fan_in)); biases start at 0 (PyTorch draws them from the same range; measured
  harmless in that comparison).
- The training input pipeline mixes Fashion-MNIST's classes as a full permutation per epoch
  does (the reference's DataLoader), although its shuffle buffer holds 10,000 of the 60,000
  images: the file order is already class-balanced. A source in class order, or a buffer
  that does not reach across it, would show here.
"""

from __future__ import annotations

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfncsn import training
from tfncsn.config import TrainConfig
from tfncsn.models.refinenet import CondRefineNetDilated

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
RECIPE = dict(batch_size=64, steps=1500)  # configs/fashion_mnist.cfg


def _conv_layers(model: keras.Model) -> list[keras.layers.Conv2D]:
    found = []

    def walk(layer):
        if isinstance(layer, keras.layers.Conv2D):
            found.append(layer)
        for attr in vars(layer).values():
            for item in (attr if isinstance(attr, (list, tuple)) else [attr]):
                if isinstance(item, keras.layers.Layer) and item is not layer:
                    walk(item)

    walk(model)
    return list({id(c): c for c in found}.values())


def test_every_refinenet_conv_starts_as_pytorchs_default():
    keras.utils.set_random_seed(0)
    model = CondRefineNetDilated(input_shape=(28, 28, 1), sigmas=[1.0, 0.1], ngf=16)
    model(tf.zeros([1, 28, 28, 1]), tf.constant([0]))
    convs = _conv_layers(model)
    assert len(convs) >= 20, f"found only {len(convs)} convolutions"
    for conv in convs:
        kernel = np.asarray(conv.kernel)
        fan_in = int(np.prod(kernel.shape[:-1]))
        bound = 1.0 / np.sqrt(fan_in)  # kaiming_uniform_(a=sqrt(5)): sqrt(1/3) * sqrt(3/fan_in)
        assert np.abs(kernel).max() <= bound * (1 + 1e-6), conv.name
        if kernel.size >= 1000:  # Enough draws to tell U(+-b) from Glorot or a normal.
            assert np.abs(kernel).max() > 0.97 * bound, conv.name
            np.testing.assert_allclose(kernel.std(), bound / np.sqrt(3.0), rtol=0.08,
                                       err_msg=conv.name)
        if conv.use_bias:
            np.testing.assert_array_equal(np.asarray(conv.bias), 0.0, err_msg=conv.name)


class _Labels:
    """A dataset whose training examples are Fashion-MNIST's labels, in the plugin's order."""

    element_shape = ()

    def __init__(self):
        from tfncsn_plugins.datasets.tfds_images import FashionMNIST
        self.plugin = FashionMNIST()

    def load(self, split, *, training=False, seed=0):
        # The plugin's own source (as `load` and `load_labelled` read it), labels only: the
        # order is what matters, and skipping the pixels keeps the test fast.
        return self.plugin._source(split).map(lambda example: example["label"])


@pytest.mark.skipif(not os.path.isdir(FASHION_MNIST_DIR),
                    reason="needs Debian's dataset-fashion-mnist")
def test_training_batches_mix_classes_like_a_full_shuffle():
    dataset = _Labels()
    labels = np.concatenate([y.numpy() for y in dataset.load("train").batch(10_000)])
    share = np.bincount(labels, minlength=10) / len(labels)
    config = TrainConfig(seed=0, **RECIPE)
    iterator = iter(training.input_pipeline(dataset, config))
    drawn = np.concatenate([next(iterator).numpy() for _ in range(config.steps)])
    # Windows of 100 batches: binomial sd of a class share 0.004; measured max deviation over
    # the 15 windows and 10 classes 0.008 (a full permutation per epoch: 0.009). A class-sorted
    # order would deviate by up to 0.9.
    windows = drawn.reshape(-1, 100 * config.batch_size)
    deviation = max(np.abs(np.bincount(w, minlength=10) / len(w) - share).max() for w in windows)
    assert deviation < 0.02, deviation
    # Within one batch, classes are as mixed as random draws: 64 draws from 10 near-equal
    # classes hold 9.9 distinct ones on average.
    distinct = np.mean([len(np.unique(b)) for b in drawn.reshape(config.steps, -1)])
    assert distinct > 9.5, distinct


class _Positions:
    """60,000 training examples that are their own position in the file."""

    element_shape = ()

    def load(self, split, *, training=False, seed=0):
        return tf.data.Dataset.range(60_000)


def test_training_batches_are_drawn_across_the_file():
    config = TrainConfig(seed=0, **RECIPE)
    iterator = iter(training.input_pipeline(_Positions(), config))
    batches = np.stack([next(iterator).numpy() for _ in range(200)])
    # Measured with the 10,000-example buffer: median gap 6,700 positions (a full permutation:
    # 20,000; no shuffle: 1). Every one of the first 200 batches is spread, not a run.
    gaps = np.abs(np.diff(batches, axis=1))
    assert np.median(gaps) > 2_000, np.median(gaps)
    assert (batches.max(axis=1) - batches.min(axis=1)).min() > 5_000
    assert len(np.unique(batches)) == batches.size  # No repeats within the first epoch.
