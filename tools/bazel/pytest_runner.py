"""Main of every Bazel py_test: runs pytest on the test files given as arguments.

Bazel starts tests in the runfiles copy of the repository root, so the repo's
pyproject.toml is the pytest config here just as in a plain `pytest` run (its
addopts keep `-m 'not slow'`). Results go to Bazel's XML_OUTPUT_FILE, and
`bazel test --test_filter=EXPR` becomes `pytest -k EXPR`. Exit code 5 (no test
collected) counts as a failure, since a test target that runs nothing is a bug,
unless tests were collected and all deselected (e.g. a file of `slow` tests).
Bazel 4 leaves HOME unset (so `~` is the real, read-only home in the sandbox);
like newer Bazels, point it at the test's private TEST_TMPDIR.
"""

import os
import sys

import pytest


class _CountDeselected:
    """pytest plugin: counts tests dropped by -m / -k."""

    deselected = 0

    def pytest_deselected(self, items):
        self.deselected += len(items)


def main(test_files):
    if not test_files:
        sys.exit("usage: pytest_runner.py TEST_FILE...")
    if "HOME" not in os.environ and os.environ.get("TEST_TMPDIR"):
        os.environ["HOME"] = os.environ["TEST_TMPDIR"]
    # One file per Bazel target: no xdist workers (Bazel runs targets in parallel itself).
    args = list(test_files) + ["-c", "pyproject.toml", "--rootdir", ".", "-p", "no:cacheprovider",
                               "-n", "0"]
    if os.environ.get("XML_OUTPUT_FILE"):
        args += ["--junitxml", os.environ["XML_OUTPUT_FILE"]]
    if os.environ.get("TESTBRIDGE_TEST_ONLY"):
        args += ["-k", os.environ["TESTBRIDGE_TEST_ONLY"]]
    counter = _CountDeselected()
    code = pytest.main(args, plugins=[counter])
    if code == pytest.ExitCode.NO_TESTS_COLLECTED and counter.deselected:
        print(f"pytest_runner: all {counter.deselected} tests deselected (-m/-k); passing")
        return 0
    if code == pytest.ExitCode.NO_TESTS_COLLECTED:
        print(f"pytest_runner: no test collected from {' '.join(test_files)}", file=sys.stderr)
        return 1
    return int(code)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
