"""Choosing a `tf.distribute` strategy by name.

    default       one device (the first GPU if there is one, else the CPU)
    mirrored      all local GPUs; with num_cpu_devices = N > 1, N logical CPU devices (testing)
    multi_worker  MultiWorkerMirroredStrategy, cluster and task from the TF_CONFIG variable
    tpu           TPUStrategy on the TPU named by --tpu (or found by the cluster resolver)
"""

from __future__ import annotations

import json
import os

import tensorflow as tf

STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")


class StrategyError(RuntimeError):
    """The requested strategy cannot run here; the message says why."""


def split_cpu(num_devices: int) -> None:
    """Splits the CPU into `num_devices` logical devices; must run before TF starts."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * num_devices)
    except RuntimeError as e:
        raise StrategyError(f"cannot split the CPU after TensorFlow started: {e}") from e


def make_strategy(name: str, num_cpu_devices: int = 0, tpu: str = "") -> tf.distribute.Strategy:
    if name not in STRATEGIES:
        raise StrategyError(f"unknown strategy '{name}'; use one of {', '.join(STRATEGIES)}")
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        if num_cpu_devices > 1:
            split_cpu(num_cpu_devices)
            return tf.distribute.MirroredStrategy(
                [f"/cpu:{i}" for i in range(num_cpu_devices)])
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        config = os.environ.get("TF_CONFIG")
        if not config:
            raise StrategyError("--strategy=multi_worker needs the TF_CONFIG environment "
                                "variable (cluster and task); see the README")
        try:
            json.loads(config)
        except json.JSONDecodeError as e:
            raise StrategyError(f"TF_CONFIG is not valid JSON: {e}") from e
        if num_cpu_devices > 1:
            split_cpu(num_cpu_devices)
        return tf.distribute.MultiWorkerMirroredStrategy()
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, tf.errors.OpError, RuntimeError) as e:
        raise StrategyError(f"no TPU found ({str(e).splitlines()[0]}); use another "
                            "--strategy") from e
    return tf.distribute.TPUStrategy(resolver)


def worker_info(strategy: tf.distribute.Strategy) -> tuple[int, int]:
    """(this worker's index, number of workers); (0, 1) without a cluster."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return 0, 1
    workers = len(resolver.cluster_spec().as_dict().get("worker", [])) or 1
    return int(resolver.task_id or 0), workers


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Only the chief writes the real checkpoints and summaries."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True
    task_type = resolver.task_type
    return task_type in (None, "chief") or (
        task_type == "worker" and resolver.task_id == 0
        and "chief" not in resolver.cluster_spec().as_dict())
