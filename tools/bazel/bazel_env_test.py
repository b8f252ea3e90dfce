"""Checks the Bazel test environment itself (run as //:bazel_env_test).

Under `bazel test` the packages must come from Bazel's runfiles (not from an
editable install in the venv), the generated dist-info must publish the same
entry points as pyproject.toml, and a child `python3` must see all of it too.
"""

import importlib.metadata
import os
import pathlib
import subprocess
import sys
import tomllib

import pytest

RUNFILES = os.environ.get("TEST_SRCDIR", "")
pytestmark = pytest.mark.skipif(not RUNFILES, reason="only meaningful under `bazel test`")


def _in_runfiles(path):
    return os.path.realpath(path).startswith(os.path.realpath(RUNFILES) + os.sep) or \
        os.path.abspath(path).startswith(os.path.abspath(RUNFILES) + os.sep)


def _declared_entry_points():
    project = tomllib.loads(pathlib.Path("pyproject.toml").read_text())["project"]
    groups = dict(project.get("entry-points", {}))
    if project.get("scripts"):
        groups["console_scripts"] = project["scripts"]
    return groups


def test_packages_come_from_runfiles():
    import tfncsn
    import tfncsn_plugins

    assert _in_runfiles(tfncsn.__file__), tfncsn.__file__
    assert _in_runfiles(tfncsn_plugins.__file__), tfncsn_plugins.__file__


def test_generated_dist_info_is_the_one_found():
    dist = importlib.metadata.distribution("tfncsn")
    folder = dist.locate_file("")
    assert _in_runfiles(folder), folder
    import tfncsn

    assert dist.version == tfncsn.__version__


def test_entry_points_match_pyproject():
    declared = _declared_entry_points()
    assert "geometric" in importlib.metadata.entry_points(group="tfncsn.sigma_schedules").names
    for group, entries in declared.items():
        found = {ep.name: ep.value for ep in importlib.metadata.entry_points(group=group)
                 if ep.dist is not None and ep.dist.name == "tfncsn"}
        assert found == entries, group


def test_builtin_plugins_load():
    entry_points = importlib.metadata.distribution("tfncsn").entry_points
    assert entry_points
    for ep in entry_points:
        if ep.group.startswith("tfncsn."):
            assert ep.load() is not None, ep


def test_child_python_sees_the_same():
    code = ("import importlib.metadata as m, tfncsn, tfncsn_plugins; "
            "print(sorted(m.entry_points(group='tfncsn.sigma_schedules').names)); "
            "print(m.distribution('tfncsn').locate_file(''))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                         cwd=os.environ.get("TEST_TMPDIR")).stdout.splitlines()
    assert "geometric" in out[0]
    assert _in_runfiles(out[1]), out[1]
