"""Issue 32.3: `tfncsn COMMAND --help` lists that command's flags, with their help and defaults,
and nothing else; docs/cli.md is written from the same declarations and kept current."""

import ast
import importlib.util
import re
import sys
from pathlib import Path

import pytest
from absl import flags

from conftest import REPO, error_line, frameworks_imported_by, run_cli
from tfncsn.cli import command_help, common, main

# Per command: flags its help must list, and flags (of other commands) it must not.
SPOT_CHECKS = {
    "train": (("workdir", "batch_size", "strategy", "sampler"), ("num_samples", "eval_metrics")),
    "sample": (("num_samples", "class", "guidance", "dataset", "eps"), ("batch_size", "mask")),
    "figure2": (("workdir", "score", "sigma_min"), ("langevin_steps", "num_samples", "eps")),
    "figure3": (("langevin_steps", "score"), ("images", "batch_size")),
    "inpaint": (("images", "mask", "num_completions"), ("langevin_steps", "batch_size")),
    "bench": (("bench_networks", "bench_rounds", "model"), ("sampler", "dataset", "steps")),
    "plugins": (("load",), ("steps", "workdir", "output")),
    "export": (("verify_atol", "onnx_opset", "sampler", "checkpoint_step"),
               ("dataset", "batch_size")),
    "evaluate": (("eval_metrics", "samples", "num_samples", "sampler", "checkpoint_step"),
                 ("batch_size", "steps", "load")),
    "train-classifier": (("classifier_steps", "workdir"), ("steps", "batch_size", "sampler")),
    "noise-levels": (("num_examples", "sigma_min", "steps_per_level"),
                     ("sigma_max", "sampler", "batch_size")),
}
GLOBAL = {"flagfile", "debug", "verbosity"}


def tfncsn(capsys, *args):
    """(exit status, stdout, stderr) of `tfncsn ARGS`, run in this process."""
    argv = sys.argv
    sys.argv = ["tfncsn", *args]
    try:
        with pytest.raises(SystemExit) as stop:
            main.run()
    finally:
        sys.argv = argv
    out, err = capsys.readouterr()
    return stop.value.code, out, err


def listed(text):
    """The flags a help text lists, one entry each ("  --name=..." or "  --[no]name")."""
    return re.findall(r"^  --(?:\[no\])?(\w+)", text, re.M)


def test_every_command_is_spot_checked():
    assert set(SPOT_CHECKS) == set(main.COMMANDS)


@pytest.mark.parametrize("command", list(main.COMMANDS))
def test_help_lists_the_flags_of_the_command_and_nothing_else(command, capsys):
    status, out, err = tfncsn(capsys, command, "--help")
    assert (status, err) == (0, ""), err
    assert out.startswith(f"tfncsn {command}: "), out[:200]
    assert f"Usage: tfncsn {command} " in out
    flags_listed = listed(out)
    assert len(flags_listed) == len(set(flags_listed)), "a flag is listed twice"
    assert set(flags_listed) == command_help.flags_of(command) | GLOBAL
    present, absent = SPOT_CHECKS[command]
    for name in present:
        assert name in flags_listed, f"tfncsn {command} --help lacks --{name}"
    for name in absent:
        assert f"--{name}=" not in out and f"--[no]{name}\n" not in out, (
            f"tfncsn {command} --help lists --{name}")
    # The same help whichever way it is asked for, also after other flags.
    assert tfncsn(capsys, command, "-h") == (0, out, "")
    assert tfncsn(capsys, "help", command) == (0, out, "")
    assert tfncsn(capsys, command, "--flagfile=configs/toy.cfg", "--help") == (0, out, "")


def test_help_shows_each_flag_with_its_help_and_default(capsys):
    _, out, _ = tfncsn(capsys, "evaluate", "--help")
    assert "--batch_size" not in out
    assert ("  --eval_batch_size=INT\n      Batch size of sampling and scoring. (default: 250)\n"
            in out)  # Its "evaluate: " prefix goes: the help is evaluate's.
    assert "  --score={model|exact}\n      model: the trained network" in out
    assert "  --[no]debug\n" in out  # The footer of flags every command takes.
    # A default the command uses instead of the flag's own (bench, noise-levels: DEFAULTS).
    _, out, _ = tfncsn(capsys, "bench", "--help")
    assert "(tfncsn plugins). (default: refinenet)" in out
    _, out, _ = tfncsn(capsys, "noise-levels", "--help")
    assert "per noise level. (default: 5)" in out


def test_help_without_a_command_lists_the_commands(capsys):
    status, out, _ = tfncsn(capsys, "help")
    assert status == 0 and out.startswith("tfncsn: Noise Conditional Score Networks")
    for command in main.COMMANDS:
        assert f"\n  {command} " in out, command
    assert "`tfncsn COMMAND --help`" in out
    assert tfncsn(capsys, "--help") == (0, out, "")
    assert tfncsn(capsys, "-h") == (0, out, "")


@pytest.mark.parametrize("args, line", [
    (("help", "nope"), "tfncsn help: error: unknown command 'nope'; use one of "
                       + ", ".join(main.COMMANDS)),
    (("nope", "--help"), "tfncsn: error: unknown command 'nope'; use one of "
                         + ", ".join(main.COMMANDS)),
    (("help", "sample", "train"), "tfncsn help: error: give one command, got sample train"),
])
def test_help_on_an_unknown_command_is_one_error_line(args, line, capsys):
    status, out, err = tfncsn(capsys, *args)
    assert (status, out, err) == (2, "", line + "\n")


def test_help_as_a_user_runs_it_imports_no_tensorflow(capsys):
    proc = run_cli("evaluate", "--help")
    assert proc.stdout == tfncsn(capsys, "evaluate", "--help")[1]
    assert "--batch_size" not in proc.stdout and "--eval_metrics=" in proc.stdout
    assert error_line(run_cli("help", "nope", check=False)).startswith("tfncsn help: error:")
    assert frameworks_imported_by(
        "from tfncsn.cli import command_help\ncommand_help.markdown()") == []


def test_docs_cli_md_is_generated_from_the_declarations():
    page = REPO / "docs" / "cli.md"
    assert page.exists() and page.read_text() == command_help.markdown(), (
        f"docs/cli.md is stale: regenerate it with `{command_help.REGENERATE}` from the repo "
        "root, and commit it")


def flags_read(path: Path) -> set[str]:
    """The flags a module reads by name: FLAGS.name, FLAGS["name"], explicitly_set("name")."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id == "FLAGS"):
            names.add(node.attr)
        elif (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name)
              and node.value.id == "FLAGS" and isinstance(node.slice, ast.Constant)):
            names.add(node.slice.value)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id == "explicitly_set" and isinstance(node.args[0], ast.Constant)):
            names.add(node.args[0].value)
    return names


def module_path(module: str) -> Path:
    return Path(importlib.util.find_spec(module).origin)


@pytest.mark.parametrize("command", list(main.COMMANDS))
def test_a_command_declares_every_flag_it_reads(command):
    read = flags_read(module_path(main.COMMANDS[command])) - {"debug"}
    missing = read - command_help.flags_of(command)
    assert not missing, (f"{main.COMMANDS[command]} reads {sorted(missing)}: add them to its "
                         "FLAGS_USED (then regenerate docs/cli.md)")
    names, _, defaults = command_help.declared(command)
    assert set(defaults) <= set(names), "DEFAULTS are for the command's own flags"


def test_the_shared_score_source_reads_only_its_flags():
    expanded = {name for item in common.SCORE_SOURCE_FLAGS
                for name in ((item,) if isinstance(item, str) else item.names)}
    assert flags_read(module_path("tfncsn.cli.common")) - {"debug"} <= expanded


def test_every_flag_of_tfncsn_is_some_command_s():
    taken = set(GLOBAL).union(*(command_help.flags_of(c) for c in main.COMMANDS))
    defined = {flag.name for module, module_flags in flags.FLAGS.flags_by_module_dict().items()
               if module.split(".")[0].startswith("tfncsn") for flag in module_flags}
    assert {"batch_size", "verify", "guidance"} <= defined
    assert defined - taken == set(), "flags no command declares in its FLAGS_USED"
    assert taken - GLOBAL <= defined
