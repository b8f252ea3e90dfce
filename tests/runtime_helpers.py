"""What the tests of the runtimes outside Python share: where the JS package is, and how a
missing tool skips (or, under CI, where .ci/run installs everything, fails)."""

from __future__ import annotations

import math
import os
import shutil

import numpy as np
import pytest

from conftest import REPO

JS = REPO / "export" / "js"


def missing(reason: str):
    """A skip, or a failure under CI."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; .ci/run must install it")
    pytest.skip(reason)


def node_or_skip(package: str) -> str:
    """The node executable, once export/js/node_modules holds `package`."""
    node = shutil.which("node") or missing("node is not installed (apt-get install nodejs npm)")
    if not (JS / "node_modules" / package).is_dir():
        missing("export/js/node_modules is missing: run `npm ci --ignore-scripts` in export/js/")
    return node


# --- export/js/src/random.js's generator, written again from the description there: the JS
# runtime and export/c/sample.c draw with it; the tests check both against this one.

MASK32 = 0xFFFFFFFF


def documented_words(seed: int) -> list[int]:
    """The four SplitMix32 words that seed xoshiro128**."""
    s, words = seed & MASK32, []
    for _ in range(4):
        s = (s + 0x9E3779B9) & MASK32
        z = s
        z = ((z ^ (z >> 16)) * 0x85EBCA6B) & MASK32
        z = ((z ^ (z >> 13)) * 0xC2B2AE35) & MASK32
        words.append(z ^ (z >> 16))
    return words


def documented_next(s: list[int]) -> int:
    """xoshiro128**'s next output; updates the state `s` in place."""
    rotl = lambda x, k: ((x << k) | (x >> (32 - k))) & MASK32  # noqa: E731
    result = (rotl((s[1] * 5) & MASK32, 7) * 9) & MASK32
    t = (s[1] << 9) & MASK32
    s[2] ^= s[0]
    s[3] ^= s[1]
    s[1] ^= s[2]
    s[0] ^= s[3]
    s[2] ^= t
    s[3] = rotl(s[3], 11)
    return result


class DocumentedRng:
    """A tfncsn_runtime noise source drawing as the documented generator does: uniforms
    (next() + 0.5) / 2^32, Box-Muller pairs (the second kept for the next draw), each draw
    rounded to float32."""

    def __init__(self, seed: int):
        self.state = documented_words(seed)
        if not any(self.state):
            self.state[0] = 1
        self.spare = None

    def unit(self) -> float:
        return (documented_next(self.state) + 0.5) / 2**32

    def gaussian(self) -> float:
        if self.spare is not None:
            z, self.spare = self.spare, None
            return z
        r = math.sqrt(-2 * math.log(self.unit()))
        angle = 2 * math.pi * self.unit()
        self.spare = r * math.sin(angle)
        return r * math.cos(angle)

    def normal(self, shape) -> np.ndarray:
        count = int(np.prod(shape))
        return np.array([self.gaussian() for _ in range(count)]).astype(np.float32).reshape(shape)

    def uniform(self, shape, low: float, high: float) -> np.ndarray:
        count = int(np.prod(shape))
        return np.array([low + (high - low) * self.unit() for _ in range(count)]
                        ).astype(np.float32).reshape(shape)
