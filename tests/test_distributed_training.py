"""The training loop under tf.distribute, resume, checkpoint safety, EMA and clipping."""

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import REPO, cli_env, error_line, run_cli
from tfncsn import builders, training
from tfncsn.config import SigmaConfig, TrainConfig

TOY = "--flagfile=configs/toy.cfg"

ONE_STEP = """
import json, sys
from tfncsn import builders, distribute, training
from tfncsn.config import SigmaConfig, TrainConfig
strategy = distribute.make_strategy(sys.argv[1], int(sys.argv[2]))
sigmas = builders.make_sigmas(SigmaConfig("geometric", 20.0, 1.0, 10))
result = training.train(
    lambda: builders.make_model("mlp", {}, (2,), sigmas.numpy()),
    builders.make_dataset("toy", {}), sigmas,
    TrainConfig(steps=1, batch_size=64, log_every=1, seed=3, grad_clip_norm=float(sys.argv[4])),
    sys.argv[3], strategy=strategy)
print(json.dumps({"loss": result.loss, "replicas": strategy.num_replicas_in_sync}))
"""


def model_tensors(workdir):
    """{name: value} of the model weights in a workdir's latest checkpoint."""
    reader = tf.train.load_checkpoint(os.path.join(workdir, "checkpoints"))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
            if name.startswith("model/")}


def run_one_step(strategy, devices, workdir, clip=0.0):
    proc = subprocess.run([sys.executable, "-c", ONE_STEP, strategy, str(devices), str(workdir),
                           str(clip)], capture_output=True, text=True, env=cli_env(),
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("clip", [0.0, 0.5])
def test_mirrored_on_two_cpus_matches_one_device(tmp_path, clip):
    one = run_one_step("default", 0, tmp_path / "one", clip)
    two = run_one_step("mirrored", 2, tmp_path / "two", clip)
    assert (one["replicas"], two["replicas"]) == (1, 2)
    np.testing.assert_allclose(two["loss"], one["loss"], rtol=1e-5)
    a, b = model_tensors(tmp_path / "one"), model_tensors(tmp_path / "two")
    assert a.keys() == b.keys() and a
    for name in a:
        np.testing.assert_allclose(b[name], a[name], rtol=1e-5, atol=1e-6, err_msg=name)


def free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_two_workers_train_together_and_write_a_checkpoint(tmp_path):
    workdir = tmp_path / "run"
    cluster = {"worker": [f"localhost:{p}" for p in free_ports(2)]}
    procs = []
    for index in range(2):
        env = cli_env()
        env["TF_CONFIG"] = json.dumps({"cluster": cluster,
                                       "task": {"type": "worker", "index": index}})
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "tfncsn", "train", TOY, "--strategy=multi_worker",
             "--steps=6", "--batch_size=64", "--log_every=2", f"--workdir={workdir}"],
            cwd=REPO, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    outputs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outputs):
        assert p.returncode == 0, err[-3000:]
        assert "trained to step 6" in out
    assert (workdir / "checkpoints" / "ckpt-6.index").exists()
    assert json.loads((workdir / "config.json").read_text())["train"]["batch_size"] == 64


def test_multi_worker_without_tf_config_is_one_line(tmp_path):
    proc = run_cli("train", TOY, "--strategy=multi_worker", f"--workdir={tmp_path}", check=False)
    assert "TF_CONFIG" in error_line(proc)


def test_batch_that_does_not_divide_over_replicas_is_one_line(tmp_path):
    proc = run_cli("train", TOY, "--strategy=mirrored", "--num_cpu_devices=3",
                   "--batch_size=64", f"--workdir={tmp_path}", check=False)
    assert "does not divide over 3 replicas" in error_line(proc)


def test_killed_run_resumes_to_the_same_weights(tmp_path):
    """2N steps straight vs. SIGKILL after a checkpoint, then the same command again."""
    args = ["train", TOY, "--steps=1500", "--checkpoint_every=100", "--log_every=100"]
    run_cli(*args, f"--workdir={tmp_path / 'straight'}")
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "tfncsn", *args, f"--workdir={killed}"],
                            cwd=REPO, env=cli_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 600  # TensorFlow's start-up alone can take minutes on a busy machine.
    # The checkpoint's state file is written after its .index: wait until it names one.
    while (tf.train.latest_checkpoint(str(killed / "checkpoints")) is None
           and proc.poll() is None and time.time() < deadline):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    stopped_at = tf.train.latest_checkpoint(str(killed / "checkpoints"))
    assert stopped_at is not None and not stopped_at.endswith("-1500")
    run_cli(*args, f"--workdir={killed}")
    a, b = model_tensors(tmp_path / "straight"), model_tensors(killed)
    for name in a:
        np.testing.assert_array_equal(b[name], a[name], err_msg=name)


def test_corrupt_checkpoint_is_one_line_and_left_untouched(tmp_path):
    workdir = tmp_path / "run"
    run_cli("train", TOY, "--steps=10", "--log_every=10", f"--workdir={workdir}")
    data = next((workdir / "checkpoints").glob("ckpt-10.data-*"))
    data.write_bytes(b"\x00" * 64)
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
              for p in (workdir / "checkpoints").iterdir()}
    proc = run_cli("train", f"--workdir={workdir}", "--steps=20", check=False)
    line = error_line(proc)
    assert "cannot be restored" in line and "ckpt-10" in line
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
             for p in (workdir / "checkpoints").iterdir()}
    assert after == before


def test_ema_weights_are_kept_and_used_for_sampling(tmp_path):
    sigmas = builders.make_sigmas(SigmaConfig("geometric", 20.0, 1.0, 10))
    build = lambda: builders.make_model("mlp", {}, (2,), sigmas.numpy())
    config = TrainConfig(steps=30, batch_size=32, log_every=10, ema_decay=0.9)
    training.train(build, builders.make_dataset("toy", {}), sigmas, config, str(tmp_path))
    reader = tf.train.load_checkpoint(str(tmp_path / "checkpoints"))
    names = reader.get_variable_to_shape_map()
    ema = sorted((n for n in names if n.startswith("ema/")), key=lambda n: int(n.split("/")[1]))
    assert ema
    raw, averaged = build(), build()
    training.restore_model(raw, str(tmp_path), use_ema=False)
    training.restore_model(averaged, str(tmp_path))
    for variable, name in zip(averaged.trainable_variables, ema):
        np.testing.assert_array_equal(variable.numpy(), reader.get_tensor(name))
    assert not all(np.array_equal(a, b) for a, b in zip(raw.get_weights(), averaged.get_weights()))


def test_gradient_clipping_bounds_the_global_norm(tmp_path):
    """Adam's first moment after one step is (1 - beta1) g: its norm shows the clipping."""
    sigmas = builders.make_sigmas(SigmaConfig("geometric", 20.0, 1.0, 10))
    build = lambda: builders.make_model("mlp", {}, (2,), sigmas.numpy())
    norms = {}
    for clip in (0.0, 1e-3):
        config = TrainConfig(steps=1, batch_size=32, log_every=1, grad_clip_norm=clip, seed=1)
        workdir = str(tmp_path / str(clip))
        training.train(build, builders.make_dataset("toy", {}), sigmas, config, workdir)
        model = build()
        optimizer = keras.optimizers.Adam()
        optimizer.build(model.trainable_variables)
        tf.train.Checkpoint(model=training.model_weights(model), optimizer=optimizer).restore(
            tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints"))).expect_partial()
        moments = [v for v in optimizer.variables if v.path.endswith("_momentum")]
        assert len(moments) == len(model.trainable_variables)
        norms[clip] = float(tf.linalg.global_norm([tf.convert_to_tensor(m) for m in moments]))
    np.testing.assert_allclose(norms[1e-3], 0.1 * 1e-3, rtol=1e-4)
    assert norms[0.0] > 10 * norms[1e-3]
