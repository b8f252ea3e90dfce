"""Throughput of a score network: `python -m tfncsn.bench CONFIG_JSON`, or `--machine`.

One configuration per process, so the peak memory (ru_maxrss) belongs to it alone.
`measure` times the real train step, the forward pass, a whole sampler run and (on
request) the network in ONNX Runtime; `machine` states what the CPU can do: the
float32/bfloat16/float16 matmul rate that each figure is a fraction of.
`tfncsn bench` runs the configurations and writes the table.
"""

from __future__ import annotations

import dataclasses
import json
import os
import resource
import sys
import time

import keras
import numpy as np
import tensorflow as tf

from tfncsn import builders, hardware, seeds, training
from tfncsn.config import SamplerConfig, SigmaConfig, TrainConfig
from tfncsn.sampling.contract import Problem
from tfncsn.sampling.runner import Runner

# A backward pass costs about twice the forward (two matmuls per forward one), so a train
# step is about three forward passes of floating-point work.
TRAIN_FLOPS_PER_FORWARD = 3
MATMUL_DTYPES = ("float32", "bfloat16", "float16")


@dataclasses.dataclass(frozen=True)
class BenchConfig:
    model: str
    model_options: dict
    shape: tuple[int, ...]
    batch_size: int
    jit_compile: bool
    precision: str = "float32"
    steps: int = 5  # Timed steps after the warm-up (which includes tracing/compiling).
    sampler_steps_per_level: int = 2  # Annealed Langevin, L = 10: 20 evaluations per sample.
    onnx: bool = False  # Also convert the network and time it in ONNX Runtime (float32).


def forward_flops(model: keras.Model, shape) -> int:
    """Floating-point operations of one forward pass on one example (a multiply-add is 2),
    as TensorFlow's profiler counts them on the traced graph."""
    concrete = tf.function(lambda x, level: model(x, level, training=False)).get_concrete_function(
        tf.TensorSpec([1, *shape], tf.float32), tf.TensorSpec([1], tf.int32))
    options = (tf.compat.v1.profiler.ProfileOptionBuilder(
        tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()).with_empty_output().build())
    return int(tf.compat.v1.profiler.profile(concrete.graph, options=options).total_float_ops)


def _rate(run, items: int, repeats: int) -> float:
    """Items per second of `repeats` calls of `run` (which returns something to wait on)."""
    started = time.perf_counter()
    for _ in range(repeats):
        out = run()
    np.asarray(out)
    return items * repeats / (time.perf_counter() - started)


def measure(config: BenchConfig) -> dict:
    """Images/s of the real train step, score evaluations/s of the forward pass and of a
    whole annealed Langevin run, and with `onnx` of the network in ONNX Runtime."""
    sigmas = builders.make_sigmas(SigmaConfig())
    keras.utils.set_random_seed(0)
    model = builders.make_model(config.model, config.model_options, config.shape,
                                sigmas.numpy(), config.precision)
    train_config = TrainConfig(batch_size=config.batch_size, jit_compile=config.jit_compile)
    optimizer = training.make_optimizer(train_config, training.needs_loss_scaling(model))
    optimizer.build(model.trainable_variables)
    state = training.TrainState(step=tf.Variable(0, dtype=tf.int64), model=model,
                                optimizer=optimizer, rng=seeds.generator(0), ema=[])
    step = training.make_train_step(state, sigmas, train_config, tf.distribute.get_strategy())
    x = tf.random.uniform([config.batch_size, *config.shape])
    batches = iter(tf.data.Dataset.from_tensors(x).repeat())

    started = time.perf_counter()
    # Warm-up: tracing; with jit_compile XLA compiles per call size, so the timed size.
    step(batches, tf.constant(config.steps if config.jit_compile else 1))[0].numpy()
    warmup = time.perf_counter() - started
    # One call of all the timed steps, as training makes them.
    train_rate = _rate(lambda: step(batches, tf.constant(config.steps))[0],
                       config.batch_size * config.steps, 1)

    score = tf.function(lambda x, level: model(x, level, training=False),
                        jit_compile=config.jit_compile)
    levels = tf.zeros([config.batch_size], tf.int32)
    score(x, levels).numpy()
    score_rate = _rate(lambda: score(x, levels), config.batch_size, config.steps)

    program = builders.make_program(
        SamplerConfig("annealed_langevin", {"steps_per_level": config.sampler_steps_per_level}),
        Problem(sigmas=sigmas.numpy(), element_shape=tuple(config.shape)))
    runner = Runner(program, score)
    rng = seeds.generator(1)  # One generator: the timed run reuses the trace.
    runner(rng, config.batch_size)  # Warm-up: tracing.
    sampler_rate = _rate(lambda: runner(rng, config.batch_size).x,
                         config.batch_size * program.score_evaluations, 1)

    flops = forward_flops(model, config.shape)
    result = {
        **dataclasses.asdict(config),
        "parameters": int(model.count_params()),
        "forward_gflop_per_example": round(flops / 1e9, 4),
        "warmup_seconds": round(warmup, 2),
        "train_images_per_second": round(train_rate, 3),
        "train_gflops": round(train_rate * TRAIN_FLOPS_PER_FORWARD * flops / 1e9, 1),
        "score_evaluations_per_second": round(score_rate, 3),
        "score_gflops": round(score_rate * flops / 1e9, 1),
        "sampler_evaluations_per_second": round(sampler_rate, 3),
    }
    if config.onnx:
        result["onnx_score_evaluations_per_second"] = round(
            onnx_rate(model, config.shape, config.batch_size, config.steps), 3)
    result["peak_memory_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return result


def onnx_rate(model: keras.Model, shape, batch_size: int, repeats: int) -> float:
    """Score evaluations/s of `model` converted as the export converts it, in ONNX Runtime
    with as many threads as CPUs (float32: exports are float32 whatever the run trained in)."""
    import onnxruntime

    from tfncsn_export import exporter

    network = exporter.convert_score_network(exporter.score_functions(model)[0], shape)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = os.cpu_count() or 1
    session = onnxruntime.InferenceSession(network.SerializeToString(), options,
                                           providers=["CPUExecutionProvider"])
    feed = {"x": np.random.default_rng(0).uniform(size=(batch_size, *shape)).astype(np.float32),
            "level": np.zeros([batch_size], np.int32)}
    session.run(None, feed)
    return _rate(lambda: session.run(None, feed)[0], batch_size, repeats)


def matmul_gflops(dtype: str, size: int = 2048, repeats: int = 10) -> float:
    """GFLOP/s of a size x size matmul in `dtype` (2 size^3 operations each), compiled."""
    a = tf.cast(tf.random.stateless_normal([size, size], seed=[0, 0]), dtype)
    product = tf.function(lambda a: tf.matmul(a, a))
    product(a).numpy()
    return _rate(lambda: product(a), 1, repeats) * 2 * size ** 3 / 1e9


def machine() -> dict:
    """What the figures are measured against: CPU, its features and its matmul peak per dtype."""
    name, features = hardware.cpu_description()
    return {"cpu": name, "cpus": os.cpu_count(), "features": features,
            "tensorflow": tf.__version__,
            "matmul_gflops": {dtype: round(matmul_gflops(dtype), 1) for dtype in MATMUL_DTYPES}}


if __name__ == "__main__":
    if sys.argv[1:] == ["--machine"]:
        print(json.dumps(machine()))
    else:
        fields = json.loads(sys.argv[1])
        fields["shape"] = tuple(fields["shape"])
        print(json.dumps(measure(BenchConfig(**fields))))
