"""`tfncsn train`: trains a score network, resuming when --workdir has a checkpoint."""

from __future__ import annotations

import math
import signal
import threading

import numpy as np
from absl import logging

from tfncsn import config as run_config, figures
from tfncsn.cli import common
from tfncsn.cli.flags import FLAGS
from tfncsn.config import ConfigError
from tfncsn.progress import progress_bar

# The flags `run` reads: its --help and docs/cli.md list them (tests/test_cli_help.py).
FLAGS_USED = ("workdir", "data_dir", "strategy", "num_cpu_devices", "tpu", common.RUN_SETTINGS,
              common.SAMPLER_SETTINGS, common.TRAIN_SETTINGS)


def run() -> None:
    if not FLAGS.workdir:
        raise ConfigError("--workdir is required: it receives the checkpoints and summaries")
    common.check_output_folder(FLAGS.workdir, "--workdir")  # Made when training starts.
    saved = common.saved_config_or_none(FLAGS.workdir)
    config = common.config_from_flags(saved)
    if saved is not None:
        run_config.check_resumable(saved, config, FLAGS.workdir)
    # TensorFlow only now, with the settings known to be good. The strategy comes first:
    # logical CPU devices can only be set up before TensorFlow makes any tensor.
    common.start_tensorflow()
    common.report_precision(config.precision)
    from tfncsn import builders, distribute, training
    from tfncsn.sampling.contract import Problem
    from tfncsn.sampling.stand_in import check_with_stand_in
    from tfncsn.sampling.score_source import ScoreSource, draw
    from tfncsn.data.errors import explained
    strategy = distribute.make_strategy(FLAGS.strategy, FLAGS.num_cpu_devices, FLAGS.tpu)
    dataset = builders.make_dataset(config.dataset, config.dataset_options, FLAGS.data_dir)
    sigmas = builders.make_sigmas(config.sigmas)
    objective = builders.make_training_objective(config)
    # The sampler of the snapshots and of later commands, checked before any training: its
    # options, and its steps traced with a stand-in score (the model may accept any sigma).
    problem = Problem(sigmas.numpy(), dataset.element_shape, dataset.prior_range,
                      continuous_sigma=True, sde=builders.make_sde(config))
    check_with_stand_in(builders.make_program(config.sampler, problem))

    def save_config():
        """Once the model is built and the checkpoint restored: a failed start writes nothing."""
        if distribute.is_chief(strategy):
            run_config.save(config, FLAGS.workdir, sigmas.numpy())

    def build_model():
        model = builders.model_for(config, dataset.element_shape, sigmas.numpy())
        builders.check_continuous_model(model, config)
        return model

    def snapshot(model):
        """16 samples with the run's sampler from the current weights, as one image."""
        source = ScoreSource.for_model(config, dataset, sigmas, model, "snapshot")
        samples = draw(source, 16, config.train.seed).x.numpy()
        if samples.ndim == 4:
            return figures.image_grid(dataset.to_pixels(samples))
        box = dataset.prior_range
        return np.asarray(figures.scatter_panels([("samples", samples.reshape(16, -1)[:, :2])],
                                                 box))

    stop = threading.Event()

    def request_stop(signum, frame):
        logging.warning("signal %d: writing a checkpoint, then stopping", signum)
        stop.set()

    previous = {s: signal.signal(s, request_stop) for s in (signal.SIGTERM, signal.SIGINT)}
    bar = progress_bar(config.train.steps, "train")
    try:
        def progress(step, total, loss):
            bar.n = step
            bar.set_postfix(loss=f"{loss:.4g}")
            bar.refresh()

        with explained(dataset):  # A file the data pipeline cannot read is named.
            hooks = training.Hooks(on_start=save_config, progress=progress, snapshot=snapshot,
                                   should_stop=stop.is_set)
            result = training.train(build_model, dataset, sigmas, config.train, FLAGS.workdir,
                                    strategy=strategy, hooks=hooks, continuous=objective)
    except training.TrainingDivergedError as e:
        raise ConfigError(f"{e}; lower --learning_rate, set --grad_clip_norm, or check the "
                          "data") from None
    finally:
        bar.close()
        for s, handler in previous.items():
            signal.signal(s, handler)
    if result.stopped_early:
        print(f"stopped at step {result.step}; checkpoint {result.checkpoint}; run the same "
              "command again to resume")
    elif math.isnan(result.loss):  # Resumed at or past --steps: no step ran.
        print(f"already trained to step {result.step}; checkpoint {result.checkpoint}; raise "
              "--steps to train further")
    else:
        print(f"trained to step {result.step}, loss {result.loss:.4g}; checkpoint "
              f"{result.checkpoint}")
