"""Issue 9.2: many optimisation steps per tf.function call give the same run as one per call."""

import os

import numpy as np
import pytest
import tensorflow as tf

from tfncsn import builders, training
from tfncsn.config import SigmaConfig, TrainConfig


def train_toy(workdir, steps=45, **settings):
    """A short toy run with EMA and a diverging-free schedule; returns weights and summaries."""
    sigmas = builders.make_sigmas(SigmaConfig("geometric", 20.0, 1.0, 10))
    config = TrainConfig(steps=steps, batch_size=32, log_every=10, checkpoint_every=25, seed=5,
                         ema_decay=0.9, **settings)
    result = training.train(lambda: builders.make_model("mlp", {}, (2,), sigmas.numpy()),
                            builders.make_dataset("toy", {}), sigmas, config, str(workdir))
    reader = tf.train.load_checkpoint(os.path.join(workdir, "checkpoints"))
    weights = {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
               if name.startswith(("model/", "ema/", "optimizer/"))}
    losses = [(e.step, tf.make_ndarray(v.tensor).item())
              for e in tf.compat.v1.train.summary_iterator(
                  str(next((workdir / "train").glob("events.*"))))
              for v in e.summary.value if v.tag == "loss"]
    checkpoints = sorted(p.name for p in (workdir / "checkpoints").glob("ckpt-*.index"))
    return result, weights, losses, checkpoints


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """45-step toy runs by (steps_per_call, jit_compile), each trained once per module."""
    done = {}

    def run(steps_per_call, jit_compile):
        key = (steps_per_call, jit_compile)
        if key not in done:
            workdir = tmp_path_factory.mktemp(f"spc{steps_per_call}-jit{int(jit_compile)}")
            done[key] = train_toy(workdir, steps_per_call=steps_per_call,
                                  jit_compile=jit_compile)
        return done[key]

    return run


@pytest.mark.parametrize("jit_compile", [False, True], ids=["graph", "xla"])
def test_many_steps_per_call_equal_one_step_per_call(runs, jit_compile):
    """The same steps whatever the call size (with XLA: calls of 1, 7 and 45 steps padded to
    the toy's first capacity, 1024)."""
    one = runs(1, jit_compile)
    for name, steps_per_call in (("seven", 7), ("auto", 0)):
        other = runs(steps_per_call, jit_compile)
        assert (other[0].step, other[0].loss) == (one[0].step, one[0].loss)
        assert other[2] == one[2], name  # The loss summary at steps 10, 20, 30, 40, 45.
        assert other[3] == one[3] == ["ckpt-25.index", "ckpt-45.index"]
        for key, value in one[1].items():
            np.testing.assert_array_equal(other[1][key], value, err_msg=f"{name}: {key}")


def test_compiled_loops_of_other_capacities_give_the_same_steps(runs, monkeypatch, tmp_path):
    """Built for the call size itself (capacities 1, then 8), XLA's programs differ from the
    1024-step one, and must still give the same steps."""
    one = runs(1, True)  # Capacity 1024.
    monkeypatch.setattr(training.step, "padded_call_size", lambda batch_spec: 1)
    result, weights, losses, checkpoints = train_toy(tmp_path, steps_per_call=7, jit_compile=True)
    assert (result.step, result.loss, losses, checkpoints) == (one[0].step, one[0].loss,
                                                                one[2], one[3])
    for key, value in one[1].items():
        np.testing.assert_array_equal(weights[key], value, err_msg=key)


def test_the_compiled_loop_trains_as_the_graph_does(runs):
    """XLA's whole loop sees the same batches and noise as the graph loop; only rounding
    differs, so after 45 Adam steps the weights agree closely and the checkpoints match."""
    graph, xla = runs(0, False), runs(0, True)
    assert xla[0].step == graph[0].step and xla[3] == graph[3]
    np.testing.assert_allclose([l for _, l in xla[2]], [l for _, l in graph[2]], rtol=1e-4)
    assert xla[1].keys() == graph[1].keys()
    for key, value in graph[1].items():
        np.testing.assert_allclose(xla[1][key], value, rtol=1e-3, atol=1e-5, err_msg=key)


def test_the_compiled_loop_resumes_exactly(runs, tmp_path):
    """25 steps, then a fresh model, optimizer and iterator restored from the checkpoint and
    20 more: the same weights as 45 straight (the iterator and generator are checkpointed
    outside XLA)."""
    straight = runs(0, True)
    train_toy(tmp_path, jit_compile=True, steps=25)
    resumed = train_toy(tmp_path, jit_compile=True)
    for key, value in straight[1].items():
        np.testing.assert_array_equal(resumed[1][key], value, err_msg=key)


def test_call_sizes_stop_at_every_boundary():
    config = TrainConfig(steps=45, log_every=10, checkpoint_every=25, sample_every=4)
    assert [training.steps_to_boundary(s, config) for s in (0, 3, 4, 9, 24, 40, 44)] == [
        4, 1, 4, 1, 1, 4, 1]
    assert training.steps_to_boundary(41, TrainConfig(steps=45, log_every=100)) == 4


@pytest.mark.parametrize("seconds_per_step, expected", [(0.001, 500), (2.0, 1), (1e-7, 1000)])
def test_automatic_call_size_aims_at_half_a_second_and_settles(seconds_per_step, expected):
    size = training.StepsPerCall(0)
    assert size.next() == 1
    size.measured(1, 30.0)  # The first call traces: not counted.
    assert size.next() == 1
    size.measured(1, seconds_per_step)
    assert size.next() == expected
    size.measured(expected, 100.0)  # Later calls (e.g. one that compiles) change nothing.
    assert size.next() == expected
    assert training.StepsPerCall(7).next() == 7


def test_a_short_run_with_a_slow_ema_is_warned_about(tmp_path, caplog):
    """The EMA starts from the initial weights: 0.999 over 20 steps still holds 98% of them."""
    sigmas = builders.make_sigmas(SigmaConfig("geometric", 20.0, 1.0, 10))
    config = TrainConfig(steps=20, batch_size=32, log_every=10, checkpoint_every=20,
                         ema_decay=0.999)
    with caplog.at_level("WARNING"):
        training.train(lambda: builders.make_model("mlp", {}, (2,), sigmas.numpy()),
                       builders.make_dataset("toy", {}), sigmas, config, str(tmp_path))
    assert "leaves 98% of the random initial weights" in caplog.text
    assert "below 0.7943 keeps them under 1%" in caplog.text


def test_the_compiled_loop_is_first_built_for_as_many_steps_as_fit_a_few_megabytes():
    assert training.padded_call_size(tf.TensorSpec([128, 2])) == 1024  # The toy: one compile.
    assert training.padded_call_size(tf.TensorSpec([64, 28, 28, 1])) == 4
    assert training.padded_call_size(tf.TensorSpec([128, 256, 256, 3])) == 1
    assert training.padded_call_size(tf.TensorSpec([None, 2])) == 1
