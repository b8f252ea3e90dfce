"""Image output: PNG files written with zlib alone, image grids and 2-D scatter plots."""

from __future__ import annotations

import math
import struct
import zlib

import numpy as np


def write_png(path: str, pixels: np.ndarray) -> None:
    """Writes uint8 [H, W] (grey) or [H, W, 3] (RGB) as PNG with zlib alone."""
    height, width = pixels.shape[:2]
    color_type = 0 if pixels.ndim == 2 else 2
    rows = b"".join(b"\x00" + row.tobytes() for row in np.ascontiguousarray(pixels, np.uint8))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + tag + data
                + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                + chunk(b"IDAT", zlib.compress(rows, 6)) + chunk(b"IEND", b""))


def image_grid(images: np.ndarray, columns: int | None = None) -> np.ndarray:
    """Pixels [N, H, W, C] in [0, 1] -> one uint8 image, 2-pixel gaps, small images enlarged."""
    count, height, width, channels = images.shape
    columns = columns or math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    zoom = max(1, 32 // max(height, width))
    images = np.repeat(np.repeat(images, zoom, axis=1), zoom, axis=2)
    height, width, gap = height * zoom, width * zoom, 2
    grid = np.ones((rows * (height + gap) + gap, columns * (width + gap) + gap, channels),
                   np.float32)
    for k, image in enumerate(images):
        top, left = gap + (k // columns) * (height + gap), gap + (k % columns) * (width + gap)
        grid[top:top + height, left:left + width] = image
    grid = np.round(np.clip(grid, 0.0, 1.0) * 255).astype(np.uint8)
    return grid[..., 0] if channels == 1 else grid


def scatter(points: np.ndarray, box, size: int = 320) -> np.ndarray:
    """2-D points as dark 3x3 dots on white over the square `box` = (low, high)."""
    low, high = box
    canvas = np.full((size, size), 255, np.uint8)
    canvas[[0, -1], :] = canvas[:, [0, -1]] = 160  # Frame.
    scaled = (points - low) / (high - low) * (size - 1)
    inside = np.all((scaled >= 0) & (scaled <= size - 1), axis=1)
    cols, rows = np.round(scaled[inside, 0]).astype(int), np.round(
        (size - 1) - scaled[inside, 1]).astype(int)
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            canvas[np.clip(rows + dr, 0, size - 1), np.clip(cols + dc, 0, size - 1)] = 30
    return canvas
