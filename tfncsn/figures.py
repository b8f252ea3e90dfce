"""PNG figures with PIL: scatter panels for 2-D samples, grids for images."""

from __future__ import annotations

import dataclasses
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


# Paper Fig. 2 (section 3.2.1): the data score against the estimated score on a 2-D grid.
DISAGREE_THRESHOLD = 0.5  # Relative error above which a cell is shaded as disagreeing.
HIGH_DENSITY_MASS = 0.99  # The high-density region: the densest cells holding this mass.
DENSITY_SPAN = 12.0  # Nats of log density the gray background spans below its maximum.
SHADE = (215, 48, 39)  # Where the scores disagree.


def score_grid(box: tuple[float, float], n: int) -> np.ndarray:
    """[n, n, 2] points: the centres of an n x n grid of cells on the square box x box, in
    image order: [i, j] = (x_j, y_i), row 0 at the top (largest y), column 0 at the left."""
    low, high = box
    centres = low + (np.arange(n) + 0.5) * (high - low) / n
    xs, ys = np.meshgrid(centres, centres[::-1])
    return np.stack([xs, ys], axis=-1)


def log_density_from_score(score: np.ndarray, box: tuple[float, float]) -> np.ndarray:
    """log p up to a constant on the `score_grid` of `score` = grad log p [n, n, 2]: the score
    integrated by the trapezoid rule down the left column, then along each row. For the
    exact score of a density (a gradient field) the error is O(cell^2)."""
    score = np.asarray(score, np.float64)
    h = (box[1] - box[0]) / score.shape[0]
    # Down a column y falls by h per row; along a row x grows by h per column.
    column = np.concatenate([[0.0], np.cumsum(-h * (score[1:, 0, 1] + score[:-1, 0, 1]) / 2)])
    rows = np.cumsum(h * (score[:, 1:, 0] + score[:, :-1, 0]) / 2, axis=1)
    return column[:, None] + np.concatenate([np.zeros((score.shape[0], 1)), rows], axis=1)


@dataclasses.dataclass
class ScoreComparison:
    """Where an estimated score disagrees with the data score on a grid.

    relative_error: ||s_est - s_data|| / max(||s_data||, floor) per cell, where floor is the
      root mean square of ||s_data|| under the density (the score's typical size): near a
      mode, where the data score vanishes, small absolute errors are not inflated.
    disagree: relative_error > threshold.
    high_density: the densest cells that hold `HIGH_DENSITY_MASS` of the density's mass.
    high_share, low_share: the share of the cells in, and outside, the high-density region
      where the scores disagree; mass_share: the mass of the cells where they do.
    """

    relative_error: np.ndarray
    disagree: np.ndarray
    high_density: np.ndarray
    threshold: float
    floor: float
    high_share: float
    low_share: float
    mass_share: float

    def summary(self) -> str:
        return (f"relative error > {self.threshold:g} on {self.high_share:.1%} of the "
                f"high-density region ({HIGH_DENSITY_MASS:.0%} of the mass) and "
                f"{self.low_share:.1%} of the rest; the cells that disagree hold "
                f"{self.mass_share:.2%} of the mass")


def compare_scores(log_density: np.ndarray, data_score: np.ndarray,
                   estimated_score: np.ndarray,
                   threshold: float = DISAGREE_THRESHOLD) -> ScoreComparison:
    """`ScoreComparison` of two scores [n, n, 2] on a grid with log density [n, n] (up to a
    constant)."""
    log_density = np.asarray(log_density, np.float64)
    mass = np.exp(log_density - log_density.max())
    mass /= mass.sum()
    data_norm = np.linalg.norm(data_score, axis=-1)
    floor = float(np.sqrt(np.sum(mass * data_norm ** 2)))
    error = np.linalg.norm(np.asarray(estimated_score, np.float64) - data_score, axis=-1)
    relative = error / np.maximum(data_norm, floor)
    disagree = ~(relative <= threshold)  # NaN disagrees.
    order = np.argsort(-mass, axis=None)
    high = np.zeros(mass.size, bool)
    high[order[:np.searchsorted(np.cumsum(mass.flat[order]), HIGH_DENSITY_MASS) + 1]] = True
    high = high.reshape(mass.shape)

    def share(region):
        return float(disagree[region].mean()) if region.any() else 0.0
    return ScoreComparison(relative, disagree, high, threshold, floor, share(high),
                           share(~high), float(mass[disagree].sum()))


def score_panels(box: tuple[float, float], log_density: np.ndarray, data_score: np.ndarray,
                 estimated_score: np.ndarray, titles: tuple[str, str] = (
                     "(a) data scores", "(b) estimated scores"),
                 threshold: float = DISAGREE_THRESHOLD, arrow_every: int = 4,
                 size: int = 400) -> Image.Image:
    """Paper Fig. 2: the data score | the estimated score as arrows on the square box x box.

    `log_density` [n, n] (up to a constant) and both scores [n, n, 2] are given on
    `score_grid(box, n)`. The background is the log density in gray, darker where the data
    is (`DENSITY_SPAN` nats below its maximum and lower are white), with the region holding
    `HIGH_DENSITY_MASS` of the mass outlined; where the scores disagree (`compare_scores`'s
    relative error above `threshold`) both panels are tinted red. Between the grid's cell
    centres these fields are interpolated bilinearly. Arrows sit at every `arrow_every`-th
    cell; their lengths are sqrt(||s||), scaled so that the longest data-score arrow spans
    0.9 of the arrow spacing: the same scale in both panels, the square root keeping the
    short arrows near the modes visible; a longer estimated arrow is cut to that length.
    """
    n = log_density.shape[0]
    comparison = compare_scores(log_density, data_score, estimated_score, threshold)
    scale = 3  # Drawn at 3x and shrunk: smooth lines without an antialiasing renderer.
    big = size * scale
    log_p = _upsample(log_density - np.max(log_density), big)
    shade = np.clip(1.0 + log_p / DENSITY_SPAN, 0.0, 1.0)
    rgb = np.repeat((255.0 - 150.0 * shade)[..., None], 3, axis=-1)
    disagree = _upsample(np.nan_to_num(comparison.relative_error, nan=1e9), big) > threshold
    rgb = np.where(disagree[..., None], 0.5 * rgb + 0.5 * np.array(SHADE), rgb)
    level = np.min(log_density[comparison.high_density]) - np.max(log_density)
    inside = log_p >= level
    edge = np.zeros_like(inside)
    for axis in (0, 1):  # Pixels inside next to one outside, 2 px (of the 3x image) wide.
        for shift in (1, 2):
            a, b = [slice(None)] * 2, [slice(None)] * 2
            a[axis], b[axis] = slice(shift, None), slice(None, -shift)
            edge[tuple(a)] |= inside[tuple(a)] & ~inside[tuple(b)]
            edge[tuple(b)] |= inside[tuple(b)] & ~inside[tuple(a)]
    rgb[edge] = (0, 0, 0)
    background = Image.fromarray(rgb.astype(np.uint8))
    picked = (slice(arrow_every // 2, None, arrow_every),) * 2
    centres = (np.arange(n)[picked[0]] + 0.5) * big / n  # Arrow centres in pixels.
    spacing = arrow_every * big / n
    longest = np.sqrt(np.nanmax(np.linalg.norm(data_score[picked], axis=-1))) or 1.0
    footer = 18
    image = Image.new("RGB", (2 * size, size + TITLE + footer), "white")
    draw = ImageDraw.Draw(image)
    for k, (title, score) in enumerate(zip(titles, (data_score, estimated_score))):
        panel = background.copy()
        _arrows(ImageDraw.Draw(panel), centres, np.asarray(score, np.float64)[picked],
                0.9 * spacing / longest, 0.9 * spacing, scale)
        image.paste(panel.resize((size, size), Image.LANCZOS), (k * size, TITLE))
        draw.rectangle([k * size, TITLE, (k + 1) * size - 1, TITLE + size - 1], outline="black")
        draw.text((k * size + 6, 4), title, fill="black")
    draw.text((6, TITLE + size + 3), f"gray: log density, darker = denser (outlined: "
              f"{HIGH_DENSITY_MASS:.0%} of the mass); red: |s - grad log p| > {threshold:g} "
              f"max(|grad log p|, {comparison.floor:.2g})", fill="black")
    return image


def _upsample(field: np.ndarray, size: int) -> np.ndarray:
    """A grid's field [n, n] (values at cell centres) at size x size pixels, bilinearly."""
    image = Image.fromarray(np.asarray(field, np.float32))
    return np.asarray(image.resize((size, size), Image.BILINEAR), np.float64)


def _arrows(draw: ImageDraw.ImageDraw, centres: np.ndarray, vectors: np.ndarray,
            per_sqrt_norm: float, longest: float, width: int) -> None:
    """Arrows centred on the grid points (centres along x and y, in pixels): a shaft and
    a triangular head, lengths sqrt(||v||) * per_sqrt_norm up to `longest`."""
    for i, y in enumerate(centres):
        for j, x in enumerate(centres):
            v = vectors[i, j] * np.array([1.0, -1.0])  # Image y points down.
            norm = float(np.linalg.norm(v))
            if not np.isfinite(norm) or norm == 0.0:
                draw.ellipse([x - width, y - width, x + width, y + width], fill="black")
                continue
            length = min(np.sqrt(norm) * per_sqrt_norm, longest)
            u = v / norm
            tail, tip = np.array([x, y]) - u * length / 2, np.array([x, y]) + u * length / 2
            head = min(3.5 * width, 0.45 * length)
            base = tip - u * head
            side = np.array([-u[1], u[0]]) * head * 0.5
            draw.line([tuple(tail), tuple(base)], fill="black", width=width)
            draw.polygon([tuple(tip), tuple(base + side), tuple(base - side)], fill="black")
