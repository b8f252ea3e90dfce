"""What the tests of the runtimes outside Python share: where the JS package is, and how a
missing tool skips (or, under CI, where .ci/run installs everything, fails)."""

from __future__ import annotations

import os
import shutil

import pytest

from conftest import REPO

JS = REPO / "export" / "js"


def missing(reason: str):
    """A skip, or a failure under CI."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; .ci/run must install it")
    pytest.skip(reason)


def node_or_skip(package: str) -> str:
    """The node executable, once export/js/node_modules holds `package`."""
    node = shutil.which("node") or missing("node is not installed (apt-get install nodejs npm)")
    if not (JS / "node_modules" / package).is_dir():
        missing("export/js/node_modules is missing: run `npm ci --ignore-scripts` in export/js/")
    return node
