"""The C examples: export/c/golden_check.c (the golden pair) and export/c/sample.c (a sample
program looped) through ONNX Runtime's C API alone.

Built with gcc against the shared library of the onnxruntime wheel and the C API
headers that export/c/get-headers.sh takes from the npm registry (ONNX Runtime
1.29's; .ci/run fetches them). One toy export per module: its graphs only need to be
computed identically by Keras, ONNX Runtime and the runtimes, so 1 training step, of the
MLP with a Fourier noise embedding (any sigma), exported with two extra samplers whose
grids are set by num_steps.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import onnxruntime
import pytest

import tfncsn_runtime
from conftest import REPO, run_cli
from runtime_helpers import DocumentedRng, missing

EXAMPLE = REPO / "export" / "c"
INCLUDE = Path(os.environ.get("TFNCSN_ORT_INCLUDE", EXAMPLE / "include"))
# The extra samplers and the programs they make: ode on a 5-point grid (4 Heun steps and
# Tweedie's: 9 evaluations, no noise), pc on 4 points with 2 corrector steps (3 steps, 10).
EXTRA = ("ode:num_steps=5", "pc:num_steps=4,corrector_steps=2")
ODE, PC = "sample_ode_9", "sample_pc_10"
TOLERANCE = 1e-4  # The export's: the same graphs in the same ONNX Runtime, fed the same x.


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    """build(name): export/c/NAME.c built (its library found through an rpath to a soname
    link), as the Makefile builds it."""
    gcc = shutil.which("gcc") or missing("gcc is not installed")
    if not (INCLUDE / "onnxruntime_c_api.h").is_file():
        missing(f"no ONNX Runtime headers in {INCLUDE}: run `bash export/c/get-headers.sh`")
    capi = Path(onnxruntime.__file__).parent / "capi"
    libraries = sorted(capi.glob("libonnxruntime.so.1.*"))
    if not libraries:
        missing(f"the onnxruntime wheel has no libonnxruntime.so.1.* in {capi}")
    folder = tmp_path_factory.mktemp("c_build")
    (folder / "libonnxruntime.so.1").symlink_to(libraries[0])

    def make(name: str) -> Path:
        program = folder / name
        sources = makefile_sources(name)
        proc = subprocess.run([gcc, "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror",
                               f"-I{INCLUDE}", "-o", str(program), *sources,
                               str(folder / "libonnxruntime.so.1"), "-lm",
                               f"-Wl,-rpath,{folder}"],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        return program
    return make


def makefile_sources(name: str) -> list[str]:
    """The sources of program `name` as export/c/Makefile lists them (NAME_SOURCES = ...)."""
    text = (EXAMPLE / "Makefile").read_text()
    (line,) = [l for l in text.splitlines() if l.startswith(f"{name.upper()}_SOURCES =")]
    return [str(EXAMPLE / source) for source in line.split("=", 1)[1].split()]


@pytest.fixture(scope="module")
def golden_check(build):
    return build("golden_check")


@pytest.fixture(scope="module")
def sample(build):
    return build("sample")


@pytest.fixture(scope="module")
def toy_export(tmp_path_factory):
    root = tmp_path_factory.mktemp("c_toy")
    run_cli("train", "--flagfile=configs/toy.cfg", "--steps=1",
            '--model_options=noise_embedding="fourier"', f"--workdir={root / 'run'}")
    run_cli("export", f"--workdir={root / 'run'}", f"--output={root / 'export'}",
            "--steps_per_level=1", *(f"--extra_samplers={e}" for e in EXTRA))
    return root / "export"


def run(program, export):
    return subprocess.run([str(program), str(export)], capture_output=True, text=True,
                          timeout=120)


def broken_copy(export, tmp_path):
    copy = tmp_path / "export"
    shutil.copytree(export, copy)
    return copy


def test_the_golden_pair_passes_through_the_c_api(golden_check, toy_export):
    proc = run(golden_check, toy_export)
    print(proc.stdout)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("golden check passed on 20 inputs: max abs diff ")
    assert "(tolerance |diff| <= 0.0001 + 0.0001 rms(expected of the input))" in proc.stdout


def test_a_score_off_by_more_than_the_tolerance_fails(golden_check, toy_export, tmp_path):
    copy = broken_copy(toy_export, tmp_path)
    path = copy / "golden" / "score.float32.bin"
    data = bytearray(path.read_bytes())
    (value,) = struct.unpack_from("<f", data, 12)
    struct.pack_into("<f", data, 12, value + 0.01)
    path.write_bytes(bytes(data))
    proc = run(golden_check, copy)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.startswith("golden check failed on 20 inputs: max abs diff 0.01")


@pytest.mark.parametrize("breakage, message", [
    ("missing", "golden_check: error: cannot read the export: '{dir}/golden/x.float32.bin' is "
                "missing from the export; give the directory `tfncsn export` wrote"),
    ("truncated", "golden_check: error: the golden files do not fit together: x has 80 bytes, "
                  "score 160, level 80: not [N, ...], [N, ...] and [N]; export again"),
    ("format", 'golden_check: error: metadata.json is not of format "tfncsn.score/2": export '
               "again with this tfncsn"),
], ids=["missing", "truncated", "format"])
def test_a_wrong_export_is_one_line(golden_check, toy_export, tmp_path, breakage, message):
    copy = broken_copy(toy_export, tmp_path)
    x = copy / "golden" / "x.float32.bin"
    if breakage == "missing":
        x.unlink()
    elif breakage == "truncated":
        x.write_bytes(x.read_bytes()[:80])
    else:
        meta = copy / "metadata.json"
        meta.write_text(meta.read_text().replace("tfncsn.score/2", "tfncsn.score/1"))
    proc = run(golden_check, copy)
    assert proc.returncode == 2 and proc.stdout == "", proc.stdout
    assert proc.stderr.strip() == message.format(dir=copy)


# ----------------------------------------------------------------------------- sample.c


def run_sample(program, *args):
    return subprocess.run([str(program), *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def test_the_deterministic_program_from_given_x_is_tfncsn_runtimes(sample, toy_export,
                                                                   tmp_path):
    """The ODE draws nothing after the prior: started from the same x, the C loop and
    tfncsn_runtime's give the same samples, after the program's own number of steps."""
    exported = tfncsn_runtime.load(str(toy_export))
    program = exported.sample_program(ODE)
    assert (program.num_steps, program.spec["score_evaluations"]) == (4, 9)
    x0 = exported.sample_program(ODE).initial_state(16, tfncsn_runtime.NumpyNoise(3))["x"]
    x0.astype("<f4").tofile(tmp_path / "x0.bin")
    proc = run_sample(sample, f"--x0={tmp_path / 'x0.bin'}", toy_export, ODE, 16, 0,
                      tmp_path / "ode.npy")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == (f"wrote {tmp_path / 'ode.npy'}: 16 samples of program {ODE} "
                                   "(ode, 4 steps, 9 score evaluations), seed 0, x0 from --x0")
    got = np.load(tmp_path / "ode.npy")
    expected = program.run(16, tfncsn_runtime.NumpyNoise(0), state={"x": x0})
    assert got.shape == expected.shape == (16, 2) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=TOLERANCE, atol=TOLERANCE)
    one_step_short = tfncsn_runtime.Program(exported, {**program.spec, "num_steps": 3})
    assert not np.allclose(got, one_step_short.run(16, None, state={"x": x0}), atol=1e-2)


@pytest.mark.parametrize("name", ["sample", PC])
def test_a_seed_draws_as_the_javascript_generator_does(sample, toy_export, tmp_path, name):
    """sample.c's draws are the documented generator's (export/js/src/random.js): its samples
    are tfncsn_runtime's fed that generator, for the uniform prior of annealed Langevin and
    for pc's normal prior and per-step noise; another seed gives others."""
    exported = tfncsn_runtime.load(str(toy_export))
    spec = exported.sample_programs()[name]
    for seed in (7, 8):
        out = tmp_path / f"{name}_{seed}.bin"  # Raw little-endian float32.
        proc = run_sample(sample, toy_export, name, 12, seed, out)
        assert proc.returncode == 0, proc.stderr
        assert f"{spec['num_steps']} steps, {spec['score_evaluations']} score evaluations" \
            in proc.stdout
        got = np.fromfile(out, "<f4").reshape(12, 2)
        expected = exported.sample(12, DocumentedRng(seed), batch_size=12, program=name)
        assert np.isfinite(got).all()
        np.testing.assert_allclose(got, expected, rtol=TOLERANCE, atol=TOLERANCE)
    assert not np.allclose(np.fromfile(tmp_path / f"{name}_7.bin", "<f4"),
                           np.fromfile(tmp_path / f"{name}_8.bin", "<f4"))


def test_a_noise_entry_of_period_two_is_drawn_at_even_steps_only(sample, toy_export, tmp_path):
    """The `every` rule: with pc's corrector noise due every other step (its description
    changed in both the JSON and the text), sample.c draws and feeds zeros as tfncsn_runtime
    does, and the samples differ from those of the unchanged program."""
    copy = broken_copy(toy_export, tmp_path)
    meta = json.loads((copy / "metadata.json").read_text())
    meta["programs"][PC]["noise"][1]["every"] = 2
    (copy / "metadata.json").write_text(json.dumps(meta))
    text = copy / f"{PC}.program.txt"
    text.write_text(text.read_text().replace("noise_corrector_0 normal element 1",
                                              "noise_corrector_0 normal element 2"))
    proc = run_sample(sample, copy, PC, 6, 5, tmp_path / "every.npy")
    assert proc.returncode == 0, proc.stderr
    got = np.load(tmp_path / "every.npy")
    expected = tfncsn_runtime.load(str(copy)).sample(6, DocumentedRng(5), batch_size=6,
                                                      program=PC)
    np.testing.assert_allclose(got, expected, rtol=TOLERANCE, atol=TOLERANCE)
    unchanged = tfncsn_runtime.load(str(toy_export)).sample(6, DocumentedRng(5), batch_size=6,
                                                            program=PC)
    assert not np.allclose(got, unchanged, rtol=1e-3, atol=1e-3)


USAGE = ("usage: sample [--x0=FILE] [--threads=N] EXPORT_DIR PROGRAM NUM_SAMPLES SEED OUT")


@pytest.mark.parametrize("args, message", [
    (["{dir}", "nope", "4", "0", "{out}"],
     "sample: error: PROGRAM: the export has no program 'nope' (no '{dir}/nope.program.txt'); "
     "it has "),
    (["{dir}", "inpaint", "4", "0", "{out}"],
     "sample: error: PROGRAM: program inpaint needs the inputs y, mask (it inpaints); this "
     "example loops sample programs, which have none"),
    (["{dir}", "sample", "0", "0", "{out}"],
     f"sample: error: NUM_SAMPLES: '0' is not an integer >= 1 ({USAGE})"),
    (["{dir}", "sample", "4", "x", "{out}"],
     f"sample: error: SEED: 'x' is not an integer ({USAGE})"),
    (["{dir}", "sample", "4"], f"sample: error: arguments: expected 5 arguments, got 3 ({USAGE})"),
    (["--steps=3", "{dir}", "sample", "4", "0", "{out}"],
     f"sample: error: arguments: unknown option '--steps=3' ({USAGE})"),
    (["--x0={dir}/golden/level.int32.bin", "{dir}", "sample", "4", "0", "{out}"],
     "sample: error: --x0: '{dir}/golden/level.int32.bin' has 80 bytes; 4 samples of 2 "
     "float32 need 32"),
    (["{dir}", "broken", "4", "0", "{out}"],
     "sample: error: cannot read the program: '{dir}/broken.program.txt' line 1: not `format "
     "tfncsn.program/1`; export again with this tfncsn"),
    (["{dir}", "short", "4", "0", "{out}"],
     "sample: error: cannot read the program: '{dir}/short.program.txt' line 8: 'prior' lacks "
     "a value; export again with this tfncsn"),
], ids=["unknown", "inpaint", "zero", "seed", "count", "option", "x0", "format", "short"])
def test_bad_arguments_are_one_line(sample, toy_export, tmp_path, args, message):
    copy = broken_copy(toy_export, tmp_path)
    text = (copy / "sample.program.txt").read_text()
    (copy / "broken.program.txt").write_text(text.replace("tfncsn.program/1", "tfncsn.program/0"))
    (copy / "short.program.txt").write_text(text.replace("prior uniform -8.0 8.0", "prior"))
    out = tmp_path / "out.npy"
    proc = run_sample(sample, *(a.format(dir=copy, out=out) for a in args))
    assert proc.returncode == 2 and proc.stdout == "", proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message.format(dir=copy)), proc.stderr
    assert not out.exists()
