"""The training loop: strategy, resume, summaries, checkpoints, snapshots, stopping.

The loop (`train`) is separate from the step (`tfncsn.training.step`) and from the model;
one call runs many steps in a graph loop (`steps_per_call`), and the loop logs,
checkpoints, snapshots, checks for NaN and stops between calls, whose sizes it chooses so
that each of those happens at the step it is due.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from typing import Callable

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from tfncsn import distribute, losses, seeds
from tfncsn.config import ConfigError, TrainConfig
from tfncsn.interfaces import Dataset
from tfncsn.training.checkpoints import (CHECKPOINT_DIR, Saver, TrainState, checkpoint_dir,
                                         holds_data_position, restore_or_explain)
from tfncsn.training.step import StepsPerCall, make_optimizer, make_train_step, needs_loss_scaling


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or Inf; the last good checkpoint was kept."""

    def __init__(self, loss: float, step: int, checkpoint: str | None):
        super().__init__(f"loss became {loss} at step {step}; kept the last good checkpoint "
                         f"({checkpoint or 'none yet'})")
        self.loss, self.step, self.checkpoint = loss, step, checkpoint


@dataclasses.dataclass(frozen=True)
class TrainResult:
    step: int
    loss: float  # Mean loss over the last logging window; NaN when no step ran.
    checkpoint: str | None
    stopped_early: bool = False


def steps_to_boundary(step: int, config: TrainConfig) -> int:
    """Steps until the next step at which the loop logs, checkpoints, snapshots or ends."""
    periods = [config.log_every, config.checkpoint_every]
    if config.sample_every:
        periods.append(config.sample_every)
    return min(min((step // p + 1) * p for p in periods), config.steps) - step


def input_pipeline(dataset: Dataset, config: TrainConfig, worker_index: int = 0,
                   num_workers: int = 1) -> tf.data.Dataset:
    """This worker's shuffled, repeated batches (global batch / workers each)."""
    ds = dataset.load("train", training=True, seed=config.seed)
    if num_workers > 1:
        ds = ds.shard(num_workers, worker_index)
    return (ds.repeat()
            .shuffle(config.shuffle_buffer, seed=config.seed)
            .batch(config.batch_size // num_workers, drop_remainder=True)
            .prefetch(tf.data.AUTOTUNE))


@dataclasses.dataclass
class Hooks:
    """What a caller does around the training loop; every hook is optional.

    on_start(): once everything is checked, before the first write (the CLI saves
      config.json there).
    progress(step, total_steps, loss): after each logging window.
    snapshot(model) -> uint8 [H, W, C]: every `sample_every` steps, an image (e.g. a grid
      of samples) for TensorBoard's "samples".
    should_stop() -> bool: polled after every call; True (e.g. on SIGTERM) writes a
      checkpoint and ends the run with `stopped_early` set.
    """

    on_start: Callable[[], None] | None = None
    progress: Callable[[int, int, float], None] | None = None
    snapshot: Callable[[keras.Model], np.ndarray] | None = None
    should_stop: Callable[[], bool] | None = None


class SummaryWindow:
    """The losses of the steps since the last summary, written as one set of scalars."""

    def __init__(self, num_levels: int):
        self.num_levels = num_levels
        self._reset()

    def _reset(self) -> None:
        self.level_sums = np.zeros(self.num_levels)
        self.level_counts = np.zeros(self.num_levels)
        self.loss, self.steps = 0.0, 0
        self.started = time.perf_counter()

    def add(self, step_losses: np.ndarray, level_sums, level_counts) -> None:
        for loss in step_losses:  # In order, as Python floats: the same sum however grouped.
            self.loss += float(loss)
        self.steps += len(step_losses)
        self.level_sums += level_sums.numpy()
        self.level_counts += level_counts.numpy()

    def write(self, step: int, learning_rate: float, grad_norm: float) -> float:
        """Writes loss, loss per level, learning rate, gradient norm and steps/s to the
        default summary writer at `step`; returns the mean loss and starts a new window."""
        elapsed = time.perf_counter() - self.started
        mean_loss = self.loss / self.steps
        tf.summary.scalar("loss", mean_loss, step=step)
        for level, (s, c) in enumerate(zip(self.level_sums, self.level_counts)):
            if c:
                tf.summary.scalar(f"loss_per_level/{level}", s / c, step=step)
        tf.summary.scalar("learning_rate", learning_rate, step=step)
        tf.summary.scalar("grad_norm", grad_norm, step=step)
        tf.summary.scalar("steps_per_second", self.steps / max(elapsed, 1e-9), step=step)
        self._reset()
        return mean_loss


def train(build_model: Callable[[], keras.Model], dataset: Dataset, sigmas: tf.Tensor,
          config: TrainConfig, workdir: str, strategy: tf.distribute.Strategy | None = None,
          hooks: Hooks | None = None,
          continuous: losses.ContinuousDSM | losses.EDMObjective | None = None) -> TrainResult:
    """Trains until `config.steps`, resuming from the latest checkpoint in `workdir`.

    Nothing is written to `workdir` before the model is built, the data pipeline
    made and the checkpoint (if any) restored, so a run that cannot start leaves
    the workdir as it was.

    Args:
      build_model: returns the score model with its weights created.
      strategy: a `tf.distribute` strategy; the default is one device.
      hooks: what the caller does around the loop (`Hooks`).
      continuous: train in continuous time on an SDE (Song et al. 2021), or with EDM's
        log-normal sigmas (Karras et al. 2022), instead of at the levels `sigmas` (which
        then only bin the per-level summaries).
    """
    hooks = hooks or Hooks()
    strategy = strategy or tf.distribute.get_strategy()
    initial_share = config.ema_decay ** config.steps if config.ema_decay > 0 else 0.0
    if initial_share > 0.01:  # The average starts from the initial weights, unscaled.
        logging.warning("ema_decay %g over %d steps leaves %.0f%% of the random initial weights "
                        "in the EMA that sampling uses; train longer or lower ema_decay (below "
                        "%.4g keeps them under 1%%)", config.ema_decay, config.steps,
                        100 * initial_share, 0.01 ** (1 / config.steps))
    if config.batch_size % strategy.num_replicas_in_sync:
        raise ConfigError(f"batch_size {config.batch_size} does not divide over "
                         f"{strategy.num_replicas_in_sync} replicas; use a multiple of it")
    worker_index, num_workers = distribute.worker_info(strategy)
    keras.utils.set_random_seed(config.seed)  # Python, NumPy, TF and Keras initialisers.
    with strategy.scope():
        model = build_model()
        optimizer = make_optimizer(config, loss_scaling=needs_loss_scaling(model))
        optimizer.build(model.trainable_variables)
        ema = [tf.Variable(v, trainable=False, aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
               for v in model.trainable_variables] if config.ema_decay > 0 else []
    # Host-side state: the data iterator and the generator the noise seeds come from.
    iterator = iter(input_pipeline(dataset, config, worker_index, num_workers))
    state = TrainState(step=tf.Variable(0, dtype=tf.int64, trainable=False), model=model,
                       optimizer=optimizer, rng=seeds.generator(config.seed),
                       ema=ema)
    latest = tf.train.latest_checkpoint(os.path.join(workdir, CHECKPOINT_DIR))
    saver = Saver(state, iterator, checkpoint_dir(workdir, strategy), config.keep_checkpoints,
                   with_data=latest is None or holds_data_position(latest))
    checkpoint = saver.checkpoint
    if latest:
        restore_or_explain(checkpoint, latest, workdir)
        # The checkpoint holds the old learning rate; the configured one wins on resume.
        optimizer.learning_rate = config.learning_rate
        logging.warning("resumed from %s at step %d", latest, int(state.step.numpy()))
    if hooks.on_start is not None:
        hooks.on_start()
    train_steps = make_train_step(state, sigmas, config, strategy, worker_index, continuous)
    per_call = StepsPerCall(config.steps_per_call)
    chief = distribute.is_chief(strategy)
    writer = (tf.summary.create_file_writer(os.path.join(workdir, "train")) if chief
              else tf.summary.create_noop_writer())
    window = SummaryWindow(int(sigmas.shape[0]))
    mean_loss = math.nan
    step = int(state.step.numpy())
    last_saved = step if latest else None
    while step < config.steps:
        num_steps = min(per_call.next(), steps_to_boundary(step, config))
        started = time.perf_counter()
        step_losses, sums, counts, grad_norm = train_steps(iterator, tf.constant(num_steps))
        step_losses = step_losses.numpy()
        per_call.measured(num_steps, time.perf_counter() - started)
        bad = np.flatnonzero(~np.isfinite(step_losses))
        if bad.size:
            raise TrainingDivergedError(float(step_losses[bad[0]]), step + int(bad[0]) + 1,
                                        saver.latest)
        step += num_steps
        window.add(step_losses, sums, counts)
        if step % config.log_every == 0 or step == config.steps:
            with writer.as_default():
                mean_loss = window.write(step, float(tf.convert_to_tensor(
                    optimizer.learning_rate)), float(grad_norm))
            if hooks.progress is not None:
                hooks.progress(step, config.steps, mean_loss)
        if (hooks.snapshot is not None and config.sample_every
                and step % config.sample_every == 0):
            with writer.as_default(step=step):
                tf.summary.image("samples", hooks.snapshot(model)[None])
        if step % config.checkpoint_every == 0:
            saver.save(step)
            last_saved = step
        if hooks.should_stop is not None and hooks.should_stop():
            break
    if last_saved != step:
        saver.save(step)
    writer.flush()
    return TrainResult(step=step, loss=mean_loss,
                       checkpoint=tf.train.latest_checkpoint(os.path.join(workdir, CHECKPOINT_DIR)),
                       stopped_early=step < config.steps)
