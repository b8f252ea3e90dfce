"""A plugin's mistakes end in one line naming the plugin and its package, before any work.

The four mistakes of a plugin author (an unknown option, an option of the wrong type, a
schedule that is not strictly decreasing, a step returning the wrong shape) under `tfncsn
sample` and `tfncsn export`; `tfncsn plugins --load` flags the last two.
"""

import json
import shutil

import pytest

from conftest import error_line, run_cli, run_cli_each, write_distribution

PACKAGE = "tfncsn-mistakes"
ORIGIN = f"(package {PACKAGE} 0.3.0)"
MODULE = '''
import tensorflow as tf
from tfncsn_plugins.samplers import AnnealedLangevin


class WrongShape(AnnealedLangevin):
    """Returns x with one coordinate where the toy has two."""

    def step(self, score_fn, state, k, noise):
        new = super().step(score_fn, state, k, noise)
        return {**new, "x": new["x"][:, :1]}


def increasing(sigma_max, sigma_min, num_levels):
    """The levels in the wrong order."""
    return tf.linspace(float(sigma_min), float(sigma_max), num_levels)
'''
MISTAKES = {
    "unknown option": (["--sampler_options=bogus=1"],
                       ["sampler 'annealed_langevin' (package tfncsn ", ") has no option bogus"]),
    "wrong option type": (["--sampler_options=eps=abc"],
                          ["sampler 'annealed_langevin' (package tfncsn ",
                           "): option eps must be a number, got 'abc'"]),
    "wrong step shape": (["--sampler=wrong_shape"],
                         [f"sampler 'wrong_shape' {ORIGIN}: step returned x of shape [N, 1], "
                          "expected [N, 2]"]),
}
SCHEDULE_BROKEN = [f"sigma schedule plugin 'increasing' from '{PACKAGE} 0.3.0' "
                   "(tfncsn_mistakes:increasing) breaks the contract: with sigma_max=20, "
                   "sigma_min=1, num_levels=10: sigmas must be strictly decreasing"]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return str(write_distribution(
        tmp_path_factory.mktemp("site"), PACKAGE, "0.3.0",
        {"tfncsn.samplers": {"wrong_shape": "tfncsn_mistakes:WrongShape"},
         "tfncsn.sigma_schedules": {"increasing": "tfncsn_mistakes:increasing"}},
        {"tfncsn_mistakes.py": MODULE}))


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("run") / "toy"
    run_cli("train", "--flagfile=configs/toy.cfg", "--steps=10", "--log_every=10",
            f"--workdir={workdir}")
    return workdir


def assert_one_line_before_work(proc, expected, output):
    line = error_line(proc)
    assert all(part in line for part in expected), line
    assert "progress" not in proc.stderr.lower() and "%|" not in proc.stderr  # No bar started.
    assert not output.exists()


def commands(root, toy_run) -> dict[tuple[str, str], tuple[list[str], list[str], object]]:
    """{(command, mistake): (its arguments, the parts of its error line, what it must not
    write)} for `tfncsn sample`, `export` and `train` with each plugin mistake."""
    cases = {}
    for mistake, (flags, expected) in {**MISTAKES, "decreasing schedule": (
            ["--sigma_schedule=increasing"], SCHEDULE_BROKEN)}.items():
        folder = root / mistake.replace(" ", "_")
        cases["sample", mistake] = (
            ["sample", "--flagfile=configs/toy.cfg", "--score=exact", "--num_samples=8",
             f"--output={folder / 'x.npy'}", *flags], expected, folder / "x.npy")
        if mistake in MISTAKES:
            cases["export", mistake] = (
                ["export", f"--workdir={toy_run}", f"--output={folder / 'export'}", *flags],
                expected, folder / "export")
            cases["train", mistake] = (
                ["train", "--flagfile=configs/toy.cfg", "--steps=10",
                 f"--workdir={folder / 'run'}", *flags], expected, folder / "run")
    return cases


@pytest.fixture(scope="module")
def runs(site, toy_run, tmp_path_factory):
    """Every case of `commands`, all in one process."""
    cases = commands(tmp_path_factory.mktemp("mistakes"), toy_run)
    for _, _, output in cases.values():
        output.parent.mkdir(exist_ok=True)
    procs = run_cli_each(*[args for args, _, _ in cases.values()], extra_path=[site])
    return {key: (proc, *cases[key][1:]) for key, proc in zip(cases, procs)}


@pytest.mark.parametrize("mistake", [*sorted(MISTAKES), "decreasing schedule"])
def test_sample_stops_at_a_plugin_mistake_with_one_line(mistake, runs):
    assert_one_line_before_work(*runs["sample", mistake])


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_export_stops_at_a_plugin_mistake_with_one_line(mistake, runs):
    assert_one_line_before_work(*runs["export", mistake])


def test_export_stops_at_a_run_whose_schedule_broke_with_one_line(site, toy_run, tmp_path):
    """A run trained with a schedule whose package was later changed: its config names it."""
    workdir = tmp_path / "run"
    shutil.copytree(toy_run, workdir)
    config_file = workdir / "config.json"
    config = json.loads(config_file.read_text())
    config["sigmas"]["sigma_schedule"] = "increasing"
    config_file.write_text(json.dumps(config))
    before = sorted(p.relative_to(workdir) for p in workdir.rglob("*"))
    output = tmp_path / "export"
    proc = run_cli("export", f"--workdir={workdir}", f"--output={output}", extra_path=[site],
                   check=False)
    assert_one_line_before_work(proc, SCHEDULE_BROKEN, output)
    assert sorted(p.relative_to(workdir) for p in workdir.rglob("*")) == before


def test_plugins_load_flags_the_broken_schedule_and_step_and_passes_the_rest(site):
    proc = run_cli("plugins", "--load", extra_path=[site], check=False)
    rows = {line.split()[0]: line for line in proc.stdout.splitlines() if line.startswith("  ")}
    assert SCHEDULE_BROKEN[0] in rows["increasing"]
    assert rows["wrong_shape"].endswith("fails its trial run: sampler 'wrong_shape': step "
                                        "returned x of shape [N, 1], expected [N, 2]]")
    for name in ("geometric", "linear", "annealed_langevin", "langevin", "pc", "ode"):
        assert rows[name].endswith("[ok]"), rows[name]
    assert "2 broken plugin(s)" in error_line(proc)


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_train_stops_at_a_sampler_mistake_before_training(mistake, runs):
    """The run's sampler draws its snapshots and every later sample: checked before step 1."""
    assert_one_line_before_work(*runs["train", mistake])
