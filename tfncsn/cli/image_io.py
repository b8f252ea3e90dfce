"""Reading user images and inpainting masks into [N, H, W, C] float32 arrays in [0, 1].

The --mask parser and the checks of a .npy of pixels are the reader's (tfncsn_runtime.masks,
tfncsn_runtime.pixels), one for both commands."""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

from tfncsn.config import ConfigError
from tfncsn_runtime import masks, pixels
from tfncsn_runtime.reader import SampleError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
GRAYSCALE = "grayscale"  # --mask=grayscale: colorization, the luminance known.


def _fit(image: Image.Image, shape: tuple[int, int, int]) -> np.ndarray:
    """Centre-crops to a square, resizes to H x W and converts to C channels, in [0, 1]."""
    height, width, channels = shape
    side = min(image.size)
    left, top = (image.size[0] - side) // 2, (image.size[1] - side) // 2
    image = image.crop((left, top, left + side, top + side)).resize((width, height),
                                                                    Image.BILINEAR)
    array = np.asarray(image.convert("L" if channels == 1 else "RGB"), np.float32) / 255.0
    return array.reshape(height, width, channels)


def _from_array(array: np.ndarray, shape, path: str) -> np.ndarray:
    """The runtime's checks of an array of pixels (tfncsn_runtime.pixels), as a ConfigError."""
    try:
        return pixels.pixels_from_array(array, shape, f"--images: '{path}'")
    except SampleError as e:
        raise ConfigError(str(e)) from None


def _read_image(path: str, shape: tuple[int, int, int]) -> np.ndarray:
    try:
        with Image.open(path) as image:
            return _fit(image, shape)
    except OSError as e:
        raise ConfigError(f"--images: cannot read '{path}': {e}; replace or delete it") from e


def load_images(spec: str, shape: tuple[int, int, int]) -> np.ndarray:
    """Images from a .npy/.npz file, an image file or a folder of images, fitted to `shape`."""
    if not os.path.exists(spec):
        raise ConfigError(f"--images: '{spec}' does not exist (use test:N, train:N, a .npy/.npz "
                          "file, an image or a folder of images)")
    if os.path.isdir(spec):
        files = sorted(os.path.join(root, f) for root, _, names in os.walk(spec)
                       for f in names if f.lower().endswith(IMAGE_EXTENSIONS))
        if not files:
            raise ConfigError(f"--images: no PNG or JPEG files under '{spec}'")
        return np.stack([_read_image(f, shape) for f in files])
    extension = os.path.splitext(spec)[1].lower()
    if extension not in (".npy", ".npz", *IMAGE_EXTENSIONS):
        raise ConfigError(f"--images: unsupported file '{spec}' (use .npy, .npz, .png or .jpg)")
    if extension in IMAGE_EXTENSIONS:
        return _read_image(spec, shape)[None]
    try:
        if extension == ".npy":
            array = np.load(spec)
        else:
            with np.load(spec) as data:
                array = data["images" if "images" in data else data.files[0]] if data.files \
                    else np.zeros((0, *shape), np.float32)  # Refused below: no images.
    except (OSError, ValueError) as e:
        raise ConfigError(f"--images: cannot read '{spec}': {e}") from e
    return _from_array(array, shape, spec)


def check_colour(shape: tuple[int, int, int], dataset: str) -> None:
    """--mask=grayscale needs RGB images: one clear line otherwise."""
    if shape[-1] != 3:
        raise ConfigError(f"--mask={GRAYSCALE} colours RGB images, but dataset '{dataset}' has "
                          f"{shape[-1]} channel{'s' if shape[-1] != 1 else ''}; use a region "
                          f"mask ({', '.join(masks.MASKS)}) or an RGB dataset")


def _png_mask(path: str) -> np.ndarray:
    """A .png mask: white (> 0.5 after /255) = known."""
    return np.asarray(Image.open(path).convert("L"), np.float32) / 255.0


def make_mask(spec: str, shape: tuple[int, int, int]) -> np.ndarray:
    """Mask [H, W, C] with 1 = known pixel (Algorithm 2's m): the reader's --mask parser
    (tfncsn_runtime.masks) with .png files too (1 or white = known). (`grayscale` is not a
    pixel mask: `tfncsn inpaint` colours.)"""
    try:
        return masks.make_mask(spec, shape, readers={**masks.MASK_READERS, ".png": _png_mask},
                               choices=masks.MASKS + (GRAYSCALE,))
    except SampleError as e:
        raise ConfigError(str(e)) from None
