"""`tfncsn COMMAND --help`: the flags a command reads, with their help and defaults; and
docs/cli.md, written from the same declarations.

Each command module declares `FLAGS_USED`: the flags its `run` reads, by name, and the groups
of settings it takes as a whole (`common.Group`). It may declare `DEFAULTS`: for flags of its
own (not of a group), the defaults it uses instead of the flags' own. The help texts and
defaults are the flags' own (tfncsn/cli/flags.py, tfncsn/config.py); what each command does is
`main.SUMMARIES`. Nothing here imports TensorFlow. After changing any of them, regenerate the
page:

    python -m tfncsn.cli.command_help > docs/cli.md
"""

from __future__ import annotations

import importlib
import os
import re
import sys
import textwrap
from typing import Any, Iterator

from tfncsn.cli import common, main as cli
from tfncsn.cli.flags import FLAGS

REGENERATE = "python -m tfncsn.cli.command_help > docs/cli.md"
WIDTH = 80
# absl's flags that every command takes, described for this command line; and --debug.
ABSL_FLAGS = {
    "flagfile": ("FILE", "Flags from FILE, one --flag=value a line (e.g. configs/toy.cfg); "
                 "flags after it on the command line override the file."),
    "verbosity": ("INT", "absl's logging level: 0 shows info, 1 debug (default: warnings "
                  "only)."),
}
GLOBAL_FLAGS = ("flagfile", "debug", "verbosity")


def declared(command: str) -> tuple[list[str], list[common.Group], dict[str, Any]]:
    """(the command's own flags, sorted; its groups; its `DEFAULTS`) from its module."""
    module = importlib.import_module(cli.COMMANDS[command])
    names = sorted(item for item in module.FLAGS_USED if isinstance(item, str))
    groups = [item for item in module.FLAGS_USED if isinstance(item, common.Group)]
    return names, groups, getattr(module, "DEFAULTS", {})


def flags_of(command: str) -> set[str]:
    """Every flag `command` takes, its groups' included (not the global ones)."""
    names, groups, _ = declared(command)
    return set(names).union(*(group.names for group in groups))


# Flags whose values have a form of their own (the rest are shown by their type).
PLACEHOLDERS = {"extra_samplers": "NAME[:KEY=VALUE,...]"}


def placeholder(name: str) -> str:
    """`--name=VALUE` as help shows it: --[no]name for a bool, --name={a|b} for a choice."""
    if name in PLACEHOLDERS:
        return f"--{name}={PLACEHOLDERS[name]}"
    flag = FLAGS[name]
    kind = flag.flag_type()
    if kind == "bool":
        return f"--[no]{name}"
    if hasattr(flag.parser, "enum_values"):
        return f"--{name}={{{'|'.join(flag.parser.enum_values)}}}"
    value = {"int": "INT", "float": "NUMBER", "string": "TEXT", "multi string": "KEY=VALUE",
             "comma separated list of strings": "A,B,..."}.get(kind, "VALUE")
    return f"--{name}={value}"


def shown(value: Any) -> str | None:
    """A default as help spells it: true/false, 1e-05, a,b; None for none."""
    if value is None or value == [] or value == "":
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return ",".join(map(str, value))
    return str(value)


def help_text(name: str) -> str:
    """The flag's help as declared: without absl's "<a|b>: " and "repeat this option" (the
    placeholder says that) and without a leading "evaluate: " or "sample, inpaint: " (the
    help of a command says which command)."""
    flag = FLAGS[name]
    text = flag.help.split(";\n    repeat this option")[0]
    if hasattr(flag.parser, "enum_values"):
        text = text.removeprefix(f"<{'|'.join(flag.parser.enum_values)}>: ")
    commands = "|".join(re.escape(c) for c in sorted(cli.COMMANDS, key=len, reverse=True))
    stripped = re.sub(rf"^(?:(?:{commands}), )*(?:{commands}): ", "", text)
    if stripped != text and re.match(r"[a-z]{2,} ", stripped):  # Not "k of the k-NN ...".
        stripped = _capital(stripped)
    return stripped


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def default_of(name: str, defaults: dict[str, Any]) -> str | None:
    """The default to show (the command's `DEFAULTS`, else the flag's); None for none."""
    return shown(defaults.get(name, FLAGS[name].default))


def _entry(flag: str, text: str) -> list[str]:
    return [f"  {flag}", *textwrap.wrap(text, WIDTH, initial_indent=" " * 6,
                                        subsequent_indent=" " * 6, break_on_hyphens=False,
                                        break_long_words=False)]


def _entries(names, defaults: dict[str, Any]) -> list[str]:
    lines = []
    for name in names:
        default = default_of(name, defaults)
        text = help_text(name) + ("" if default is None else f" (default: {default})")
        lines += _entry(placeholder(name), text)
    return lines


def _global_rows() -> Iterator[tuple[str, str | None, str]]:
    """(flag, default, help) of the flags every command takes."""
    for name in GLOBAL_FLAGS:
        if name in ABSL_FLAGS:
            value, text = ABSL_FLAGS[name]
            yield f"--{name}={value}", None, text
        else:
            yield placeholder(name), default_of(name, {}), help_text(name)


def _heading(group: common.Group) -> str:
    return f"{_capital(group.title)}: {group.note[:1].lower()}{group.note[1:]}"


def command_text(command: str) -> str:
    """What `tfncsn COMMAND --help` prints."""
    names, groups, defaults = declared(command)
    fill = dict(width=WIDTH, break_on_hyphens=False, break_long_words=False)
    lines = [textwrap.fill(f"tfncsn {command}: {cli.SUMMARIES[command]}", **fill), "",
             f"Usage: {cli.USAGE.format(command=command)}", "", f"Flags of {command}:",
             *_entries(names, defaults)]
    for group in groups:
        lines += ["", textwrap.fill(_heading(group), **fill), *_entries(group.names, {})]
    lines += ["", "Every command also takes:"]
    for flag, default, text in _global_rows():
        lines += _entry(flag, text + ("" if default is None else f" (default: {default})"))
    lines += ["`tfncsn --helpfull` lists every flag of every command."]
    return "\n".join(lines)


def main(args: list[str]) -> int:
    """`tfncsn help [COMMAND]`, `tfncsn [COMMAND ...] --help`: prints the help of the command,
    or the commands; an unknown command is one error line. Returns the exit status."""
    words = [arg for arg in args if arg not in cli.HELP_FLAGS]
    help_command = words[:1] == ["help"]  # `tfncsn help ...`
    if help_command:
        words = words[1:]
        if len(words) > 1:
            print(f"tfncsn help: error: give one command, got {' '.join(words)}",
                  file=sys.stderr)
            return 2
    topic = words[0] if words and (help_command or not words[0].startswith("-")) else None
    if topic is None:
        return _print(cli.overview())
    if topic not in cli.COMMANDS:
        print(f"tfncsn{' help' if help_command else ''}: error: unknown command '{topic}'; use "
              f"one of {', '.join(cli.COMMANDS)}", file=sys.stderr)
        return 2
    return _print(command_text(topic))


def _print(text: str) -> int:
    """Prints `text`; a reader that stopped early (`tfncsn train --help | head`) is no error."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's flush at exit.
    return 0


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _table(names, defaults: dict[str, Any]) -> list[str]:
    rows = ["| flag | default | meaning |", "| --- | --- | --- |"]
    for name in names:
        default = default_of(name, defaults)
        rows.append(f"| `{_cell(placeholder(name))}` | {_cell(default or '')} | "
                    f"{_cell(help_text(name))} |")
    return rows


def _anchor(title: str) -> str:
    return "#" + re.sub(r"[^a-z0-9 -]", "", title.lower()).replace(" ", "-")


def markdown() -> str:
    """docs/cli.md."""
    lines = [
        "# Command line", "",
        f"<!-- Generated by `{REGENERATE}` from each command's FLAGS_USED and the flags' own "
        "help; tests/test_cli_help.py fails when it is stale. -->", "",
        f"`{cli.USAGE.format(command='COMMAND')}`: flags given after `--flagfile` override the "
        "file. A flag on the command line must be one the command reads (the file may hold "
        "other commands' flags too, e.g. train's and sample's). `tfncsn COMMAND --help` (or "
        "`tfncsn help COMMAND`) prints the section of a command below; `tfncsn --helpfull` "
        "lists every flag at once.", "",
        "| command | what it does |", "| --- | --- |",
        *(f"| [`{name}`](#{name}) | {_cell(summary)} |" for name, summary in
          cli.SUMMARIES.items()),
    ]
    all_groups: dict[str, common.Group] = {}
    for command in cli.COMMANDS:
        names, groups, defaults = declared(command)
        lines += ["", f"## {command}", "", f"{_capital(cli.SUMMARIES[command])}.", "",
                  f"`{cli.USAGE.format(command=command)}`", "", *_table(names, defaults)]
        if groups:
            links = [f"[{group.title}]({_anchor(group.title)})" for group in groups]
            listed = links[0] if len(links) == 1 else f"{', '.join(links[:-1])} and {links[-1]}"
            lines += ["", f"It also takes the flags of the {listed}."]
        for group in groups:
            all_groups.setdefault(group.title, group)
    lines += ["", "## Groups of flags"]
    for group in all_groups.values():
        lines += ["", f"### {_capital(group.title)}", "", group.note, "",
                  *_table(group.names, {})]
    lines += ["", "## Every command", "", "| flag | default | meaning |", "| --- | --- | --- |"]
    lines += [f"| `{_cell(flag)}` | {default or ''} | {_cell(text)} |"
              for flag, default, text in _global_rows()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(markdown())
