"""`tfncsn train-classifier`: trains the noise-conditional classifier p(y | x, sigma) that
`tfncsn sample --class=K` guides with, into --workdir/classifier/ (resuming there)."""

from __future__ import annotations

from tfncsn import classifier_records as records
from tfncsn.cli import common
from tfncsn.cli.flags import FLAGS
from tfncsn.config import ConfigError
from tfncsn.progress import progress_bar

CLASSIFIER_SETTINGS = common.Group(
    "classifier settings", "The noise-conditional classifier and its training "
    "(tfncsn/classifier_records.py, docs/conditioning.md).",
    common.setting_flags(records.ClassifierConfig))
# The flags `run` reads: its --help and docs/cli.md list them (tests/test_cli_help.py).
FLAGS_USED = ("workdir", "data_dir", CLASSIFIER_SETTINGS)


def config_from_flags() -> records.ClassifierConfig:
    from tfncsn import config as run_config
    values = {field.name: FLAGS[run_config.flag_name(field)].value
              for _, field in run_config.settings(records.ClassifierConfig)}
    with common.flags_named(records.ClassifierConfig):
        return records.ClassifierConfig(**values)


def run() -> None:
    if not FLAGS.workdir:
        raise ConfigError("--workdir is required: the classifier goes to --workdir/classifier/, "
                          "beside the score model it guides")
    config = config_from_flags()
    saved = common.saved_config_or_none(FLAGS.workdir)
    if saved is None:  # The classifier covers the score model's noise levels.
        raise ConfigError(f"no score model in '{FLAGS.workdir}'; train one there first with "
                          f"`tfncsn train --workdir={FLAGS.workdir} ...`")
    common.check_output_folder(FLAGS.workdir, "--workdir")  # Receives classifier/.
    common.start_tensorflow()
    from tfncsn import builders
    from tfncsn.data.errors import explained
    from tfncsn.models import noise_conditional_classifier as nets
    from tfncsn.training import TrainingDivergedError
    dataset = builders.make_dataset(saved.dataset, saved.dataset_options, FLAGS.data_dir)
    sigmas = builders.make_sigmas(saved.sigmas).numpy()
    bar = progress_bar(config.steps, "train-classifier")

    def progress(step, total, loss, accuracy):
        bar.n = step
        bar.set_postfix(loss=f"{loss:.4g}", accuracy=f"{accuracy:.3f}")
        bar.refresh()

    try:
        with explained(dataset):
            result = nets.train(dataset, (float(sigmas.min()), float(sigmas.max())), config,
                                FLAGS.workdir, progress)
    except TrainingDivergedError as e:
        raise ConfigError(f"{e}; lower --classifier_learning_rate") from None
    finally:
        bar.close()
    print(f"trained the classifier to step {result.step}, loss {result.loss:.4g}, training "
          f"accuracy {result.accuracy:.3f} (noisy inputs); checkpoint {result.checkpoint}")
