"""`tfncsn evaluate`: the evaluation flags -> `EvalConfig`, then `tfncsn.evaluation.evaluate`.

Writes --output (JSON) and beside it NAME.md with its figures (docs/evaluation.md).
"""

from __future__ import annotations

from tfncsn.cli import common
from tfncsn.cli.flags import FLAGS, explicitly_set
from tfncsn.config import flag_name, settings
from tfncsn.evaluation.config import EvalConfig

EVAL_SETTINGS = common.Group("evaluation settings", "What evaluate measures and how "
                             "(docs/evaluation.md).", common.setting_flags(EvalConfig))
# The flags `run` reads: its --help and docs/cli.md list them (tests/test_cli_help.py).
FLAGS_USED = ("output", "num_samples", "seed", "keep_every", *common.SCORE_SOURCE_FLAGS,
              EVAL_SETTINGS)


def config_from_flags() -> EvalConfig:
    """The evaluation settings from their flags (errors name the flags)."""
    values = {path[-1]: FLAGS[flag_name(field)].value for path, field in settings(EvalConfig)}
    values["eval_metrics"] = tuple(values["eval_metrics"])
    # With a samples file, --num_samples only when given: how many of the file's to use.
    num_samples = FLAGS.num_samples if (not FLAGS.samples or explicitly_set("num_samples")) \
        else None
    return EvalConfig(**values, num_samples=num_samples, seed=FLAGS.seed,
                      keep_every=FLAGS.keep_every)


def run() -> None:
    common.check_output(FLAGS.output, (".json",))
    with common.flags_named(EvalConfig):  # Library messages name settings: here, flags.
        result = evaluate(config_from_flags())
    for line in report_lines(result):
        print(line)
    files = result["files"]
    pngs = [v for k, v in files.items() if k != "markdown"]
    print(f"wrote {FLAGS.output} and {files['markdown']}"
          + (f" ({', '.join(pngs)})" if pngs else ""))


def evaluate(config: EvalConfig) -> dict:
    common.start_tensorflow()  # Only once the flags are known to be good.
    from tfncsn import evaluation
    from tfncsn.evaluation import plan
    plan.inception_weights(config)  # Its errors before the model is loaded: fail fast.
    source = common.score_source()
    with common.output_folders(FLAGS.output):  # The report is written as the steps finish.
        return evaluation.evaluate(source, config, FLAGS.output, workdir=FLAGS.workdir)


def report_lines(result: dict) -> list[str]:
    from tfncsn.evaluation import report
    return report.summary_lines(result)
