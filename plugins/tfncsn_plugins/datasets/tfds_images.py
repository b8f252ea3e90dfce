"""The paper's image datasets through tensorflow-datasets (paper section 5).

Their preprocessing is docs/algorithms.md section 7.1.

MNIST and Fashion-MNIST also read local IDX files, which is how they work
offline: `apt-get install dataset-fashion-mnist` puts Fashion-MNIST in
/usr/share/datasets/fashion-mnist, where `fashion_mnist` looks by default.
"""

from __future__ import annotations

import tensorflow as tf

from tfncsn.data import preprocessing
from tfncsn.interfaces import DataNotFoundError
from tfncsn_plugins.datasets import idx
from tfncsn_plugins.datasets.image_base import ImageDataset, LabelledImageDataset
from tfncsn_plugins.datasets.tfds_source import TfdsDataMissing, tfds_examples


class _IdxOrTfds(LabelledImageDataset):
    """28x28x1 digits-like data from IDX files if present, else from TFDS.

    IDX files are looked for in `data_dir` when given (else in `idx_dirs`);
    without them, TFDS reads `data_dir` (else its default, ~/tensorflow_datasets).
    """

    tfds_name: str
    idx_dirs: tuple[str, ...] = ()
    install_hint = ""
    element_shape = (28, 28, 1)

    def _source(self, split: str) -> tf.data.Dataset:
        dirs = (self.data_dir,) if self.data_dir else self.idx_dirs
        for directory in dirs:
            pair = idx.find_idx_pair(directory, split)
            if pair is not None:
                images, labels = idx.read_idx_pair(*pair)
                if images.shape[1:] != self.element_shape[:2]:
                    raise ValueError(f"{pair[0]} holds {images.shape[1:]} images, not "
                                     f"{self.element_shape[:2]}")
                return tf.data.Dataset.from_tensor_slices(
                    {"image": images[..., None], "label": labels})
        try:
            return tfds_examples(self.tfds_name, split, self.data_dir)
        except TfdsDataMissing as e:
            raise DataNotFoundError(self._missing(split, dirs, e)) from None

    def _missing(self, split: str, dirs: tuple[str, ...], e: TfdsDataMissing) -> str:
        files = " + ".join(f"{n}[.gz]" for n in idx.idx_file_names(split))
        if not dirs:
            return f"{e}, or put the IDX files ({files}) in --data_dir"
        fixes = [] if self.data_dir else [self.install_hint]
        fixes += ["put the IDX files in --data_dir", e.hint]
        return (f"{self.tfds_name}: found neither IDX files ({files}) in {' or '.join(dirs)} "
                f"nor prepared TFDS data at {e.path}; {', or '.join(f for f in fixes if f)}")


class MNIST(_IdxOrTfds):
    """MNIST, 28x28x1 in [0, 1], not flipped (options: logit_transform, random_flip, dequantize)."""

    tfds_name = "mnist"


class FashionMNIST(_IdxOrTfds):
    """Fashion-MNIST, 28x28x1 in [0, 1], not flipped; works offline from Debian's package."""

    tfds_name = "fashion_mnist"
    idx_dirs = ("/usr/share/datasets/fashion-mnist",)
    install_hint = "`apt-get install dataset-fashion-mnist` installs them"


class CIFAR10(LabelledImageDataset):
    """CIFAR-10 (TFDS `cifar10`), 32x32x3 in [0, 1], random flips when training."""

    element_shape = (32, 32, 3)
    default_random_flip = True

    def _source(self, split: str) -> tf.data.Dataset:
        return tfds_examples("cifar10", split, self.data_dir)


class CelebA(ImageDataset):
    """CelebA (TFDS `celeb_a`): crop 140, resize to 32x32x3, random flips (paper section 5)."""

    element_shape = (32, 32, 3)
    default_random_flip = True
    crop = 140

    def _source(self, split: str) -> tf.data.Dataset:
        def crop_resize(example):
            image = preprocessing.center_crop_resize(example["image"], self.crop,
                                                     self.element_shape[0])
            return {"image": image}

        examples = tfds_examples("celeb_a", split, self.data_dir)
        return examples.map(crop_resize, num_parallel_calls=tf.data.AUTOTUNE)

