"""Issue 11: one declaration per setting, flags only in the CLI, no command importing another,
and the CLI's flag layer free of TensorFlow."""

import ast
import dataclasses
import re

from absl import flags

import tfncsn.cli.flags  # noqa: F401  Defines the flags.
from conftest import REPO, frameworks_imported_by
from tfncsn import config
from tfncsn.cli import common, main
from tfncsn.evaluation.config import EvalConfig

CLI = REPO / "tfncsn" / "cli"


def python_files(*roots):
    for root in roots:
        yield from sorted((REPO / root).rglob("*.py"))


def imported_modules(path):
    """Every module `path` imports (absolute names; `from a import b` gives a and a.b)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_every_setting_is_a_flag_with_its_declared_default_and_help():
    seen = set()
    for cls in (config.RunConfig, EvalConfig):
        for _, field in config.settings(cls):
            name = config.flag_name(field)
            assert name not in seen, f"setting {name} is declared twice"
            seen.add(name)
            flag = flags.FLAGS[name]
            assert field.metadata["help"] in flag.help, name
            default = config.default_of(field)
            if config.is_options(field):
                assert flag.default == []
            elif isinstance(default, tuple):
                assert flag.default == list(default)
            else:
                assert flag.default == default, name


def test_the_flag_defaults_give_the_default_config():
    flags.FLAGS.unparse_flags()
    flags.FLAGS(["tfncsn"])
    try:
        assert common.config_from_flags(None) == config.RunConfig()
    finally:
        flags.FLAGS.unparse_flags()


def test_config_json_keys_are_the_setting_names():
    data = config.RunConfig().to_dict()
    for path, field in config.settings(config.RunConfig):
        node = data
        for key in path:
            node = node[key]  # KeyError: config.json spells the setting differently.


def test_config_json_from_before_the_rename_still_loads():
    old = config.RunConfig().to_dict()
    old["sigmas"]["schedule"] = old["sigmas"].pop("sigma_schedule")
    old["sigmas"]["values"] = [1.0, 0.1]
    assert config.RunConfig.from_dict(old) == config.RunConfig()


def test_a_setting_outside_its_declared_range_names_itself():
    for kwargs, message in (({"batch_size": 0}, "batch_size must be at least 1, got 0"),
                            ({"loss": "nce"}, "loss must be one of dsm, ssm, got 'nce'")):
        try:
            config.TrainConfig(**kwargs)
        except config.ConfigError as e:
            assert str(e) == message
        else:
            raise AssertionError(kwargs)


def test_only_the_cli_reads_flags():
    for path in python_files("tfncsn", "plugins", "export/tfncsn_export", "export/tfncsn_runtime"):
        if CLI in path.parents:
            continue
        text = path.read_text()
        assert "absl.flags" not in imported_modules(path), path
        assert "FLAGS" not in text, f"{path.relative_to(REPO)} reads flags"


def test_no_command_module_imports_another():
    commands = set(main.COMMANDS.values())
    for module in commands:
        path = REPO / (module.replace(".", "/") + ".py")
        others = (imported_modules(path) & commands) - {module}
        assert not others, f"{module} imports {others}"


def test_parsing_flags_imports_no_tensorflow():
    assert frameworks_imported_by(
        "import tfncsn.cli.flags, tfncsn.config, tfncsn.evaluation.config") == []


def test_library_configs_are_frozen_dataclasses():
    for cls in (config.RunConfig, config.SigmaConfig, config.SamplerConfig, config.TrainConfig,
                EvalConfig):
        assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen


def build_libraries():
    """{name: (source globs, deps)} of the py_library rules in BUILD."""
    text = (REPO / "BUILD").read_text()
    libraries = {}
    for block in re.findall(r"py_library\((.*?)\n\)", text, re.S):
        name = re.search(r'name = "(\w+)"', block).group(1)
        srcs = re.search(r"srcs = (.*?),\n    \w+ =", block, re.S)  # May span lines.
        srcs_text = srcs.group(1) if srcs else ""
        exclude = re.search(r"exclude = \[(.*?)\]", srcs_text, re.S)
        excludes = re.findall(r'"([^"]+)"', exclude.group(1)) if exclude else []
        globs = re.findall(r'"([^"]+\.py)"', srcs_text)
        deps = re.search(r"deps = \[(.*?)\]", block, re.S)
        libraries[name] = ([g for g in globs if g not in excludes], excludes,
                           set(re.findall(r'":(\w+)"', deps.group(1))) if deps else set())
    return libraries


def test_build_declares_every_import_between_packages():
    libraries = build_libraries()
    owner = {}  # Python file -> the library whose srcs hold it.
    for name, (globs, excludes, _) in libraries.items():
        for pattern in globs:
            for path in REPO.glob(pattern):
                if not any(path.match(e) for e in excludes):
                    assert path not in owner, f"{path} is in {owner.get(path)} and {name}"
                    owner[path] = name
    modules = {".".join(p.relative_to(REPO / root).with_suffix("").parts): lib
               for p, lib in owner.items()
               for root in ("", "plugins", "export")
               if (REPO / root) in p.parents and p.relative_to(REPO / root).parts[0] in (
                   "tfncsn", "tfncsn_plugins", "tfncsn_export", "tfncsn_runtime")}
    for path, lib in owner.items():
        for module in imported_modules(path):
            target = modules.get(module) or modules.get(module + ".__init__")
            if target and target != lib:
                assert target in libraries[lib][2], (
                    f"{path.relative_to(REPO)} imports {module} ({target}); BUILD's {lib} "
                    f"does not depend on :{target}")
    for path in python_files("tfncsn", "plugins/tfncsn_plugins", "export/tfncsn_export",
                             "export/tfncsn_runtime"):
        assert path in owner, f"{path.relative_to(REPO)} is in no py_library of BUILD"


def test_a_training_setting_reaches_the_optimizer():
    """The example of adding a hyperparameter: `adam_epsilon` is declared once in config.py and
    read by training.make_optimizer; its flag, config.json key and check come from that."""
    from tfncsn import training
    assert flags.FLAGS["adam_epsilon"].default == 1e-7
    optimizer = training.make_optimizer(config.TrainConfig(adam_epsilon=1e-8, beta_1=0.5))
    assert (optimizer.epsilon, optimizer.beta_1) == (1e-8, 0.5)
    assert config.RunConfig().to_dict()["train"]["adam_epsilon"] == 1e-7


def test_help_lists_every_command():
    """`tfncsn --help` shows the commands (absl prints the __main__ docstring, which the
    console script does not have)."""
    from tfncsn.cli import main
    from conftest import run_cli
    proc = run_cli("--help", check=False)
    assert proc.stdout.startswith("tfncsn: Noise Conditional Score Networks"), proc.stdout
    for command in main.COMMANDS:
        assert f"\n  {command} " in proc.stdout, command
