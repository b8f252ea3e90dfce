"""The per-step noise rule, written once in tfncsn_runtime.noise: which entries step k draws,
their shapes, zeros for the others; on Python ints and on TensorFlow tensors alike."""

import numpy as np
import tensorflow as tf

from tfncsn_runtime.noise import NumpyNoise, is_due, noise_shape, standard_draws, step_noise

ENTRIES = [{"per": "element", "every": 1, "distribution": "normal"},
           {"per": "example", "every": 3, "distribution": "uniform"}]


def test_an_entry_is_due_when_k_is_a_multiple_of_every():
    assert [bool(is_due(k, 3)) for k in range(7)] == [True, False, False, True, False, False,
                                                      True]
    assert is_due(np.int32(4), 2) and not is_due(np.int64(5), 2)
    assert is_due(tf.constant(7), 1) is True  # every == 1: no condition, whatever k is.


def test_is_due_on_a_tensor_is_a_bool_tensor_in_and_out_of_a_graph():
    due = is_due(tf.constant(6), 3)
    assert isinstance(due, tf.Tensor) and due.dtype == tf.bool and bool(due)

    @tf.function(input_signature=[tf.TensorSpec([], tf.int32)])
    def draw(k):
        return tf.cond(is_due(k, 4), lambda: tf.ones([2]), lambda: tf.zeros([2]))
    assert [float(draw(k)[0]) for k in range(6)] == [1, 0, 0, 0, 1, 0]


def test_noise_shape_is_the_batch_per_example_and_the_elements_per_element():
    assert noise_shape("example", 5, (8, 8, 1)) == (5,)
    assert noise_shape("element", 5, (8, 8, 1)) == (5, 8, 8, 1)


def test_step_noise_draws_the_due_entries_in_order_and_zeros_the_others():
    drawn = []

    def draw(distribution, shape):
        drawn.append((distribution, shape))
        return np.ones(shape, np.float32)

    first = step_noise(ENTRIES, 0, 4, (2,), draw)
    second = step_noise(ENTRIES, 1, 4, (2,), draw)
    assert drawn == [("normal", (4, 2)), ("uniform", (4,)), ("normal", (4, 2))]
    assert [a.shape for a in first] == [(4, 2), (4,)] and first[1].sum() == 4
    assert second[1].dtype == np.float32 and not second[1].any()


def test_the_numpy_source_draws_the_standard_distributions():
    draw = standard_draws(NumpyNoise(0))
    uniform = draw("uniform", (1000,))
    assert uniform.dtype == np.float32 and 0 <= uniform.min() and uniform.max() < 1
    normal = draw("normal", (1000,))
    assert normal.dtype == np.float32 and abs(normal.std() - 1) < 0.1
