#!/usr/bin/env python3
"""Samples from a `tfncsn export` with ONNX Runtime and NumPy only (no TensorFlow, no tfncsn).

Loops the exported step program of any sampler (sample_step.onnx, then
sample_finish.onnx when there is one) as metadata.json describes it, drawing
every random number with NumPy; inpaints the same way with inpaint_step.onnx:

    python -m tfncsn_runtime --model=E --num_samples=1280 --output=samples.npy
    python -m tfncsn_runtime --model=E --num_samples=64 --output=grid.png --seed=1
    python -m tfncsn_runtime --model=E --images=faces.npy --mask=left_half \
        --num_completions=4 --output=inpainted.png
    python -m tfncsn_runtime --model=E --check           # the golden input/output pair

(`tfncsn-onnx-sample` is the same command; from a checkout without installing,
`python export/tfncsn_runtime/onnx_sample.py` runs this file as a script.)

--model is the export directory (or any file in it). .npy holds the samples
in model space (as `tfncsn sample` writes them); for inpainting it holds the
completions as pixels, [M, num_completions, H, W, C]. .png draws an image grid,
a 2-D scatter plot, or for inpainting rows of original | masked | completions.
The contract is in docs/export.md.

Use it as a library too: `load(path)` gives an `Export` whose `sample(...)` and
`inpaint(...)` take a noise source (anything with `normal(shape)` and
`uniform(shape, low, high)`), so a caller can replay exactly the noise another
implementation used.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import struct
import sys
import tempfile
import time
import zlib

import numpy as np

FORMAT = "tfncsn.score/2"
REQUIRED_KEYS = ("format", "element_shape", "sigmas", "sampler", "programs", "prior_range",
                 "postprocess")
MASKS = ("left_half", "right_half", "top_half", "bottom_half", "center")
LOGIT_LAMBDA = 1e-6
METADATA_FILE = "metadata.json"
SCORE_FILE = "model.onnx"
FEED_LIMIT_BYTES = 1 << 30  # The per-step feed (state + noise + inputs) of one batch.


class SampleError(Exception):
    """Bad input or an export this script cannot use; reported as one line."""


# ----------------------------------------------------------------------------- the export


def export_directory(path: str) -> str:
    """The export directory from --model: the directory itself or any file inside it."""
    if os.path.isdir(path):
        return path
    if os.path.isfile(path):
        return os.path.dirname(os.path.abspath(path))
    raise SampleError(f"--model '{path}' does not exist; give the directory `tfncsn export` "
                      "wrote (or a file in it)")


def check_metadata(meta: dict, where: str) -> dict:
    missing = [key for key in REQUIRED_KEYS if key not in meta]
    if missing:
        raise SampleError(f"{where} lacks the tfncsn metadata {', '.join(missing)}; write "
                          "exports with `tfncsn export` (this script reads format "
                          f"{FORMAT!r})")
    if meta["format"] != FORMAT:
        raise SampleError(f"{where} has format {meta['format']!r}; this script reads {FORMAT!r}:"
                          " export again with this tfncsn, or use the script of that version")
    sigmas = np.asarray(meta["sigmas"], np.float64)
    if (sigmas.ndim != 1 or sigmas.size == 0 or np.any(sigmas <= 0)
            or np.any(np.diff(sigmas) >= 0)):
        raise SampleError(f"{where}: sigmas must be positive and strictly decreasing")
    return meta


def read_metadata(directory: str, session_props: dict | None = None) -> dict:
    """metadata.json, or (when it is missing) the JSON values of model.onnx's metadata_props."""
    path = os.path.join(directory, METADATA_FILE)
    if os.path.isfile(path):
        try:
            with open(path) as f:
                return check_metadata(json.load(f), path)
        except json.JSONDecodeError as e:
            raise SampleError(f"'{path}' is not JSON ({e}); export again") from None
    if session_props:
        try:
            meta = {key: json.loads(value) for key, value in session_props.items()}
        except json.JSONDecodeError as e:
            raise SampleError(f"'{directory}/{SCORE_FILE}': metadata is not JSON ({e})") from None
        return check_metadata(meta, f"'{directory}/{SCORE_FILE}'")
    raise SampleError(f"'{directory}' has neither {METADATA_FILE} nor a {SCORE_FILE} with "
                      "tfncsn metadata; give the directory `tfncsn export` wrote")


def open_session(path: str, threads: int = 0):
    try:
        import onnxruntime as ort
    except ImportError:
        raise SampleError("needs ONNX Runtime: pip install onnxruntime") from None
    if not os.path.isfile(path):
        raise SampleError(f"'{path}' is missing from the export; export again")
    options = ort.SessionOptions()
    options.log_severity_level = 3  # Errors only.
    # Idle worker threads sleep instead of spinning between the many small runs of a
    # sampler: on a shared CPU spinning halved the speed.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads > 0:
        options.intra_op_num_threads = threads
    try:
        return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    except Exception as e:  # InvalidProtobuf, Fail, ...: the file is not a usable model.
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise SampleError(f"cannot load '{path}' as an ONNX model ({first[:200]})") from None


class Export:
    """An export directory: metadata, the score graph and the step programs.

    Attributes:
      meta: the metadata (docs/export.md).
      element_shape: shape of one sample.
    """

    def __init__(self, path: str, threads: int = 0):
        self.directory = export_directory(path)
        self.threads = threads
        self._sessions: dict = {}
        props = None
        if not os.path.isfile(os.path.join(self.directory, METADATA_FILE)):
            props = self.session(SCORE_FILE).get_modelmeta().custom_metadata_map
        self.meta = read_metadata(self.directory, props)
        self.element_shape = tuple(int(d) for d in self.meta["element_shape"])
        self.num_levels = len(self.meta["sigmas"])

    def session(self, filename: str):
        if filename not in self._sessions:
            self._sessions[filename] = open_session(os.path.join(self.directory, filename),
                                                    self.threads)
        return self._sessions[filename]

    def score(self, x: np.ndarray, level: np.ndarray, graph: str = SCORE_FILE) -> np.ndarray:
        """s(x, sigma_level): x float32 [N, *shape], level int32 [N] in [0, L) (0 = largest).

        `graph` may name the float16 score network (metadata `float16`) instead of model.onnx.
        """
        networks = [SCORE_FILE] + ([self.meta["float16"]["graph"]] if "float16" in self.meta
                                   else [])
        if graph not in networks:
            raise SampleError(f"'{graph}' is not a score network of this export (it has "
                              f"{', '.join(networks)}); export with --export_float16 for a "
                              "float16 one")
        x, level = np.asarray(x, np.float32), np.asarray(level)
        if x.ndim != 1 + len(self.element_shape) or x.shape[1:] != self.element_shape \
                or x.shape[0] == 0:
            raise SampleError(f"x has shape {x.shape}; the model needs [N >= 1, "
                              f"{', '.join(map(str, self.element_shape))}]")
        if level.shape != (x.shape[0],) or not np.issubdtype(level.dtype, np.integer) \
                or level.min() < 0 or level.max() >= self.num_levels:
            raise SampleError(f"level must be {x.shape[0]} integers in [0, {self.num_levels}); "
                              f"got shape {level.shape}, values {np.unique(level)[:5].tolist()}")
        return self.session(graph).run(["score"], {"x": x, "level": level.astype(np.int32)})[0]

    def program(self, name: str) -> "Program":
        programs = self.meta["programs"]
        if name not in programs:
            raise SampleError(f"the export has no {name} program (it has "
                              f"{', '.join(programs)}); its sampler "
                              f"{self.meta['sampler']['name']!r} does not support it")
        return Program(self, programs[name])

    def sample(self, num_samples: int, rng, *, batch_size: int = 256, progress=None
               ) -> np.ndarray:
        """num_samples samples with the exported sampler, batch after batch."""
        program = self.program("sample")
        out = []
        for start in range(0, num_samples, batch_size):
            out.append(program.run(min(batch_size, num_samples - start), rng, progress=progress))
        return np.concatenate(out)

    def inpaint(self, y: np.ndarray, mask: np.ndarray, rng, *, batch_size: int = 256,
                progress=None) -> np.ndarray:
        """Fills y [M, *shape] (model space) where mask == 0, keeping it where mask == 1."""
        program = self.program("inpaint")
        y = np.asarray(y, np.float32)
        mask = np.broadcast_to(np.asarray(mask, np.float32), y.shape)
        out = []
        for start in range(0, len(y), batch_size):
            end = min(start + batch_size, len(y))
            out.append(program.run(end - start, rng, inputs={"y": y[start:end],
                                                             "mask": mask[start:end]},
                                   progress=progress))
        return np.concatenate(out)


# ----------------------------------------------------------------------------- noise


class NumpyNoise:
    """The default noise source: NumPy's PCG64 generator seeded with `seed`."""

    def __init__(self, seed: int):
        self._gen = np.random.default_rng(seed)

    def normal(self, shape) -> np.ndarray:
        return self._gen.standard_normal(tuple(shape), dtype=np.float32)

    def uniform(self, shape, low: float, high: float) -> np.ndarray:
        return self._gen.uniform(low, high, size=tuple(shape)).astype(np.float32)


# ----------------------------------------------------------------------------- step programs


class Program:
    """One exported step program: loops NAME_step.onnx, then NAME_finish.onnx if any.

    The draws follow the exporting sampler's order (docs/export.md): x from the
    prior, then per step k each noise entry in order, drawn when k % every == 0
    and zeros otherwise. Nothing here knows any sampler's maths.
    """

    def __init__(self, export: Export, spec: dict):
        self.export, self.spec = export, spec
        self.num_steps = int(spec["num_steps"])
        self.step_session = export.session(spec["step"])
        self.finish_session = export.session(spec["finish"]) if spec.get("finish") else None
        self.outputs = [f"next_{s['name']}" for s in spec["state"]]

    def shape(self, per: str, batch: int) -> tuple:
        return (batch,) if per == "example" else (batch, *self.export.element_shape)

    def feed_bytes(self, batch: int) -> int:
        entries = list(self.spec["state"]) + list(self.spec["noise"]) + [
            {"per": "element"} for _ in self.spec.get("inputs", [])]
        return 4 * sum(int(np.prod(self.shape(e["per"], batch))) for e in entries)

    def initial_state(self, batch: int, rng) -> dict:
        prior = self.spec["prior"]
        state = {}
        for entry in self.spec["state"]:
            shape = self.shape(entry["per"], batch)
            if entry["name"] != "x":
                state[entry["name"]] = np.zeros(shape, np.float32)
            elif prior["kind"] == "uniform":
                state["x"] = rng.uniform(shape, prior["low"], prior["high"])
            else:
                state["x"] = (np.float32(prior["std"]) * rng.normal(shape)).astype(np.float32)
        return state

    def noise(self, k: int, batch: int, rng) -> dict:
        feeds = {}
        for entry in self.spec["noise"]:
            shape = self.shape(entry["per"], batch)
            if k % int(entry["every"]):
                feeds[entry["input"]] = np.zeros(shape, np.float32)
            elif entry["distribution"] == "uniform":
                feeds[entry["input"]] = rng.uniform(shape, 0.0, 1.0)
            else:
                feeds[entry["input"]] = rng.normal(shape)
        return feeds

    def run(self, batch: int, rng, *, inputs: dict | None = None, progress=None,
            state: dict | None = None) -> np.ndarray:
        """The samples of one batch (`state`: start from it instead of the prior)."""
        if self.feed_bytes(batch) > FEED_LIMIT_BYTES:
            raise SampleError(f"a batch of {batch} needs {self.feed_bytes(batch) / 2**30:.1f} "
                              f"GiB per step; lower --batch_size")
        inputs = {name: np.asarray(inputs[name], np.float32)
                  for name in self.spec.get("inputs", [])} if inputs else {}
        state = dict(state) if state is not None else self.initial_state(batch, rng)
        for k in range(self.num_steps):
            feeds = {**state, "k": np.array(k, np.int32), **self.noise(k, batch, rng), **inputs}
            values = self.step_session.run(self.outputs, feeds)
            state = {s["name"]: v for s, v in zip(self.spec["state"], values)}
            if progress is not None:
                progress.advance(1)
        if self.finish_session is None:
            return state["x"]
        return self.finish_session.run(["samples"], {**state, **inputs})[0]


# ----------------------------------------------------------------------------- images and masks


def to_pixels(x: np.ndarray, meta: dict) -> np.ndarray:
    """Model space -> pixels in [0, 1] as the dataset's postprocess does (no-op for "none")."""
    kind = meta["postprocess"]
    if kind == "inverse_logit":
        lam = float(meta.get("logit_lambda", LOGIT_LAMBDA))
        x = (1.0 / (1.0 + np.exp(-x.astype(np.float64))) - lam) / (1.0 - 2.0 * lam)
    if kind in ("clip", "inverse_logit"):
        return np.clip(x, 0.0, 1.0).astype(np.float32)
    return x


def to_model_space(pixels: np.ndarray, meta: dict) -> np.ndarray:
    """Pixels in [0, 1] -> model space (the logit transform when the model was trained in it)."""
    if meta["postprocess"] != "inverse_logit":
        return pixels
    lam = np.float32(meta.get("logit_lambda", LOGIT_LAMBDA))
    scale = np.float32(1.0) - np.float32(2.0) * lam
    return (np.log(lam + scale * pixels) - np.log(lam + scale * (np.float32(1.0) - pixels))
            ).astype(np.float32)


def load_images(path: str, shape: tuple) -> np.ndarray:
    """[M, *shape] float32 pixels in [0, 1] from a .npy of floats in [0, 1] or uint8."""
    if not path.endswith(".npy"):
        raise SampleError(f"--images must be a .npy file, got '{path}'")
    try:
        images = np.load(path)
    except (OSError, ValueError) as e:
        raise SampleError(f"--images: cannot read '{path}' ({e})") from None
    if images.dtype == np.uint8:
        images = images.astype(np.float32) / 255.0
    images = np.asarray(images, np.float32)
    if images.ndim == len(shape):
        images = images[None]
    if tuple(images.shape[1:]) != tuple(shape) or images.shape[0] == 0:
        raise SampleError(f"--images: '{path}' holds an array of shape {images.shape}; the model "
                          f"needs [M, {', '.join(map(str, shape))}]")
    if not np.all(np.isfinite(images)) or images.min() < 0 or images.max() > 1:
        raise SampleError(f"--images: '{path}' must hold pixels in [0, 1] (or uint8)")
    return images


def make_mask(spec: str, shape: tuple) -> np.ndarray:
    """Algorithm 2's m with 1 = known: a named hidden region of an image, or a .npy file."""
    if spec in MASKS:
        if len(shape) != 3:
            raise SampleError(f"--mask={spec} needs images; this model's samples have shape "
                              f"{shape}: give a .npy mask")
        height, width, _ = shape
        known = np.ones(shape, np.float32)
        hidden = {"left_half": np.s_[:, :width // 2], "right_half": np.s_[:, width // 2:],
                  "top_half": np.s_[:height // 2, :], "bottom_half": np.s_[height // 2:, :],
                  "center": np.s_[height // 4:height - height // 4,
                                  width // 4:width - width // 4]}[spec]
        known[hidden] = 0.0
        return known
    if not spec.endswith(".npy"):
        raise SampleError(f"--mask must be one of {', '.join(MASKS)} or a .npy file "
                          f"(1 = known), got '{spec}'")
    try:
        loaded = np.asarray(np.load(spec), np.float32)
    except (OSError, ValueError) as e:
        raise SampleError(f"--mask: cannot read '{spec}' ({e})") from None
    if len(shape) == 3 and loaded.shape in (tuple(shape[:2]), (*shape[:2], 1)):
        loaded = loaded.reshape(*shape[:2], 1)  # One mask for every channel.
    elif loaded.shape != tuple(shape):
        raise SampleError(f"--mask: '{spec}' has shape {loaded.shape}; the model needs "
                          f"{tuple(shape)}" + (f" or {tuple(shape[:2])}" if len(shape) == 3
                                               else ""))
    return np.broadcast_to((loaded > 0.5).astype(np.float32), shape).copy()


# ----------------------------------------------------------------------------- PNG (zlib only)


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


# ----------------------------------------------------------------------------- output paths


class OutputPathError(ValueError):
    """An output path that cannot be written, as one line naming its flag."""


def either(choices) -> str:
    """(".npy", ".npz", ".png") -> ".npy, .npz or .png"."""
    return " or ".join(filter(None, (", ".join(choices[:-1]), choices[-1])))


def check_output(path: str | None, extensions=(".npy", ".png"), flag: str = "--output") -> str:
    """The extension of output file `path`, once it is known to be writable: an allowed
    extension, not a folder, a folder that takes new files, an existing file that may be
    written. Creates nothing (`output_folders` makes missing folders when writing); raises
    OutputPathError."""
    if not path:
        raise OutputPathError(f"{flag} is required ({either(extensions)})")
    if os.path.isdir(path):
        raise OutputPathError(f"{flag} '{path}' is a directory; give a file name ending in "
                              f"{either(extensions)}")
    extension = os.path.splitext(path)[1].lower()
    if extension not in extensions:
        raise OutputPathError(f"{flag} must end in {either(extensions)}, got '{path}'")
    check_writable(path, os.path.dirname(os.path.abspath(path)), flag)
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise OutputPathError(f"{flag} '{path}': the file exists and cannot be written "
                              "(permission denied); choose another path")
    return extension


def check_output_folder(path: str, flag: str = "--output", empty: bool = False) -> None:
    """Checks that folder `path` can be made, or written in when it exists (with `empty`:
    that it is new or empty). Creates nothing; raises OutputPathError."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise OutputPathError(f"{flag} '{path}' is a file, not a directory; choose a directory "
                              "(a missing one is made)")
    if empty and os.path.isdir(path) and os.listdir(path):
        raise OutputPathError(f"{flag} '{path}' already exists and is not an empty directory; "
                              "choose a new one or remove it")
    check_writable(path, os.path.abspath(path), flag)


def check_writable(path: str, folder: str, flag: str) -> None:
    """`folder`, or its nearest existing ancestor when it is missing, takes new files: tried
    with a nameless temporary file, which os.access would pass on /proc as root."""
    while not os.path.exists(folder):
        folder = os.path.dirname(folder)
    if not os.path.isdir(folder):
        raise OutputPathError(f"{flag} '{path}' cannot be created: '{folder}' is a file, not a "
                              "directory; choose another path")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        raise OutputPathError(f"{flag} '{path}': cannot create files in folder '{folder}' "
                              f"({e.strerror}); choose another path") from None


@contextlib.contextmanager
def output_folders(path: str):
    """Makes the missing folders output `path` goes in for the writing in the body, and
    removes them again when it fails: a failed command leaves no new folder."""
    folder, missing = os.path.dirname(os.path.abspath(path)), []
    while not os.path.exists(folder):
        missing.append(folder)
        folder = os.path.dirname(folder)
    if missing:
        os.makedirs(missing[0])
    try:
        yield
    except BaseException:
        for made in missing:  # Deepest first; one that is not empty stays.
            with contextlib.suppress(OSError):
                os.rmdir(made)
        raise


# ----------------------------------------------------------------------------- progress


class Progress:
    """Prints `onnx_sample: 40% (400/1000 steps), 1.2 s elapsed, ETA 1.8 s` at every 10 %."""

    def __init__(self, total: int, enabled: bool = True, stream=sys.stderr):
        self.total, self.done, self.enabled, self.stream = total, 0, enabled, stream
        self.start, self._shown = time.perf_counter(), 0

    def advance(self, steps: int) -> None:
        self.done += steps
        tenth = min(10, self.done * 10 // max(self.total, 1))
        if self.enabled and tenth > self._shown:
            self._shown = tenth
            elapsed = time.perf_counter() - self.start
            eta = elapsed * (self.total - self.done) / max(self.done, 1)
            print(f"onnx_sample: {100 * self.done // self.total}% ({self.done}/{self.total} "
                  f"steps), {elapsed:.1f} s elapsed, ETA {eta:.1f} s", file=self.stream,
                  flush=True)


# ----------------------------------------------------------------------------- command line


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # One line, not argparse's usage block.
        print(f"onnx_sample: error: {message} (see --help)", file=sys.stderr)
        sys.exit(2)


def parse_args(argv):
    parser = _Parser(prog="onnx_sample.py", description=__doc__.split("\n\n")[0],
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="the export directory `tfncsn export` "
                        "wrote, or a file in it")
    parser.add_argument("--output", help="where to write: .npy or .png (missing folders are "
                        "made)")
    parser.add_argument("--num_samples", type=int, default=64, help="samples to draw")
    parser.add_argument("--seed", type=int, default=0, help="seed of NumPy's generator")
    parser.add_argument("--batch_size", type=int, default=256, help="samples per batch (each "
                        "step feeds the state and noise of one batch)")
    parser.add_argument("--images", help="inpainting: .npy of images [M, H, W, C] in [0, 1] "
                        "or uint8")
    parser.add_argument("--mask", help="inpainting: the region to fill (" + ", ".join(MASKS)
                        + ") or a .npy with 1 = known pixel")
    parser.add_argument("--num_completions", type=int, default=1,
                        help="inpainting: completions per image")
    parser.add_argument("--check", action="store_true", help="compare the model's score with "
                        "the golden pair of the export and exit")
    parser.add_argument("--threads", type=int, default=0, help="ONNX Runtime intra-op threads "
                        "(0: its default)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    return parser.parse_args(argv)


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


def run(args) -> None:
    for name in ("num_samples", "batch_size", "num_completions"):
        if getattr(args, name) < 1:
            raise SampleError(f"--{name} must be at least 1, got {getattr(args, name)}")
    inpainting = bool(args.images or args.mask)
    if inpainting and not (args.images and args.mask):
        raise SampleError("inpainting needs both --images and --mask")
    extension = None if args.check else check_output(args.output)
    export = Export(args.model, args.threads)
    if args.check:
        print(check_golden(export))
        return
    shape, meta = export.element_shape, export.meta
    if extension == ".png" and not (shape == (2,) or (len(shape) == 3 and shape[-1] in (1, 3))):
        raise SampleError(f"PNG output needs 2-D points or images; samples have shape {shape}")
    rng = NumpyNoise(args.seed)
    started = time.perf_counter()
    if inpainting:
        program = export.program("inpaint")
        known = make_mask(args.mask, shape)
        images = load_images(args.images, shape)
        y = np.repeat(to_model_space(images, meta), args.num_completions, axis=0)
        progress = Progress(program.num_steps * math.ceil(len(y) / args.batch_size),
                            not args.quiet)
        out = export.inpaint(y, known, rng, batch_size=args.batch_size, progress=progress)
        completions = to_pixels(out, meta).reshape(len(images), args.num_completions, *shape)
        with output_folders(args.output):
            if extension == ".npy":
                np.save(args.output, completions)
            else:
                masked = images * known + 0.5 * (1.0 - known)
                rows = [np.concatenate([[image], [hidden], done])
                        for image, hidden, done in zip(images, masked, completions)]
                write_png(args.output, image_grid(np.concatenate(rows),
                                                  2 + args.num_completions))
        print(f"wrote {args.output}: {len(images)} images x {args.num_completions} completions "
              f"({known.mean():.0%} of values known) in {time.perf_counter() - started:.1f} s")
        return
    program = export.program("sample")
    progress = Progress(program.num_steps * math.ceil(args.num_samples / args.batch_size),
                        not args.quiet)
    samples = export.sample(args.num_samples, rng, batch_size=args.batch_size, progress=progress)
    elapsed = time.perf_counter() - started
    with output_folders(args.output):
        if extension == ".npy":
            np.save(args.output, samples)
        elif shape == (2,):
            write_png(args.output, scatter(samples, meta["prior_range"]))
        else:
            write_png(args.output, image_grid(to_pixels(samples, meta)))
    print(f"wrote {args.output}: {len(samples)} samples with {meta['sampler']['name']} in "
          f"{elapsed:.1f} s ({len(samples) / max(elapsed, 1e-9):.1f} samples/s)")


def load(path: str, threads: int = 0) -> Export:
    """The export at `path` (its directory or a file in it)."""
    return Export(path, threads)


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        run(args)
    except (SampleError, OutputPathError) as e:
        print(f"onnx_sample: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("onnx_sample: error: interrupted", file=sys.stderr)
        return 1
    except Exception as e:  # Still one line; --debug shows the traceback.
        if args.debug:
            raise
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        print(f"onnx_sample: error: {type(e).__name__}: {first[:300]} (rerun with --debug for "
              "the traceback)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
