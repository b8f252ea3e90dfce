"""tfncsn: Noise Conditional Score Networks (Song & Ermon, 2019).

Usage: tfncsn COMMAND [--flagfile=configs/NAME.cfg] [--flag=value ...]

Commands:
  train     train a score network into --workdir (resumes from its checkpoint)
  sample    draw --num_samples with the run's sampler into --output (.npy/.npz/.png)
  figure3   the paper's Fig. 3: i.i.d. | Langevin | annealed Langevin (2-D data)
  inpaint   complete the hidden part of --images under --mask (Algorithm 2)
  bench     training images/s, score evaluations/s and peak memory of a network
  plugins   list datasets, sigma schedules, samplers and models, and who ships them
  export    write --workdir's model as SavedModel + ONNX with its sampler settings to --output
  evaluate  FID/IS, offline FID/KID/precision/recall, held-out DSM loss, neighbours -> --output

Flags after --flagfile override the file. `tfncsn --helpfull` lists every flag.
"""

from __future__ import annotations

import importlib
import os
import sys

from absl import app, flags, logging

COMMANDS = {
    "train": "tfncsn.cli.train",
    "sample": "tfncsn.cli.sample",
    "figure3": "tfncsn.cli.figure3",
    "inpaint": "tfncsn.cli.inpaint",
    "bench": "tfncsn.cli.bench",
    "plugins": "tfncsn.cli.plugins",
    "export": "tfncsn.cli.export",
    "evaluate": "tfncsn.cli.evaluate",
}


def _known_errors() -> tuple[type[BaseException], ...]:
    """Errors caused by input or environment: reported as one line, no traceback."""
    from tfncsn.config import ConfigError
    from tfncsn.interfaces import DataNotFoundError
    from tfncsn.registry import PluginError
    from tfncsn.schedules import InvalidSigmasError
    from tfncsn.distribute import StrategyError
    from tfncsn.export.exporter import ExportError
    from tfncsn.export.verify import VerificationError
    from tfncsn.training import CheckpointError, TrainingDivergedError
    return (ConfigError, DataNotFoundError, PluginError, InvalidSigmasError, StrategyError,
            CheckpointError, TrainingDivergedError, ExportError, VerificationError,
            FileNotFoundError, NotADirectoryError,
            PermissionError)


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
        _fail(command, str(e).splitlines()[0] if str(e) else type(e).__name__)
    except KeyboardInterrupt:
        _fail(command, "interrupted")
    except Exception as e:  # An unexpected failure still gets one line; --debug shows more.
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        _fail(command, f"{type(e).__name__}: {first} (rerun with --debug for the traceback)")


def run() -> None:
    """Console-script entry point."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # Hide TensorFlow's C++ start-up chatter.
    import tfncsn.cli.flags as cli_flags  # Defines the flags before parsing.
    flags.adopt_module_key_flags(cli_flags)
    app.run(main)


if __name__ == "__main__":
    run()
