"""The --mask parser: which values of an element inpainting keeps (Algorithm 2's m, 1 = known).

Shared by `python -m tfncsn_runtime` and `tfncsn inpaint` (tfncsn/cli/image_io.py adds .png
masks, read with PIL, and its `grayscale` value).
"""

from __future__ import annotations

import os
from typing import Callable, Mapping

import numpy as np

from tfncsn_runtime.reader import SampleError

MASKS = ("left_half", "right_half", "top_half", "bottom_half", "center")
# Extension -> a function reading such a file into an array (1, or > 0.5, = known).
MASK_READERS: Mapping[str, Callable[[str], np.ndarray]] = {".npy": np.load}


def named_mask(name: str, shape: tuple) -> np.ndarray:
    """The mask of image shape [H, W, C] that hides the region `name` (one of MASKS)."""
    height, width, _ = shape
    known = np.ones(shape, np.float32)
    hidden = {"left_half": np.s_[:, :width // 2], "right_half": np.s_[:, width // 2:],
              "top_half": np.s_[:height // 2, :], "bottom_half": np.s_[height // 2:, :],
              "center": np.s_[height // 4:height - height // 4,
                              width // 4:width - width // 4]}[name]
    known[hidden] = 0.0
    return known


def _without_ones(shape) -> tuple:
    return tuple(d for d in shape if d != 1)


def make_mask(spec: str, shape: tuple, readers: Mapping = MASK_READERS,
              choices: tuple = MASKS) -> np.ndarray:
    """The float32 mask of `shape` (1 = known) that --mask=`spec` gives: a named hidden
    region of an image, or a file one of `readers` reads.

    A file's array may be one element's shape or, for images [H, W, C], [H, W] (one mask for
    every channel), size-1 axes aside; values above 0.5 are known. `choices` are the values
    the error for an unknown `spec` lists (a caller may handle values of its own). Raises
    SampleError, one line naming --mask.
    """
    if spec in MASKS:
        if len(shape) != 3:
            raise SampleError(f"--mask={spec} needs images; this model's samples have shape "
                              f"{shape}: give a .npy mask")
        return named_mask(spec, tuple(shape))
    read = readers.get(os.path.splitext(spec)[1].lower())
    if read is None:
        raise SampleError(f"--mask must be one of {', '.join(choices)} or a "
                          f"{'/'.join(readers)} file (1 = known), got '{spec}'")
    try:
        loaded = np.asarray(read(spec), np.float32)
    except (OSError, ValueError) as e:
        raise SampleError(f"--mask: cannot read '{spec}' ({e})") from None
    if len(shape) == 3 and _without_ones(loaded.shape) == _without_ones(shape[:2]):
        loaded = loaded.reshape(*shape[:2], 1)  # One mask for every channel.
    elif _without_ones(loaded.shape) == _without_ones(shape):
        loaded = loaded.reshape(shape)
    else:
        raise SampleError(f"--mask: '{spec}' has shape {loaded.shape}; the model needs "
                          f"{tuple(shape)}" + (f" or {tuple(shape[:2])}" if len(shape) == 3
                                               else ""))
    return np.broadcast_to((loaded > 0.5).astype(np.float32), shape).copy()
