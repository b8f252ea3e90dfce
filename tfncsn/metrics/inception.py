"""Inception-v3 features and logits for FID and the Inception Score (docs/algorithms.md section 9).

The network is `keras.applications.InceptionV3(weights=None, include_top=True)`
with the classifier's softmax removed; its weights come from a local file, never
from the internet. Expected: Keras's ImageNet file with the classification top,
`inception_v3_weights_tf_dim_ordering_tf_kernels.h5` (about 92 MB; the file
`keras.applications.InceptionV3(weights="imagenet")` downloads into
~/.keras/models/), or any `.weights.h5` / `.h5` saved from that architecture.

Protocol (as the TF reference implementations): images in [0, 1] are quantised
to 8 bits, grayscale is repeated to 3 channels, images are resized to 299x299
with bilinear interpolation (`tf.image.resize`, no antialiasing) and scaled to
[-1, 1]. Outputs: the 2048-d global average pool ("avg_pool", FID) and the 1000
logits ("predictions" before softmax, IS).

Caveat: published FID/IS numbers (TTUR, the TF-GAN library) use the 2015 TF
graph of Inception, whose weights and 1008 classes differ from Keras's
ImageNet model; numbers from this module are close to but not the same as
those, and must not be mixed with published statistics from the other network.
"""

from __future__ import annotations

import hashlib
import os
from typing import Callable

import keras
import numpy as np
import tensorflow as tf

from tfncsn.config import ConfigError

KERAS_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels.h5"
SIZE = 299
POOL_DIM = 2048


class InceptionWeightsError(ConfigError):
    """The Inception weights file is missing or does not fit InceptionV3 with its top."""


def keras_cache_file() -> str:
    """Keras's copy of the ImageNet file: $KERAS_HOME/models, else ~/.keras/models."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return os.path.join(home, "models", KERAS_FILE)


def find_weights(path: str | None, env_var: str | None = None) -> str | None:
    """The weights file to use: `path`, else $`env_var`, else Keras's cached ImageNet file.

    A given path (argument or variable) that does not exist is an error; the
    Keras cache is only used when present. None when no file is found.
    """
    for given, origin in ((path, "inception_weights"),
                          (os.environ.get(env_var) if env_var else None, env_var)):
        if given:
            if not os.path.isfile(given):
                raise InceptionWeightsError(f"Inception weights '{given}' (from {origin}) not "
                                            "found")
            return given
    cached = keras_cache_file()
    return cached if os.path.isfile(cached) else None


def weights_fingerprint(path: str) -> str:
    """First 16 hex digits of the file's SHA-256: keys the cached reference statistics."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


class InceptionFeatures:
    """Pool features and logits of images; calls are traced once for the batch size."""

    def __init__(self, model: keras.Model, batch_size: int = 50):
        self.model, self.batch_size = model, batch_size
        self._run = tf.function(lambda x: model(preprocess(x), training=False))

    def __call__(self, images: np.ndarray, callback: Callable[[int], None] | None = None):
        """Pool [N, 2048] and logits [N, 1000] (float64) of pixels [N, H, W, C] in [0, 1]."""
        pool, logits = [], []
        for start in range(0, len(images), self.batch_size):
            batch = np.asarray(images[start:start + self.batch_size], np.float32)
            padded = np.zeros((self.batch_size, *batch.shape[1:]), np.float32)  # One shape.
            padded[:len(batch)] = batch
            p, l = self._run(tf.constant(padded))
            pool.append(p.numpy()[:len(batch)])
            logits.append(l.numpy()[:len(batch)])
            if callback:
                callback(len(batch))
        return (np.concatenate(pool).astype(np.float64),
                np.concatenate(logits).astype(np.float64))


def load_inception(path: str, batch_size: int = 50) -> InceptionFeatures:
    """InceptionV3 with weights from `path`, giving (pool [N, 2048], logits [N, 1000])."""
    base = keras.applications.InceptionV3(weights=None, include_top=True,
                                          classifier_activation=None)
    try:
        base.load_weights(path)
    except Exception as e:  # h5py, Keras and shape errors all mean: not the right file.
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
        raise InceptionWeightsError(
            f"'{path}' does not hold InceptionV3 weights with the classification top (expected "
            f"Keras's {KERAS_FILE}; {type(e).__name__}: {first})") from None
    model = keras.Model(base.input, [base.get_layer("avg_pool").output, base.output])
    return InceptionFeatures(model, batch_size)


def preprocess(images) -> tf.Tensor:
    """[N, H, W, 1 or 3] pixels in [0, 1] -> [N, 299, 299, 3] Inception inputs in [-1, 1]."""
    x = tf.convert_to_tensor(images, tf.float32)
    x = tf.where(tf.math.is_nan(x), tf.zeros_like(x), x)  # As the figures draw NaN: black.
    x = tf.round(tf.clip_by_value(x, 0.0, 1.0) * 255.0)  # uint8 quantisation.
    if x.shape[-1] == 1:
        x = tf.tile(x, [1, 1, 1, 3])
    elif x.shape[-1] != 3:
        raise ValueError(f"Inception needs 1 or 3 channels, got {x.shape[-1]}")
    x = tf.image.resize(x, [SIZE, SIZE], method="bilinear", antialias=False)
    return x / 127.5 - 1.0
