"""Pixels and model space: the dataset's postprocess and its inverse, and the command line's
--images (a .npy of pixels)."""

from __future__ import annotations

import numpy as np

from tfncsn_runtime.reader import SampleError


def to_pixels(x: np.ndarray, meta: dict) -> np.ndarray:
    """Model space -> pixels in [0, 1] as the dataset's postprocess does (no-op for "none")."""
    kind = meta["postprocess"]
    if kind == "inverse_logit":
        lam = float(meta["logit_lambda"])  # Required with inverse_logit (reader.check_metadata).
        x = (1.0 / (1.0 + np.exp(-x.astype(np.float64))) - lam) / (1.0 - 2.0 * lam)
    if kind in ("clip", "inverse_logit"):
        return np.clip(x, 0.0, 1.0).astype(np.float32)
    return x


def to_model_space(pixels: np.ndarray, meta: dict) -> np.ndarray:
    """Pixels in [0, 1] -> model space (the logit transform when the model was trained in it)."""
    if meta["postprocess"] != "inverse_logit":
        return pixels
    lam = np.float32(meta["logit_lambda"])
    scale = np.float32(1.0) - np.float32(2.0) * lam
    return (np.log(lam + scale * pixels) - np.log(lam + scale * (np.float32(1.0) - pixels))
            ).astype(np.float32)


def pixels_from_array(images: np.ndarray, shape: tuple, name: str) -> np.ndarray:
    """[M, *shape] float32 pixels in [0, 1] from an array of floats in [0, 1] or uint8 (one image
    without the batch dimension too); `name` says where it came from in the error."""
    if images.dtype == np.uint8:
        images = images.astype(np.float32) / 255.0
    images = np.asarray(images, np.float32)
    if images.ndim == len(shape):
        images = images[None]
    if tuple(images.shape[1:]) != tuple(shape) or images.shape[0] == 0:
        raise SampleError(f"{name} holds an array of shape {images.shape}; the model needs "
                          f"[M, {', '.join(map(str, shape))}]")
    if not np.all(np.isfinite(images)) or images.min() < 0 or images.max() > 1:
        got = (f"[{images.min():.3g}, {images.max():.3g}]" if np.all(np.isfinite(images))
               else "NaN or infinity")
        raise SampleError(f"{name} must hold pixels in [0, 1] (or uint8), got {got}")
    return images


def load_images(path: str, shape: tuple) -> np.ndarray:
    """[M, *shape] float32 pixels in [0, 1] from a .npy of floats in [0, 1] or uint8."""
    if not path.endswith(".npy"):
        raise SampleError(f"--images must be a .npy file, got '{path}'")
    try:
        images = np.load(path)
    except (OSError, ValueError) as e:
        raise SampleError(f"--images: cannot read '{path}' ({e})") from None
    return pixels_from_array(images, shape, f"--images: '{path}'")
