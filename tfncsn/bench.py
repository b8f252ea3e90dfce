"""Training and sampling throughput of a score network: `python -m tfncsn.bench CONFIG_JSON`.

One configuration per process, so the peak memory (ru_maxrss) belongs to it
alone. `tfncsn bench` runs the configurations and writes the table.
"""

from __future__ import annotations

import dataclasses
import json
import resource
import sys
import time

import keras
import tensorflow as tf

from tfncsn import builders, training
from tfncsn.config import SigmaConfig, TrainConfig


@dataclasses.dataclass(frozen=True)
class BenchConfig:
    model: str
    model_options: dict
    shape: tuple[int, ...]
    batch_size: int
    jit_compile: bool
    steps: int = 5  # Timed steps after the warm-up (which includes tracing/compiling).


def measure(config: BenchConfig) -> dict:
    """Images/s of the real train step and score evaluations/s of the model's forward pass."""
    sigmas = builders.make_sigmas(SigmaConfig())
    keras.utils.set_random_seed(0)
    model = builders.make_model(config.model, config.model_options, config.shape, sigmas.numpy())
    train_config = TrainConfig(batch_size=config.batch_size, jit_compile=config.jit_compile)
    optimizer = training.make_optimizer(train_config)
    optimizer.build(model.trainable_variables)
    state = training.TrainState(step=tf.Variable(0, dtype=tf.int64), model=model,
                                optimizer=optimizer, rng=tf.random.Generator.from_seed(0), ema=[])
    step = training.make_train_step(state, sigmas, train_config, tf.distribute.get_strategy())
    x = tf.random.uniform([config.batch_size, *config.shape])
    batches = iter(tf.data.Dataset.from_tensors(x).repeat())

    started = time.perf_counter()
    step(batches, tf.constant(1))[0].numpy()  # Warm-up: tracing and, with jit_compile, XLA.
    warmup = time.perf_counter() - started
    started = time.perf_counter()
    step(batches, tf.constant(config.steps))[0].numpy()  # One call, as training makes them.
    train_time = time.perf_counter() - started

    score = tf.function(lambda x, level: model(x, level, training=False),
                        jit_compile=config.jit_compile)
    levels = tf.zeros([config.batch_size], tf.int32)
    score(x, levels).numpy()
    started = time.perf_counter()
    for _ in range(config.steps):
        out = score(x, levels)
    out.numpy()
    score_time = time.perf_counter() - started
    return {
        **dataclasses.asdict(config),
        "parameters": int(model.count_params()),
        "warmup_seconds": round(warmup, 2),
        "train_images_per_second": round(config.batch_size * config.steps / train_time, 3),
        "score_evaluations_per_second": round(config.batch_size * config.steps / score_time, 3),
        "peak_memory_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


if __name__ == "__main__":
    fields = json.loads(sys.argv[1])
    fields["shape"] = tuple(fields["shape"])
    print(json.dumps(measure(BenchConfig(**fields))))
