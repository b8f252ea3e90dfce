"""Shared test helpers: running the CLI in a subprocess, quiet TensorFlow."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# pytest-xdist's workers are each a TensorFlow process whose thread pool would take every core;
# two workers on two cores would then run four threads. Each worker, and the CLI children it
# starts (cli_env copies the environment), gets its share of the cores instead.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(max(1, (os.cpu_count() or 1) // _WORKERS)))

REPO = Path(__file__).absolute().parent.parent  # Not resolve(): under Bazel, stay in its copy.


def cli_env(extra_path: list[str] | None = None) -> dict[str, str]:
    """The environment of a `python -m tfncsn` child: this interpreter's import path."""
    env = dict(os.environ)
    paths = [*(extra_path or []), *[p for p in sys.path if p]]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env.pop("TF_CONFIG", None)
    return env


def run_cli(*args: str, extra_path: list[str] | None = None, check: bool = True,
            timeout: float = 600) -> subprocess.CompletedProcess:
    """Runs `tfncsn ARGS` as a user would (through `python -m tfncsn`) from the repo root."""
    proc = subprocess.run([sys.executable, "-m", "tfncsn", *args], cwd=REPO, text=True,
                          capture_output=True, env=cli_env(extra_path), timeout=timeout)
    return _succeeded(proc, f"tfncsn {' '.join(args)}") if check else proc


def _succeeded(proc: subprocess.CompletedProcess, what: str) -> subprocess.CompletedProcess:
    if proc.returncode != 0:
        raise AssertionError(f"{what} exited {proc.returncode}:\n"
                             f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr[-4000:]}")
    return proc


# `tfncsn` commands one after another in one process, each as its own run would take it: the
# flags are reset before each (absl's unparse_flags), the command's module runs as
# `tfncsn.cli.main` runs it. A failing command ends the process as it would end its own.
_COMMANDS_CHILD = """
import json, sys
from absl import flags
import tfncsn.cli.flags
from tfncsn.cli import main
for argv in json.loads(sys.argv[1]):
    flags.FLAGS.unparse_flags()
    main.main(flags.FLAGS(["tfncsn", *argv]))
"""


def run_cli_commands(*commands: list[str], timeout: float = 600) -> subprocess.CompletedProcess:
    """`tfncsn ARGS` for each ARGS of `commands` in turn, in one process: for a fixture that
    runs a command many times, where a process each would spend most of its time starting
    Python and TensorFlow. Fails naming the commands if one fails."""
    proc = subprocess.run([sys.executable, "-c", _COMMANDS_CHILD, json.dumps(commands)],
                          cwd=REPO, text=True, capture_output=True, env=cli_env(),
                          timeout=timeout)
    return _succeeded(proc, f"tfncsn commands {commands}")


# `tfncsn` commands that may fail, one after another in one process, each from its own
# command line as `tfncsn.cli.main.run` parses it (a bad flag, a flag the command does not
# read) and with its own stdout, stderr and exit status. For the one-line errors of bad input,
# where starting Python and TensorFlow for each command would cost most of the time.
_EACH_CHILD = """
import contextlib, io, json, sys
from absl import flags
import tfncsn.cli.flags
from tfncsn.cli import main
results = []
for argv in json.loads(sys.argv[1]):
    flags.FLAGS.unparse_flags()
    out, err, code = io.StringIO(), io.StringIO(), 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main.main(main._parse_flags(["tfncsn", *argv]))
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else int(e.code is not None)
    results.append([code, out.getvalue(), err.getvalue()])
print(RESULTS + json.dumps(results))
"""
_RESULTS = "tfncsn-test-results:"


def run_cli_each(*commands: list[str], extra_path: list[str] | None = None,
                 timeout: float = 600) -> list[subprocess.CompletedProcess]:
    """The `CompletedProcess` of `tfncsn ARGS` for each ARGS of `commands`, all run in one
    process (see `_EACH_CHILD`)."""
    code = f"RESULTS = {_RESULTS!r}\n{_EACH_CHILD}"
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(commands)], cwd=REPO,
                          text=True, capture_output=True, env=cli_env(extra_path),
                          timeout=timeout)
    printed = [line for line in proc.stdout.splitlines() if line.startswith(_RESULTS)]
    assert proc.returncode == 0 and printed, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return [subprocess.CompletedProcess(["tfncsn", *args], code, out, err)
            for args, (code, out, err) in zip(commands, json.loads(printed[-1][len(_RESULTS):]))]


def frameworks_imported_by(code: str) -> list[str]:
    """The tensorflow and keras modules a fresh interpreter has loaded after running `code`."""
    probe = (f"{code}\nimport sys\nprint(sorted(m for m in sys.modules "
             "if m.split('.')[0] in ('tensorflow', 'keras')))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, cwd=REPO, env=cli_env()).stdout.strip()
    return eval(out)  # noqa: S307 -- a list of module names printed just above.


def error_line(proc: subprocess.CompletedProcess) -> str:
    """The one line a failed command printed; fails if it printed a traceback."""
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [l for l in proc.stderr.splitlines() if l.startswith("tfncsn")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.fixture
def cli():
    return run_cli


# A tiny CondRefineNetDilated with the reference step convention, as `digits_run` trains it.
TINY_REFINENET = ["--model=refinenet", "--model_options=ngf=8", "--batch_size=16",
                  "--log_every=10", "--step_convention=reference"]
DIGITS_STEPS = 60


def shared_folder(tmp_path_factory) -> Path:
    """A folder every pytest-xdist worker of this test run sees: their temp folders' parent."""
    root = tmp_path_factory.getbasetemp()
    return root.parent if os.environ.get("PYTEST_XDIST_WORKER") else root


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory) -> Path:
    """A tiny CondRefineNetDilated (`TINY_REFINENET`) trained 60 steps on scikit-learn's 8x8
    digits, once per test run: the first worker to ask trains it under a lock, the others wait
    and reuse it. Tests only read it (sampling, inpainting, evaluation and export take their
    settings as flags and write elsewhere); a test file may define its own `digits_run`."""
    root = shared_folder(tmp_path_factory)
    folder = root / "shared_digits"
    with open(root / "shared_digits.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # Released when the file is closed.
        if not (folder / "trained").exists():
            shutil.rmtree(folder, ignore_errors=True)  # What a failed attempt left.
            run_cli("train", "--dataset=digits", *TINY_REFINENET, f"--steps={DIGITS_STEPS}",
                    f"--workdir={folder / 'run'}")
            (folder / "trained").touch()
    return folder / "run"


def write_distribution(root: Path, name: str, version: str,
                       entry_points: dict[str, dict[str, str]],
                       modules: dict[str, str] | None = None) -> Path:
    """Makes `root` look like site-packages holding distribution `name`.

    Writes `<name>-<version>.dist-info` (METADATA, entry_points.txt) and the given
    module files, so `importlib.metadata` finds the plugins once `root` is on sys.path.
    """
    root.mkdir(parents=True, exist_ok=True)
    dist_info = root / f"{name.replace('-', '_')}-{version}.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    lines = []
    for group, plugins in entry_points.items():
        lines.append(f"[{group}]")
        lines.extend(f"{plugin} = {target}" for plugin, target in plugins.items())
    (dist_info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    for filename, source in (modules or {}).items():
        path = root / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    return root
