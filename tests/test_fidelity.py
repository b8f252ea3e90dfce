"""What the comparison with the authors' PyTorch code (docs/evaluation.md, "Fidelity against
the original code") found equal, pinned so a change shows up here before it shows up as a
drift in sample quality.

- Every convolution of both RefineNets starts as PyTorch's Conv2d default: kernel and bias
  drawn from U(+-1/sqrt(fan_in)) (biases at 0 only with conv_bias_init="zeros").
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
from tfncsn.models.refinenet_v2 import NCSNv2RefineNet

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


def _built(network, **options) -> keras.Model:
    keras.utils.set_random_seed(0)
    model = network(input_shape=(28, 28, 1), sigmas=[1.0, 0.1], ngf=16, **options)
    model(tf.zeros([1, 28, 28, 1]), tf.constant([0]))
    return model


@pytest.mark.parametrize("network", [CondRefineNetDilated, NCSNv2RefineNet])
def test_every_refinenet_conv_starts_as_pytorchs_default(network):
    """Kernels and biases both U(+-1/sqrt(fan_in)), as PyTorch's Conv2d in both references."""
    convs = _conv_layers(_built(network))
    assert len(convs) >= 20, f"found only {len(convs)} convolutions"
    scaled_biases = []  # Each bias over its bound: U(-1, 1) if drawn right.
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
            scaled_biases.append(np.asarray(conv.bias) / bound)
    scaled = np.concatenate(scaled_biases)
    assert len(scaled) > 500, len(scaled)
    assert np.abs(scaled).max() <= 1 + 1e-6
    assert np.abs(scaled).max() > 0.99
    np.testing.assert_allclose(scaled.std(), 1 / np.sqrt(3.0), rtol=0.08)
    assert abs(scaled.mean()) < 0.1


def test_conv_biases_follow_the_seed_or_start_at_zero():
    model, twin = _built(CondRefineNetDilated), _built(CondRefineNetDilated)
    assert model.get_config()["conv_bias_init"] == "uniform"
    for a, b in zip(model.weights, twin.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    zeros = _built(CondRefineNetDilated, conv_bias_init="zeros")
    biases = [np.asarray(c.bias) for c in _conv_layers(zeros) if c.use_bias]
    assert len(biases) > 20 and not any(b.any() for b in biases)
    # The kernels are drawn as before: only the biases differ.
    for conv, twin_conv in zip(_conv_layers(model), _conv_layers(zeros), strict=True):
        np.testing.assert_array_equal(np.asarray(conv.kernel), np.asarray(twin_conv.kernel))


def test_unknown_conv_bias_init_is_a_config_error():
    from tfncsn import builders
    from tfncsn.config import ConfigError
    with pytest.raises(ConfigError, match="conv_bias_init must be one of zeros, uniform"):
        builders.make_model("refinenet", {"ngf": 8, "conv_bias_init": "normal"}, (28, 28, 1),
                            [1.0, 0.1])


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
