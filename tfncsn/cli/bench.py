"""`tfncsn bench`: training images/s, score evaluations/s and peak memory per configuration."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tfncsn.cli import common
from tfncsn.cli.flags import FLAGS, explicitly_set, parse_options
from tfncsn.config import ConfigError


def configurations() -> list[dict]:
    """Every (network, batch size, jit) combination asked for by the bench flags."""
    model = FLAGS.model if explicitly_set("model") else "refinenet"
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
                result.append({"model": model, "model_options": options, "shape": shape,
                               "batch_size": int(batch_size), "jit_compile": jit == "on",
                               "steps": FLAGS.bench_steps})
    return result


def run() -> None:
    common.check_output(FLAGS.output, (".json",))
    rows = []
    for config in configurations():
        label = (f"{config['model']} {'x'.join(map(str, config['shape']))} "
                 f"{config['model_options']} batch {config['batch_size']} "
                 f"jit {'on' if config['jit_compile'] else 'off'}")
        print(f"measuring {label} ...", file=sys.stderr, flush=True)
        proc = subprocess.run([sys.executable, "-m", "tfncsn.bench", json.dumps(config)],
                              capture_output=True, text=True, env=dict(os.environ))
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            rows.append({**config, "error": last})
            print(f"  failed: {last}", file=sys.stderr)
            continue
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(f"  train {row['train_images_per_second']} images/s, score "
              f"{row['score_evaluations_per_second']} evaluations/s, peak "
              f"{row['peak_memory_mb']} MB", file=sys.stderr)
    with open(FLAGS.output, "w") as f:
        json.dump({"machine": {"cpus": os.cpu_count()}, "results": rows}, f, indent=2)
    print(f"wrote {FLAGS.output}: {len(rows)} configurations")
