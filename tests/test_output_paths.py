"""Issue 31.5: an output that cannot be written ends, before any work, in one line naming
its flag, and a failed command leaves the file system as it found it. The reader
(tfncsn_runtime) and the CLI share one check (tfncsn_runtime.output_paths.check_output)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from conftest import error_line, run_cli
from tfncsn_runtime import output_paths

RUNTIME = [sys.executable, "-m", "tfncsn_runtime"]  # The reader's command line.
TOY = ("--flagfile=configs/toy.cfg", "--score=exact", "--num_samples=4")

# (output, what the line says); {tmp} is a folder holding a file named "file".
BAD_FILES = [
    ("/proc/o.npy", "cannot create files in folder '/proc'"),  # os.access passes as root.
    ("{tmp}", "is a directory; give a file name ending in"),
    ("{tmp}/s.txt", "--output must end in"),
    ("{tmp}/file/new/s.npy", "cannot be created: '{tmp}/file' is a file, not a directory"),
]


@pytest.fixture
def place(tmp_path):
    """A folder holding a file, to compare with afterwards."""
    (tmp_path / "file").write_text("kept\n")
    return tmp_path


def snapshot(root):
    return sorted((str(p.relative_to(root)), p.is_dir()) for p in root.rglob("*"))


def filled(text, place):
    return text.replace("{tmp}", str(place))


def assert_unchanged(place, before):
    assert snapshot(place) == before
    assert (place / "file").read_text() == "kept\n"


@pytest.mark.parametrize("output, expected", BAD_FILES)
def test_the_reader_refuses_before_reading_the_export(place, output, expected):
    before = snapshot(place)
    # The export does not exist: the line is about --output, so that was checked first.
    proc = subprocess.run([*RUNTIME, f"--model={place / 'none'}",
                           f"--output={filled(output, place)}"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("onnx_sample: error: --output")
    assert filled(expected, place) in proc.stderr
    assert_unchanged(place, before)


@pytest.mark.parametrize("output, expected", BAD_FILES)
def test_sample_refuses_before_sampling(place, output, expected):
    before = snapshot(place)
    proc = run_cli("sample", *TOY, f"--output={filled(output, place)}", check=False)
    line = error_line(proc)
    assert line.startswith("tfncsn sample: error: --output") and filled(expected, place) in line
    assert "step/s" not in proc.stderr  # No sampler ran.
    assert_unchanged(place, before)


@pytest.mark.parametrize("args, expected", [
    (["export", "--workdir={tmp}", "--output=/proc/e"], "--output '/proc/e': cannot create"),
    (["export", "--workdir={tmp}", "--output={tmp}/file"], "is a file, not a directory"),
    (["export", "--workdir={tmp}", "--output={tmp}"], "is not an empty directory"),
    (["export", "--workdir={tmp}", "--output={tmp}/file/e"], "cannot be created"),
    (["train", *TOY[:1], "--workdir=/proc/w"], "--workdir '/proc/w': cannot create files"),
    (["evaluate", "--output={tmp}/file/e.json"], "--output '{tmp}/file/e.json' cannot be"),
    (["bench", "--output=/proc/b.json"], "--output '/proc/b.json': cannot create files"),
    (["figure3", *TOY, "--output={tmp}"], "is a directory; give a file name ending in .png"),
    (["inpaint", *TOY[:2], "--output=/proc/i.png"], "--output '/proc/i.png': cannot create files"),
])
def test_every_command_checks_its_output_first(place, args, expected):
    """export's --workdir holds no run: the line is about --output, so that came first."""
    before = snapshot(place)
    proc = run_cli(*[filled(a, place) for a in args], check=False)
    assert filled(expected, place) in error_line(proc)
    assert_unchanged(place, before)


def test_missing_folders_are_made_when_the_samples_are_written(tmp_path):
    output = tmp_path / "new" / "deeper" / "s.npy"
    run_cli("sample", *TOY, f"--output={output}")
    assert np.load(output).shape == (4, 2)


def test_output_folders_are_removed_when_the_writing_fails(tmp_path):
    (tmp_path / "kept").mkdir()
    with pytest.raises(OSError):
        with output_paths.output_folders(str(tmp_path / "kept" / "a" / "b" / "s.npy")):
            assert (tmp_path / "kept" / "a" / "b").is_dir()
            raise OSError("disk full")
    assert snapshot(tmp_path) == [("kept", True)]


def test_an_existing_file_that_cannot_be_written_is_named(tmp_path, monkeypatch):
    """Root writes any file, so the refusal is simulated."""
    (tmp_path / "s.npy").write_bytes(b"")
    monkeypatch.setattr(output_paths.os, "access", lambda path, mode: False)
    with pytest.raises(output_paths.OutputPathError, match="the file exists and cannot be written"):
        output_paths.check_output(str(tmp_path / "s.npy"))


def test_the_extensions_read_as_a_list():
    assert output_paths.either((".png",)) == ".png"
    assert output_paths.either((".npy", ".npz", ".png")) == ".npy, .npz or .png"
