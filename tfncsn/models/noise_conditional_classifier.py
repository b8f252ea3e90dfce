"""A noise-conditional classifier p(y | x, sigma), its training loop and loading.

Classifier guidance (Song et al. 2021, Section 5, eq. 14 and Appendix I) needs
p_t(y | x(t)): a classifier of data perturbed to the sampler's current noise
level. The network sees x + sigma z with sigma drawn log-uniformly in
[sigma_min, sigma_max] and is trained with the cross-entropy of the labels
(`loss`). It is conditioned on sigma through an embedding of log sigma added to
every layer's features, and its input is scaled by 1 / sqrt(1 + sigma^2) so that
large levels do not blow up the activations.

The loop keeps what the score model's loop keeps (`tfncsn.training`): a
`tf.train.Checkpoint` (step, weights, optimizer, generator) under a
`CheckpointManager` in W/classifier/checkpoints, resume from the latest, and
`tf.summary` scalars (loss, accuracy, steps/s) in W/classifier/train. The data order
restarts on resume (the labelled pipelines are not checkpointed).
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from typing import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

from tfncsn import classifier_records as records, seeds
from tfncsn.classifier_records import ClassifierConfig
from tfncsn.config import ConfigError
from tfncsn.interfaces import HasLabels
from tfncsn.training import (CheckpointError, TrainingDivergedError, model_weights,
                             restore_or_explain)

CHECKPOINT_DIR = "checkpoints"


class NoiseConditionalClassifier(keras.Model):
    """Logits of p(y | x, sigma): convolutions for images [H, W, C], dense layers otherwise.

    Called as `model(x [N, *input_shape], sigma [N])` -> logits [N, num_classes].
    """

    def __init__(self, *, input_shape: Sequence[int], num_classes: int, width: int = 32,
                 **kwargs):
        super().__init__(**kwargs)
        self.data_shape = tuple(int(d) for d in input_shape)
        self.num_classes, self.width = int(num_classes), int(width)
        images = len(self.data_shape) == 3
        widths = (width, 2 * width, 2 * width) if images else (width, width)
        self.embed = keras.layers.Dense(width, activation="swish", name="sigma_embedding")
        if images:
            self.body = [keras.layers.Conv2D(w, 3, strides=1 if i == 0 else 2, padding="same",
                                             name=f"conv{i}") for i, w in enumerate(widths)]
        else:
            self.body = [keras.layers.Dense(w, name=f"dense{i}") for i, w in enumerate(widths)]
        self.project = [keras.layers.Dense(w, name=f"sigma_to_{i}") for i, w in enumerate(widths)]
        self.head = keras.layers.Dense(num_classes, name="logits")
        self.images = images

    def call(self, x, sigma):
        sigma = tf.reshape(tf.cast(sigma, tf.float32), [-1])
        embedding = self.embed(tf.math.log(sigma)[:, None])
        scale = tf.reshape(tf.math.rsqrt(1.0 + tf.square(sigma)),
                           [-1] + [1] * len(self.data_shape))
        h = x * scale
        if not self.images:
            h = tf.reshape(h, [tf.shape(h)[0], -1])
        for layer, project in zip(self.body, self.project):
            shift = project(embedding)
            h = keras.activations.swish(layer(h) + (shift[:, None, None, :] if self.images
                                                    else shift))
        if self.images:
            h = tf.reduce_mean(h, axis=[1, 2])
        return self.head(h)

    def get_config(self):
        return {"input_shape": list(self.data_shape), "num_classes": self.num_classes,
                "width": self.width}


def build(input_shape: Sequence[int], num_classes: int, width: int) -> NoiseConditionalClassifier:
    """The network with its weights created."""
    model = NoiseConditionalClassifier(input_shape=input_shape, num_classes=num_classes,
                                       width=width)
    model(tf.zeros([1, *input_shape]), tf.ones([1]))
    return model


def log_sigmas(rng, batch, sigma_range: tuple[float, float]) -> tf.Tensor:
    """sigma [batch], log-uniform in [low, high]."""
    low, high = (math.log(s) for s in sigma_range)
    return tf.exp(rng.uniform([batch], low, high))


def loss(model, x, labels, sigma, z):
    """Mean cross-entropy of `labels` for x + sigma z at sigma, and the accuracy."""
    sigma_b = tf.reshape(sigma, [-1] + [1] * (len(x.shape) - 1))
    logits = model(x + sigma_b * z, sigma)
    cross_entropy = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=labels, logits=logits))
    accuracy = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(logits, 1, output_type=labels.dtype),
                                               labels), tf.float32))
    return cross_entropy, accuracy


def labelled_batches(dataset, batch_size: int, seed: int) -> tf.data.Dataset:
    """Shuffled, repeated (x, label) batches of the train split (`load_labelled`)."""
    if not isinstance(dataset, HasLabels):
        raise ConfigError(f"dataset {type(dataset).__name__} has no labels (a plugin with "
                          "load_labelled, e.g. digits, mnist, fashion_mnist, cifar10)")
    return (dataset.load_labelled("train").repeat().shuffle(10_000, seed=seed)
            .batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE))


def count_classes(dataset) -> int:
    """1 + the largest label of the train split."""
    labels = dataset.load_labelled("train").map(lambda x, y: y).batch(4096)
    return int(max(int(tf.reduce_max(b)) for b in labels)) + 1


@dataclasses.dataclass(frozen=True)
class ClassifierResult:
    step: int
    loss: float  # Mean over the last logging window.
    accuracy: float  # Training accuracy over the same window (noisy inputs).
    checkpoint: str | None


def train(dataset, sigma_range: tuple[float, float], config: ClassifierConfig, workdir: str,
          progress: Callable[[int, int, float, float], None] | None = None) -> ClassifierResult:
    """Trains to `config.steps` into W/classifier/, resuming from its latest checkpoint.

    Nothing is written before the network is built and any checkpoint restored.
    """
    folder = records.directory(workdir)
    saved = (records.load(workdir) if os.path.exists(os.path.join(folder, records.CONFIG_FILE))
             else None)
    if saved is not None:
        records.check_resumable(saved["config"], config, workdir)
        num_classes = saved["num_classes"]
    else:
        num_classes = count_classes(dataset)
    keras.utils.set_random_seed(config.seed)
    model = build(dataset.element_shape, num_classes, config.width)
    optimizer = keras.optimizers.Adam(config.learning_rate)
    optimizer.build(model.trainable_variables)
    step = tf.Variable(0, dtype=tf.int64, trainable=False)
    rng = seeds.generator(config.seed)
    checkpoint = tf.train.Checkpoint(step=step, model=model_weights(model), optimizer=optimizer,
                                     rng=rng)
    manager = tf.train.CheckpointManager(checkpoint, os.path.join(folder, CHECKPOINT_DIR),
                                         max_to_keep=3)
    if manager.latest_checkpoint:
        restore_or_explain(checkpoint, manager.latest_checkpoint, folder)
        optimizer.learning_rate = config.learning_rate
    done = int(step.numpy())
    records.save(config, workdir, num_classes, sigma_range)
    iterator = iter(labelled_batches(dataset, config.batch_size, config.seed + done))

    @tf.function
    def steps(count):
        losses, accuracies = tf.TensorArray(tf.float32, count), tf.TensorArray(tf.float32, count)
        for i in tf.range(count):
            x, labels = next(iterator)
            sigma = log_sigmas(rng, tf.shape(x)[0], sigma_range)
            z = rng.normal(tf.shape(x))
            with tf.GradientTape() as tape:
                value, accuracy = loss(model, x, labels, sigma, z)
            gradients = tape.gradient(value, model.trainable_variables)
            optimizer.apply(gradients, model.trainable_variables)
            step.assign_add(1)
            losses, accuracies = losses.write(i, value), accuracies.write(i, accuracy)
        return losses.stack(), accuracies.stack()

    writer = tf.summary.create_file_writer(os.path.join(folder, "train"))
    mean_loss = mean_accuracy = math.nan
    window_loss, window_accuracy, window_steps, started = 0.0, 0.0, 0, time.perf_counter()
    while done < config.steps:
        boundary = min(min((done // p + 1) * p for p in (config.log_every,
                                                         config.checkpoint_every)),
                       config.steps)
        values, accuracies = (t.numpy() for t in steps(tf.constant(boundary - done)))
        if not np.all(np.isfinite(values)):
            raise TrainingDivergedError(float(values[~np.isfinite(values)][0]), boundary,
                                        manager.latest_checkpoint)
        done = boundary
        window_loss += float(values.sum())
        window_accuracy += float(accuracies.sum())
        window_steps += len(values)
        if done % config.log_every == 0 or done == config.steps:
            mean_loss, mean_accuracy = window_loss / window_steps, window_accuracy / window_steps
            with writer.as_default(step=done):
                tf.summary.scalar("loss", mean_loss)
                tf.summary.scalar("accuracy", mean_accuracy)
                tf.summary.scalar("steps_per_second",
                                  window_steps / max(time.perf_counter() - started, 1e-9))
            window_loss, window_accuracy, window_steps = 0.0, 0.0, 0
            started = time.perf_counter()
            if progress is not None:
                progress(done, config.steps, mean_loss, mean_accuracy)
        if done % config.checkpoint_every == 0 or done == config.steps:
            manager.save(checkpoint_number=done)
    writer.flush()
    return ClassifierResult(done, mean_loss, mean_accuracy, manager.latest_checkpoint)


def restore(workdir: str, input_shape: Sequence[int]) -> tuple[NoiseConditionalClassifier, int]:
    """The classifier of W/classifier/ with its latest weights, and its step."""
    record = records.load(workdir)
    model = build(input_shape, record["num_classes"], record["config"].width)
    path = tf.train.latest_checkpoint(os.path.join(records.directory(workdir), CHECKPOINT_DIR))
    if path is None:
        raise ConfigError(f"no classifier checkpoint in '{records.directory(workdir)}'; train "
                          f"with `tfncsn train-classifier --workdir={workdir}`")
    step = tf.Variable(0, dtype=tf.int64, trainable=False)
    try:
        tf.train.Checkpoint(step=step, model=model_weights(model)).restore(
            path).expect_partial().assert_existing_objects_matched()
    except Exception as e:  # Whatever the reason, the checkpoint does not fit.
        raise CheckpointError(f"classifier checkpoint '{path}' does not fit "
                              f"({type(e).__name__}: {str(e).splitlines()[0][:300]})") from e
    return model, int(step.numpy())


def log_prob_fn(model: NoiseConditionalClassifier):
    """log p(labels | x, sigma) [N] of the network, as `guided_score` takes it."""
    def log_prob(x, sigma, labels):
        logits = model(x, sigma)
        return -tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=tf.cast(labels, tf.int32), logits=logits)
    return log_prob
