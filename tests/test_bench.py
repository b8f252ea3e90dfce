"""The benchmark's own arithmetic (the timed runs are in test_cli_images' slow bench test)."""

import keras
import pytest
import tensorflow as tf

from tfncsn import bench
from tfncsn.cli import bench as bench_cli
from tfncsn.cli.bench import fraction_of_peak


class MatmulScore(keras.Model):
    """score = x W: 2 * 4 * 3 floating-point operations per example."""

    def __init__(self):
        super().__init__()
        self.w = self.add_weight(shape=(4, 3), initializer="ones")

    def call(self, x, level, training=False):
        return tf.matmul(x, self.w)


def test_forward_flops_count_a_multiply_add_as_two():
    assert bench.forward_flops(MatmulScore(), (4,)) == 24


def test_the_paper_network_costs_3_9_gflop_per_28x28_image():
    from tfncsn import builders
    model = builders.make_model("refinenet", {"ngf": 64}, (28, 28, 1), [1.0, 0.1])
    assert bench.forward_flops(model, (28, 28, 1)) / 1e9 == pytest.approx(3.9, abs=0.05)


def test_matmul_peak_and_cpu_description():
    assert bench.matmul_gflops("float32", size=128, repeats=2) > 0
    name, features = bench.cpu_description()
    assert name and set(features) <= set(bench.CPU_FEATURES)


def test_fractions_are_of_the_peak_of_the_dtype_the_precision_computes_in():
    peaks = {"float32": 200.0, "bfloat16": 400.0, "float16": 100.0}
    assert fraction_of_peak(100.0, "float32", peaks) == 0.5
    assert fraction_of_peak(100.0, "mixed_bfloat16", peaks) == 0.25
    assert fraction_of_peak(100.0, "mixed_float16", peaks) == 1.0


def test_a_failed_configuration_reports_its_reason_not_tensorflow_log_lines():
    row, error = bench_cli._run(['{"shape": [2], "no_such_field": 1}'])
    assert row is None and "no_such_field" in error and "cuda" not in error.lower()


def test_a_configuration_past_the_time_limit_is_stopped_and_says_so():
    row, error = bench_cli._run(["--machine"], timeout=0.01)
    assert row is None and "--bench_timeout=0.01 s" in error
