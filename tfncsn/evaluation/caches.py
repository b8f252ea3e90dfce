"""What evaluations of a dataset share, cached under `cache_dir` (docs/evaluation.md): the
offline classifier and the Inception statistics of the training split, each in a file named
by `dataset_key`.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import numpy as np

from tfncsn.evaluation.config import EvalConfig
from tfncsn.evaluation.data import load_train_pixels
from tfncsn.metrics import fid
from tfncsn.progress import progress_bar

# Options that change how a dataset is fed to the model, not its pixels: they do not
# change the offline classifier or the reference statistics.
_PRESENTATION_OPTIONS = ("logit_transform", "random_flip", "dequantize")


def dataset_key(source, *parts: Any) -> str:
    """NAME-HASH: the dataset, its data folder and options, and what else decides a cached
    file's content."""
    config = source.config
    options = {k: v for k, v in config.dataset_options.items() if k not in _PRESENTATION_OPTIONS}
    data_dir = source.dataset.data_dir
    text = json.dumps([options, data_dir and os.path.abspath(data_dir), *parts], sort_keys=True,
                      default=str)
    return f"{config.dataset}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def offline_classifier(source, cache_dir: str, train_x, train_y, test_x, test_y):
    """The cached classifier of this dataset, trained (and cached) first if there is none."""
    from tfncsn.metrics import feature_classifier as clf
    directory = os.path.join(cache_dir, "classifiers",
                             dataset_key(source, train_x.shape[1:], clf.ARCHITECTURE))
    loaded = clf.load_classifier(directory)
    if loaded is not None:
        model, info = loaded
        return model, {**info, "path": directory, "trained_now": False}
    steps = clf.default_steps(len(train_x))
    with progress_bar(steps, "offline classifier") as bar:
        model, info = clf.fit_classifier(train_x, train_y, test_x, test_y, steps=steps,
                                         callback=bar.update)
    info["dataset"] = source.config.dataset
    info = clf.save_classifier(model, directory, info)
    return model, {**info, "path": directory, "trained_now": True}


def inception_reference(source, config: EvalConfig, weights: str, network):
    """(mu, sigma, description) of the training split's pool features under `network` (the
    InceptionV3 of `weights`), cached as .npz."""
    from tfncsn.metrics import inception as inc
    limit = config.reference_examples
    key = dataset_key(source, "train", limit, inc.weights_fingerprint(weights))
    path = os.path.join(config.resolved_cache_dir(), "inception", f"{key}.npz")
    description = {"stats": path, "split": "train"}
    if os.path.isfile(path):
        mu, sigma = fid.load_statistics(path, inc.POOL_DIM)
        with np.load(path) as data:
            count = int(data["num_examples"]) if "num_examples" in data else None
        return mu, sigma, {**description, "num_examples": count, "from_cache": True}
    train = load_train_pixels(source, limit)
    with progress_bar(len(train), "Inception reference") as bar:
        pool, _ = network(train, callback=bar.update)
    mu, sigma = fid.feature_statistics(pool)
    fid.save_statistics(path, mu, sigma, num_examples=len(train))
    return mu, sigma, {**description, "num_examples": len(train), "from_cache": False}
