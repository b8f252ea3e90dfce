"""The pure TensorFlow operations of the NCSN score network: pools, the align-corners
resize and InstanceNorm++ (docs/algorithms.md section 6). No weights, no Keras: each is
tested against NumPy (tests/test_refinenet_layers.py); instance_norm.py, residual_block.py and
refine_block.py build the Keras blocks from them.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import tensorflow as tf

EPSILON = 1e-5


def mean_pool_2x2(x: tf.Tensor) -> tf.Tensor:
    """Mean of each non-overlapping 2x2 window (H and W must be even)."""
    return tf.nn.avg_pool2d(x, ksize=2, strides=2, padding="VALID")


def avg_pool_5x5(x: tf.Tensor, count_padding: bool = True) -> tf.Tensor:
    """5x5 average pool, stride 1, output the size of the input.

    With `count_padding` the input is zero-padded by 2 and every window is
    divided by 25 (PyTorch's AvgPool2d(5, 1, padding=2) default); otherwise
    border windows are divided by their in-image pixel count (TF "SAME").
    """
    if count_padding:
        x = tf.pad(x, [[0, 0], [2, 2], [2, 2], [0, 0]])
        return tf.nn.avg_pool2d(x, ksize=5, strides=1, padding="VALID")
    return tf.nn.avg_pool2d(x, ksize=5, strides=1, padding="SAME")


def max_pool_5x5(x: tf.Tensor) -> tf.Tensor:
    """5x5 max pool, stride 1, output the size of the input (padding never wins a max)."""
    return tf.nn.max_pool2d(x, ksize=5, strides=1, padding="SAME")


def _align_corners_taps(size_in: int, size_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source indices (low, high) and weight of `high` for each output index."""
    scale = (size_in - 1) / (size_out - 1) if size_out > 1 else 0.0
    source = np.arange(size_out, dtype=np.float64) * scale
    low = np.minimum(np.floor(source).astype(np.int32), size_in - 1)
    high = np.minimum(low + 1, size_in - 1)
    return low, high, (source - low).astype(np.float32)


def _lerp_along(x: tf.Tensor, axis: int, size_out: int) -> tf.Tensor:
    low, high, weight = _align_corners_taps(int(x.shape[axis]), size_out)
    shape = [1, 1, 1, 1]
    shape[axis] = size_out
    a = tf.gather(x, low, axis=axis)
    b = tf.gather(x, high, axis=axis)
    return a + (b - a) * tf.constant(weight.reshape(shape), dtype=x.dtype)


def resize_bilinear(x: tf.Tensor, size: Sequence[int], align_corners: bool = True) -> tf.Tensor:
    """Bilinear resize of the spatial axes of NHWC `x` to `size` = (H, W).

    `align_corners=True` maps output pixel i to input coordinate
    i * (in - 1) / (out - 1), as PyTorch's interpolate(..., align_corners=True)
    does; it is made of Gather/Mul/Add only, so it runs under XLA and exports
    to ONNX. `align_corners=False` is `tf.image.resize` (half-pixel centres).
    Spatial sizes must be static. Resizing to the same size is the identity.
    """
    height, width = int(size[0]), int(size[1])
    if x.shape[1] is None or x.shape[2] is None:
        raise ValueError(f"resize_bilinear needs static spatial sizes, got {x.shape}")
    if (int(x.shape[1]), int(x.shape[2])) == (height, width):
        return x
    if not align_corners:
        return tf.image.resize(x, (height, width), method="bilinear")
    return _lerp_along(_lerp_along(x, 1, height), 2, width)


def instance_norm_plus_plus(x: tf.Tensor, gamma: tf.Tensor, alpha: tf.Tensor, beta: tf.Tensor,
                            unbiased: bool) -> tf.Tensor:
    """InstanceNorm++ of NHWC `x` with parameters of shape [N, C] or [C].

    As in docs/algorithms.md section 6.1 (the reference code's form):

    out = gamma * ((x - mu_k) / sqrt(s_k^2 + eps) + alpha * (mu_k - m) / sqrt(v + eps)) + beta,
    where mu_k, s_k^2 are the spatial mean and (biased) variance of channel k
    and m, v the mean and variance of the mu_k over the C channels; v divides
    by C - 1 (at least 1) when `unbiased` (the reference) and by C otherwise.
    It is applied as one scale and one shift per channel, x * scale + shift.

    Under mixed precision (`x` bfloat16 or float16) it is computed in float32 and only
    the output is cast back to x's dtype, in one function that XLA compiles: the
    statistics, the scale and shift and the cast become a few fused loops instead of a
    dozen separate passes over the activations, while the convolutions around it stay
    the graph's oneDNN kernels (docs/performance.md, "Mixed precision and InstanceNorm++").
    """
    if x.dtype == tf.float32:
        return _instance_norm_plus_plus(x, gamma, alpha, beta, unbiased)
    return _instance_norm_plus_plus_fused(x, gamma, alpha, beta, unbiased)


def _instance_norm_plus_plus(x, gamma, alpha, beta, unbiased: bool):
    # Channel statistics are kept as [N, C]: taken on [N, 1, 1, C] after a conv,
    # tf2onnx 1.17's transpose optimiser exports them wrongly.
    x32 = tf.cast(x, tf.float32)
    gamma, alpha, beta = (tf.cast(t, tf.float32) for t in (gamma, alpha, beta))
    mean, var = tf.nn.moments(x32, axes=[1, 2])
    channels = int(x.shape[-1])
    m = tf.reduce_mean(mean, axis=-1, keepdims=True)
    divisor = max(channels - 1, 1) if unbiased else channels
    v = tf.reduce_sum(tf.square(mean - m), axis=-1, keepdims=True) / float(divisor)
    mean_hat = (mean - m) * tf.math.rsqrt(v + EPSILON)
    inv_std = tf.math.rsqrt(var + EPSILON)
    scale = gamma * inv_std
    shift = gamma * (alpha * mean_hat - mean * inv_std) + beta
    out = x32 * scale[:, None, None, :] + shift[:, None, None, :]
    return tf.cast(out, x.dtype)


_instance_norm_plus_plus_fused = tf.function(_instance_norm_plus_plus, jit_compile=True)
