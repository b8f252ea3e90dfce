"""The custom training loop: strategy, checkpoints, summaries, progress.

The train step (`make_train_step`) is separate from the loop (`train`) and from
the model; one call runs many steps in a graph loop (`steps_per_call`), and the
loop logs, checkpoints, snapshots, checks for NaN and stops between calls, whose
sizes it chooses so that each of those happens at the step it is due.

Per step, the worker draws the noise of its whole batch once (from a seed
derived from the checkpointed generator and the worker index) and splits data
and noise over its replicas: every example gets its own noise level, and N
replicas compute exactly what one device would on the same global batch.
Losses are scaled by the GLOBAL batch size, so summing replicas gives the mean.
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

from tfncsn import distribute, losses, seeds
from tfncsn.config import ConfigError, TrainConfig
from tfncsn.interfaces import Dataset

CHECKPOINT_DIR = "checkpoints"
# The largest call size `StepsPerCall` chooses by itself (--steps_per_call=0).
MOST_STEPS_PER_CALL = 1000


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or Inf; the last good checkpoint was kept."""

    def __init__(self, loss: float, step: int, checkpoint: str | None):
        super().__init__(f"loss became {loss} at step {step}; kept the last good checkpoint "
                         f"({checkpoint or 'none yet'})")
        self.loss, self.step, self.checkpoint = loss, step, checkpoint


class CheckpointError(RuntimeError):
    """A checkpoint cannot be restored into this run; nothing was overwritten."""


@dataclasses.dataclass(frozen=True)
class TrainResult:
    step: int
    loss: float  # Mean loss over the last logging window; NaN when no step ran.
    checkpoint: str | None
    stopped_early: bool = False


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


def make_optimizer(config: TrainConfig, loss_scaling: bool = False
                   ) -> keras.optimizers.Optimizer:
    """Adam with the run's settings (paper Appendix B.2: learning rate 1e-3); with
    `loss_scaling`, wrapped in Keras's dynamic loss scaling (for float16 compute: the loss
    is scaled up before the backward pass, the gradients down before Adam, and a step
    whose gradients overflow is skipped and halves the scale)."""
    adam = keras.optimizers.Adam(config.learning_rate, beta_1=config.beta_1,
                                 epsilon=config.adam_epsilon)
    return keras.optimizers.LossScaleOptimizer(adam) if loss_scaling else adam


def needs_loss_scaling(model: keras.Model) -> bool:
    """Whether `model` computes in float16, whose small gradients underflow without it."""
    return model.dtype_policy.compute_dtype == "float16"


def make_objective(config: TrainConfig):
    """(draw, loss): draw(rng, shape, L) -> noise dict; loss(score_fn, x, sigmas, gbs, **noise)."""
    if config.loss == "ssm":
        return (functools.partial(losses.draw_ssm_noise, projection=config.ssm_projection),
                functools.partial(losses.ssm_from_noise,
                                  variance_reduced=config.ssm_variance_reduced))
    return losses.draw_dsm_noise, losses.dsm_from_noise


def split_for_replicas(strategy: tf.distribute.Strategy, tensors):
    """Distributes a structure of [B, ...] tensors: replica r gets rows r*B/R ... (r+1)*B/R."""
    replicas = strategy.num_replicas_in_sync
    local = replicas // distribute.worker_info(strategy)[1]

    def value_fn(context):
        index = context.replica_id_in_sync_group % local
        return tf.nest.map_structure(
            lambda t: tf.split(t, local, axis=0)[index], tensors)

    return strategy.experimental_distribute_values_from_function(value_fn)


def make_train_step(state: TrainState, sigmas: tf.Tensor, config: TrainConfig,
                    strategy: tf.distribute.Strategy, worker_index: int = 0):
    """Returns a `tf.function` `steps(iterator, num_steps)` running `num_steps` optimisation
    steps on the next batches inside one call (a graph loop: no host round trip per step).

    It returns each step's global mean loss [num_steps], the per-level loss sums and example
    counts over the steps, and the last step's global gradient norm (before clipping). The
    steps are the same whatever `num_steps` is: a run gives the same weights with one step
    per call or many.
    """
    draw, loss_fn = make_objective(config)
    num_levels = int(sigmas.shape[0])
    replicas = strategy.num_replicas_in_sync

    loss_scale = (state.optimizer.dynamic_scale if isinstance(
        state.optimizer, keras.optimizers.LossScaleOptimizer) else None)

    def loss_and_gradients(x, noise):
        with tf.GradientTape() as tape:
            out = loss_fn(lambda x, level: state.model(x, level, training=True), x, sigmas,
                          global_batch_size=config.batch_size, **noise)
            objective = out.loss if loss_scale is None else state.optimizer.scale_loss(out.loss)
        gradients = tape.gradient(objective, state.model.trainable_variables)
        # Level-embedding gradients come as IndexedSlices; the tables are tiny [L, C].
        return out, [tf.convert_to_tensor(g) for g in gradients]

    # One replica: the whole loop is compiled (below). Several: XLA cannot hold the
    # cross-replica step, so only each replica's forward and backward pass is compiled.
    whole_loop_xla = config.jit_compile and replicas == 1
    if config.jit_compile and not whole_loop_xla:
        loss_and_gradients = tf.function(loss_and_gradients, jit_compile=True)

    def replica_step(x, noise):
        out, gradients = loss_and_gradients(x, noise)
        variables = state.model.trainable_variables
        # All-reduce here so the norm (and clipping) sees the global gradient; Keras
        # sums the replicas' gradients again in apply(), hence the division below.
        context = tf.distribute.get_replica_context()
        gradients = context.all_reduce(tf.distribute.ReduceOp.SUM, gradients)
        grad_norm = tf.linalg.global_norm(gradients)  # Of the scaled ones when loss scaling.
        if config.grad_clip_norm > 0:
            clip_norm = config.grad_clip_norm * (1.0 if loss_scale is None else loss_scale)
            gradients, _ = tf.clip_by_global_norm(gradients, clip_norm, grad_norm)
        if loss_scale is not None:
            grad_norm = grad_norm / loss_scale
        state.optimizer.apply([g / replicas for g in gradients], variables)
        for average, variable in zip(state.ema, variables):
            average.assign(config.ema_decay * average + (1.0 - config.ema_decay) * variable)
        level_sums = tf.math.unsorted_segment_sum(out.per_example, out.levels, num_levels)
        level_counts = tf.math.unsorted_segment_sum(tf.ones_like(out.per_example), out.levels,
                                                    num_levels)
        return out.loss, level_sums, level_counts, grad_norm

    def step_inputs(iterator):
        """The next batch and its noise, drawn once for the whole batch."""
        x = next(iterator)
        seed = tf.random.experimental.stateless_fold_in(state.rng.make_seeds(1)[:, 0],
                                                        worker_index)
        return x, draw(losses.StatelessRNG(seed), tf.shape(x), num_levels)

    def step(x, noise):
        loss, level_sums, level_counts, grad_norm = strategy.run(
            replica_step, args=split_for_replicas(strategy, (x, noise)))
        reduce = functools.partial(strategy.reduce, tf.distribute.ReduceOp.SUM, axis=None)
        state.step.assign_add(1)
        return (reduce(loss), reduce(level_sums), reduce(level_counts),
                strategy.reduce(tf.distribute.ReduceOp.MEAN, grad_norm, axis=None))

    def run_steps(inputs_of_step, num_steps, size):
        """`num_steps` steps on inputs_of_step(i), losses in a [size] array. XLA needs `size`
        static (a Python int) as the loop's bound, or it compiles anew for every num_steps."""
        def body(i, step_losses, sums, counts, grad_norm):
            loss, level_sums, level_counts, grad_norm = step(*inputs_of_step(i))
            return (i + 1, step_losses.write(i, loss), sums + level_sums, counts + level_counts,
                    grad_norm)

        start = (tf.constant(0), tf.TensorArray(tf.float32, size=size),
                 tf.zeros([num_levels]), tf.zeros([num_levels]), tf.constant(0.0))
        _, step_losses, sums, counts, grad_norm = tf.while_loop(
            lambda i, *_: i < num_steps, body, start,
            maximum_iterations=size if isinstance(size, int) else None)
        return step_losses.stack(), sums, counts, grad_norm

    if not whole_loop_xla:
        @tf.function
        def steps(iterator, num_steps):
            return run_steps(lambda i: step_inputs(iterator), num_steps, num_steps)

        return steps

    # XLA compiles the loop, the optimizer and the EMA together; the iterator and the
    # generator stay outside it, so a graph loop first gathers the call's batches and noise
    # (the same ones, in the same order, as without XLA), padded to a capacity (a power of
    # two): at first as many steps as `padded_call_size` allows, later the largest call size
    # so far. A run compiles once per new capacity: small models (whose automatic call size
    # fits the first capacity) once, others at most twice with steps_per_call=0.
    @tf.function
    def gather(iterator, num_steps, capacity: int):
        first = step_inputs(iterator)
        arrays = [tf.TensorArray(t.dtype, size=num_steps, element_shape=t.shape).write(0, t)
                  for t in tf.nest.flatten(first)]
        for i in tf.range(1, num_steps):
            arrays = [a.write(i, t) for a, t in zip(arrays, tf.nest.flatten(step_inputs(iterator)))]
        padded = [tf.pad(a.stack(), [[0, capacity - num_steps]] + [[0, 0]] * a.element_shape.rank)
                  for a in arrays]
        return tf.nest.pack_sequence_as(first, padded)

    @tf.function(jit_compile=True)
    def compiled_steps(inputs, num_steps):
        capacity = tf.nest.flatten(inputs)[0].shape[0]
        return run_steps(lambda i: tf.nest.map_structure(lambda t: t[i], inputs), num_steps,
                         capacity)

    capacity = 0  # The loop size compiled last; calls up to it are padded to it.

    def steps(iterator, num_steps):
        nonlocal capacity
        capacity = capacity or padded_call_size(iterator.element_spec)
        if int(num_steps) > capacity:
            capacity = 1 << (int(num_steps) - 1).bit_length()
        step_losses, sums, counts, grad_norm = compiled_steps(
            gather(iterator, num_steps, capacity), num_steps)
        return step_losses[:int(num_steps)], sums, counts, grad_norm

    return steps


def padded_call_size(batch_spec: tf.TensorSpec, budget_bytes: int = 4 << 20) -> int:
    """The first call size the compiled loop is built for (a power of two, at most the one
    that holds `MOST_STEPS_PER_CALL`): as many steps as fit `budget_bytes` of padded inputs,
    counting three batches' bytes a step (the batch, its noise, and room for the levels and
    projections). A toy batch (1 KB) gets 1024 steps, so one compile serves every call; a
    28x28 batch of 64 (200 KB) gets 4. A batch of unknown shape gets 1."""
    elements = batch_spec.shape.num_elements() if isinstance(batch_spec, tf.TensorSpec) else None
    if elements is None:
        return 1
    batch_bytes = elements * batch_spec.dtype.size
    fits = max(1, budget_bytes // max(1, 3 * batch_bytes))
    return min(1 << (MOST_STEPS_PER_CALL - 1).bit_length(), 1 << (fits.bit_length() - 1))


class StepsPerCall:
    """How many steps the next call runs: `fixed`, or with `fixed=0` as many as take about
    `target_seconds`, judged once from the second call (one plain step; the first traces).

    The size is settled once so that an XLA-compiled loop, whose programs are compiled per
    call size, compiles no more than twice.
    """

    def __init__(self, fixed: int, target_seconds: float = 0.5,
                 most: int = MOST_STEPS_PER_CALL):
        self.fixed, self.target, self.most = fixed, target_seconds, most
        self.calls, self.settled = 0, 0

    def next(self) -> int:
        return self.fixed or self.settled or 1

    def measured(self, num_steps: int, seconds: float) -> None:
        self.calls += 1
        if self.calls == 2 and not self.fixed:
            per_step = seconds / num_steps
            self.settled = int(min(self.most, max(1, self.target / max(per_step, 1e-9))))


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


def _checkpoint_dir(workdir: str, strategy: tf.distribute.Strategy) -> str:
    """The chief writes to workdir; other workers to a scratch folder (MWMS needs them to save)."""
    if distribute.is_chief(strategy):
        return os.path.join(workdir, CHECKPOINT_DIR)
    index, _ = distribute.worker_info(strategy)
    return os.path.join(workdir, "tmp", f"worker-{index}", CHECKPOINT_DIR)


def _holds_data_position(path: str) -> bool:
    return any(name.startswith("data/") for name, _ in tf.train.list_variables(path))


class _Saver:
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
          hooks: Hooks | None = None) -> TrainResult:
    """Trains until `config.steps`, resuming from the latest checkpoint in `workdir`.

    Nothing is written to `workdir` before the model is built, the data pipeline
    made and the checkpoint (if any) restored, so a run that cannot start leaves
    the workdir as it was.

    Args:
      build_model: returns the score model with its weights created.
      strategy: a `tf.distribute` strategy; the default is one device.
      hooks: what the caller does around the loop (`Hooks`).
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
    saver = _Saver(state, iterator, _checkpoint_dir(workdir, strategy), config.keep_checkpoints,
                   with_data=latest is None or _holds_data_position(latest))
    checkpoint = saver.checkpoint
    if latest:
        restore_or_explain(checkpoint, latest, workdir)
        # The checkpoint holds the old learning rate; the configured one wins on resume.
        optimizer.learning_rate = config.learning_rate
        logging.warning("resumed from %s at step %d", latest, int(state.step.numpy()))
    if hooks.on_start is not None:
        hooks.on_start()
    train_steps = make_train_step(state, sigmas, config, strategy, worker_index)
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
