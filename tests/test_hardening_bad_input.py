"""Issue 10.7: a failed command ends with one line naming the input and the fix, and a
command that fails changes nothing."""

import hashlib
from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from conftest import error_line, run_cli
from tfncsn.cli import main
from tfncsn.data.errors import DataError, explained
from tfncsn_plugins.datasets.image_folder import ImageFolder

TOY = "--flagfile=configs/toy.cfg"


def last_line(proc):
    """The last stderr line, which must also be the command's only error line."""
    line = proc.stderr.strip().splitlines()[-1]
    assert line == error_line(proc), proc.stderr[-2000:]
    return line


def tree_digest(root):
    """{relative path: sha256} of every file under `root`."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def image_folder(root, count=6):
    root.mkdir()
    for i in range(count):
        pixels = np.random.default_rng(i).integers(0, 256, (10, 10, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / f"image{i}.png")
    return root


@pytest.mark.parametrize("flag, expected", [
    ("--no_such_flag=1", "unknown flag --no_such_flag; `tfncsn train --help` lists its flags"),
    ("--num_completions=2", "--num_completions is not a flag of `tfncsn train`, which would "
                            "ignore it (`tfncsn inpaint` reads it); `tfncsn train --help` lists "
                            "its flags"),
    ("--noverify", "--verify is not a flag of `tfncsn train`, which would ignore it (`tfncsn "
                   "export` reads it)"),
    ("--num_samples=3", "(`tfncsn sample`, `tfncsn figure3` and `tfncsn evaluate` read it)"),
    ("--stps=3", "unknown flag --stps; did you mean --steps?"),
    ("--steps=abc", "flag --steps=abc: invalid literal for int() with base 10: 'abc'; give "
                    "--steps an integer"),
    ("--flagfile=configs/nope.cfg", "Unable to open flagfile"),
])
def test_a_flag_error_is_the_last_line(tmp_path, flag, expected):
    proc = run_cli("train", flag, f"--workdir={tmp_path / 'w'}", check=False)
    line = last_line(proc)
    assert line.startswith("tfncsn train: error: ") and expected in line
    assert "helpshort" not in proc.stderr
    assert not (tmp_path / "w").exists()


def test_a_workdir_that_is_a_file_or_under_one_is_named(tmp_path):
    taken = tmp_path / "taken"
    taken.write_text("not a directory\n")
    line = last_line(run_cli("train", TOY, f"--workdir={taken}", check=False))
    assert f"--workdir '{taken}' is a file, not a directory" in line
    line = last_line(run_cli("train", TOY, f"--workdir={taken / 'run'}", check=False))
    assert f"--workdir '{taken / 'run'}' cannot be created: '{taken}' is a file" in line
    assert taken.read_text() == "not a directory\n"


def test_resuming_onto_a_corrupt_checkpoint_changes_nothing(tmp_path):
    """The issue's case: other --steps and a broken checkpoint; config.json kept its steps."""
    workdir = tmp_path / "run"
    run_cli("train", TOY, "--steps=20", "--log_every=10", f"--workdir={workdir}")
    data = next((workdir / "checkpoints").glob("ckpt-20.data-*"))
    data.write_bytes(b"\x00" * 64)
    before = tree_digest(workdir)
    line = last_line(run_cli("train", f"--workdir={workdir}", "--steps=40", check=False))
    assert "ckpt-20' cannot be restored" in line and "use a new --workdir" in line
    assert tree_digest(workdir) == before
    assert '"steps": 20' in (workdir / "config.json").read_text()


def test_a_corrupt_png_in_an_image_folder_is_named(tmp_path):
    folder = image_folder(tmp_path / "images")
    good = (folder / "image3.png").read_bytes()
    (folder / "image3.png").write_bytes(good[:len(good) // 2])  # An interrupted copy.
    proc = run_cli("train", "--dataset=image_folder", f"--data_dir={folder}",
                   "--dataset_options=image_size=8", "--dataset_options=test_fraction=0",
                   "--model=mlp", "--batch_size=4", "--steps=2", f"--workdir={tmp_path / 'w'}",
                   check=False)
    line = last_line(proc)
    assert f"image_folder: {folder / 'image3.png'} is not a readable image (Invalid PNG data" in line
    assert "replace or delete it" in line and "Graph execution error" not in line


def test_image_folder_names_every_unreadable_file_and_only_those(tmp_path):
    folder = image_folder(tmp_path / "images")
    (folder / "image1.png").write_bytes(b"<html>not an image</html>")
    (folder / "sub").mkdir()
    (folder / "sub" / "empty.jpg").write_bytes(b"")
    dataset = ImageFolder(str(folder), image_size=8, test_fraction=0)
    bad = dict(dataset.unreadable_files())
    assert sorted(bad) == [str(folder / "image1.png"), str(folder / "sub" / "empty.jpg")]
    assert "Unknown image file format" in bad[str(folder / "image1.png")]
    with pytest.raises(DataError, match=r"image1\.png is not a readable image .*\(and 1 more\)"):
        with explained(dataset):
            list(dataset.load("train").as_numpy_iterator())
    # An error that is not about decoding is left as it is.
    with pytest.raises(tf.errors.InvalidArgumentError):
        with explained(dataset):
            tf.debugging.assert_equal(1, 2, message="unrelated")


def test_a_tensorflow_runtime_error_is_reported_by_its_cause():
    """Errors no dataset explains still end with what failed, not "Graph execution error"."""
    iterator = iter(tf.data.Dataset.from_tensor_slices([b"junk"]).map(tf.io.decode_png))

    @tf.function
    def step():
        return next(iterator)

    with pytest.raises(tf.errors.InvalidArgumentError) as caught:
        step()
    assert str(caught.value).startswith("Graph execution error")
    assert main._first_line(caught.value).startswith("Unknown image file format")


def test_an_error_raised_while_tracing_is_reported_by_its_message():
    """AutoGraph re-raises an error of traced code as "in user code:" and a stack; the line
    users see is the original message (once, without repeating the type's name)."""

    @tf.function
    def step(x):
        return x + "text"

    with pytest.raises(TypeError) as caught:
        step(tf.constant(1.0))
    assert str(caught.value).startswith("in user code:")
    first = main._first_line(caught.value)
    assert first and "in user code" not in first and not first.startswith("TypeError")
    assert first == str(caught.value).strip().splitlines()[-1].strip().removeprefix("TypeError: ")


def test_an_os_error_on_a_flags_path_names_the_flag(tmp_path):
    taken = tmp_path / "taken"
    taken.write_text("a file\n")
    proc = run_cli("sample", TOY, "--score=exact", "--num_samples=4",
                   f"--output={taken / 'samples.npy'}", check=False)
    line = last_line(proc)  # Checked before any work (tests/test_output_paths.py).
    assert f"--output '{taken / 'samples.npy'}' cannot be created: '{taken}' is a file" in line
    assert "Errno" not in line
    error = FileNotFoundError(2, "No such file or directory", str(tmp_path / "gone" / "x"))
    flag_values = {"data_dir": SimpleNamespace(value=str(tmp_path / "gone")),
                   "output": SimpleNamespace(value=None)}
    assert main._os_error_line(error, flag_values) == (
        f"--data_dir={tmp_path / 'gone'}: no such file or directory "
        f"('{tmp_path / 'gone' / 'x'}'); check the path")
