"""The runtime reader ships in the wheel and imports without TensorFlow or tfncsn."""

import subprocess
import sys
import zipfile

import pytest

from conftest import REPO
from export_helpers import blocked_env


def test_the_wheel_holds_tfncsn_runtime_and_it_runs_without_tensorflow(tmp_path):
    source = tmp_path / "source"  # A copy of the tracked files: the build leaves the repo alone.
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                            cwd=REPO, capture_output=True, text=True)
    if listed.returncode != 0:
        pytest.skip("needs a git checkout to build the wheel from (not under Bazel)")
    files = listed.stdout.split()
    for name in files:
        if (REPO / name).is_file():
            target = source / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes((REPO / name).read_bytes())
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w",
                    str(tmp_path / "dist"), str(source)], check=True, capture_output=True,
                   timeout=600)
    (wheel,) = (tmp_path / "dist").glob("tfncsn-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        assert {f"tfncsn_runtime/{m}.py" for m in ("reader", "cli", "noise")} <= set(archive.namelist())
        archive.extractall(site)
    env = blocked_env(tmp_path)  # tensorflow, keras, tfncsn and tfncsn_plugins fail to import.
    env["PYTHONPATH"] = f"{env['PYTHONPATH']}:{site}"
    code = "import tfncsn_runtime.cli as m; print(m.__file__)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out.startswith(str(site)), out
    usage = subprocess.run([sys.executable, "-m", "tfncsn_runtime", "--help"], env=env,
                           capture_output=True, text=True, check=True).stdout
    assert "--model" in usage and "--num_samples" in usage
