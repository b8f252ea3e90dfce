"""`tfncsn bench`: training images/s, score evaluations/s (forward pass, whole sampler run,
ONNX Runtime) and peak memory per configuration, each beside the machine's matmul peak;
with --bench_rounds=R, R interleaved rounds of them, reported as medians with their range."""

from __future__ import annotations

import json
import os
import re
import signal
import statistics
import subprocess
import sys

from tfncsn.cli import common
from tfncsn.cli.flags import FLAGS, explicitly_set, parse_options
from tfncsn.config import PRECISIONS, ConfigError

# The flags `run` reads: its --help and docs/cli.md list them (tests/test_cli_help.py).
FLAGS_USED = ("output", "model", "model_options", "bench_networks", "bench_batch_sizes",
              "bench_jit", "bench_precisions", "bench_onnx", "bench_steps", "bench_rounds",
              "bench_timeout")
# Where the flag's own default does not apply: the network of the paper's images.
DEFAULTS = {"model": "refinenet"}


def configurations() -> list[dict]:
    """Every (network, batch size, jit, precision) combination asked for by the bench flags."""
    model = FLAGS.model if explicitly_set("model") else DEFAULTS["model"]
    unknown = [p for p in FLAGS.bench_precisions if p not in PRECISIONS]
    if unknown:
        raise ConfigError(f"--bench_precisions takes {', '.join(PRECISIONS)}, got "
                          f"{', '.join(unknown)}")
    result = []
    for spec in FLAGS.bench_networks:
        shape_text, _, ngf = spec.partition(":")
        try:
            shape = [int(d) for d in shape_text.split("x")]
            options = {**parse_options(FLAGS.model_options, "model_options"),
                       **({"ngf": int(ngf)} if ngf else {})}
        except ValueError as e:
            raise ConfigError(f"--bench_networks entries look like 28x28x1:64, got '{spec}'") from e
        for batch_size in FLAGS.bench_batch_sizes:
            for jit in FLAGS.bench_jit:
                for precision in FLAGS.bench_precisions:
                    result.append({
                        "model": model, "model_options": options, "shape": shape,
                        "batch_size": int(batch_size), "jit_compile": jit == "on",
                        "precision": precision, "steps": FLAGS.bench_steps,
                        # ONNX once per network and batch: exports are float32, without XLA.
                        "onnx": FLAGS.bench_onnx and precision == "float32" and jit != "on"})
    return result


def fraction_of_peak(gflops: float, precision: str, peaks: dict[str, float]) -> float:
    """`gflops` as a fraction of the matmul peak of the dtype `precision` computes in."""
    dtype = "float32" if precision == "float32" else precision.removeprefix("mixed_")
    return round(gflops / peaks[dtype], 3)


# TensorFlow's C++ log lines ("I0000 00:00:... file.cc:31] ..."): never the reason a run failed.
_TF_LOG_LINE = re.compile(r"^[IWEF]\d{4} ")


def _run(args: list[str], timeout: float | None = None) -> tuple[dict | None, str]:
    """Runs `python -m tfncsn.bench ARGS`: (its JSON result, or None and why it failed)."""
    try:
        proc = subprocess.run([sys.executable, "-m", "tfncsn.bench", *args],
                              capture_output=True, text=True, env=dict(os.environ),
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, (f"did not finish within --bench_timeout={timeout:g} s and was stopped "
                      "(16-bit precisions without XLA are emulated on CPUs without native "
                      "support)")
    if proc.returncode < 0:
        return None, f"stopped by {signal.Signals(-proc.returncode).name}"
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.strip().splitlines()
                 if line.strip() and not _TF_LOG_LINE.match(line)]
        return None, (lines or ["no output"])[-1]
    return json.loads(proc.stdout.strip().splitlines()[-1]), ""


def _label(config: dict) -> str:
    return (f"{config['model']} {'x'.join(map(str, config['shape']))} {config['model_options']} "
            f"batch {config['batch_size']} jit {'on' if config['jit_compile'] else 'off'} "
            f"{config['precision']}")


# The measured figures of a result row; its other fields describe the configuration.
FIGURES = ("warmup_seconds", "train_images_per_second", "train_gflops", "train_fraction_of_peak",
           "score_evaluations_per_second", "score_gflops", "score_fraction_of_peak",
           "sampler_evaluations_per_second", "onnx_score_evaluations_per_second",
           "peak_memory_mb")


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def measure_rounds(configs: list[dict], rounds: int, timeout: float | None, run=_run
                   ) -> tuple[list[dict], list[list[dict]]]:
    """Measures the machine, then every configuration, `rounds` times over (interleaved:
    round 2 starts after round 1 has measured them all). Returns the machine of each round
    and, per configuration, its row of each round ({"error": why} for a failed one)."""
    machines: list[dict] = []
    measured: list[list[dict]] = [[] for _ in configs]
    for r in range(rounds):
        tag = f"round {r + 1}/{rounds}: " if rounds > 1 else ""
        _say(f"{tag}measuring the machine's matmul peak ...")
        machine, error = run(["--machine"])
        if machine is None:
            raise ConfigError(f"the machine measurement failed: {error}")
        machines.append(machine)
        peaks = machine["matmul_gflops"]
        _say(f"  {machine['cpu']} ({', '.join(machine['features']) or 'no AVX'}): matmul "
             + ", ".join(f"{dtype} {gflops} GFLOP/s" for dtype, gflops in peaks.items()))
        for config, results in zip(configs, measured):
            _say(f"{tag}measuring {_label(config)} ...")
            row, error = run([json.dumps(config)], timeout)
            if row is None:
                results.append({"error": error})
                _say(f"  failed: {error}")
                continue
            for part in ("train", "score"):
                row[f"{part}_fraction_of_peak"] = fraction_of_peak(
                    row[f"{part}_gflops"], config["precision"], peaks)
            results.append(row)
            onnx = row.get("onnx_score_evaluations_per_second")
            _say(f"  train {row['train_images_per_second']} images/s "
                 f"({row['train_fraction_of_peak']:.0%} of peak), score "
                 f"{row['score_evaluations_per_second']} evaluations/s "
                 f"({row['score_fraction_of_peak']:.0%}), sampler "
                 f"{row['sampler_evaluations_per_second']} evaluations/s"
                 + (f", ONNX Runtime {onnx} evaluations/s" if onnx else "")
                 + f", peak {row['peak_memory_mb']} MB")
    return machines, measured


def _median_and_range(values: list[float]) -> tuple[float, list[float]]:
    return round(statistics.median(values), 3), [min(values), max(values)]


def combine_machines(machines: list[dict]) -> dict:
    """The machine of one round, or of several: each matmul peak's median, with its range."""
    if len(machines) == 1:
        return machines[0]
    peaks, ranges = {}, {}
    for dtype in machines[0]["matmul_gflops"]:
        peaks[dtype], ranges[dtype] = _median_and_range(
            [m["matmul_gflops"][dtype] for m in machines])
    return {**machines[0], "matmul_gflops": peaks, "matmul_gflops_range": ranges,
            "rounds": len(machines)}


def combine_rounds(config: dict, results: list[dict]) -> dict:
    """One configuration's row: its only round, or over several rounds each figure's median
    with its range ("range": {figure: [lowest, highest]}) and the reasons of failed rounds."""
    good = [row for row in results if "error" not in row]
    errors = [row["error"] for row in results if "error" in row]
    if not good:
        return {**config, "error": "; ".join(dict.fromkeys(errors))}
    if len(results) == 1:
        return good[0]
    row, ranges = dict(good[0]), {}
    for figure in FIGURES:
        values = [r[figure] for r in good if figure in r]
        if values:
            row[figure], ranges[figure] = _median_and_range(values)
    row.update(rounds=len(good), range=ranges)
    if errors:
        row["failed_rounds"] = errors
    return row


def _spread(row: dict, figure: str) -> str:
    low, high = row["range"][figure]
    middle = row[figure]
    return f"{middle} ({low}-{high}, spread {(high - low) / middle:.0%})"


def run() -> None:
    common.check_output(FLAGS.output, (".json",))
    configs = configurations()
    rounds = FLAGS.bench_rounds
    machines, measured = measure_rounds(configs, rounds, FLAGS.bench_timeout or None)
    machine = combine_machines(machines)
    rows = [combine_rounds(config, results) for config, results in zip(configs, measured)]
    if rounds > 1:
        _say(f"medians of {rounds} rounds (lowest-highest):")
        for row in rows:
            if "error" in row:
                _say(f"  {_label(row)}: failed in every round: {row['error']}")
                continue
            _say(f"  {_label(row)}: train {_spread(row, 'train_images_per_second')} images/s, "
                 f"score {_spread(row, 'score_evaluations_per_second')}, sampler "
                 f"{_spread(row, 'sampler_evaluations_per_second')} evaluations/s"
                 + (f" ({row['rounds']} of {rounds} rounds)" if row["rounds"] < rounds else ""))
    with common.output_folders(FLAGS.output), open(FLAGS.output, "w") as f:
        json.dump({"machine": machine, "results": rows}, f, indent=2)
    print(f"wrote {FLAGS.output}: {len(rows)} configurations"
          + (f", medians of {rounds} rounds" if rounds > 1 else ""))
