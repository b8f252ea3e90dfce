"""Noto Color Emoji drawn as small RGB images: a colour dataset that needs no download.

CIFAR-10 and CelebA come through TFDS, which downloads them; the Noto Color Emoji font is
a system package on most Linux distributions (Debian and Ubuntu: `fonts-noto-color-emoji`),
so this dataset works offline, e.g. to try colour models or colorization on a CPU.

Each single code point of the main emoji blocks that the font draws (about 1,300; no
sequences, skin tones or flags) is rendered at the font's bitmap size (109 px), laid on
white, centred in a square and resized to `image_size` with a Lanczos filter. Split: every
tenth emoji in code-point order is "test", the others are "train".
"""

from __future__ import annotations

import functools
import os

import numpy as np
import tensorflow as tf

from tfncsn.interfaces import DataNotFoundError
from tfncsn_plugins.datasets.image_base import ImageDataset

FONT_FILE = "NotoColorEmoji.ttf"
# Where distributions install the font: Debian/Ubuntu, Fedora, Arch.
FONT_FOLDERS = ("/usr/share/fonts/truetype/noto", "/usr/share/fonts/google-noto-emoji",
                "/usr/share/fonts/noto")
BITMAP_SIZE = 109  # The only size at which the font's colour bitmaps (CBDT) are drawn.
# Misc Symbols and Pictographs, Emoticons, Transport and Map, Supplemental Symbols and
# Pictographs, Symbols and Pictographs Extended-A, Misc Symbols and Dingbats.
BLOCKS = ((0x1F300, 0x1F5FF), (0x1F600, 0x1F64F), (0x1F680, 0x1F6FF), (0x1F900, 0x1F9FF),
          (0x1FA70, 0x1FAFF), (0x2600, 0x27BF))
BLANK_STD = 5.0  # A rendered image whose pixels vary less than this (of 255) is left out.
TEST_EVERY = 10


class Emoji(ImageDataset):
    """Emoji as [image_size, image_size, 3] in [0, 1] on a white background.

    Args:
      data_dir: the font file, or a folder holding NotoColorEmoji.ttf; by default the
        distributions' font folders are searched.
      image_size: side of the square images (default 32).
      logit_transform, random_flip (default False: emoji have a left and a right),
      dequantize: see `ImageDataset`.
    """

    def __init__(self, data_dir: str | None = None, *, image_size: int = 32, **options):
        super().__init__(data_dir, **options)
        if not isinstance(image_size, int) or isinstance(image_size, bool) or image_size < 8:
            raise TypeError(f"option image_size must be an integer of at least 8, "
                            f"got {image_size!r}")
        self.element_shape = (image_size, image_size, 3)

    def font_path(self) -> str:
        """The font file to draw from; DataNotFoundError, saying how to get it, if none."""
        given = self.data_dir
        if given:
            path = given if os.path.isfile(given) else os.path.join(given, FONT_FILE)
            if os.path.isfile(path):
                return path
            raise DataNotFoundError(f"emoji: no font file at {path}; pass --data_dir=the "
                                    f"path of {FONT_FILE} or a folder holding it")
        for folder in FONT_FOLDERS:
            path = os.path.join(folder, FONT_FILE)
            if os.path.isfile(path):
                return path
        raise DataNotFoundError(f"emoji: {FONT_FILE} is not in {', '.join(FONT_FOLDERS)}; "
                                "install it (Debian/Ubuntu: apt-get install "
                                "fonts-noto-color-emoji) or pass --data_dir=the font file")

    def code_points_and_images(self) -> tuple[np.ndarray, np.ndarray]:
        """(code points [N], uint8 images [N, S, S, 3]) of every emoji the font draws."""
        return _render(self.font_path(), self.element_shape[0])

    def _source(self, split: str) -> tf.data.Dataset:
        _, images = self.code_points_and_images()
        is_test = np.arange(len(images)) % TEST_EVERY == 0
        keep = is_test if split == "test" else ~is_test
        return tf.data.Dataset.from_tensor_slices({"image": images[keep]})


@functools.lru_cache(maxsize=4)
def _render(font_path: str, size: int) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image, ImageDraw, ImageFont  # Lazy: only this plugin draws.

    try:
        font = ImageFont.truetype(font_path, BITMAP_SIZE)
    except OSError as e:
        raise DataNotFoundError(f"emoji: cannot read {font_path} as the Noto Color Emoji "
                                f"font ({e}); pass --data_dir=a copy of {FONT_FILE}") from None
    code_points, images = [], []
    for first, last in BLOCKS:
        for code_point in range(first, last + 1):
            glyph = _draw(font, chr(code_point), Image, ImageDraw)
            if glyph is None:
                continue
            side = max(glyph.size)
            square = Image.new("RGBA", (side, side), (255, 255, 255, 255))
            square.alpha_composite(glyph, ((side - glyph.width) // 2, (side - glyph.height) // 2))
            image = np.asarray(square.convert("RGB").resize((size, size), Image.LANCZOS))
            if image.std() >= BLANK_STD:
                code_points.append(code_point)
                images.append(image)
    if not images:
        raise DataNotFoundError(f"emoji: {font_path} drew no emoji; pass --data_dir=the Noto "
                                f"Color Emoji font ({FONT_FILE})")
    return np.asarray(code_points), np.stack(images).astype(np.uint8)


def _draw(font, character: str, Image, ImageDraw):
    """The character's colour glyph cropped to its ink, or None if the font lacks it."""
    if font.getmask(character).getbbox() is None:
        return None
    width, height = font.getbbox(character)[2:]
    canvas = Image.new("RGBA", (width + 8, height + 8), (255, 255, 255, 0))
    ImageDraw.Draw(canvas).text((0, 0), character, font=font, embedded_color=True)
    box = canvas.getbbox()
    return canvas.crop(box) if box else None
