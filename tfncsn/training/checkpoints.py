"""Checkpoints: what they hold (`TrainState`), saving them with the data position, and
restoring a run or a model from them strictly (a checkpoint that does not fit is one line)."""

from __future__ import annotations

import dataclasses
import os

import keras
import tensorflow as tf
from absl import logging

from tfncsn import distribute

CHECKPOINT_DIR = "checkpoints"


class CheckpointError(RuntimeError):
    """A checkpoint cannot be restored into this run; nothing was overwritten."""


def model_weights(model: keras.Model) -> list[tf.Variable]:
    """The model's variables in a form `tf.train.Checkpoint` saves completely.

    Checkpointing a Keras 3 model object directly silently skips layers held in
    Python lists; the flat variable list (in deterministic construction order)
    holds every weight, and a restore into another architecture fails on shapes.
    The list is restored by position, so the construction order of the paper's
    networks is pinned by tests/test_hardening_checkpoints.py.
    """
    return list(model.variables)


@dataclasses.dataclass
class TrainState:
    """Everything a checkpoint holds."""

    step: tf.Variable
    model: keras.Model
    optimizer: keras.optimizers.Optimizer
    rng: tf.random.Generator
    ema: list[tf.Variable]  # Exponential moving average of the trainable weights, or [].

    def checkpoint(self, **extra) -> tf.train.Checkpoint:
        items = dict(step=self.step, model=model_weights(self.model), optimizer=self.optimizer,
                     rng=self.rng, **extra)
        if self.ema:
            items["ema"] = self.ema
        return tf.train.Checkpoint(**items)


def checkpoint_dir(workdir: str, strategy: tf.distribute.Strategy) -> str:
    """The chief writes to workdir; other workers to a scratch folder (MWMS needs them to save)."""
    if distribute.is_chief(strategy):
        return os.path.join(workdir, CHECKPOINT_DIR)
    index, _ = distribute.worker_info(strategy)
    return os.path.join(workdir, "tmp", f"worker-{index}", CHECKPOINT_DIR)


def holds_data_position(path: str) -> bool:
    return any(name.startswith("data/") for name, _ in tf.train.list_variables(path))


class Saver:
    """A CheckpointManager that also saves the data iterator's position when it can.

    Pipelines built from Python code (`from_generator`, `py_function`) cannot be
    serialized; their checkpoints then hold everything but the data position, so
    a resumed run restarts the data order (a one-time warning says so).
    """

    def __init__(self, state: TrainState, iterator, directory: str, keep: int,
                 with_data: bool):
        self._state, self._iterator = state, iterator
        self._directory, self._keep = directory, keep
        self._build(with_data)

    def _build(self, with_data: bool) -> None:
        self.with_data = with_data
        self.checkpoint = self._state.checkpoint(**({"data": self._iterator} if with_data else {}))
        self.manager = tf.train.CheckpointManager(self.checkpoint, self._directory,
                                                  max_to_keep=self._keep)

    @property
    def latest(self) -> str | None:
        return self.manager.latest_checkpoint

    def save(self, step: int) -> str:
        try:
            return self.manager.save(checkpoint_number=step)
        except tf.errors.OpError as e:
            if not self.with_data:
                raise
            logging.warning("the data pipeline cannot be checkpointed (%s); checkpoints will "
                            "not hold the data position, so a resumed run restarts the data "
                            "order", str(e).strip().splitlines()[0][:200])
            self._build(with_data=False)
            return self.manager.save(checkpoint_number=step)


def restore_or_explain(checkpoint: tf.train.Checkpoint, path: str, workdir: str):
    """Restores `path` strictly; any failure becomes one `CheckpointError` line."""
    try:
        return checkpoint.restore(path).assert_existing_objects_matched()
    except Exception as e:  # Truncated files raise IndexError, mismatches ValueError, ...
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(
            f"checkpoint '{path}' cannot be restored into this run ({type(e).__name__}: "
            f"{first[:300]}); it was left untouched: move it out of {workdir} to start "
            "afresh, or use a new --workdir") from e


def saved_steps(workdir: str) -> list[int]:
    """The training steps of the checkpoints `workdir` keeps (each is named ckpt-STEP),
    ascending, as its `checkpoint` file lists them."""
    state = tf.train.get_checkpoint_state(os.path.join(workdir, CHECKPOINT_DIR))
    paths = state.all_model_checkpoint_paths if state else []
    return sorted(int(path.rsplit("-", 1)[1]) for path in paths)


def checkpoint_path(workdir: str, step: int | None = None) -> str:
    """The checkpoint saved at training `step` (each is named after its step), or the latest."""
    directory = os.path.join(workdir, CHECKPOINT_DIR)
    if step is None:
        path = tf.train.latest_checkpoint(directory)
        if path is None:
            raise FileNotFoundError(f"no checkpoint in '{directory}'; train with "
                                    f"`tfncsn train --workdir={workdir} ...` first")
        return path
    path = os.path.join(directory, f"ckpt-{step}")
    if not tf.io.gfile.exists(path + ".index"):
        steps = saved_steps(workdir)
        held = (f"it holds steps {', '.join(map(str, steps))}" if steps
                else "it holds no checkpoint")
        raise FileNotFoundError(f"no checkpoint of step {step} in '{directory}': {held} "
                                "(training keeps the last --keep_checkpoints, one every "
                                "--checkpoint_every steps)")
    return path


def restore_model(model: keras.Model, workdir: str, use_ema: bool = True,
                  checkpoint_step: int | None = None) -> int:
    """Loads the weights of the checkpoint of training step `checkpoint_step` (default: the
    latest), its EMA weights when it has them; returns the checkpoint's step."""
    path = checkpoint_path(workdir, checkpoint_step)
    step = tf.Variable(0, dtype=tf.int64, trainable=False)
    has_ema = any(name.startswith("ema/") for name, _ in tf.train.list_variables(path))
    items = {"model": model_weights(model), "step": step}
    if has_ema and use_ema:
        items["ema"] = [tf.Variable(v) for v in model.trainable_variables]
    checkpoint = tf.train.Checkpoint(**items)
    try:
        checkpoint.restore(path).expect_partial().assert_existing_objects_matched()
    except Exception as e:  # Whatever the reason, the checkpoint does not fit.
        raise CheckpointError(f"checkpoint '{path}' does not fit this model "
                              f"({type(e).__name__}: {str(e).splitlines()[0][:300]})") from e
    for variable, average in zip(model.trainable_variables, items.get("ema", [])):
        variable.assign(average)
    return int(step.numpy())
