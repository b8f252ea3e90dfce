"""The browser page export/js/web/ in Debian's headless Chromium (driven by playwright-core).

One image export per module: the MLP score network on the 8x8 digits (it flattens
any element shape), trained for 300 steps (its samples only need to be drawn, and
its score computed as Keras computes it; a CondRefineNet's first training step
alone takes a minute here) and exported with 2 steps per level and the denoising
step, so inpainting ends with the known pixels exactly, and two extra sample programs
for the page's program select. The page and the export are
served by Python's http.server (as `python3 -m http.server` serves them to a user);
export/js/test-browser/page.test.js drives the page and keeps two screenshots in the
test's tmp_path (and in $TFNCSN_ARTIFACTS when set); the test prints their paths.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import subprocess
import threading

import pytest

from conftest import run_cli
from runtime_helpers import JS, missing, node_or_skip

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# Beside `sample` (annealed Langevin, 10 levels x 2 steps + denoising: 21 score evaluations):
# the ODE (9 Heun steps + Tweedie: 19, the page's first choice, about 20) and plain Langevin
# (6 steps: 6, which the test chooses).
EXTRA = ("ode", "langevin:steps_per_level=6")
FIRST, OTHER = "sample_ode_19", "sample_langevin_6"


def chromium_or_skip() -> str:
    if not os.path.exists(CHROMIUM):
        missing(f"{CHROMIUM} is missing (apt-get install chromium)")
    return CHROMIUM


@pytest.fixture(scope="module")
def digits_export(tmp_path_factory):
    node_or_skip("playwright-core")
    chromium_or_skip()
    root = tmp_path_factory.mktemp("page_digits")
    run_cli("train", "--dataset=digits", "--model=mlp", "--model_options=hidden_units=[64,64]",
            "--batch_size=32", "--steps=300", "--log_every=100", f"--workdir={root / 'run'}")
    run_cli("export", f"--workdir={root / 'run'}", f"--output={root / 'export'}",
            "--steps_per_level=2", "--denoise", *(f"--extra_samplers={s}" for s in EXTRA))
    return root / "export"


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def served(digits_export, tmp_path_factory):
    """http://127.0.0.1:PORT/ serving js/ (with its node_modules) and the export."""
    root = tmp_path_factory.mktemp("page_site")
    (root / "js").symlink_to(JS, target_is_directory=True)
    (root / "export").symlink_to(digits_export, target_is_directory=True)
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_page_samples_inpaints_and_passes_the_golden_check(served, tmp_path):
    node = node_or_skip("playwright-core")
    url = f"{served}/js/web/?export=/export/&n=16&batch=16&seed=0"
    env = dict(os.environ, TFNCSN_PAGE_URL=url, TFNCSN_SCREENSHOTS=str(tmp_path),
               CHROMIUM=chromium_or_skip(), TFNCSN_PAGE_DEFAULT_PROGRAM=FIRST,
               TFNCSN_PAGE_OTHER_PROGRAM=OTHER)
    proc = subprocess.run([node, "--test", "--test-reporter=tap", "test-browser/"], cwd=JS,
                          env=env, capture_output=True, text=True, timeout=600)
    print(proc.stdout[-4000:])
    counts = dict(re.findall(r"^# (tests|pass|fail|skipped) (\d+)$", proc.stdout, re.M))
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    assert counts.get("fail") == "0" and counts.get("skipped") == "0", counts
    assert int(counts["pass"]) == int(counts["tests"]) == 3, counts
    shots = sorted(tmp_path.glob("page-*.png"))
    assert [p.name for p in shots] == ["page-inpainted.png", "page-samples.png"]
    keep = os.environ.get("TFNCSN_ARTIFACTS")  # Also copied there (CI may keep that folder).
    for shot in shots:
        assert shot.stat().st_size > 5000, shot
        if keep:
            os.makedirs(keep, exist_ok=True)
            shutil.copy(shot, keep)
    print("screenshots of the page: " + ", ".join(
        str(os.path.join(keep, p.name) if keep else p) for p in shots))
