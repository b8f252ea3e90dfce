"""The README and the configs say what the code does."""

import re
import subprocess
import sys

import pytest
from absl import flags

import tfncsn.cli.flags  # noqa: F401  Defines the flags.
from conftest import REPO
from tfncsn import registry

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


def test_every_flag_is_documented_with_its_default():
    for name in ("workdir", "dataset", "model", "sigma_schedule", "loss", "sampler", "eps",
                 "steps_per_level", "step_convention", "denoise", "num_samples", "keep_every",
                 "score", "langevin_steps", "seed", "steps", "batch_size", "debug"):
        assert f"`--{name}`" in README, name


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
