"""What an evaluation reads as NumPy: a dataset's splits, a samples file of `tfncsn sample`,
and fixed subsets of either.
"""

from __future__ import annotations

import os

import numpy as np

from tfncsn.config import ConfigError


def load_split(source, split: str, limit: int = 0, labelled: bool = False):
    """A split as NumPy: model-space examples, or (pixels in [0, 1], labels) when labelled."""
    dataset = source.dataset
    data = dataset.load_labelled(split) if labelled else dataset.load(split)
    if limit > 0:
        data = data.take(limit)
    batches = list(data.batch(4096).as_numpy_iterator())
    if not batches:
        raise ConfigError(f"dataset '{source.config.dataset}' has no {split} examples")
    if not labelled:
        return np.concatenate(batches)
    images = np.concatenate([b[0] for b in batches])
    return dataset.to_pixels(images), np.concatenate([b[1] for b in batches])


def load_train_pixels(source, limit: int = 0) -> np.ndarray:
    return source.dataset.to_pixels(load_split(source, "train", limit))


def subset(n: int, size: int, seed: int = 0) -> np.ndarray:
    """`size` indices out of n (all of them if size >= n), fixed by `seed`."""
    if size >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size, replace=False))


def read_samples(path: str, element_shape) -> tuple[np.ndarray, np.ndarray | None]:
    """Samples (and intermediate states, if saved) from `tfncsn sample`'s .npy or .npz."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"samples file '{path}' not found")
    if path.endswith(".npz"):
        with np.load(path) as data:
            if "samples" not in data:
                raise ConfigError(f"samples file '{path}' has no 'samples' array")
            samples = data["samples"]
            states = data["states"] if "states" in data else None
    else:
        samples, states = np.load(path), None
    if samples.shape[1:] != tuple(element_shape):
        raise ConfigError(f"samples file '{path}' holds {samples.shape[1:]} examples; the run's "
                          f"dataset has {tuple(element_shape)}")
    return samples.astype(np.float32), states
