"""PNG figures with PIL: scatter panels for 2-D samples, grids for images."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw

PANEL = 320  # Pixels per scatter panel side.
TITLE = 20  # Pixels above each panel for its title.


def scatter_panels(panels: Sequence[tuple[str, np.ndarray]], box: tuple[float, float],
                   size: int = PANEL) -> Image.Image:
    """Side-by-side scatter plots of [N, 2] point sets on the square box x box."""
    low, high = box
    image = Image.new("RGB", (size * len(panels), size + TITLE), "white")
    draw = ImageDraw.Draw(image)
    for i, (title, points) in enumerate(panels):
        left = i * size
        draw.rectangle([left, TITLE, left + size - 1, TITLE + size - 1], outline="black")
        draw.text((left + 6, 4), title, fill="black")
        points = np.asarray(points, np.float64).reshape(-1, 2)
        inside = np.all((points >= low) & (points <= high), axis=1) & np.all(
            np.isfinite(points), axis=1)
        u = (points[inside] - low) / (high - low)
        xs = left + u[:, 0] * (size - 1)
        ys = TITLE + (1.0 - u[:, 1]) * (size - 1)
        for x, y in zip(xs, ys):
            draw.ellipse([x - 1, y - 1, x + 1, y + 1], fill=(31, 119, 180))
    return image


def image_grid(images: np.ndarray, columns: int | None = None, pad: int = 2) -> np.ndarray:
    """Tiles [N, H, W, C] images with values in [0, 1] into one uint8 [H', W', C] array."""
    images = np.asarray(images, np.float32)
    if images.ndim != 4:
        raise ValueError(f"image_grid needs [N, H, W, C] images, got shape {images.shape}")
    n, h, w, c = images.shape
    columns = columns or max(1, math.ceil(math.sqrt(n)))
    rows = max(1, math.ceil(n / columns))
    grid = np.ones((rows * (h + pad) + pad, columns * (w + pad) + pad, c), np.float32)
    for i, img in enumerate(images):
        r, col = divmod(i, columns)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        grid[top:top + h, left:left + w] = img
    return np.round(np.clip(np.nan_to_num(grid), 0.0, 1.0) * 255).astype(np.uint8)


def save_png(array_or_image, path: str) -> None:
    image = array_or_image
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
    image.save(path, format="PNG")


def states_strip(states: np.ndarray, final: np.ndarray, rows: int = 8) -> np.ndarray:
    """Paper Fig. 4: each row one sample, left to right its kept states and the final image."""
    states = np.asarray(states)[:, :rows]  # [K, n, H, W, C]
    frames = np.concatenate([states, np.asarray(final)[None, :rows]], axis=0)
    per_row = np.transpose(frames, (1, 0, 2, 3, 4))  # [n, K + 1, H, W, C]
    return image_grid(per_row.reshape(-1, *per_row.shape[2:]), columns=frames.shape[0])
