#!/usr/bin/env python3
"""Samples from a `tfncsn export` with ONNX Runtime and NumPy only (no TensorFlow, no tfncsn).

Runs annealed Langevin dynamics (Algorithm 1 of Song & Ermon 2019) or
inpainting (Algorithm 2) from the exported file and its metadata alone:

    python onnx_sample.py --model=E/model.onnx --num_samples=1280 --output=samples.npy
    python onnx_sample.py --model=E/model.onnx --num_samples=64 --output=grid.png --seed=1
    python onnx_sample.py --model=E/sampler.onnx --num_samples=64 --output=s.npy  # one Loop graph
    python onnx_sample.py --model=E/model.onnx --images=faces.npy --mask=left_half \
        --num_completions=4 --output=inpainted.png
    python onnx_sample.py --model=E/model.onnx --check           # golden input/output pair

.npy holds the samples in model space (as `tfncsn sample` writes them); for
inpainting it holds the completions as pixels, [M, num_completions, H, W, C].
.png draws an image grid, a 2-D scatter plot, or for inpainting rows of
original | masked | completions. The contract is in docs/export.md.

Use it as a library too: `load(path)`, `sample(...)`, `inpaint(...)` take a
noise source (anything with `normal(shape)` and `uniform(shape, low, high)`),
so a caller can replay exactly the noise another implementation used.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import struct
import sys
import time
import zlib

import numpy as np

FORMAT = "tfncsn.score/1"
REQUIRED_KEYS = ("format", "element_shape", "sigmas", "sampler", "eps", "steps_per_level",
                 "step_convention", "denoise", "prior_range", "postprocess")
SAMPLERS = ("annealed_langevin", "langevin")
CONVENTIONS = ("paper", "reference")
MASKS = ("left_half", "right_half", "top_half", "bottom_half", "center")
LOGIT_LAMBDA = 1e-6


class SampleError(Exception):
    """Bad input or a model this script cannot use; reported as one line."""


# ----------------------------------------------------------------------------- the model


class ExportedModel:
    """An exported `model.onnx` (graph "score") or `sampler.onnx` (graph "sampler").

    Attributes:
      meta: the metadata, JSON-decoded (see docs/export.md).
      graph: "score" or "sampler".
      element_shape: shape of one sample.
    """

    def __init__(self, path: str, threads: int = 0):
        if not os.path.isfile(path):
            raise SampleError(f"model file '{path}' does not exist")
        try:
            import onnxruntime as ort
        except ImportError:
            raise SampleError("needs ONNX Runtime: pip install onnxruntime") from None
        options = ort.SessionOptions()
        options.log_severity_level = 3  # Errors only.
        # Idle worker threads sleep instead of spinning between the many small runs of a
        # sampler: on a shared CPU spinning halved the speed.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if threads > 0:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        except Exception as e:  # InvalidProtobuf, Fail, ...: the file is not a usable model.
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise SampleError(f"cannot load '{path}' as an ONNX model ({first[:200]})") from None
        self.path = path
        self.meta = read_metadata(self.session.get_modelmeta().custom_metadata_map, path)
        self.graph = self.meta.get("graph", "score")
        self.element_shape = tuple(int(d) for d in self.meta["element_shape"])
        self._check_inputs()

    def _check_inputs(self) -> None:
        inputs = {i.name: i for i in self.session.get_inputs()}
        expected = {"score": ("x", "level"), "sampler": ("x0", "noise")}.get(self.graph)
        if expected is None or sorted(inputs) != sorted(expected):
            raise SampleError(f"'{self.path}' has inputs {sorted(inputs)}; a tfncsn "
                              f"{self.graph} graph has {expected}")
        shape = inputs[expected[0]].shape[1:]
        static = [d if isinstance(d, int) else None for d in shape]
        if len(shape) != len(self.element_shape) or any(
                d is not None and d != e for d, e in zip(static, self.element_shape)):
            raise SampleError(f"'{self.path}': input {expected[0]} has shape {shape} per sample "
                              f"but the metadata says element_shape {list(self.element_shape)}")

    def score(self, x: np.ndarray, level: np.ndarray) -> np.ndarray:
        """s(x, sigma_level): x float32 [N, *shape], level int32 [N] (0 = largest sigma)."""
        if self.graph != "score":
            raise SampleError(f"'{self.path}' is a sampler graph; the score needs model.onnx")
        return self.session.run(["score"], {"x": np.asarray(x, np.float32),
                                            "level": np.asarray(level, np.int32)})[0]

    def run_sampler_graph(self, x0: np.ndarray, noise: np.ndarray) -> np.ndarray:
        """sampler.onnx: the first noise.shape[0] steps (all L*T: the whole sampler) from x0."""
        return self.session.run(["samples"], {"x0": np.asarray(x0, np.float32),
                                              "noise": np.asarray(noise, np.float32)})[0]


def read_metadata(props: dict[str, str], path: str) -> dict:
    """Decodes and checks the tfncsn metadata of an ONNX model's metadata_props."""
    missing = [key for key in REQUIRED_KEYS if key not in props]
    if missing:
        raise SampleError(f"'{path}' lacks the tfncsn metadata {', '.join(missing)}; write "
                          "models with `tfncsn export`")
    try:
        meta = {key: json.loads(value) for key, value in props.items()}
    except json.JSONDecodeError as e:
        raise SampleError(f"'{path}': metadata is not JSON ({e})") from None
    if meta["format"] != FORMAT:
        raise SampleError(f"'{path}' has format {meta['format']!r}; this script reads {FORMAT!r}")
    sigmas = np.asarray(meta["sigmas"], np.float64)
    if (sigmas.ndim != 1 or sigmas.size == 0 or np.any(sigmas <= 0)
            or np.any(np.diff(sigmas) >= 0)):
        raise SampleError(f"'{path}': sigmas must be positive and strictly decreasing")
    if meta["step_convention"] not in CONVENTIONS:
        raise SampleError(f"'{path}': unknown step convention {meta['step_convention']!r}")
    return meta


# ----------------------------------------------------------------------------- noise


class NumpyNoise:
    """The default noise source: NumPy's PCG64 generator seeded with `seed`."""

    def __init__(self, seed: int):
        self._gen = np.random.default_rng(seed)

    def normal(self, shape) -> np.ndarray:
        return self._gen.standard_normal(tuple(shape), dtype=np.float32)

    def uniform(self, shape, low: float, high: float) -> np.ndarray:
        return self._gen.uniform(low, high, size=tuple(shape)).astype(np.float32)


# ----------------------------------------------------------------------------- Algorithms 1 and 2


def stages(meta: dict, sampler: str | None = None):
    """[(level, c_score, c_noise)] per stage, in float32 as tfncsn.langevin computes them.

    annealed_langevin: stage i = level i, a_i = eps sigma_i^2 / sigma_L^2 (Algorithm 1);
    langevin: one stage at the last level with a = eps. Steps are
    x <- x + c_score s(x, level) + c_noise z with (a/2, sqrt(a)) for "paper" and
    (a, sqrt(2a)) for "reference".
    """
    sampler = sampler or meta["sampler"]
    sigmas = np.asarray(meta["sigmas"], np.float32)
    eps = np.float32(meta["eps"])
    if sampler == "annealed_langevin":
        levels = list(range(len(sigmas)))
        alphas = eps * np.square(sigmas / sigmas[-1])
    elif sampler == "langevin":
        levels = [len(sigmas) - 1]
        alphas = np.array([eps], np.float32)
    else:
        raise SampleError(f"the model's sampler {sampler!r} is not implemented here (only "
                          f"{', '.join(SAMPLERS)}); pass --sampler to choose one of those")
    if meta["step_convention"] == "paper":
        c_score, c_noise = np.float32(0.5) * alphas, np.sqrt(alphas)
    else:
        c_score, c_noise = alphas, np.sqrt(np.float32(2.0) * alphas)
    return [(level, c_score[i], c_noise[i]) for i, level in enumerate(levels)]


def langevin_dynamics(score_fn, x: np.ndarray, stage_list, rng, steps_per_level: int,
                      begin_stage=None, after_step=None, callback=None) -> np.ndarray:
    """T Langevin steps per stage; `begin_stage(x, level)` / `after_step(x)` serve Algorithm 2.

    `callback` gets {"x", "level", "step"} after every step (progress, intermediate states).
    """
    x = np.asarray(x, np.float32)
    level_vector = np.empty([x.shape[0]], np.int32)
    for level, c_score, c_noise in stage_list:
        level_vector[:] = level
        if begin_stage is not None:
            x = begin_stage(x, level)
        for step in range(steps_per_level):
            x = x + c_score * score_fn(x, level_vector) + c_noise * rng.normal(x.shape)
            if after_step is not None:
                x = after_step(x)
            if callback is not None:
                callback({"x": x, "level": level, "step": step})
    return x


def denoise(score_fn, x: np.ndarray, meta: dict) -> np.ndarray:
    """Tweedie step x + sigma_L^2 s(x, L-1) (NCSNv2)."""
    sigma_min = np.float32(meta["sigmas"][-1])
    last = np.full([x.shape[0]], len(meta["sigmas"]) - 1, np.int32)
    return x + np.square(sigma_min) * score_fn(x, last)


def annealed_langevin(score_fn, x: np.ndarray, meta: dict, rng, *, sampler: str | None = None,
                      steps_per_level: int | None = None, callback=None) -> np.ndarray:
    """Algorithm 1 (or plain Langevin) from x with the metadata's settings, then the optional
    denoising step."""
    x = langevin_dynamics(score_fn, x, stages(meta, sampler), rng,
                          steps_per_level or int(meta["steps_per_level"]), callback=callback)
    return denoise(score_fn, x, meta) if meta["denoise"] else x


def inpaint(score_fn, y: np.ndarray, mask: np.ndarray, x: np.ndarray, meta: dict, rng, *,
            steps_per_level: int | None = None, callback=None) -> np.ndarray:
    """Algorithm 2: fills where mask == 0, keeping y + sigma_i z where mask == 1.

    y and x are [N, *shape] in model space; x is the initial state (uniform noise).
    Per level one fresh y~ = y + sigma_i z, imposed before and after every step.
    """
    y = np.asarray(y, np.float32)
    mask = np.broadcast_to(np.asarray(mask, np.float32), y.shape)
    sigmas = np.asarray(meta["sigmas"], np.float32)
    state = {}

    def impose(x):
        return x * (np.float32(1.0) - mask) + state["y_tilde"] * mask

    def begin_stage(x, level):
        state["y_tilde"] = y + sigmas[level] * rng.normal(y.shape)
        return impose(x)

    return langevin_dynamics(score_fn, x, stages(meta, "annealed_langevin"), rng,
                             steps_per_level or int(meta["steps_per_level"]),
                             begin_stage=begin_stage, after_step=impose, callback=callback)


def total_steps(meta: dict, sampler: str | None, steps_per_level: int | None) -> int:
    return len(stages(meta, sampler)) * (steps_per_level or int(meta["steps_per_level"]))


def sample(model: ExportedModel, num_samples: int, rng, *, batch_size: int = 1024,
           sampler: str | None = None, steps_per_level: int | None = None,
           progress: Progress | None = None) -> np.ndarray:
    """num_samples samples from the uniform prior, batch after batch (prior, then the steps).

    With sampler.onnx each batch is one session.run fed with the same draws
    (x0, then the noise of every step in order), so it matches model.onnx draw for draw.
    """
    meta, shape = model.meta, model.element_shape
    low, high = meta["prior_range"]
    out = []
    for start in range(0, num_samples, batch_size):
        n = min(batch_size, num_samples - start)
        x = rng.uniform((n, *shape), low, high)
        if model.graph == "sampler":
            if sampler not in (None, meta["sampler"]) or steps_per_level not in (
                    None, int(meta["steps_per_level"])):
                raise SampleError("sampler.onnx has its sampler and steps built in; use "
                                  "model.onnx to change them")
            steps = total_steps(meta, None, None)
            noise = rng.normal((steps, n, *shape))
            out.append(model.run_sampler_graph(x, noise))
            if progress is not None:
                progress.advance(steps)
        else:
            out.append(annealed_langevin(model.score, x, meta, rng, sampler=sampler,
                                         steps_per_level=steps_per_level, callback=progress))
    return np.concatenate(out)


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


# ----------------------------------------------------------------------------- progress


class Progress:
    """Prints `onnx_sample: 40% (400/1000 steps), 1.2 s elapsed, ETA 1.8 s` at every 10 %."""

    def __init__(self, total: int, enabled: bool = True, stream=sys.stderr):
        self.total, self.done, self.enabled, self.stream = total, 0, enabled, stream
        self.start, self._shown = time.perf_counter(), 0

    def __call__(self, info: dict) -> None:
        """A sampler callback: one step done."""
        self.advance(1)

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
    parser.add_argument("--model", required=True, help="model.onnx (or sampler.onnx) written by "
                        "`tfncsn export`")
    parser.add_argument("--output", help="where to write: .npy or .png")
    parser.add_argument("--num_samples", type=int, default=64, help="samples to draw")
    parser.add_argument("--seed", type=int, default=0, help="seed of NumPy's generator")
    parser.add_argument("--batch_size", type=int, default=1024,
                        help="samples per batch (bounds memory; sampler.onnx needs "
                             "L*T*batch*D floats of noise)")
    parser.add_argument("--steps_per_level", type=int, default=None,
                        help="Langevin steps T per level (default: the metadata's)")
    parser.add_argument("--sampler", choices=SAMPLERS, default=None,
                        help="override the metadata's sampler")
    parser.add_argument("--images", help="inpainting: .npy of images [M, H, W, C] in [0, 1] "
                        "or uint8")
    parser.add_argument("--mask", help="inpainting: the region to fill (" + ", ".join(MASKS)
                        + ") or a .npy with 1 = known pixel")
    parser.add_argument("--num_completions", type=int, default=1,
                        help="inpainting: completions per image")
    parser.add_argument("--check", action="store_true", help="compare the model's score with "
                        "the golden pair next to it and exit")
    parser.add_argument("--threads", type=int, default=0, help="ONNX Runtime intra-op threads "
                        "(0: its default)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    return parser.parse_args(argv)


def check_golden(model: ExportedModel) -> str:
    """Runs the golden input next to the model; returns a summary or raises SampleError."""
    if model.graph != "score":
        raise SampleError("--check needs model.onnx (the score graph)")
    path = os.path.join(os.path.dirname(os.path.abspath(model.path)),
                        model.meta.get("golden_file", "golden.npz"))
    try:
        with np.load(path) as golden:
            x, level, expected = golden["x"], golden["level"], golden["score"]
    except (OSError, KeyError, ValueError) as e:
        raise SampleError(f"cannot read the golden pair '{path}' ({e})") from None
    tolerance = model.meta.get("tolerance", {"atol": 1e-4, "rtol": 1e-4})
    got = model.score(x, level).astype(np.float64)
    diff = np.abs(got - expected)
    limit = tolerance["atol"] + tolerance["rtol"] * np.abs(expected)
    summary = (f"max abs diff {diff.max():.3g}, max rel diff "
               f"{(diff / np.maximum(np.abs(expected), tolerance['atol'])).max():.3g} "
               f"(tolerance |diff| <= {tolerance['atol']:g} + {tolerance['rtol']:g} |expected|)")
    if got.shape != expected.shape or not np.all(diff <= limit):
        raise SampleError(f"golden check failed: {summary}")
    return f"golden check passed on {len(x)} inputs: {summary}"


def run(args) -> None:
    for name in ("num_samples", "batch_size", "num_completions"):
        if getattr(args, name) < 1:
            raise SampleError(f"--{name} must be at least 1, got {getattr(args, name)}")
    if args.steps_per_level is not None and args.steps_per_level < 1:
        raise SampleError(f"--steps_per_level must be at least 1, got {args.steps_per_level}")
    inpainting = bool(args.images or args.mask)
    if inpainting and not (args.images and args.mask):
        raise SampleError("inpainting needs both --images and --mask")
    extension = os.path.splitext(args.output or "")[1].lower()
    if not args.check and extension not in (".npy", ".png"):
        raise SampleError(f"--output must end in .npy or .png, got '{args.output}'")
    model = ExportedModel(args.model, args.threads)
    if args.output and os.path.dirname(args.output):
        os.makedirs(os.path.dirname(args.output), exist_ok=True)
    if args.check:
        print(check_golden(model))
        return
    shape, meta = model.element_shape, model.meta
    if extension == ".png" and not (shape == (2,) or (len(shape) == 3 and shape[-1] in (1, 3))):
        raise SampleError(f"PNG output needs 2-D points or images; samples have shape {shape}")
    rng = NumpyNoise(args.seed)
    started = time.perf_counter()
    if inpainting:
        if model.graph != "score":
            raise SampleError("inpainting needs model.onnx (the score graph), not sampler.onnx")
        known = make_mask(args.mask, shape)
        images = load_images(args.images, shape)
        y = np.repeat(to_model_space(images, meta), args.num_completions, axis=0)
        progress = Progress(total_steps(meta, "annealed_langevin", args.steps_per_level),
                            not args.quiet)
        x0 = rng.uniform(y.shape, *meta["prior_range"])
        out = inpaint(model.score, y, known, x0, meta, rng, steps_per_level=args.steps_per_level,
                      callback=progress)
        completions = to_pixels(out, meta).reshape(len(images), args.num_completions, *shape)
        if extension == ".npy":
            np.save(args.output, completions)
        else:
            masked = images * known + 0.5 * (1.0 - known)
            rows = [np.concatenate([[image], [hidden], done])
                    for image, hidden, done in zip(images, masked, completions)]
            write_png(args.output, image_grid(np.concatenate(rows), 2 + args.num_completions))
        print(f"wrote {args.output}: {len(images)} images x {args.num_completions} completions "
              f"({known.mean():.0%} of values known) in {time.perf_counter() - started:.1f} s")
        return
    steps = total_steps(meta, args.sampler, args.steps_per_level)
    progress = Progress(steps * math.ceil(args.num_samples / args.batch_size), not args.quiet)
    samples = sample(model, args.num_samples, rng, batch_size=args.batch_size,
                     sampler=args.sampler, steps_per_level=args.steps_per_level,
                     progress=progress)
    elapsed = time.perf_counter() - started
    if extension == ".npy":
        np.save(args.output, samples)
    elif shape == (2,):
        write_png(args.output, scatter(samples, meta["prior_range"]))
    else:
        write_png(args.output, image_grid(to_pixels(samples, meta)))
    print(f"wrote {args.output}: {len(samples)} samples in {elapsed:.1f} s "
          f"({len(samples) / max(elapsed, 1e-9):.1f} samples/s)")


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        run(args)
    except SampleError as e:
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
