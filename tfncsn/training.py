"""The custom training loop: strategy, checkpoints, summaries, progress.

The train step (`make_train_step`) is separate from the loop (`train`) and from
the model. Losses are scaled by the GLOBAL batch size inside each replica, so
summing the replicas' losses gives the mean over the global batch.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import time
from typing import Callable

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from tfncsn import losses
from tfncsn.config import TrainConfig
from tfncsn.interfaces import Dataset

CHECKPOINT_DIR = "checkpoints"


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or Inf; the last good checkpoint was kept."""


@dataclasses.dataclass(frozen=True)
class TrainResult:
    step: int
    loss: float  # Mean loss over the last logging window.
    checkpoint: str | None
    stopped_early: bool = False


@dataclasses.dataclass
class TrainState:
    """Everything a checkpoint holds."""

    step: tf.Variable
    model: keras.Model
    optimizer: keras.optimizers.Optimizer
    rng: tf.random.Generator

    def checkpoint(self, **extra) -> tf.train.Checkpoint:
        return tf.train.Checkpoint(step=self.step, model=model_weights(self.model),
                                   optimizer=self.optimizer, rng=self.rng, **extra)


def model_weights(model: keras.Model) -> list[tf.Variable]:
    """The model's variables in a form `tf.train.Checkpoint` saves completely.

    Checkpointing a Keras 3 model object directly silently skips layers held in
    Python lists; the flat variable list (in deterministic construction order)
    holds every weight, and a restore into another architecture fails on shapes.
    """
    return list(model.variables)


def make_loss_fn(config: TrainConfig) -> Callable[..., losses.LossOutput]:
    if config.loss == "ssm":
        return functools.partial(losses.ssm_loss, projection=config.ssm_projection,
                                 variance_reduced=config.ssm_variance_reduced)
    return losses.dsm_loss


def make_train_step(state: TrainState, sigmas: tf.Tensor, config: TrainConfig,
                    strategy: tf.distribute.Strategy):
    """Returns a `tf.function` running one optimisation step on a distributed batch.

    It returns the global mean loss, the per-level loss sums and example counts.
    """
    loss_fn = make_loss_fn(config)
    num_levels = int(sigmas.shape[0])

    def replica_step(x):
        with tf.GradientTape() as tape:
            # Divide by the global batch: replicas' losses are summed below.
            out = loss_fn(lambda x, level: state.model(x, level, training=True), x, sigmas,
                          state.rng, global_batch_size=config.batch_size)
        variables = state.model.trainable_variables
        gradients = tape.gradient(out.loss, variables)
        state.optimizer.apply(gradients, variables)
        level_sums = tf.math.unsorted_segment_sum(out.per_example, out.levels, num_levels)
        level_counts = tf.math.unsorted_segment_sum(tf.ones_like(out.per_example), out.levels,
                                                    num_levels)
        return out.loss, level_sums, level_counts, tf.linalg.global_norm(gradients)

    @tf.function
    def step(iterator):
        results = strategy.run(replica_step, args=(next(iterator),))
        loss, level_sums, level_counts, grad_norm = (
            strategy.reduce(tf.distribute.ReduceOp.SUM, r, axis=None) for r in results)
        state.step.assign_add(1)
        return loss, level_sums, level_counts, grad_norm / strategy.num_replicas_in_sync

    return step


def input_pipeline(dataset: Dataset, config: TrainConfig) -> tf.data.Dataset:
    """Shuffled, repeated, batched training examples with the dataset's augmentations."""
    ds = dataset.load("train", training=True, seed=config.seed)
    return (ds.repeat()
            .shuffle(config.shuffle_buffer, seed=config.seed)
            .batch(config.batch_size, drop_remainder=True)
            .prefetch(tf.data.AUTOTUNE))


def train(build_model: Callable[[], keras.Model], dataset: Dataset, sigmas: tf.Tensor,
          config: TrainConfig, workdir: str, strategy: tf.distribute.Strategy | None = None,
          progress: Callable[[int, int, float], None] | None = None,
          should_stop: Callable[[], bool] | None = None) -> TrainResult:
    """Trains until `config.steps`, resuming from the latest checkpoint in `workdir`.

    Args:
      build_model: returns the score model with its weights created.
      progress: called as progress(step, total_steps, loss) after each logging window.
      should_stop: polled after every step; when it returns True (e.g. on SIGTERM)
        a checkpoint is written and the result has `stopped_early` set.
    """
    strategy = strategy or tf.distribute.get_strategy()
    if config.batch_size % strategy.num_replicas_in_sync:
        raise ValueError(f"batch_size {config.batch_size} does not divide over "
                         f"{strategy.num_replicas_in_sync} replicas; use a multiple of it")
    tf.random.set_seed(config.seed)
    iterator = iter(strategy.experimental_distribute_dataset(input_pipeline(dataset, config)))
    with strategy.scope():
        model = build_model()
        optimizer = keras.optimizers.Adam(config.learning_rate, beta_1=config.beta_1)
        optimizer.build(model.trainable_variables)
        state = TrainState(step=tf.Variable(0, dtype=tf.int64, trainable=False), model=model,
                           optimizer=optimizer, rng=tf.random.Generator.from_seed(config.seed))
    checkpoint = state.checkpoint()
    manager = tf.train.CheckpointManager(checkpoint, os.path.join(workdir, CHECKPOINT_DIR),
                                         max_to_keep=config.keep_checkpoints)
    if manager.latest_checkpoint:
        checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
        # The checkpoint holds the old learning rate; the configured one wins on resume.
        optimizer.learning_rate = config.learning_rate
        logging.warning("resumed from %s at step %d", manager.latest_checkpoint,
                     int(state.step.numpy()))
    train_step = make_train_step(state, sigmas, config, strategy)
    writer = tf.summary.create_file_writer(os.path.join(workdir, "train"))
    num_levels = int(sigmas.shape[0])

    window_loss, window_steps = 0.0, 0
    level_sums, level_counts = np.zeros(num_levels), np.zeros(num_levels)
    mean_loss = math.nan
    window_start = time.perf_counter()
    step = int(state.step.numpy())
    while step < config.steps:
        loss, sums, counts, grad_norm = train_step(iterator)
        step += 1
        loss = float(loss)
        if not math.isfinite(loss):
            raise TrainingDivergedError(
                f"loss became {loss} at step {step}; kept the last good checkpoint "
                f"({manager.latest_checkpoint or 'none yet'}); lower --learning_rate or check "
                "the data")
        window_loss += loss
        window_steps += 1
        level_sums += sums.numpy()
        level_counts += counts.numpy()
        if step % config.log_every == 0 or step == config.steps:
            elapsed = time.perf_counter() - window_start
            mean_loss = window_loss / window_steps
            with writer.as_default(step=step):
                tf.summary.scalar("loss", mean_loss)
                for level, (s, c) in enumerate(zip(level_sums, level_counts)):
                    if c:
                        tf.summary.scalar(f"loss_per_level/{level}", s / c)
                tf.summary.scalar("learning_rate", float(optimizer.learning_rate))
                tf.summary.scalar("grad_norm", float(grad_norm))
                tf.summary.scalar("steps_per_second", window_steps / max(elapsed, 1e-9))
            if progress is not None:
                progress(step, config.steps, mean_loss)
            window_loss, window_steps = 0.0, 0
            level_sums[:], level_counts[:] = 0, 0
            window_start = time.perf_counter()
        if step % config.checkpoint_every == 0:
            manager.save(checkpoint_number=step)
        if should_stop is not None and should_stop():
            break
    if manager.latest_checkpoint is None or not manager.latest_checkpoint.endswith(f"-{step}"):
        manager.save(checkpoint_number=step)
    writer.flush()
    return TrainResult(step=step, loss=mean_loss, checkpoint=manager.latest_checkpoint,
                       stopped_early=step < config.steps)


def restore_model(model: keras.Model, workdir: str) -> int:
    """Loads the latest checkpoint's model weights; returns its training step."""
    directory = os.path.join(workdir, CHECKPOINT_DIR)
    path = tf.train.latest_checkpoint(directory)
    if path is None:
        raise FileNotFoundError(f"no checkpoint in '{directory}'; train with "
                                f"`tfncsn train --workdir={workdir} ...` first")
    step = tf.Variable(0, dtype=tf.int64, trainable=False)
    tf.train.Checkpoint(model=model_weights(model), step=step).restore(path).expect_partial() \
        .assert_existing_objects_matched()
    return int(step.numpy())
