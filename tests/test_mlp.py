import os

import keras
import numpy as np
import tensorflow as tf

from tfncsn import builders, registry, training
from tfncsn.models.mlp import MLPScoreNet

SIGMAS = [20.0, 5.0, 1.0]


def make(**options):
    return builders.make_model("mlp", options, (2,), SIGMAS)


def test_registered_and_shaped():
    assert registry.models.get("mlp") is MLPScoreNet
    model = make()
    out = model(tf.ones([5, 2]), tf.constant([0, 1, 2, 0, 1]))
    assert out.shape == (5, 2) and out.dtype == tf.float32


def test_parameter_count_is_pinned():
    # Embedding 3x16; dense (2+16)x128+128, 128x128+128 twice; output 128x2+2.
    expected = 3 * 16 + (18 * 128 + 128) + 2 * (128 * 128 + 128) + (128 * 2 + 2)
    assert make().count_params() == expected == 35762


def test_output_depends_on_the_level_and_scales_with_sigma():
    model = make(data_std=0.0)
    x = tf.ones([1, 2])
    outs = [model(x, tf.constant([i])).numpy() for i in range(3)]
    assert not np.allclose(outs[0], outs[1])
    no_scale = make(scale_by_sigma=False, data_std=0.0)
    no_scale.set_weights(model.get_weights())
    np.testing.assert_allclose(model(x, tf.constant([1])), no_scale(x, tf.constant([1])) / 5.0,
                               rtol=1e-5)


def test_config_round_trip_gives_the_same_function():
    model = make(hidden_units=[32, 16], activation="elu", data_std=4.0)
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(model))
    assert isinstance(clone, MLPScoreNet)
    assert clone.get_config() == model.get_config()
    assert len(clone.weights) == len(model.weights)  # Built by build_from_config.
    clone.set_weights(model.get_weights())
    x, level = tf.random.stateless_normal([4, 2], [0, 1]), tf.constant([0, 1, 2, 2])
    np.testing.assert_allclose(clone(x, level), model(x, level), rtol=1e-6)


def test_checkpoint_holds_every_layer(tmp_path):
    """Regression: checkpointing the Keras 3 model object skipped layers kept in lists."""
    model, other = make(), make()
    path = tf.train.Checkpoint(model=training.model_weights(model)).save(
        os.path.join(tmp_path, "ckpt"))
    tf.train.Checkpoint(model=training.model_weights(other)).restore(path).assert_consumed()
    for a, b in zip(model.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(a, b)
