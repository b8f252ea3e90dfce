"""The `tfncsn` command line: runs COMMAND's module with the flags absl parsed.

`tfncsn --help` (or `tfncsn help`) prints `overview()`, the commands and what each does;
`tfncsn COMMAND --help` (or `tfncsn help COMMAND`) the flags of one, from the `FLAGS_USED` its
module declares (tfncsn/cli/command_help.py, which also writes docs/cli.md).
"""

from __future__ import annotations

import difflib
import errno
import importlib
import os
import re
import sys
import textwrap

from absl import app, flags, logging

COMMANDS = {
    "train": "tfncsn.cli.train",
    "sample": "tfncsn.cli.sample",
    "figure2": "tfncsn.cli.figure2",
    "figure3": "tfncsn.cli.figure3",
    "inpaint": "tfncsn.cli.inpaint",
    "bench": "tfncsn.cli.bench",
    "plugins": "tfncsn.cli.plugins",
    "export": "tfncsn.cli.export",
    "evaluate": "tfncsn.cli.evaluate",
    "train-classifier": "tfncsn.cli.train_classifier",
    "noise-levels": "tfncsn.cli.noise_levels",
}

# What each command does, in one line: `tfncsn --help`, the command's own help, docs/cli.md.
SUMMARIES = {
    "train": "train a score network into --workdir (resumes from its checkpoint)",
    "sample": "draw --num_samples with the run's sampler into --output (.npy/.npz/.png)",
    "figure2": "the paper's Fig. 2: data score | learned score, red where they disagree (2-D data)",
    "figure3": "the paper's Fig. 3: i.i.d. | Langevin | annealed Langevin (2-D data)",
    "inpaint": "complete the hidden part of --images under --mask (Algorithm 2)",
    "bench": "training images/s, score evaluations/s and peak memory of a network",
    "plugins": "list datasets, sigma schedules, samplers and models, and who ships them "
               "(--load: import each and check it)",
    "export": "write --workdir's model as SavedModel + ONNX with its sampler settings to "
              "--output",
    "evaluate": "FID/IS, offline FID/KID/precision/recall, held-out DSM loss, neighbours -> "
                "--output",
    "train-classifier": "the noise-conditional classifier of --workdir for `sample --class=K`",
    "noise-levels": "NCSNv2's sigma_1, number of levels and eps for --dataset, printed as flags",
}
USAGE = "tfncsn {command} [--flagfile=configs/NAME.cfg] [--flag=value ...]"
# Ask for help instead of running: `tfncsn [COMMAND] ... --help` (absl keeps --helpfull).
HELP_FLAGS = ("--help", "-help", "-h")


def overview() -> str:
    """What `tfncsn --help` and `tfncsn help` print: the commands."""
    rows = [textwrap.fill(summary, 96, initial_indent=f"  {name:<9} " if len(name) < 10
                          else f"  {name}  ", subsequent_indent=" " * 12,
                          break_on_hyphens=False, break_long_words=False)
            for name, summary in SUMMARIES.items()]
    return "\n".join([
        "tfncsn: Noise Conditional Score Networks (Song & Ermon, 2019).", "",
        f"Usage: {USAGE.format(command='COMMAND')}", "", "Commands:", *rows, "",
        "Flags after --flagfile override the file; on the command line, give only flags the",
        "command reads (the file may hold other commands' too). `tfncsn COMMAND --help` (or",
        "`tfncsn help COMMAND`) lists the flags of a command; `tfncsn --helpfull` lists every",
        "flag."])


# Errors caused by input or environment, by module: reported as one line, no traceback.
_KNOWN_ERRORS = {
    "tfncsn.config": ("ConfigError",), "tfncsn.data.errors": ("DataError",),
    "tfncsn.interfaces": ("DataNotFoundError",), "tfncsn.registry": ("PluginError",),
    "tfncsn.schedules": ("InvalidSigmasError",), "tfncsn.distribute": ("StrategyError",),
    "tfncsn_export.exporter": ("ExportError",), "tfncsn_export.verify": ("VerificationError",),
    "tfncsn.sampling.contract": ("SamplerError",),
    "tfncsn.training": ("CheckpointError", "TrainingDivergedError"),
}


def _known_errors() -> tuple[type[BaseException], ...]:
    """The known error classes of the modules loaded so far (one not loaded raised nothing;
    importing it only to compare would cost seconds of TensorFlow start-up)."""
    classes = [getattr(sys.modules[module], name) for module, names in _KNOWN_ERRORS.items()
               if module in sys.modules for name in names]
    return (*classes, FileNotFoundError, NotADirectoryError, PermissionError)


def _fail(command: str, message: str) -> None:
    print(f"tfncsn {command}: error: {message}".rstrip(), file=sys.stderr)
    sys.exit(1)


def main(argv: list[str]) -> None:
    if len(argv) < 2 or argv[1] not in COMMANDS:
        given = f"unknown command '{argv[1]}'; " if len(argv) > 1 else ""
        print(f"tfncsn: error: {given}use one of {', '.join(COMMANDS)} "
              "(tfncsn --help explains)", file=sys.stderr)
        sys.exit(2)
    command = argv[1]
    if len(argv) > 2:
        _fail(command, f"unexpected arguments {argv[2:]}; flags look like --name=value")
    from tfncsn.cli.flags import FLAGS
    if not FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)  # Progress bars and results say enough.
    module = importlib.import_module(COMMANDS[command])
    if FLAGS.debug:
        module.run()
        return
    try:
        module.run()
    except _known_errors() as e:
        if isinstance(e, OSError) and e.errno is not None:  # Raw from the OS: name the flag.
            _fail(command, _os_error_line(e, FLAGS))
        _fail(command, str(e).splitlines()[0] if str(e) else type(e).__name__)
    except KeyboardInterrupt:
        _fail(command, "interrupted")
    except Exception as e:  # An unexpected failure still gets one line; --debug shows more.
        if isinstance(e, OSError) and e.errno is not None:  # The file system refused.
            _fail(command, _os_error_line(e, FLAGS))
        first = _first_line(e)
        _fail(command, f"{type(e).__name__}: {first} (rerun with --debug for the traceback)")


def _first_line(error: Exception) -> str:
    """The line of an error that says what went wrong.

    TensorFlow's runtime errors open with "Graph execution error:" or an op's name
    in braces and end with node names; what failed is the last line in between.
    An error raised while tracing a `tf.function` opens with "in user code:" and a
    stack, and ends with the original "TypeName: message".
    """
    text = str(error).strip()
    if text.startswith("in user code:"):
        last = [line.strip() for line in text.splitlines() if line.strip()][-1]
        return last.removeprefix(f"{type(error).__name__}: ")
    message = getattr(error, "message", None)
    if isinstance(message, str) and type(error).__module__.startswith("tensorflow"):
        lines = [re.sub(r"\{\{[^}]*\}\}|\[\[[^\]]*\]\]|\[Op:[^\]]*\].*$", "", line).strip()
                 for line in message.splitlines()]
        lines = [line for line in lines if line and line not in (
            "Graph execution error:", "<stack traces unavailable>")
            and not line.startswith(("File \"", "Detected at node"))]
        if lines:
            return re.sub(r"^Error in user-defined function passed to \S+ transformation with "
                          r"iterator: [\w:]+: ", "", lines[-1])
    return text.splitlines()[0] if text else ""


_OS_FIXES = {errno.ENOENT: "check the path", errno.ENOTDIR: "a part of it is a file, not a folder",
             errno.EEXIST: "it exists and is not a folder", errno.EISDIR: "it is a folder",
             errno.EACCES: "no permission: pass a path you can write to",
             errno.ENOSPC: "the disk is full"}


def _os_error_line(error: OSError, flag_values) -> str:
    """An OS error on a path as "--flag=VALUE: reason ('path'); fix", naming the flag."""
    path = os.path.abspath(str(error.filename)) if error.filename else None
    named = "a file"
    for name in flag_values:
        value = flag_values[name].value
        if path and isinstance(value, str) and value and not name.startswith("help"):
            given = os.path.abspath(value)
            if path == given or path.startswith(given + os.sep) or given.startswith(path + os.sep):
                named = f"--{name}={value}"
                break
    fix = _OS_FIXES.get(error.errno, "check the path")
    return f"{named}: {(error.strerror or str(error)).lower()} ('{error.filename}'); {fix}"


def _flag_error(error: flags.Error, command: str | None = None) -> str:
    """absl's flag error as one line that also says how to fix it."""
    if isinstance(error, flags.UnrecognizedFlagError):
        close = difflib.get_close_matches(error.flagname, list(flags.FLAGS), n=1, cutoff=0.75)
        hint = f"did you mean --{close[0]}? " if close else ""
        where = (f"`tfncsn {command} --help` lists its flags" if command
                 else "`tfncsn --helpfull` lists every flag")
        return f"unknown flag --{error.flagname}; {hint}{where}"
    message = str(error).replace("ERROR:: ", "").strip()
    if "flagfile" in message.lower():
        return f"{message}; give --flagfile the path of a flag file such as configs/toy.cfg"
    name = re.match(r"flag --([\w.]+)=", message)
    kinds = {"int": "an integer", "float": "a number", "bool": "true or false"}
    if name and name.group(1) in flags.FLAGS:
        kind = kinds.get(flags.FLAGS[name.group(1)].flag_type(), "a valid value")
        return f"{message}; give --{name.group(1)} {kind} (see `tfncsn --helpfull`)"
    return f"{message} (`tfncsn --helpfull` lists every flag)"


def _parse_flags(argv: list[str]) -> list[str]:
    """absl's parsing; a bad flag ends with one line saying what is wrong, not absl's hint.
    So does a flag on the command line that the command does not read."""
    command = argv[1] if len(argv) > 1 and argv[1] in COMMANDS else None
    try:
        remaining = flags.FLAGS(argv)
        stray = _stray_flag(command, argv) if command else None
    except flags.Error as e:
        stray = _flag_error(e, command)
    if stray:
        print(f"tfncsn{' ' + command if command else ''}: error: {stray}", file=sys.stderr)
        sys.exit(2)
    return remaining


def _stray_flag(command: str, argv: list[str]) -> str | None:
    """The error for the first tfncsn flag on the command line that `command` does not read
    (it would be ignored without a word), or None. A --flagfile's flags are not checked: a
    config holds the flags of several commands (train's and sample's)."""
    from tfncsn.cli import command_help
    ours = {flag.name for module, declared in flags.FLAGS.flags_by_module_dict().items()
            if module.startswith("tfncsn") for flag in declared}
    taken = command_help.flags_of(command) | set(command_help.GLOBAL_FLAGS)
    for arg in argv[2:]:
        if arg == "--":
            break
        name = arg.lstrip("-").split("=", 1)[0] if arg.startswith("-") else ""
        if name not in flags.FLAGS and name.startswith("no"):
            name = name[2:]  # --noflag, absl's false for a boolean.
        if name in ours and name not in taken:
            takers = [f"`tfncsn {other}`" for other in COMMANDS
                      if name in command_help.flags_of(other)]
            readers = (", ".join(takers[:-1]) + " and " if len(takers) > 1 else "") + (
                takers[-1] if takers else "")
            whose = f"{readers} read{'s' if len(takers) == 1 else ''} it" if takers \
                else "no command reads it"
            return (f"--{name} is not a flag of `tfncsn {command}`, which would ignore it "
                    f"({whose}); `tfncsn {command} --help` lists its flags")
    return None


def run() -> None:
    """Console-script entry point."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # Hide TensorFlow's C++ start-up chatter.
    args = sys.argv[1:]
    if args[:1] == ["help"] or any(arg in HELP_FLAGS for arg in args):
        from tfncsn.cli import command_help  # Before absl's parser, which knows no commands.
        sys.exit(command_help.main(args))
    import tfncsn.cli.flags as cli_flags  # Defines the flags before parsing.
    flags.adopt_module_key_flags(cli_flags)
    # absl's --helpfull prints the __main__ module's docstring: the console script and
    # `python -m tfncsn` have none worth showing, so show the commands.
    sys.modules["__main__"].__doc__ = overview()
    app.run(main, flags_parser=_parse_flags)


if __name__ == "__main__":
    run()
