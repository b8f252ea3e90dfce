"""Any folder of PNG/JPEG images, centre-cropped to a square and resized.

Splits are fixed by a hash of each file's path relative to the folder: a file
is in "test" when sha1(path) falls in the first `test_fraction` of the hash
range (5 % by default), so adding files never moves the others between splits.
With `test_fraction=0` the "test" split is the whole folder (the same images
as "train").
"""

from __future__ import annotations

import hashlib
import os

import tensorflow as tf

from tfncsn.data import preprocessing
from tfncsn.interfaces import DataNotFoundError
from tfncsn_plugins.datasets.image_base import ImageDataset, check_split

EXTENSIONS = (".png", ".jpg", ".jpeg")


class ImageFolder(ImageDataset):
    """Images found recursively under `data_dir`, as [image_size, image_size, channels].

    Args:
      data_dir: the folder (required).
      image_size: side of the square examples (default 32).
      channels: 1 (grayscale) or 3 (RGB); images are converted as needed.
      random_flip: random left-right flips when training (default True).
      logit_transform, dequantize: see `ImageDataset`.
      test_fraction: share of files held out as "test" by path hash (0: test = all).
    """

    def __init__(self, data_dir: str | None = None, *, image_size: int = 32, channels: int = 3,
                 random_flip: bool = True, logit_transform: bool = False,
                 dequantize: bool = True, test_fraction: float = 0.05):
        super().__init__(data_dir, logit_transform=logit_transform, random_flip=random_flip,
                         dequantize=dequantize)
        if channels not in (1, 3) or isinstance(channels, bool):
            raise TypeError(f"option channels must be 1 or 3, got {channels!r}")
        if not isinstance(image_size, int) or isinstance(image_size, bool) or image_size < 1:
            raise TypeError(f"option image_size must be a positive integer, got {image_size!r}")
        if (not isinstance(test_fraction, (int, float)) or isinstance(test_fraction, bool)
                or not 0.0 <= test_fraction < 1.0):
            raise TypeError(f"option test_fraction must be a number in [0, 1), "
                            f"got {test_fraction!r}")
        self.element_shape = (image_size, image_size, int(channels))
        self.test_fraction = float(test_fraction)

    def files(self, split: str) -> list[str]:
        """Sorted paths of the images of `split`; DataNotFoundError if there are none."""
        check_split(split)
        images = self.all_files()
        if self.test_fraction == 0:
            return images
        folder = self.data_dir
        chosen = [p for p in images if (_hash_fraction(os.path.relpath(p, folder))
                                        < self.test_fraction) == (split == "test")]
        if not chosen:
            raise DataNotFoundError(
                f"image_folder: split '{split}' of {folder} is empty ({len(images)} images, "
                f"{self.test_fraction:.0%} held out for test by path hash); add images or "
                f"pass test_fraction=0 to test on the training images")
        return chosen

    def all_files(self) -> list[str]:
        """Sorted paths of every image under the folder, both splits."""
        folder = self.data_dir
        if not folder or not os.path.isdir(folder):
            given = f"folder '{folder}' does not exist" if folder else "no folder given"
            raise DataNotFoundError(f"image_folder: {given}; pass --data_dir=DIR, a folder "
                                    f"of {'/'.join(EXTENSIONS)} images (searched recursively)")
        images = sorted(os.path.join(root, name) for root, _, names in os.walk(folder)
                        for name in names if name.lower().endswith(EXTENSIONS))
        if not images:
            raise DataNotFoundError(f"image_folder: no {'/'.join(EXTENSIONS)} images under "
                                    f"{folder}; put images there or pass another --data_dir")
        return images

    def _decode(self, path: tf.Tensor) -> tf.Tensor:
        channels = self.element_shape[2]
        image = tf.io.decode_image(tf.io.read_file(path), channels=channels,
                                   expand_animations=False)
        image.set_shape([None, None, channels])
        return image

    def _source(self, split: str) -> tf.data.Dataset:
        size = self.element_shape[0]

        def decode(path):
            return {"image": preprocessing.center_crop_resize(self._decode(path), None, size)}

        paths = tf.data.Dataset.from_tensor_slices(self.files(split))
        return paths.map(decode, num_parallel_calls=tf.data.AUTOTUNE)

    def unreadable_files(self) -> list[tuple[str, str]]:
        """(path, reason) of every image under the folder that TensorFlow cannot decode.

        One decoding pass over the folder, so it runs only once a pipeline has failed.
        """
        paths = self.all_files()
        decoded = tf.data.Dataset.from_tensor_slices(paths).map(
            lambda path: (path, tf.shape(self._decode(path))),
            num_parallel_calls=tf.data.AUTOTUNE).ignore_errors()
        good = {path.decode() for path, _ in decoded.as_numpy_iterator()}
        bad = []
        for path in (p for p in paths if p not in good):
            try:
                self._decode(tf.constant(path))
                reason = "it failed to decode inside the pipeline"
            except tf.errors.OpError as e:
                reason = _decoder_message(e)
            bad.append((path, reason))
        return bad

    def explain_error(self, error: Exception) -> str | None:
        """One line naming the file behind a decoding error of this dataset's pipeline."""
        if "Decode" not in str(error):
            return None
        bad = self.unreadable_files()
        if not bad:
            return None
        path, reason = bad[0]
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        return (f"image_folder: {path} is not a readable image ({reason}){more}; replace or "
                f"delete it, or move it out of {self.data_dir}")


def _decoder_message(error: tf.errors.OpError) -> str:
    """TensorFlow's reason, without its op and device decorations."""
    text = error.message.strip().splitlines()[0] if error.message.strip() else type(error).__name__
    text = text.split("}}", 1)[-1].split(" [Op:", 1)[0].strip()
    return text.rstrip(".")


def _hash_fraction(relative_path: str) -> float:
    """A stable number in [0, 1) from a path (separators normalised to '/')."""
    digest = hashlib.sha1(relative_path.replace(os.sep, "/").encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64
