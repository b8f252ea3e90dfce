"""Runs a step program (`contract.Sampler`): eagerly with progress, or inside a graph.

Both runners draw the randomness from one `tf.random.Generator` in the same
order: the prior (x), then for each step k the program's `noise` entries in
order, skipping those not due at k (`Noise.every`). The same seed therefore
gives the same samples however the steps are grouped into calls.
"""

from __future__ import annotations

import re
from typing import Any, Callable, NamedTuple

import numpy as np
import tensorflow as tf

from tfncsn.interfaces import ScoreFn
from tfncsn.sampling.checks import check_step_result
from tfncsn.sampling.contract import Noise, Prior, Sampler, SamplerError, State, label_of, last_line
from tfncsn_runtime.noise import is_due, noise_shape  # The rule every runtime follows.

Callback = Callable[[dict[str, Any]], None]
DEFAULT_STEPS_PER_CALL = 10


class SamplerOutput(NamedTuple):
    x: tf.Tensor  # Final samples [N, *shape].
    states: tf.Tensor | None  # [K', N, *shape]: x every `keep_every` steps, or None.


def draw_prior(prior: Prior, rng: tf.random.Generator, shape) -> tf.Tensor:
    """The initial x: U[low, high]^D (Algorithm 1, line 1) or N(0, std^2 I) (the VE SDE prior)."""
    if prior.kind == "uniform":
        return rng.uniform(shape, minval=prior.low, maxval=prior.high, dtype=tf.float32)
    return prior.std * rng.normal(shape, dtype=tf.float32)


def _draw(noise: Noise, rng: tf.random.Generator, shape) -> tf.Tensor:
    if noise.distribution == "uniform":
        return rng.uniform(shape, dtype=tf.float32)
    return rng.normal(shape, dtype=tf.float32)


def draw_noise(program: Sampler, rng: tf.random.Generator, k, batch) -> State:
    """The draws of step k by the runtimes' rule (tfncsn_runtime.noise): an entry not due at k
    (k % every != 0) is zeros and draws nothing."""
    out = {}
    for noise in program.noise:
        shape = noise_shape(noise.per, batch, program.problem.element_shape)
        due = is_due(k, noise.every)
        if isinstance(due, (bool, np.bool_)):  # every == 1, or k a Python int.
            out[noise.name] = _draw(noise, rng, shape) if due else tf.zeros(shape, tf.float32)
        else:
            out[noise.name] = tf.cond(due, lambda n=noise, s=shape: _draw(n, rng, s),
                                      lambda s=shape: tf.zeros(s, tf.float32))
    return out


def initial_state(program: Sampler, rng: tf.random.Generator, batch) -> State:
    """x from the prior; every other state tensor zeros."""
    state = {}
    for name, per in program.state.items():
        full = noise_shape(per, batch, program.problem.element_shape)
        state[name] = (draw_prior(program.prior, rng, full) if name == "x"
                       else tf.zeros(full, tf.float32))
    return state


def run_in_graph(program: Sampler, score_fn: ScoreFn, rng: tf.random.Generator,
                 num_samples) -> tf.Tensor:
    """The whole program as one `tf.while_loop` (for `tf.function` and the SavedModel)."""
    state = initial_state(program, rng, num_samples)
    for k in tf.range(program.num_steps):
        new = program.step(score_fn, state, k, draw_noise(program, rng, k, num_samples))
        state = check_step_result(program, new, state)
    return program.finish(score_fn, state)


class Runner:
    """Runs a program in calls of several steps each (one `tf.function`), with a callback.

    Args:
      program: the sampler.
      score_fn: the score function `program.score_input` asks for.
      steps_per_call: steps per compiled call (progress is reported per call).
    """

    def __init__(self, program: Sampler, score_fn: ScoreFn,
                 steps_per_call: int = DEFAULT_STEPS_PER_CALL):
        if steps_per_call < 1:
            raise ValueError(f"steps_per_call must be at least 1, got {steps_per_call}")
        self.program, self.score_fn, self.steps_per_call = program, score_fn, steps_per_call
        self._advance = tf.function(self._steps)
        self._finish = tf.function(lambda state: program.finish(score_fn, state))

    def _steps(self, state: State, start: tf.Tensor, count: tf.Tensor, rng) -> State:
        batch = tf.shape(state["x"])[0]
        for i in tf.range(count):
            k = start + i
            new = self.program.step(self.score_fn, state, k, draw_noise(self.program, rng, k,
                                                                        batch))
            state = check_step_result(self.program, new, state)
        return state

    def check(self, rng: tf.random.Generator, num_samples: int) -> None:
        """Traces the steps on the run's shapes (`num_samples` examples) with `rng`, the
        generator the run will use, so the run reuses the trace; a step that fails or returns
        a state of other names, shapes or dtypes (`checks.check_step_result`) stops here,
        before any work, with one line naming the plugin."""
        program = self.program
        specs = {name: tf.TensorSpec([num_samples] + ([] if per == "example"
                                                      else list(program.problem.element_shape)),
                                     tf.float32) for name, per in program.state.items()}
        try:
            self._advance.get_concrete_function(specs, tf.TensorSpec([], tf.int32),
                                                tf.TensorSpec([], tf.int32), rng)
        except Exception as e:  # noqa: BLE001 -- any tracing error is the plugin's.
            line = _with_type(e)
            # The contract check's own line, which AutoGraph wraps in a StagingError.
            contract = re.search(rf"\b{SamplerError.__name__}: (.*)$", line)
            if contract:
                raise SamplerError(contract.group(1)) from None
            raise SamplerError(f"{label_of(program)}: step failed: {line}") from None

    def __call__(self, rng: tf.random.Generator, num_samples: int, *,
                 callback: Callback | None = None, keep_every: int = 0) -> SamplerOutput:
        """Draws `num_samples` samples; `callback` gets {"x", "step", "num_steps", "sigma"}
        after every call ("step" = steps done so far)."""
        if keep_every < 0:
            raise ValueError(f"keep_every must be >= 0, got {keep_every}")
        program = self.program
        total = program.num_steps
        state = initial_state(program, rng, num_samples)
        step_sigmas = program.step_sigmas  # Computed once, for the callback.
        kept = []
        done = 0
        while done < total:
            end = min(done + self.steps_per_call, total)
            if keep_every:
                end = min(end, (done // keep_every + 1) * keep_every)
            state = self._advance(state, tf.constant(done, tf.int32),
                                  tf.constant(end - done, tf.int32), rng)
            done = end
            if keep_every and done % keep_every == 0:
                kept.append(state["x"])
            if callback is not None:
                callback({"x": state["x"], "step": done, "num_steps": total,
                          "sigma": float(step_sigmas[done - 1])})
        x = self._finish(state) if program.has_finish else state["x"]
        return SamplerOutput(x, tf.stack(kept) if kept else None)


def _with_type(error: Exception) -> str:
    line = last_line(error)
    return line if line.startswith(type(error).__name__) else f"{type(error).__name__}: {line}"
