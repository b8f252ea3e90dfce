"""A small convolutional classifier whose features stand in for Inception's offline.

Inception-v3 needs ImageNet weights from elsewhere and sees 8x8 or 28x28
grayscale images through a 299x299 lens; a few conv layers trained on the
dataset's own labels are available everywhere and fit the data. Its 128-d
penultimate layer is the feature space of the offline FID, KID and
precision/recall; its predictions give the class histogram of samples.
The numbers are comparable only between evaluations that use the same
classifier (same dataset, architecture and weights), which is why it is saved
and reused.

Inputs are pixels in [0, 1], quantised to 8 bits as the FID protocol does.
"""

from __future__ import annotations

import json
import os
from typing import Any, Callable

import keras
import numpy as np
import tensorflow as tf

ARCHITECTURE = "convnet-16-32-flatten-128"  # Saved with the weights: change with the network.
FEATURE_DIM = 128
WEIGHTS_FILE = "classifier.weights.h5"
INFO_FILE = "classifier.json"


def quantize(images: np.ndarray) -> np.ndarray:
    """Pixels in [0, 1] -> the nearest of 256 levels, as float32 in [0, 1]."""
    images = np.nan_to_num(np.asarray(images, np.float32), nan=0.0)
    return np.round(np.clip(images, 0.0, 1.0) * 255.0) / 255.0


def build_classifier(input_shape, num_classes: int, seed: int = 0) -> keras.Model:
    """Conv(16) x2, max pool, Conv(32) x2, (max pool), flatten, Dense(128) "features", logits.

    The second pool is used when the first leaves at least 16 pixels a side.
    """
    height = input_shape[0]
    seeds = iter(range(seed * 100, seed * 100 + 100))

    def init():
        return keras.initializers.HeUniform(seed=next(seeds))

    inputs = keras.Input(tuple(input_shape), name="pixels")
    x = keras.layers.Rescaling(2.0, offset=-1.0)(inputs)
    for block, width in enumerate((16, 32)):
        for _ in range(2):
            x = keras.layers.Conv2D(width, 3, padding="same", activation="relu",
                                    kernel_initializer=init())(x)
        if block == 0 or height // 2 >= 16:
            x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    features = keras.layers.Dense(FEATURE_DIM, activation="relu", name="features",
                                  kernel_initializer=init())(x)
    logits = keras.layers.Dense(num_classes, name="logits",
                                kernel_initializer=keras.initializers.GlorotUniform(
                                    seed=next(seeds)))(features)
    return keras.Model(inputs, logits, name="offline_classifier")


def default_steps(num_examples: int, batch_size: int = 128) -> int:
    """Ten epochs, at least 600 and at most 1500 steps."""
    return int(np.clip(10 * np.ceil(num_examples / batch_size), 600, 1500))


class _Progress(keras.callbacks.Callback):
    def __init__(self, callback: Callable[[int], None]):
        super().__init__()
        self._callback = callback

    def on_train_batch_end(self, batch, logs=None):
        self._callback(1)


def train_classifier(images: np.ndarray, labels: np.ndarray, num_classes: int, *,
                     steps: int | None = None, batch_size: int = 128, learning_rate: float = 1e-3,
                     seed: int = 0, callback: Callable[[int], None] | None = None) -> keras.Model:
    """Trains the classifier on pixels [N, H, W, C] in [0, 1] and integer labels [N] with Adam."""
    images, labels = quantize(images), np.asarray(labels, np.int64)
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(f"labels must be in [0, {num_classes}), got [{labels.min()}, "
                         f"{labels.max()}]")
    steps = steps or default_steps(len(images), batch_size)
    model = build_classifier(images.shape[1:], num_classes, seed)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    data = (tf.data.Dataset.from_tensor_slices((images, labels))
            .shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
            .repeat().batch(batch_size, drop_remainder=True).prefetch(2))
    model.fit(data, epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False,
              callbacks=[_Progress(callback)] if callback else [])
    return model


def fit_classifier(train_images: np.ndarray, train_labels: np.ndarray,
                   test_images: np.ndarray, test_labels: np.ndarray, *, seed: int = 0,
                   steps: int | None = None,
                   callback: Callable[[int], None] | None = None
                   ) -> tuple[keras.Model, dict[str, Any]]:
    """Trains the classifier and describes it: test accuracy, feature scale, sizes.

    The description is what `save_classifier` stores and `classifier_outputs`
    needs (`feature_scale`).
    """
    num_classes = int(max(np.max(train_labels), np.max(test_labels))) + 1
    steps = steps or default_steps(len(train_images))
    model = train_classifier(train_images, train_labels, num_classes, steps=steps, seed=seed,
                             callback=callback)
    _, logits = classifier_outputs(model, test_images)
    train_features, _ = classifier_outputs(model, train_images)
    info = {"train_examples": len(train_images), "test_examples": len(test_images),
            "steps": steps, "seed": seed, "test_accuracy": accuracy(logits, test_labels),
            "feature_scale": feature_scale(train_features)}
    return model, info


def feature_model(classifier: keras.Model) -> keras.Model:
    """The classifier with two outputs: features [N, 128] and logits [N, K]."""
    return keras.Model(classifier.input,
                       [classifier.get_layer("features").output, classifier.outputs[0]])


def classifier_outputs(classifier: keras.Model, images: np.ndarray, batch_size: int = 500,
                       feature_scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Features [N, 128] times `feature_scale` and logits [N, K] (float64) of pixels in [0, 1]."""
    model = feature_model(classifier)
    features, logits = [], []
    images = quantize(images)
    for start in range(0, len(images), batch_size):
        f, l = model(images[start:start + batch_size], training=False)
        features.append(np.asarray(f))
        logits.append(np.asarray(l))
    return (np.concatenate(features).astype(np.float64) * feature_scale,
            np.concatenate(logits).astype(np.float64))


def feature_scale(features: np.ndarray) -> float:
    """1 / RMS of the features: scaled by it, the training set's features have mean square 1.

    Saved with the classifier, so every evaluation with it uses the same scale; it
    keeps FID and KID of different datasets' classifiers in similar ranges.
    """
    return float(1.0 / np.sqrt(np.mean(np.square(features)) + 1e-12))


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.argmax(logits, axis=1) == np.asarray(labels)))


def save_classifier(classifier: keras.Model, directory: str,
                    info: dict[str, Any]) -> dict[str, Any]:
    """Writes the weights and `info` with the architecture, shape and classes to `directory`.

    Returns the description as written (what `load_classifier` gives back).
    """
    os.makedirs(directory, exist_ok=True)
    info = {**info, "architecture": ARCHITECTURE,
            "input_shape": list(classifier.input_shape[1:]),
            "num_classes": int(classifier.output_shape[-1])}
    classifier.save_weights(os.path.join(directory, WEIGHTS_FILE))
    tmp = os.path.join(directory, INFO_FILE + ".tmp")
    with open(tmp, "w") as f:
        json.dump(info, f, indent=2, sort_keys=True)
    os.replace(tmp, os.path.join(directory, INFO_FILE))  # Written last: marks a complete save.
    return info


def load_classifier(directory: str) -> tuple[keras.Model, dict[str, Any]] | None:
    """The classifier saved in `directory` and its description, or None if there is none."""
    info_path = os.path.join(directory, INFO_FILE)
    if not os.path.isfile(info_path):
        return None
    with open(info_path) as f:
        info = json.load(f)
    if info.get("architecture") != ARCHITECTURE or "feature_scale" not in info:
        return None  # Saved by another version: train anew.
    classifier = build_classifier(info["input_shape"], info["num_classes"])
    classifier.load_weights(os.path.join(directory, WEIGHTS_FILE))
    return classifier, info
