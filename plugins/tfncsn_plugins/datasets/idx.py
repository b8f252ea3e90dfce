"""MNIST-style IDX files (raw or gzip), read with numpy.

IDX layout: two zero bytes, a type code, the number of dimensions n, n
big-endian uint32 sizes, then the values in row-major order, big-endian.
"""

from __future__ import annotations

import gzip
import os

import numpy as np

_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_PREFIXES = {"train": "train", "test": "t10k"}


def read_idx(path: str) -> np.ndarray:
    """The array stored in IDX file `path`; gzip is detected from the content."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] not in _TYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number {data[:4].hex()})")
    ndim = data[3]
    header = 4 + 4 * ndim
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
    dtype = np.dtype(_TYPES[data[2]])
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(data) != expected:
        raise ValueError(f"{path}: IDX header promises {expected} bytes for shape {shape}, "
                         f"file has {len(data)}")
    return np.frombuffer(data, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def idx_file_names(split: str) -> tuple[str, str]:
    """The canonical (images, labels) file names of `split`, e.g. train-images-idx3-ubyte."""
    prefix = _PREFIXES[split]
    return f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"


def find_idx_pair(directory: str, split: str) -> tuple[str, str] | None:
    """Paths of the images and labels files of `split` in `directory`, or None.

    Accepts the canonical names, the `train-images.idx3-ubyte` spelling, and
    either with `.gz`.
    """
    found = []
    for name in idx_file_names(split):
        stem, kind = name.rsplit("-idx", 1)
        candidates = [f"{base}{gz}" for base in (name, f"{stem}.idx{kind}") for gz in (".gz", "")]
        path = next((os.path.join(directory, c) for c in candidates
                     if os.path.isfile(os.path.join(directory, c))), None)
        if path is None:
            return None
        found.append(path)
    return found[0], found[1]


def read_idx_pair(images_path: str, labels_path: str) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images [N, H, W] and int64 labels [N] from an images/labels pair."""
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(f"{images_path} and {labels_path} do not hold [N, H, W] images and "
                         f"[N] labels (shapes {images.shape}, {labels.shape})")
    return images.astype(np.uint8), labels.astype(np.int64)
