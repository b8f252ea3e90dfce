"""Pure TensorFlow image transforms of the paper's data pipeline (docs/algorithms.md section 7.1).

Every function works on one image [H, W, C] or a batch [N, H, W, C]; random
ones take a stateless `seed` (int32/int64 tensor of shape [2]), so the result
is a function of their inputs alone.
"""

from __future__ import annotations

import tensorflow as tf

LOGIT_LAMBDA = 1e-6  # The reference code's `logit_transform` (docs/algorithms.md section 7.1).


def to_unit_interval(images: tf.Tensor, max_value: float = 255.0) -> tf.Tensor:
    """Integer pixels 0..max_value -> float32 in [0, 1]."""
    return tf.cast(images, tf.float32) / max_value


def dequantize(x: tf.Tensor, seed: tf.Tensor, levels: int = 256) -> tf.Tensor:
    """x * (levels-1)/levels + U(0,1)/levels: x*255/256 + U/256 for 8-bit data.

    Maps the pixel value k/(levels-1) uniformly onto [k/levels, (k+1)/levels)
    (docs/algorithms.md section 7.1).
    """
    noise = tf.random.stateless_uniform(tf.shape(x), seed, dtype=tf.float32)
    return x * ((levels - 1) / levels) + noise / levels


def logit_transform(x: tf.Tensor, lam: float = LOGIT_LAMBDA) -> tf.Tensor:
    """logit(lam + (1 - 2 lam) x): [0, 1] -> real line (the reference code's, lambda = 1e-6)."""
    # 1 - y written as lam + (1 - 2 lam)(1 - x): exact in float32 near x = 1, unlike 1 - y.
    scale = 1.0 - 2.0 * lam
    return tf.math.log(lam + scale * x) - tf.math.log(lam + scale * (1.0 - x))


def inverse_logit_transform(z: tf.Tensor, lam: float = LOGIT_LAMBDA) -> tf.Tensor:
    """Inverse of `logit_transform`: (sigmoid(z) - lam) / (1 - 2 lam)."""
    return (tf.sigmoid(z) - lam) / (1.0 - 2.0 * lam)


def random_flip(images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Flips left-right with probability 1/2 (each image of a batch independently)."""
    return tf.image.stateless_random_flip_left_right(images, seed)


def center_crop(images: tf.Tensor, size: int | None = None) -> tf.Tensor:
    """The central size x size window; `None` takes the largest central square.

    An odd margin leaves the extra row/column at the bottom/right, as
    torchvision's `CenterCrop` does.
    """
    shape = tf.shape(images)
    height, width = shape[-3], shape[-2]
    if size is None:
        size = tf.minimum(height, width)
    top = (height - size) // 2
    left = (width - size) // 2
    return tf.image.crop_to_bounding_box(images, top, left, size, size)


def center_crop_resize(images: tf.Tensor, crop: int | None, size: int) -> tf.Tensor:
    """Centre crop (see `center_crop`) then resize to size x size; keeps the dtype.

    Resizing is bilinear with antialiasing, close to PIL's bilinear downscaling
    that the reference code (torchvision `Resize`) uses. Integer inputs are
    rounded back to their dtype, as PIL returns uint8 images.
    """
    cropped = center_crop(images, crop)
    resized = tf.image.resize(cropped, (size, size), method="bilinear", antialias=True)
    if images.dtype.is_integer:
        resized = tf.clip_by_value(tf.round(resized), images.dtype.min, images.dtype.max)
    return tf.cast(resized, images.dtype)
