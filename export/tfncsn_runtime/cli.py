"""Samples from a `tfncsn export` with ONNX Runtime and NumPy only (no TensorFlow, no tfncsn).

The command line of tfncsn_runtime: loops the exported step program of any sampler
(sample_step.onnx, then sample_finish.onnx when there is one) as metadata.json describes it,
drawing every random number with NumPy; inpaints the same way with inpaint_step.onnx:

    python -m tfncsn_runtime --model=E --num_samples=1280 --output=samples.npy
    python -m tfncsn_runtime --model=E --num_samples=64 --output=grid.png --seed=1
    python -m tfncsn_runtime --model=E --images=faces.npy --mask=left_half \\
        --num_completions=4 --output=inpainted.png
    python -m tfncsn_runtime --model=E --check           # the golden input/output pair
    python -m tfncsn_runtime --model=E --list_programs   # its sample programs
    python -m tfncsn_runtime --model=E --program=sample_ode_19 --output=samples.npy

--program picks one of the export's sample programs (`tfncsn export --extra_samplers`
writes more than the default `sample`, each sample_<sampler>_<score evaluations>).

(`tfncsn-onnx-sample` is the same command; from a checkout without installing,
`PYTHONPATH=export python -m tfncsn_runtime` runs it.)

--model is the export directory (or any file in it). .npy holds the samples
in model space (as `tfncsn sample` writes them); for inpainting it holds the
completions as pixels, [M, num_completions, H, W, C]. .png draws an image grid,
a 2-D scatter plot, or for inpainting rows of original | masked | completions.
The contract is in docs/export.md; the library is `tfncsn_runtime.load`.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

import numpy as np

from tfncsn_runtime.golden import check_golden
from tfncsn_runtime.masks import MASKS, make_mask
from tfncsn_runtime.noise import NumpyNoise
from tfncsn_runtime.output_paths import OutputPathError, check_output, output_folders
from tfncsn_runtime.pixels import load_images, to_model_space, to_pixels
from tfncsn_runtime import programs
from tfncsn_runtime.png import image_grid, scatter, write_png
from tfncsn_runtime.reader import Export, SampleError

# The name every line it prints starts with (`onnx_sample: error: ...`), kept from the file
# the command line was before tfncsn_runtime had modules.
NAME = "onnx_sample"


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
            print(f"{NAME}: {100 * self.done // self.total}% ({self.done}/{self.total} "
                  f"steps), {elapsed:.1f} s elapsed, ETA {eta:.1f} s", file=self.stream,
                  flush=True)


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # One line, not argparse's usage block.
        print(f"{NAME}: error: {message} (see --help)", file=sys.stderr)
        sys.exit(2)


def parse_args(argv):
    parser = _Parser(prog="python -m tfncsn_runtime", description=__doc__.split("\n\n")[0],
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
    parser.add_argument("--program", help="the sample program to loop (default "
                        f"{programs.DEFAULT!r}, the exported sampler; --list_programs shows "
                        "the export's)")
    parser.add_argument("--list_programs", action="store_true", help="print the export's "
                        "sample programs (name, sampler, options, steps, score evaluations), "
                        "one per line, and exit")
    parser.add_argument("--check", action="store_true", help="compare the model's score with "
                        "the golden pair of the export and exit")
    parser.add_argument("--threads", type=int, default=0, help="ONNX Runtime intra-op threads "
                        "(0: its default)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    return parser.parse_args(argv)


def program_line(name: str, entry: dict) -> str:
    """One line of --list_programs: name, sampler, options (JSON), steps, score evaluations."""
    sampler = entry.get("sampler") or {}
    return (f"{name}\tsampler {sampler.get('name', '?')}\toptions "
            f"{json.dumps(sampler.get('options', {}))}\tnum_steps {entry['num_steps']}\t"
            f"score_evaluations {entry['score_evaluations']}")


def run(args) -> None:
    for name in ("num_samples", "batch_size", "num_completions"):
        if getattr(args, name) < 1:
            raise SampleError(f"--{name} must be at least 1, got {getattr(args, name)}")
    inpainting = bool(args.images or args.mask)
    if inpainting and not (args.images and args.mask):
        raise SampleError("inpainting needs both --images and --mask")
    if inpainting and args.program is not None:
        raise SampleError("--program picks a sample program; inpainting (--images, --mask) "
                          "loops the export's inpaint program: drop --program")
    listing = args.check or args.list_programs
    extension = None if listing else check_output(args.output)
    export = Export(args.model, args.threads)
    if args.check:
        print(check_golden(export))
        return
    if args.list_programs:
        for name, entry in export.sample_programs().items():
            print(program_line(name, entry))
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
    name = args.program or programs.DEFAULT
    program = export.sample_program(name)
    progress = Progress(program.num_steps * math.ceil(args.num_samples / args.batch_size),
                        not args.quiet)
    samples = export.sample(args.num_samples, rng, batch_size=args.batch_size, progress=progress,
                            program=name)
    elapsed = time.perf_counter() - started
    with output_folders(args.output):
        if extension == ".npy":
            np.save(args.output, samples)
        elif shape == (2,):
            write_png(args.output, scatter(samples, meta["prior_range"]))
        else:
            write_png(args.output, image_grid(to_pixels(samples, meta)))
    print(f"wrote {args.output}: {len(samples)} samples with program "
          f"{programs.summary(name, export.sample_programs()[name])} in {elapsed:.1f} s "
          f"({len(samples) / max(elapsed, 1e-9):.1f} samples/s)")


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        run(args)
    except (SampleError, OutputPathError) as e:
        print(f"{NAME}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{NAME}: error: interrupted", file=sys.stderr)
        return 1
    except Exception as e:  # Still one line; --debug shows the traceback.
        if args.debug:
            raise
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        print(f"{NAME}: error: {type(e).__name__}: {first[:300]} (rerun with --debug for "
              "the traceback)", file=sys.stderr)
        return 1
    return 0
