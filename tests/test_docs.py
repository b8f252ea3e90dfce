"""The README and the configs say what the code does."""

import ast
import importlib
import re
import subprocess
import sys
import tomllib

import numpy as np
import pytest
from absl import flags

import tfncsn.cli.flags  # noqa: F401  Defines the flags.
from conftest import REPO, run_cli
from tfncsn import config as run_config, registry

README = (REPO / "README.md").read_text()


def bash_blocks(text):
    return re.findall(r"```bash\n(.*?)```", text, re.S)


def test_readme_opens_with_the_two_commands_and_ci_runs_the_test_one():
    first, second = (block.strip() for block in bash_blocks(README)[:2])
    assert "tfncsn train" in first and "tfncsn sample" in first and "pip install" in first
    assert "pytest" in second and "pip install" in second
    ci_lines = (REPO / ".ci" / "run").read_text().splitlines()
    assert second in ci_lines, "'.ci/run' must run the README's test command verbatim"


@pytest.mark.parametrize("config", sorted((REPO / "configs").glob("*.cfg")),
                         ids=lambda p: p.name)
def test_every_config_flag_exists_and_differs_from_its_default(config):
    identity = {"dataset", "model"}  # Always spelled out: they say what the config is.
    for line in config.read_text().splitlines():
        if not line.startswith("--"):
            continue
        name, _, value = line[2:].partition("=")
        assert name in flags.FLAGS, f"{config.name}: unknown flag --{name}"
        flag = flags.FLAGS[name]
        if name not in identity and not isinstance(flag, flags.MultiFlag):
            assert flag.parser.parse(value) != flag.default, f"{config.name}: --{name} is the default"


def flag_table_rows():
    """(flag names, default cell) of each row of the README's flag table."""
    table = README.split("| flag | default | meaning |")[1].split("\n\n")[0]
    for line in table.strip().splitlines()[1:]:
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        yield re.findall(r"`--(\w+)`", cells[0]), cells[1]


def documented_default(text: str, default):
    """The README's spelling of a default (`none`, true/false, numbers, `a,b` lists) read as
    the type of the flag's `default`."""
    text = text.strip().strip("`")
    if text == "none":
        return None if default in (None, "", [], {}) else text
    if isinstance(default, bool):
        return {"true": True, "false": False}.get(text, text)
    if isinstance(default, (int, float)):
        return float(text)
    if isinstance(default, list):
        return text.split(",")
    return text


def test_the_flag_table_gives_every_setting_with_its_default():
    """Every run setting's flag is in the table, and every default the table states is the
    flag's (for the Langevin shortcuts, the default sampler's option)."""
    rows = list(flag_table_rows())
    documented = {name for names, _ in rows for name in names}
    for _, field in run_config.settings(run_config.RunConfig):
        assert run_config.flag_name(field) in documented, run_config.flag_name(field)
    sampler_defaults = vars(registry.samplers.get("annealed_langevin").Options())
    checked = 0
    for names, defaults in rows:
        # The Langevin shortcut flags default to the sampler's own option defaults.
        shortcut = defaults.startswith("the sampler's (")
        values = re.split(r",\s+", defaults.removeprefix("the sampler's (").rstrip(")"))
        assert len(values) == len(names), (names, defaults)
        for name, value in zip(names, values):
            default = sampler_defaults[name] if shortcut else flags.FLAGS[name].default
            default = None if default in ("", [], {}) else default
            assert documented_default(value, default) == default, (name, value, default)
            checked += 1
    assert checked > 30


def test_every_builtin_plugin_is_in_the_plugin_table():
    table = README.split("## Plugins")[1].split("##")[0]
    for reg in registry.ALL:
        for info in reg.infos():
            if info.distribution == "tfncsn":
                assert f"`{info.name}`" in table, (reg.group, info.name)


def test_library_example_in_the_readme_runs():
    code = re.findall(r"```python\n(.*?)```", README, re.S)[0]
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "(10, 1280, 2)" in proc.stdout


def test_the_sampler_guide_example_is_the_example_package_sampler():
    """docs/samplers.md shows the clipped_langevin sampler of tests/third_party_plugin whole."""
    guide = (REPO / "docs" / "samplers.md").read_text()
    example = re.findall(r"```python\n(.*?)```", guide, re.S)[0]
    package = (REPO / "tests" / "third_party_plugin" / "tfncsn_ring" / "__init__.py").read_text()
    for block in example.split("\n\n\n")[1:]:  # The option class and the sampler class.
        assert block.strip() in package, block[:200]
    assert 'clipped_langevin = "tfncsn_ring:ClippedLangevin"' in (
        REPO / "tests" / "third_party_plugin" / "pyproject.toml").read_text()


# --- docs/writing-a-plugin.md: its example package is complete and is the one the tests use.

GUIDE = REPO / "docs" / "writing-a-plugin.md"
EXAMPLE_PACKAGE = REPO / "tests" / "third_party_plugin"


def guide_files():
    """{path: text} of the files the plugin guide shows under a bold `tfncsn-ring/...` title."""
    found = re.findall(r"\*\*`tfncsn-ring/([^`]+)`\*\*\n\n```\w+\n(.*?)```", GUIDE.read_text(), re.S)
    return dict(found)


def top_level_sources(text):
    """{name: source} of the classes and functions of a module."""
    return {node.name: ast.get_source_segment(text, node) for node in ast.parse(text).body
            if isinstance(node, (ast.ClassDef, ast.FunctionDef))}


def test_the_plugin_guide_example_is_the_example_packages_dataset_and_schedule():
    """Issue 10.11: the guide's package is complete on its own and matches tests/third_party_plugin
    (its dataset and schedule; the sampler half is shown by docs/samplers.md)."""
    files = guide_files()
    assert sorted(files) == ["pyproject.toml", "tfncsn_ring/__init__.py"]
    guide, package = (tomllib.loads(text) for text in
                      (files["pyproject.toml"], (EXAMPLE_PACKAGE / "pyproject.toml").read_text()))
    assert guide["build-system"] == package["build-system"]
    assert guide["project"].pop("entry-points") == {
        group: package["project"]["entry-points"][group]
        for group in ("tfncsn.datasets", "tfncsn.sigma_schedules")}
    del package["project"]["entry-points"]
    assert guide["project"] == package["project"] and "tfncsn" in guide["project"]["dependencies"]
    shown = top_level_sources(files["tfncsn_ring/__init__.py"])
    shipped = top_level_sources((EXAMPLE_PACKAGE / "tfncsn_ring" / "__init__.py").read_text())
    assert sorted(shown) == ["RingDataset", "quadratic"]
    for name, source in shown.items():
        assert source == shipped[name], name


@pytest.fixture(scope="module")
def guide_package_site(tmp_path_factory):
    """The guide's two files written out and pip-installed (offline) into a folder."""
    root = tmp_path_factory.mktemp("guide")
    for path, text in guide_files().items():
        (root / "tfncsn-ring" / path).parent.mkdir(parents=True, exist_ok=True)
        (root / "tfncsn-ring" / path).write_text(text)
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps",
                           "--no-build-isolation", "--no-index", "--quiet", "--target",
                           str(root / "site"), str(root / "tfncsn-ring")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return root / "site"


def test_the_plugin_guide_example_installs_and_its_plugins_load(guide_package_site,
                                                               monkeypatch):
    monkeypatch.syspath_prepend(str(guide_package_site))
    importlib.invalidate_caches()
    datasets = registry.Registry("tfncsn.datasets", "dataset")
    schedules = registry.Registry("tfncsn.sigma_schedules", "sigma schedule")
    try:
        assert {i.name: i.shipped_by for i in datasets.infos()}["ring"] == "tfncsn-ring 0.1.0"
        ring = datasets.get("ring")(data_dir=None, radius=2.0)
        points = np.stack(list(ring.load("test").take(100).as_numpy_iterator()))
        assert points.shape == (100, 2)
        assert abs(np.linalg.norm(points, axis=1).mean() - 2.0) < 0.05
        sigmas = schedules.get("quadratic")(3.0, 0.1, 6).numpy()
        np.testing.assert_allclose(np.sqrt(sigmas), np.linspace(np.sqrt(3.0), np.sqrt(0.1), 6),
                                   rtol=1e-6)
    finally:
        sys.modules.pop("tfncsn_ring", None)


@pytest.mark.slow
def test_the_plugin_guide_commands_train_and_sample_with_the_example(guide_package_site,
                                                                    tmp_path):
    """The guide's train and sample commands, as printed, with runs/ under a temporary folder."""
    block = next(b for b in bash_blocks(GUIDE.read_text()) if "pip install ./tfncsn-ring" in b)
    commands = [line.split("#")[0].split() for line in block.replace("\\\n", " ").splitlines()]
    runs = [c[1:] for c in commands if c[:1] == ["tfncsn"] and c[1] in ("train", "sample")]
    assert [c[0] for c in runs] == ["train", "sample"]
    for args in runs:
        proc = run_cli(*[a.replace("runs/", f"{tmp_path}/runs/") for a in args],
                       extra_path=[str(guide_package_site)])
    samples = np.load(tmp_path / "runs" / "ring" / "samples.npy")
    assert samples.shape == (400, 2) and "mean radius" in proc.stdout
    assert abs(np.median(np.linalg.norm(samples, axis=1)) - 3.0) < 0.5


def test_the_export_guide_tells_runtime_users_what_they_need(tmp_path):
    """JavaScript: offline install without the CUDA download, a loop that parses; C/C++: where
    the shared library and the headers come from."""
    import shutil

    guide = (REPO / "docs" / "export.md").read_text()
    assert "npm install --ignore-scripts onnxruntime-node" in guide
    assert "onnxruntime/capi/libonnxruntime.so" in guide and "onnxruntime_c_api.h" in guide
    js = re.findall(r"```js\n(.*?)```", guide, re.S)
    assert js and "programs.sample" in js[0]
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    (tmp_path / "loop.js").write_text(js[0])
    proc = subprocess.run(["node", "--check", str(tmp_path / "loop.js")], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def layout_paths():
    block = README.split("## Layout")[1].split("```")[1]
    return [line.split()[0] for line in block.strip().splitlines() if line.strip()]


def test_the_layout_names_every_folder_and_package_and_nothing_else():
    tracked = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                             cwd=REPO, capture_output=True, text=True)
    if tracked.returncode != 0:
        pytest.skip("no git checkout (e.g. under Bazel): the tree is not the repository's")
    named = layout_paths()
    for path in named:
        assert (REPO / path).is_dir(), f"README Layout names {path}, which is not a folder"
    files = tracked.stdout.split()
    top = {name.split("/")[0] + "/" for name in files if "/" in name}
    packages = {name[:-len("__init__.py")] for name in files if name.endswith("/__init__.py")}
    missing = sorted((top | packages) - set(named))
    assert not missing, f"README Layout does not name {missing}"
