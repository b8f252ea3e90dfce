"""Issue 32.6: the paper's Fig. 2 (section 3.2.1), the data score against the estimated score on
the 2-D toy, red where they disagree: `tfncsn.figures.score_panels` and `tfncsn figure2`."""

import re

import numpy as np
import pytest
from PIL import Image

from conftest import error_line, run_cli
from tfncsn import figures
from tfncsn.cli.figure2 import check_dataset
from tfncsn.config import ConfigError
from tfncsn.gaussian_mixture import GaussianMixture, paper_toy

TOY = "--flagfile=configs/toy.cfg"
BOX = (-8.0, 8.0)
N = 80
SIZE = 400  # score_panels' default panel side.


def scores(mixture, n=N):
    points = figures.score_grid(BOX, n).reshape(-1, 2).astype(np.float32)
    return mixture.score(points, 0.0).numpy().reshape(n, n, 2).astype(np.float64)


def pixel(x, y, panel=0):
    """The pixel of point (x, y) in `panel` of score_panels' image."""
    u, v = (x - BOX[0]) / (BOX[1] - BOX[0]), (BOX[1] - y) / (BOX[1] - BOX[0])
    return int(panel * SIZE + u * (SIZE - 1)), int(figures.TITLE + v * (SIZE - 1))


def reddish(rgb):
    r, g, b = (int(c) for c in rgb)
    return r > g + 40 and r > b + 40


def test_the_grid_and_the_log_density_integrated_from_the_score():
    grid = figures.score_grid(BOX, 4)
    assert grid[0, 0].tolist() == [-6.0, 6.0] and grid[-1, -1].tolist() == [6.0, -6.0]
    toy = paper_toy()
    log_p = figures.log_density_from_score(scores(toy), BOX)
    exact = toy.log_prob(figures.score_grid(BOX, N).reshape(-1, 2)).numpy().reshape(N, N)
    np.testing.assert_allclose(log_p - log_p.max(), exact - exact.max(), atol=0.1)


def test_exact_against_exact_shades_nothing():
    data = scores(paper_toy())
    log_p = figures.log_density_from_score(data, BOX)
    comparison = figures.compare_scores(log_p, data, data)
    assert not comparison.disagree.any()
    assert (comparison.high_share, comparison.low_share, comparison.mass_share) == (0, 0, 0)
    image = np.asarray(figures.score_panels(BOX, log_p, data, data))
    assert image.shape == (SIZE + figures.TITLE + 18, 2 * SIZE, 3)
    body = image[figures.TITLE + 2:figures.TITLE + SIZE - 2]
    assert not np.any((body[..., 0].astype(int) > body[..., 1].astype(int) + 40))


def test_a_wrong_score_is_shaded_where_it_is_wrong_and_only_there():
    """The toy's weights swapped (4/5 at (-5,-5)): near each mode the nearer component
    decides the score, so the two agree; they differ where the decision between the modes
    moves, in the low-density band around the anti-diagonal through the origin."""
    toy = paper_toy()
    swapped = GaussianMixture([0.8, 0.2], toy.means, toy.std)
    data, wrong = scores(toy), scores(swapped)
    log_p = figures.log_density_from_score(data, BOX)
    comparison = figures.compare_scores(log_p, data, wrong)
    assert comparison.high_share == 0.0 and comparison.mass_share < 1e-3
    assert comparison.low_share > 0.01
    centre = figures.score_grid(BOX, N)[N // 2, N // 2]
    assert np.abs(centre).max() < 0.2 and comparison.disagree[N // 2, N // 2]
    assert "of the high-density region (99% of the mass)" in comparison.summary()
    image = figures.score_panels(BOX, log_p, data, wrong)
    for panel in (0, 1):
        near_origin = [image.getpixel(pixel(x, y, panel)) for x, y in
                       [(0.3, -0.3), (-0.3, 0.3), (0.6, -0.6)]]
        assert any(reddish(rgb) for rgb in near_origin), near_origin
        for mode in toy.means:  # Gray (and black arrows) at the modes: agreement.
            x, y = pixel(*(mode + 0.5), panel)
            assert not any(reddish(image.getpixel((x + dx, y + dy)))
                           for dx in range(-8, 9, 4) for dy in range(-8, 9, 4))


class _Flat:
    element_shape = (2,)


def test_the_dataset_must_be_2d_with_an_exact_score():
    with pytest.raises(ConfigError, match="has no exact_score"):
        check_dataset(_Flat(), "flat")


def shares(stdout):
    match = re.search(r"on ([\d.]+)% of the high-density region \(99% of the mass\) and "
                      r"([\d.]+)% of the rest", stdout)
    assert match, stdout
    return float(match.group(1)), float(match.group(2))


def test_figure2_with_the_exact_score(tmp_path):
    output = tmp_path / "out" / "fig2.png"
    proc = run_cli("figure2", TOY, "--score=exact", f"--output={output}")
    assert proc.stdout.startswith(f"wrote {output} (exact score at sigma_L = 1, 80x80 grid")
    assert shares(proc.stdout) == (0.0, 0.0)
    assert Image.open(output).size == (2 * SIZE, SIZE + figures.TITLE + 18)


def test_figure2_of_a_briefly_trained_toy_errs_where_the_density_is_low(tmp_path):
    """Paper section 3.2.1: the score is learned where the data is; elsewhere it is not."""
    workdir, output = tmp_path / "toy", tmp_path / "fig2.png"
    run_cli("train", TOY, "--steps=2000", "--ema_decay=0.99", "--log_every=1000",
            f"--workdir={workdir}")
    proc = run_cli("figure2", f"--workdir={workdir}", f"--output={output}")
    assert "(model at step 2000 at sigma_L = 1, " in proc.stdout
    high, low = shares(proc.stdout)
    assert high < 5.0 and low > high + 10.0, proc.stdout
    assert output.exists()


@pytest.mark.parametrize("args, expected", [
    (["--dataset=digits", "--score=exact", "--output={tmp}/f.png"],
     "figure2 draws the scores of 2-D data; dataset 'digits' has examples of shape (8, 8, 1)"),
    ([TOY, "--score=exact", "--output={tmp}/f.jpg"], "--output must end in .png"),
    ([TOY, "--output=/proc/f.png"], "--output '/proc/f.png': cannot create files"),
])
def test_bad_input_gives_one_line(tmp_path, args, expected):
    proc = run_cli("figure2", *[a.replace("{tmp}", str(tmp_path)) for a in args], check=False)
    assert expected in error_line(proc)
    assert not (tmp_path / "f.png").exists()
