"""`tfncsn bench`: training images/s, score evaluations/s (forward pass, whole sampler run,
ONNX Runtime) and peak memory per configuration, each beside the machine's matmul peak."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys

from tfncsn.cli import common
from tfncsn.cli.flags import FLAGS, explicitly_set, parse_options
from tfncsn.config import PRECISIONS, ConfigError


def configurations() -> list[dict]:
    """Every (network, batch size, jit, precision) combination asked for by the bench flags."""
    model = FLAGS.model if explicitly_set("model") else "refinenet"
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


def run() -> None:
    common.check_output(FLAGS.output, (".json",))
    configs = configurations()
    print("measuring the machine's matmul peak ...", file=sys.stderr, flush=True)
    machine, error = _run(["--machine"])
    if machine is None:
        raise ConfigError(f"the machine measurement failed: {error}")
    peaks = machine["matmul_gflops"]
    print(f"  {machine['cpu']} ({', '.join(machine['features']) or 'no AVX'}): matmul "
          + ", ".join(f"{dtype} {gflops} GFLOP/s" for dtype, gflops in peaks.items()),
          file=sys.stderr)
    rows = []
    for config in configs:
        print(f"measuring {_label(config)} ...", file=sys.stderr, flush=True)
        row, error = _run([json.dumps(config)], FLAGS.bench_timeout or None)
        if row is None:
            rows.append({**config, "error": error})
            print(f"  failed: {error}", file=sys.stderr)
            continue
        row["train_fraction_of_peak"] = fraction_of_peak(row["train_gflops"],
                                                         config["precision"], peaks)
        row["score_fraction_of_peak"] = fraction_of_peak(row["score_gflops"],
                                                         config["precision"], peaks)
        rows.append(row)
        onnx = row.get("onnx_score_evaluations_per_second")
        print(f"  train {row['train_images_per_second']} images/s "
              f"({row['train_fraction_of_peak']:.0%} of peak), score "
              f"{row['score_evaluations_per_second']} evaluations/s "
              f"({row['score_fraction_of_peak']:.0%}), sampler "
              f"{row['sampler_evaluations_per_second']} evaluations/s"
              + (f", ONNX Runtime {onnx} evaluations/s" if onnx else "")
              + f", peak {row['peak_memory_mb']} MB", file=sys.stderr)
    with open(FLAGS.output, "w") as f:
        json.dump({"machine": machine, "results": rows}, f, indent=2)
    print(f"wrote {FLAGS.output}: {len(rows)} configurations")
