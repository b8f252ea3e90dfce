"""tfncsn.data.preprocessing's pure transforms against numpy (docs/algorithms.md section 7.1)."""

import numpy as np
import pytest
import tensorflow as tf

from tfncsn.data import preprocessing as pp

SEED = tf.constant([7, 11], tf.int64)


def test_to_unit_interval_maps_uint8_onto_0_1():
    x = pp.to_unit_interval(tf.constant([0, 51, 255], tf.uint8))
    assert x.dtype == tf.float32
    np.testing.assert_allclose(x.numpy(), [0.0, 0.2, 1.0], rtol=1e-6)
    np.testing.assert_allclose(pp.to_unit_interval(tf.constant([16], tf.uint8), 16.0), [1.0])


@pytest.mark.parametrize("levels", [256, 17])
def test_dequantize_spreads_each_level_uniformly_over_its_bin(levels):
    k = np.tile(np.arange(levels), 400)  # Every level many times.
    x = tf.constant(k / (levels - 1), tf.float32)
    y = pp.dequantize(x, SEED, levels).numpy()
    u = y * levels - k  # Position within the bin [k/levels, (k+1)/levels), scaled to [0, 1).
    assert u.min() >= -1e-3 and u.max() <= 1 + 1e-3
    assert abs(u.mean() - 0.5) < 0.01 and abs(u.var() - 1 / 12) < 0.005
    # Uniform: each tenth of the bin holds about a tenth of the mass.
    counts = np.histogram(np.clip(u, 0, 1 - 1e-7), bins=10, range=(0, 1))[0] / u.size
    np.testing.assert_allclose(counts, 0.1, atol=0.01)


def test_dequantize_is_a_function_of_the_seed():
    x = tf.fill([4, 5, 5, 3], 0.5)
    a, b = pp.dequantize(x, SEED), pp.dequantize(x, SEED)
    c = pp.dequantize(x, tf.constant([7, 12], tf.int64))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_logit_transform_matches_numpy_and_round_trips():
    x = np.concatenate([[0.0, 1.0, 0.5], np.random.default_rng(0).random(1000)]).astype(np.float32)
    z = pp.logit_transform(tf.constant(x)).numpy()
    lam = 1e-6
    y = lam + (1 - 2 * lam) * x.astype(np.float64)
    np.testing.assert_allclose(z, np.log(y / (1 - y)), rtol=1e-4, atol=1e-4)
    assert np.all(np.isfinite(z)) and z.min() == pytest.approx(np.log(lam / (1 - lam)), rel=1e-4)
    np.testing.assert_allclose(pp.inverse_logit_transform(tf.constant(z)).numpy(), x, atol=1e-6)


def test_random_flip_flips_whole_images_independently_and_deterministically():
    images = tf.random.stateless_uniform([64, 6, 5, 3], [1, 2])
    flipped = pp.random_flip(images, SEED).numpy()
    same = np.all(flipped == images.numpy(), axis=(1, 2, 3))
    mirrored = np.all(flipped == images.numpy()[:, :, ::-1], axis=(1, 2, 3))
    assert np.all(same | mirrored) and same.any() and mirrored.any()
    np.testing.assert_array_equal(flipped, pp.random_flip(images, SEED))


@pytest.mark.parametrize("shape, size", [((218, 178, 3), 140), ((9, 7, 1), 4), ((9, 7, 1), None)])
def test_center_crop_takes_the_central_window(shape, size):
    image = np.arange(np.prod(shape), dtype=np.int32).reshape(shape)
    side = size or min(shape[:2])
    top, left = (shape[0] - side) // 2, (shape[1] - side) // 2
    np.testing.assert_array_equal(pp.center_crop(tf.constant(image), size),
                                  image[top:top + side, left:left + side])


def test_center_crop_works_on_batches():
    assert pp.center_crop(tf.zeros([2, 10, 12, 3]), 8).shape == (2, 8, 8, 3)


def test_center_crop_resize_gives_celeba_shape_and_keeps_uint8():
    image = tf.random.stateless_uniform([218, 178, 3], [3, 4], maxval=256, dtype=tf.int32)
    out = pp.center_crop_resize(tf.cast(image, tf.uint8), 140, 32)
    assert out.shape == (32, 32, 3) and out.dtype == tf.uint8


def test_center_crop_resize_preserves_constants_and_averages():
    constant = tf.fill([50, 30, 1], tf.constant(77, tf.uint8))
    np.testing.assert_array_equal(pp.center_crop_resize(constant, None, 8), np.full([8, 8, 1], 77))
    # Downscaling by exactly 2 averages 2x2 blocks (antialiased bilinear).
    x = np.random.default_rng(1).random([8, 8, 1]).astype(np.float32)
    out = pp.center_crop_resize(tf.constant(x), None, 4).numpy()
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, x.reshape(4, 2, 4, 2, 1).mean(axis=(1, 3)), atol=0.15)
