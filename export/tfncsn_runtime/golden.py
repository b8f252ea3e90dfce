"""The golden check: an export's golden pair run through its score networks and compared with
the tolerance its metadata gives (docs/export.md, "Golden pair and tolerance")."""

from __future__ import annotations

import math
import os

import numpy as np

from tfncsn_runtime.reader import SCORE_FILE, Export, SampleError


def read_golden(export: Export) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x, level and score of the golden pair: the raw files metadata.json describes when they
    are there, else the .npz."""
    table = export.meta.get("golden")
    folder = os.path.join(export.directory, "golden")
    if table and all(os.path.isfile(os.path.join(folder, e["file"])) for e in table.values()):
        arrays = []
        for name in ("x", "level", "score"):
            entry = table[name]
            path = os.path.join(folder, entry["file"])
            try:
                data = np.fromfile(path, dtype=np.dtype(entry["dtype"]).newbyteorder("<"))
                arrays.append(data.reshape(entry["shape"]))
            except (OSError, ValueError) as e:
                raise SampleError(f"cannot read the golden file '{path}' ({e})") from None
        return tuple(arrays)
    path = os.path.join(export.directory, export.meta.get("golden_file", "golden.npz"))
    try:
        with np.load(path) as golden:
            return golden["x"], golden["level"], golden["score"]
    except (OSError, KeyError, ValueError) as e:
        raise SampleError(f"cannot read the golden pair '{path}' ({e})") from None


def tolerance_scale(expected: np.ndarray, scale: str = "rms") -> np.ndarray:
    """What `rtol` multiplies, per element of `expected` [N, ...]: with "rms" the root mean
    square of each row (each input's score has one scale: float32 rounding grows with it,
    and an element near 0 in a row of large scores is no more exact than the others);
    "abs" is |expected| elementwise (numpy.allclose's rule; exports before "scale" existed)."""
    expected = np.abs(np.asarray(expected, np.float64))
    if scale == "abs" or expected.ndim < 2:
        return expected
    rows = expected.reshape(len(expected), -1)
    rms = np.sqrt(np.mean(rows ** 2, axis=1))
    return np.broadcast_to(rms.reshape((-1,) + (1,) * (expected.ndim - 1)), expected.shape)


def compare_to_tolerance(got, expected, tolerance: dict) -> tuple[bool, float, float, str]:
    """(passed, max abs diff, max rel diff, its description) for
    |got - expected| <= atol + rtol * scale (`tolerance_scale`; docs/export.md)."""
    got, expected = np.asarray(got, np.float64), np.asarray(expected, np.float64)
    atol, rtol = tolerance["atol"], tolerance["rtol"]
    scale_name = tolerance.get("scale", "abs")
    rule = (f"|diff| <= {atol:g} + {rtol:g} "
            + ("rms(expected of the input)" if scale_name == "rms" else "|expected|"))
    if got.shape != expected.shape:
        return False, math.inf, math.inf, f"shape {got.shape} != {expected.shape} ({rule})"
    if not np.all(np.isfinite(got)):
        return False, math.inf, math.inf, f"non-finite values ({rule})"
    diff = np.abs(got - expected)
    scale = tolerance_scale(expected, scale_name)
    max_abs = float(diff.max()) if diff.size else 0.0
    max_rel = float((diff / np.maximum(scale, atol)).max()) if diff.size else 0.0
    passed = bool(np.all(diff <= atol + rtol * scale))
    return passed, max_abs, max_rel, (f"max abs diff {max_abs:.3g}, max rel diff "
                                      f"{max_rel:.3g} (tolerance {rule})")


def check_golden(export: Export) -> str:
    """Runs the golden input through model.onnx, and through the float16 score network when
    the export has one (with its own tolerance); returns a summary or raises SampleError."""
    x, level, expected = read_golden(export)
    checks = [(SCORE_FILE, export.meta.get("tolerance", {"atol": 1e-4, "rtol": 1e-4}))]
    if "float16" in export.meta:
        checks.append((export.meta["float16"]["graph"], export.meta["float16"]["tolerance"]))
    lines = []
    for graph, tolerance in checks:
        passed, _, _, summary = compare_to_tolerance(export.score(x, level, graph), expected,
                                                     tolerance)
        which = "" if graph == SCORE_FILE else f" of {graph}"  # model.onnx: as the JS and C checks.
        if not passed:
            raise SampleError(f"golden check{which} failed: {summary}")
        lines.append(f"golden check{which} passed on {len(x)} inputs: {summary}")
    return "\n".join(lines)
