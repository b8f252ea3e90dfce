import importlib
import subprocess
import sys

import pytest

from conftest import REPO, cli_env, error_line, run_cli, write_distribution
from tfncsn.registry import (DuplicatePluginError, PluginLoadError, Registry,
                             UnknownPluginError)

GROUP = "tfncsn.test_only"


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A temporary site-packages directory on sys.path."""
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    yield tmp_path
    for name in [m for m in sys.modules if m.startswith("fake_plugin")]:
        del sys.modules[name]


def test_discovery_is_lazy_sorted_and_names_the_distribution(site):
    write_distribution(site, "fake-plugins", "1.2", {GROUP: {"zeta": "fake_plugin_a:VALUE",
                                                            "alpha": "fake_plugin_a:VALUE"}},
                       {"fake_plugin_a.py": "VALUE = 42\n"})
    reg = Registry(GROUP, "thing")
    assert reg.names() == ["alpha", "zeta"]
    assert "fake_plugin_a" not in sys.modules  # Listing imported nothing.
    assert reg.get("zeta") == 42
    info = reg.infos()[0]
    assert (info.distribution, info.version, info.shipped_by) == ("fake-plugins", "1.2",
                                                                  "fake-plugins 1.2")


def test_unknown_name_lists_the_available_ones(site):
    write_distribution(site, "fake-plugins", "1.0", {GROUP: {"b": "fake_plugin_b:X",
                                                            "a": "fake_plugin_b:X"}})
    with pytest.raises(UnknownPluginError) as e:
        Registry(GROUP, "thing").get("c")
    assert str(e.value) == "unknown thing 'c'; available: a, b"


def test_same_name_from_two_distributions_names_both(site):
    write_distribution(site / "one", "first-dist", "1.0", {GROUP: {"dup": "fake_plugin_c:X"}},
                       {"fake_plugin_c.py": "X = 1\n"})
    write_distribution(site / "two", "second-dist", "2.0", {GROUP: {"dup": "fake_plugin_d:X",
                                                                   "fine": "fake_plugin_d:X"}},
                       {"fake_plugin_d.py": "X = 2\n"})
    sys.path[:0] = [str(site / "one"), str(site / "two")]
    try:
        reg = Registry(GROUP, "thing")
        with pytest.raises(DuplicatePluginError) as e:
            reg.get("dup")
        assert "first-dist 1.0" in str(e.value) and "second-dist 2.0" in str(e.value)
        assert reg.get("fine") == 2  # Other plugins keep working.
    finally:
        sys.path.remove(str(site / "one"))
        sys.path.remove(str(site / "two"))


def test_broken_plugin_is_reported_with_its_distribution_and_others_still_load(site):
    write_distribution(site, "shaky-dist", "0.3", {GROUP: {"broken": "fake_plugin_e:X",
                                                          "good": "fake_plugin_f:X"}},
                       {"fake_plugin_e.py": "import not_a_real_module\n",
                        "fake_plugin_f.py": "X = 'ok'\n"})
    reg = Registry(GROUP, "thing")
    with pytest.raises(PluginLoadError) as e:
        reg.get("broken")
    message = str(e.value)
    assert "shaky-dist 0.3" in message and "ModuleNotFoundError" in message
    assert "\n" not in message
    assert reg.get("good") == "ok"
    assert reg.check("broken") is not None and reg.check("good") is None


def test_register_by_hand_decorator_and_clashes(site):
    write_distribution(site, "fake-plugins", "1.0", {GROUP: {"taken": "fake_plugin_g:X"}},
                       {"fake_plugin_g.py": "X = 'from entry point'\n"})
    reg = Registry(GROUP, "thing")

    @reg.register("mine")
    def mine():
        return "hello"

    assert reg.get("mine") is mine
    reg.register("taken", "by hand")
    with pytest.raises(DuplicatePluginError, match="registered in code"):
        reg.get("taken")
    reg.register("taken", "by hand", replace=True)
    assert reg.get("taken") == "by hand"


def test_register_works_without_any_installed_metadata():
    reg = Registry("tfncsn.group_nobody_uses", "thing")
    reg.register("only", 7)
    assert reg.names() == ["only"] and reg.get("only") == 7


def test_plugins_command_marks_broken_plugins_and_keeps_working(tmp_path):
    write_distribution(tmp_path, "shaky-dist", "0.3",
                       {"tfncsn.samplers": {"shaky": "fake_plugin_h:sampler"}},
                       {"fake_plugin_h.py": "raise RuntimeError('boom at import')\n"})
    proc = run_cli("plugins", "--load", extra_path=[str(tmp_path)], check=False)
    lines = proc.stdout.splitlines()
    shaky = next(l for l in lines if l.strip().startswith("shaky"))
    assert "shaky-dist 0.3" in shaky and "BROKEN" in shaky and "boom at import" in shaky
    # Issue 10.9: a broken plugin fails the command (for CI), and the last line says which.
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last == error_line(proc) and "tfncsn.samplers: shaky" in last and "BROKEN" in last
    geometric = next(l for l in lines if l.strip().startswith("geometric"))
    assert "tfncsn" in geometric and "[ok]" in geometric
    for group in ("tfncsn.datasets:", "tfncsn.sigma_schedules:", "tfncsn.samplers:",
                  "tfncsn.models:"):
        assert group in lines
    # Another command still runs with the broken plugin installed, and using it is one line.
    bad = run_cli("sample", "--score=exact", "--dataset=toy", "--sampler=shaky",
                  f"--output={tmp_path / 'x.npy'}", extra_path=[str(tmp_path)], check=False)
    assert "shaky-dist 0.3" in error_line(bad)


def test_plugins_command_exits_zero_when_every_plugin_loads():
    proc = run_cli("plugins", "--load")
    assert proc.returncode == 0 and "BROKEN" not in proc.stdout
    assert "[found]" not in proc.stdout  # Every row was loaded.


def test_plugins_command_lists_from_metadata_without_importing_plugins_or_tensorflow(tmp_path):
    """Issue 9.4: the list answers at once: no plugin module, so no TensorFlow, is imported."""
    write_distribution(tmp_path, "shaky-dist", "0.3",
                       {"tfncsn.samplers": {"shaky": "fake_plugin_j:sampler"}},
                       {"fake_plugin_j.py": "raise RuntimeError('boom at import')\n"})
    report = ("import atexit, sys; atexit.register(lambda: print('imported:', "
              "sorted(m for m in ('tensorflow', 'keras', 'fake_plugin_j', 'tfncsn_plugins') "
              "if m in sys.modules)))")
    code = f"{report}; sys.argv = ['tfncsn', 'plugins']; from tfncsn.cli import main; main.run()"
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, text=True,
                          capture_output=True, env=cli_env([str(tmp_path)]), timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[-1] == "imported: []"
    shaky = next(l for l in lines if l.strip().startswith("shaky"))
    assert "shaky-dist 0.3" in shaky and shaky.endswith("[found]")  # Its import would fail.
    geometric = next(l for l in lines if l.strip().startswith("geometric"))
    assert geometric.endswith("[found]")
    assert "tfncsn plugins --load" in lines[-2]


def test_plugins_command_shows_both_distributions_of_a_clashing_name(tmp_path):
    """Issue 10.9: the row of a name two distributions claim names both, and it is broken."""
    entry = {"tfncsn.sigma_schedules": {"clash": "fake_plugin_i:schedule"}}
    write_distribution(tmp_path / "one", "first-dist", "1.0", entry,
                       {"fake_plugin_i.py": "schedule = None\n"})
    write_distribution(tmp_path / "two", "second-dist", "2.0", entry)
    proc = run_cli("plugins", extra_path=[str(tmp_path / "one"), str(tmp_path / "two")],
                   check=False)
    row = next(l for l in proc.stdout.splitlines() if l.strip().startswith("clash"))
    shipped_by, status = row.split("  [", 1)  # The columns, then the status.
    assert "first-dist 1.0 + second-dist 2.0" in shipped_by and status.startswith("BROKEN")
    assert "tfncsn.sigma_schedules: clash" in error_line(proc)
