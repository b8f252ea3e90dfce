"""export/c/golden_check.c: the golden pair checked through ONNX Runtime's C API alone.

Built with gcc against the shared library of the onnxruntime wheel and the C API
headers that export/c/get-headers.sh takes from the npm registry (ONNX Runtime
1.29's; .ci/run fetches them). One toy export per module: its score network only
needs to be computed identically by Keras and by ONNX Runtime, so 1 training step.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from pathlib import Path

import onnxruntime
import pytest

from conftest import REPO, run_cli
from runtime_helpers import missing

EXAMPLE = REPO / "export" / "c"
INCLUDE = Path(os.environ.get("TFNCSN_ORT_INCLUDE", EXAMPLE / "include"))


@pytest.fixture(scope="module")
def golden_check(tmp_path_factory):
    """The built program (its library found through an rpath to a soname link)."""
    gcc = shutil.which("gcc") or missing("gcc is not installed")
    if not (INCLUDE / "onnxruntime_c_api.h").is_file():
        missing(f"no ONNX Runtime headers in {INCLUDE}: run `bash export/c/get-headers.sh`")
    capi = Path(onnxruntime.__file__).parent / "capi"
    libraries = sorted(capi.glob("libonnxruntime.so.1.*"))
    if not libraries:
        missing(f"the onnxruntime wheel has no libonnxruntime.so.1.* in {capi}")
    build = tmp_path_factory.mktemp("c_build")
    (build / "libonnxruntime.so.1").symlink_to(libraries[0])
    program = build / "golden_check"
    proc = subprocess.run([gcc, "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", f"-I{INCLUDE}",
                           "-o", str(program), str(EXAMPLE / "golden_check.c"),
                           str(build / "libonnxruntime.so.1"), "-lm", f"-Wl,-rpath,{build}"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return program


@pytest.fixture(scope="module")
def toy_export(tmp_path_factory):
    root = tmp_path_factory.mktemp("c_toy")
    run_cli("train", "--flagfile=configs/toy.cfg", "--steps=1", f"--workdir={root / 'run'}")
    run_cli("export", f"--workdir={root / 'run'}", f"--output={root / 'export'}",
            "--steps_per_level=1")
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
