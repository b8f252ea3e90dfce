"""The benchmark's own arithmetic (the timed runs are in test_cli_images' slow bench test)."""

import json

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


def test_matmul_peak_is_positive():
    assert bench.matmul_gflops("float32", size=128, repeats=2) > 0


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


def fake_run(log):
    """A stand-in for `_run`: round r's machine peak is 100 * r; a configuration's figures
    are its batch size times r, except that batch 2 fails in round 2."""
    state = {"round": 0}

    def run(args, timeout=None):
        log.append(args[0] if args == ["--machine"] else json.loads(args[0])["batch_size"])
        if args == ["--machine"]:
            state["round"] += 1
            r = state["round"]
            return {"cpu": "fake", "features": [], "matmul_gflops": {
                "float32": 100.0 * r, "bfloat16": 200.0 * r, "float16": 50.0 * r}}, ""
        config, r = json.loads(args[0]), state["round"]
        if config["batch_size"] == 2 and r == 2:
            return None, "out of memory"
        b = config["batch_size"]
        return {**config, "warmup_seconds": 1.0, "train_images_per_second": b * r,
                "train_gflops": 10.0 * r, "score_evaluations_per_second": 3.0 * b * r,
                "score_gflops": 20.0 * r, "sampler_evaluations_per_second": 2.0 * b * r,
                "peak_memory_mb": 50.0 + r}, ""
    return run


def config(batch_size):
    return {"model": "mlp", "model_options": {}, "shape": [2], "batch_size": batch_size,
            "jit_compile": False, "precision": "float32", "steps": 1, "onnx": False}


def test_rounds_are_interleaved_and_each_figure_is_against_its_own_rounds_peak():
    log = []
    machines, measured = bench_cli.measure_rounds([config(1), config(2)], 3, None,
                                                  run=fake_run(log))
    assert log == ["--machine", 1, 2] * 3
    assert [m["matmul_gflops"]["float32"] for m in machines] == [100.0, 200.0, 300.0]
    # train_gflops is 10 r against a peak of 100 r: a tenth of the peak in every round.
    assert [row["train_fraction_of_peak"] for row in measured[0]] == [0.1, 0.1, 0.1]
    assert measured[1][1] == {"error": "out of memory"}


def test_several_rounds_give_medians_with_their_range_and_the_failed_rounds():
    machines, measured = bench_cli.measure_rounds([config(1), config(2)], 3, None,
                                                  run=fake_run([]))
    machine = bench_cli.combine_machines(machines)
    assert machine["matmul_gflops"]["bfloat16"] == 400.0
    assert machine["matmul_gflops_range"]["bfloat16"] == [200.0, 600.0]
    assert machine["rounds"] == 3
    first = bench_cli.combine_rounds(config(1), measured[0])
    assert first["train_images_per_second"] == 2  # rounds give 1, 2, 3
    assert first["range"]["train_images_per_second"] == [1, 3]
    assert first["range"]["peak_memory_mb"] == [51.0, 53.0]
    assert first["rounds"] == 3 and "failed_rounds" not in first
    assert "onnx_score_evaluations_per_second" not in first["range"]  # never measured
    second = bench_cli.combine_rounds(config(2), measured[1])
    assert second["score_evaluations_per_second"] == 12.0  # rounds 1 and 3: 6 and 18
    assert second["rounds"] == 2 and second["failed_rounds"] == ["out of memory"]


def test_one_round_keeps_the_row_as_measured_and_all_failed_rounds_give_an_error():
    machines, measured = bench_cli.measure_rounds([config(4)], 1, None, run=fake_run([]))
    assert bench_cli.combine_machines(machines) == machines[0]
    assert bench_cli.combine_rounds(config(4), measured[0]) == measured[0][0]
    failed = bench_cli.combine_rounds(config(2), [{"error": "a"}, {"error": "a"}, {"error": "b"}])
    assert failed == {**config(2), "error": "a; b"}
