"""Progress bars for long work (training, sampling, evaluation), on stderr through tqdm."""

from __future__ import annotations

import sys
from typing import Callable

from tqdm import tqdm


def progress_bar(total: int | None, description: str) -> tqdm:
    """A tqdm bar on stderr; in logs (no TTY) it prints a line every 10 s at most."""
    return tqdm(total=total, desc=description, unit="step", file=sys.stderr, dynamic_ncols=True,
                mininterval=0.5 if sys.stderr.isatty() else 10.0)


def step_callback(bar: tqdm) -> Callable[[dict], None]:
    """A sampler callback that moves `bar` to the steps done and shows the current sigma."""
    def callback(info: dict) -> None:
        bar.update(info["step"] - bar.n)
        bar.set_postfix(sigma=f"{info['sigma']:.4g}", refresh=False)
    return callback
