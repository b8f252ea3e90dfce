"""The README and the configs say what the code does."""

import ast
import importlib
import re
import shlex
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


CLI_PAGE = REPO / "docs" / "cli.md"


def flag_table_rows(text):
    """(flag names, default cell) of each row of the `| flag | default | meaning |` tables."""
    for table in text.split("| flag | default | meaning |")[1:]:
        for line in table.split("\n\n")[0].strip().splitlines()[1:]:
            cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
            yield re.findall(r"`--(?:\[no\])?(\w+)", cells[0]), cells[1]


def documented_default(text: str, default):
    """A table's spelling of a default (`none` or an empty cell, true/false, numbers, `a,b`
    lists) read as the type of the flag's `default`."""
    text = text.strip().strip("`")
    if text in ("none", ""):
        return None if default in (None, "", [], {}) else text
    if isinstance(default, bool):
        return {"true": True, "false": False}.get(text, text)
    if isinstance(default, (int, float)):
        return float(text)
    if isinstance(default, list):
        return text.split(",")
    return text


def test_the_command_reference_gives_every_setting_with_its_default():
    """The flag table moved from the README to docs/cli.md (generated from the flags; its own
    test keeps it current): every run setting's flag is in its tables with the flag's default
    (a command that uses another default of its own, as `bench` does, may show that one too),
    and the README links the page."""
    assert "](docs/cli.md)" in README
    stated = {}
    for names, value in flag_table_rows(CLI_PAGE.read_text()):
        for name in names:
            stated.setdefault(name, []).append(value)
    settings = [run_config.flag_name(field)
                for _, field in run_config.settings(run_config.RunConfig)]
    assert len(settings) > 20
    for name in settings:
        assert name in stated, f"docs/cli.md does not give --{name}"
        default = flags.FLAGS[name].default
        default = None if default in ("", [], {}) else default
        assert default in [documented_default(value, default) for value in stated[name]], \
            (name, stated[name], default)


def sampler_option_rows():
    """{sampler: {option: default cell}} of docs/samplers.md's table of the built-in samplers."""
    guide = (REPO / "docs" / "samplers.md").read_text()
    table = guide.split("| sampler | algorithm | options (default) |")[1].split("\n\n")[0]
    found, previous = {}, {}
    for line in table.strip().splitlines():
        if not line.startswith("| `"):
            continue  # The rest of the header, its rule.
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        name = cells[0].strip("`")
        options = dict(re.findall(r"`(\w+)`[^(`]*\(([^)]*)\)", cells[2]))
        found[name] = previous = previous if cells[2] == "as above" else options
    return found


def test_the_sampler_guide_gives_every_option_of_the_builtin_samplers_with_its_default():
    """The README's sampler table moved to docs/samplers.md: each built-in sampler's options
    and defaults there are the plugin's (the Langevin ones are also the defaults of the
    --eps, --steps_per_level, --step_convention and --denoise shortcuts)."""
    documented = sampler_option_rows()
    builtin = {info.name for info in registry.samplers.infos() if info.distribution == "tfncsn"}
    assert set(documented) == builtin
    for name, options in documented.items():
        defaults = vars(registry.samplers.get(name).Options())
        assert set(options) == set(defaults), (name, options, defaults)
        for option, cell in options.items():
            text = cell.split(";")[0].strip().strip("`")
            value = {"null": None, "true": True, "false": False}.get(text, text)
            default = defaults[option]
            if isinstance(default, (int, float)) and not isinstance(default, bool):
                value = float(value)
            assert value == default, (name, option, cell, default)


def readme_invocations(program):
    """The argument lists that follow `program` (e.g. "tfncsn") in the README's bash blocks."""
    found = []
    for block in bash_blocks(README):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            starts = [i for i, word in enumerate(words)
                      if word == program or word.endswith("/" + program)]
            for start in starts:
                args = []
                for word in words[start + 1:]:
                    if word in ("&&", "||", ";", "|"):
                        break
                    args.append(word)
                found.append(args)
    return found


def test_every_tfncsn_command_in_the_readme_names_a_command_and_flags_it_takes():
    """Each `tfncsn` line of the README runs as printed: a real command, each flag one that
    command takes (as `tfncsn COMMAND --help` lists them), each value one the flag accepts."""
    from tfncsn.cli import command_help, main as cli

    invocations = readme_invocations("tfncsn")
    assert len(invocations) > 20
    for args in invocations:
        command, options = args[0], args[1:]
        assert command in cli.COMMANDS, args
        takes = command_help.flags_of(command) | set(command_help.GLOBAL_FLAGS)
        for option in options:
            assert option.startswith("--"), (command, option)
            name, has_value, value = option[2:].partition("=")
            if not has_value and name not in flags.FLAGS and name.startswith("no"):
                name = name[2:]  # --noflag of a boolean.
            assert name in takes, f"tfncsn {command} does not take --{name}"
            if name == "flagfile":  # absl's own, not in FLAGS.
                assert (REPO / value).is_file(), option
            elif has_value and not isinstance(flags.FLAGS[name], flags.MultiFlag):
                flags.FLAGS[name].parser.parse(value)  # Raises on a value the flag refuses.


def test_every_runtime_command_in_the_readme_uses_options_the_reader_has():
    """`python -m tfncsn_runtime` lines of the README: each option is one its --help lists."""
    invocations = [args[1:] for args in readme_invocations("python")
                   if args[:2] == ["-m", "tfncsn_runtime"]]
    assert invocations
    usage = subprocess.run([sys.executable, "-m", "tfncsn_runtime", "--help"],
                           capture_output=True, text=True, timeout=120, check=True).stdout
    for args in invocations:
        for option in args[1:]:
            assert f"{option.partition('=')[0]} " in usage, option


def markdown_anchors(path):
    """The anchors of a Markdown file: explicit <a id> and GitHub's slugs of its headings."""
    text = path.read_text()
    explicit = set(re.findall(r'<a\s+(?:id|name)="([\w-]+)"\s*>\s*</a>', text))
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    headings = re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", prose, re.M)
    slugs = {re.sub(r"\s", "-", re.sub(r"[^\w\s-]", "",
                                       re.sub(r"`|\*\*|<[^>]+>", "", h).strip().lower()))
             for h in headings}
    return explicit | slugs


@pytest.mark.parametrize("page", [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))],
                         ids=lambda p: p.relative_to(REPO).as_posix())
def test_links_between_the_readme_and_the_docs_resolve(page):
    """Figures moved from the README and the guides to docs/results.md: every relative link
    of the README and the docs names a file that exists and, with #anchor, an anchor of it."""
    prose = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", prose):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        linked = page if not path else page.parent / path
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in markdown_anchors(linked):
            broken.append(f"{target}: no such anchor")
    assert not broken, broken


def test_every_results_section_is_in_the_contents_and_says_when_and_on_what_cpu():
    """docs/results.md holds the measurements: each section (an <a id> before its heading) is
    in the contents line and gives its date and its CPU."""
    page = (REPO / "docs" / "results.md").read_text()
    contents = page.split("Sections:")[1].split("\n\n")[0]
    sections = re.split(r'\n<a id="([\w-]+)"></a>\n', page)[1:]
    assert len(sections) > 15
    for anchor, body in zip(sections[::2], sections[1::2]):
        assert f"(#{anchor})" in contents, anchor
        assert "**Date**" in body and "**CPU**" in body, anchor


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
