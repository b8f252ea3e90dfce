"""The train step: optimizer, objective, the replicas' split of a batch and its noise, and
the compiled loop that runs many steps per call (docs/algorithms.md section 8).

Per step, the worker draws the noise of its whole batch once (from a seed
derived from the checkpointed generator and the worker index) and splits data
and noise over its replicas: every example gets its own noise level, and N
replicas compute exactly what one device would on the same global batch.
Losses are scaled by the GLOBAL batch size, so summing replicas gives the mean.
"""

from __future__ import annotations

import functools

import keras
import tensorflow as tf

from tfncsn import distribute, losses
from tfncsn.config import TrainConfig
from tfncsn.training.checkpoints import TrainState

# The largest call size `StepsPerCall` chooses by itself (--steps_per_call=0).
MOST_STEPS_PER_CALL = 1000


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


Objective = losses.ContinuousDSM | losses.EDMObjective | None


def make_objective(config: TrainConfig, continuous: Objective = None):
    """(draw, loss, score_input): draw(rng, shape, L) -> noise dict; loss(score_fn, x, sigmas,
    gbs, **noise); score_input "level" (score_fn(x, level)) or "sigma" (continuous time:
    score_fn(x, std(t)), or EDM's log-normal sigma, through the model's `score_at_sigma`)."""
    if isinstance(continuous, losses.EDMObjective):
        def draw(rng, x_shape, num_levels):
            del num_levels  # EDM draws sigma, not levels.
            return losses.draw_edm_noise(rng, x_shape, continuous.p_mean, continuous.p_std)

        def loss(score_fn, x, sigmas, global_batch_size=None, **noise):
            return losses.edm_from_noise(score_fn, x, sigmas, sigma_data=continuous.sigma_data,
                                         global_batch_size=global_batch_size, **noise)

        return draw, loss, "sigma"
    if continuous is not None:
        def draw(rng, x_shape, num_levels):
            del num_levels  # Continuous time draws t, not levels.
            return losses.draw_continuous_dsm_noise(rng, x_shape, continuous.t_min)

        def loss(score_fn, x, sigmas, global_batch_size=None, **noise):
            return losses.continuous_dsm_from_noise(
                score_fn, x, continuous.sde, num_bins=int(sigmas.shape[0]),
                t_min=continuous.t_min, weighting=continuous.weighting,
                global_batch_size=global_batch_size, **noise)

        return draw, loss, "sigma"
    if config.loss == "ssm":
        return (functools.partial(losses.draw_ssm_noise, projection=config.ssm_projection),
                functools.partial(losses.ssm_from_noise,
                                  variance_reduced=config.ssm_variance_reduced), "level")
    return losses.draw_dsm_noise, losses.dsm_from_noise, "level"


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
                    strategy: tf.distribute.Strategy, worker_index: int = 0,
                    continuous: Objective = None):
    """Returns a `tf.function` `steps(iterator, num_steps)` running `num_steps` optimisation
    steps on the next batches inside one call (a graph loop: no host round trip per step).

    It returns each step's global mean loss [num_steps], the per-level loss sums and example
    counts over the steps, and the last step's global gradient norm (before clipping). The
    steps are the same whatever `num_steps` is: a run gives the same weights with one step
    per call or many. With `continuous`, the objective is continuous-time DSM on its SDE
    and the per-level figures are per bin of t, or EDM's, binned at the nearest level.
    """
    draw, loss_fn, score_input = make_objective(config, continuous)
    num_levels = int(sigmas.shape[0])
    replicas = strategy.num_replicas_in_sync

    loss_scale = (state.optimizer.dynamic_scale if isinstance(
        state.optimizer, keras.optimizers.LossScaleOptimizer) else None)

    def loss_and_gradients(x, noise):
        with tf.GradientTape() as tape:
            if score_input == "sigma":
                score_fn = functools.partial(state.model.score_at_sigma, training=True)
            else:
                score_fn = lambda x, level: state.model(x, level, training=True)  # noqa: E731
            out = loss_fn(score_fn, x, sigmas, global_batch_size=config.batch_size, **noise)
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
