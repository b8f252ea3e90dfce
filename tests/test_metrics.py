"""The metric functions of tfncsn.metrics against closed forms and brute force (NumPy only,
plus the held-out loss with an exact score and the Inception preprocessing)."""

import numpy as np
import pytest
import scipy.linalg
import tensorflow as tf

from tfncsn.metrics import (class_mix, fid, heldout, inception_score, kid, neighbours,
                            precision_recall)
from tfncsn.metrics import inception


def random_covariance(rng, d, rank=None):
    a = rng.normal(size=(d, rank or d))
    return a @ a.T / d


# FID.

def test_fid_of_a_set_against_itself_is_zero():
    features = np.random.default_rng(0).normal(size=(500, 32)) * 3 + 1
    assert abs(fid.fid_from_features(features, features)) < 1e-8


def test_frechet_distance_matches_the_closed_form_with_scipy_sqrtm():
    rng = np.random.default_rng(1)
    mu1, mu2 = rng.normal(size=8), rng.normal(size=8)
    s1, s2 = random_covariance(rng, 8), random_covariance(rng, 8)
    expected = (np.sum((mu1 - mu2) ** 2)
                + np.trace(s1 + s2 - 2 * np.real(scipy.linalg.sqrtm(s1 @ s2))))
    assert fid.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_of_commuting_gaussians():
    """Diagonal covariances: FID = ||mu1 - mu2||^2 + sum (sqrt(a_i) - sqrt(b_i))^2."""
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])
    mu1, mu2 = np.zeros(3), np.array([1.0, 2.0, 0.0])
    assert fid.frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(5.0 + 2.0)


def test_fid_of_samples_approaches_the_gaussians_distance():
    rng = np.random.default_rng(2)
    mu1, mu2 = np.zeros(4), np.full(4, 0.5)
    s1, s2 = random_covariance(rng, 4), random_covariance(rng, 4)
    x1 = rng.multivariate_normal(mu1, s1, size=200_000)
    x2 = rng.multivariate_normal(mu2, s2, size=200_000)
    exact = fid.frechet_distance(mu1, s1, mu2, s2)
    assert fid.fid_from_features(x1, x2) == pytest.approx(exact, rel=0.03, abs=0.01)


def test_fid_with_singular_covariances_is_finite_and_real():
    """Fewer samples than dimensions (common with small sample counts) still works."""
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(20, 64)), rng.normal(size=(20, 64)) + 0.1
    value = fid.fid_from_features(a, b)
    assert np.isfinite(value) and value > 0
    rank_deficient = random_covariance(rng, 16, rank=3)
    # Square roots of round-off-sized eigenvalues: about 1e-8 each, not 1e-16.
    assert abs(fid.frechet_distance(np.zeros(16), rank_deficient, np.zeros(16),
                                    rank_deficient)) < 1e-6


def test_statistics_files_in_the_published_format(tmp_path):
    rng = np.random.default_rng(4)
    mu, sigma = rng.normal(size=6), random_covariance(rng, 6)
    np.savez(tmp_path / "published.npz", mu=mu, sigma=sigma)  # As TTUR's fid_stats_*.npz.
    loaded = fid.load_statistics(str(tmp_path / "published.npz"), dim=6)
    np.testing.assert_array_equal(loaded[0], mu)
    fid.save_statistics(str(tmp_path / "ours.npz"), mu, sigma, num_examples=10)
    np.testing.assert_array_equal(fid.load_statistics(str(tmp_path / "ours.npz"))[1], sigma)
    np.savez(tmp_path / "wrong.npz", mean=mu)
    with pytest.raises(ValueError, match="lacks mu, sigma"):
        fid.load_statistics(str(tmp_path / "wrong.npz"))
    with pytest.raises(ValueError, match="6-d statistics; these features are 2048-d"):
        fid.load_statistics(str(tmp_path / "published.npz"), dim=2048)
    (tmp_path / "text.npz").write_text("not a zip")
    with pytest.raises(ValueError, match="cannot read"):
        fid.load_statistics(str(tmp_path / "text.npz"))


# The class mix.

def test_class_mix_of_the_data_itself_is_zero_and_of_one_class_is_the_rest():
    reference = np.repeat(np.arange(10), [5, 15, 10, 10, 10, 10, 10, 10, 10, 10])
    same = class_mix.class_mix(reference[::-1], reference, 10)
    assert same["total_variation"] == pytest.approx(0.0)
    assert same["fractions"] == same["reference_fractions"]
    one = class_mix.class_mix(np.full(40, 1), reference, 10)
    assert one["counts"] == [0, 40] + [0] * 8
    assert one["total_variation"] == pytest.approx(1 - 0.15)
    # Half of class 0's share of a uniform mix drawn as class 9: 0.05 must change class.
    half = class_mix.class_mix(np.repeat(np.arange(10), [5] + [10] * 8 + [15]), np.arange(10), 10)
    assert half["total_variation"] == pytest.approx(0.05)


def test_class_mix_rejects_labels_outside_the_classes():
    with pytest.raises(ValueError, match=r"labels must lie in 0\.\.2"):
        class_mix.class_mix(np.array([0, 3]), np.array([0, 1, 2]), 3)
    with pytest.raises(ValueError, match="at least one"):
        class_mix.class_mix(np.array([], int), np.array([0, 1, 2]), 3)


# Inception Score.

def test_inception_score_of_uniform_predictions_is_one():
    mean, std = inception_score.inception_score(np.zeros((100, 1000)))
    assert mean == pytest.approx(1.0) and std == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("k", [1, 2, 7, 10])
def test_inception_score_of_k_confident_classes_is_k(k):
    labels = np.arange(50 * k) % k  # Every split of 5k examples holds each class equally.
    logits = np.full((len(labels), 10), -50.0)
    logits[np.arange(len(labels)), labels] = 50.0
    mean, std = inception_score.inception_score(logits, splits=10)
    assert mean == pytest.approx(k, rel=1e-6) and std < 1e-6


def test_inception_score_needs_an_example_per_split():
    with pytest.raises(ValueError, match="5 examples, 10 splits"):
        inception_score.inception_score(np.zeros((5, 3)), splits=10)


# KID.

def test_unbiased_mmd_matches_its_definition():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(7, 3)), rng.normal(size=(9, 3)) + 1
    k = lambda a, b: (a @ b / 3 + 1) ** 3  # noqa: E731
    xx = np.mean([k(x[i], x[j]) for i in range(7) for j in range(7) if i != j])
    yy = np.mean([k(y[i], y[j]) for i in range(9) for j in range(9) if i != j])
    xy = np.mean([k(a, b) for a in x for b in y])
    assert kid.mmd2_unbiased(x, y) == pytest.approx(xx + yy - 2 * xy)


def test_kid_of_identical_sets_is_about_zero_and_grows_with_a_shift():
    rng = np.random.default_rng(6)
    real = rng.normal(size=(600, 16))
    same = kid.kernel_inception_distance(real, real, num_subsets=20, subset_size=200)
    other = kid.kernel_inception_distance(real, rng.normal(size=(600, 16)), num_subsets=20,
                                          subset_size=200)
    shifted = kid.kernel_inception_distance(real, real + 1.0, num_subsets=20, subset_size=200)
    assert abs(same.mean) < 0.05 and abs(other.mean) < 0.05
    assert shifted.mean > 1.0 and shifted.mean > 20 * abs(other.mean)
    assert same.subset_size == 200 and same.num_subsets == 20


def test_kid_caps_the_subset_size_at_the_smaller_set():
    rng = np.random.default_rng(7)
    result = kid.kernel_inception_distance(rng.normal(size=(50, 4)), rng.normal(size=(30, 4)))
    assert result.subset_size == 30 and np.isfinite(result.mean)


# Precision and recall.

def test_knn_radii_match_brute_force():
    rng = np.random.default_rng(8)
    x = rng.normal(size=(40, 3))
    d = np.linalg.norm(x[:, None] - x[None], axis=-1)
    expected = np.sort(d, axis=1)[:, 3]  # Column 0 is the point itself.
    np.testing.assert_allclose(precision_recall.knn_radii(x, 3), expected, rtol=1e-9)


def test_precision_recall_of_identical_sets_is_one(monkeypatch):
    monkeypatch.setattr(precision_recall, "CHUNK", 64)  # Exercise the blocked path.
    x = np.random.default_rng(9).normal(size=(300, 8))
    result = precision_recall.precision_recall(x, x, k=3)
    assert (result.precision, result.recall) == (1.0, 1.0)


def test_precision_recall_of_disjoint_far_sets_is_zero():
    rng = np.random.default_rng(10)
    real, fake = rng.normal(size=(200, 8)), rng.normal(size=(200, 8)) + 100.0
    result = precision_recall.precision_recall(real, fake, k=3)
    assert (result.precision, result.recall) == (0.0, 0.0)


def test_mode_collapse_keeps_precision_and_loses_recall():
    """Fakes on one of two real clusters: all are realistic, half the data is missed."""
    rng = np.random.default_rng(11)
    real = np.concatenate([rng.normal(size=(200, 2)), rng.normal(size=(200, 2)) + 50])
    fake = rng.normal(size=(400, 2))
    result = precision_recall.precision_recall(real, fake, k=3)
    assert result.precision > 0.95 and 0.4 < result.recall < 0.55


def test_density_and_coverage_of_identical_and_disjoint_sets():
    rng = np.random.default_rng(16)
    x = rng.normal(size=(300, 8))
    same = precision_recall.density_coverage(x, x, k=5)
    # Each point sits in its own ball and in the balls of the k points it neighbours.
    assert same.density == pytest.approx(6 / 5) and same.coverage == 1.0
    far = precision_recall.density_coverage(x, x + 100.0, k=5)
    assert (far.density, far.coverage) == (0.0, 0.0)


def test_collapsed_samples_in_an_outlier_ball_fool_precision_not_density():
    """One real outlier gets a huge ball; fakes collapsed inside it are all 'precise'."""
    rng = np.random.default_rng(17)
    real = np.concatenate([rng.normal(size=(200, 2)), [[30.0, 0.0]]])
    fake = np.array([20.0, 0.0]) + 0.01 * rng.normal(size=(201, 2))
    assert precision_recall.precision_recall(real, fake, k=3).precision == 1.0
    dc = precision_recall.density_coverage(real, fake, k=5)
    assert dc.density <= 0.2 and dc.coverage < 0.01


# Nearest neighbours.

def test_nearest_neighbours_match_brute_force_across_blocks(monkeypatch):
    monkeypatch.setattr(neighbours, "CHUNK", 7)
    rng = np.random.default_rng(12)
    queries, references = rng.uniform(size=(5, 4, 4, 1)), rng.uniform(size=(50, 4, 4, 1))
    found = neighbours.nearest_neighbours(queries, references, k=4)
    d = np.linalg.norm(queries.reshape(5, 1, -1) - references.reshape(1, 50, -1), axis=-1)
    np.testing.assert_array_equal(found.indices, np.argsort(d, axis=1)[:, :4])
    np.testing.assert_allclose(found.distances, np.sort(d, axis=1)[:, :4], rtol=1e-9)


def test_a_training_image_is_its_own_nearest_neighbour():
    references = np.random.default_rng(13).uniform(size=(30, 3, 3, 1))
    found = neighbours.nearest_neighbours(references[[4, 17]], references, k=2)
    np.testing.assert_array_equal(found.indices[:, 0], [4, 17])
    np.testing.assert_allclose(found.distances[:, 0], 0.0, atol=1e-6)


def test_neighbour_rows_put_each_sample_then_a_gap_then_its_neighbours():
    references = np.arange(10, dtype=np.float32).reshape(10, 1, 1, 1) / 10
    queries = np.zeros((2, 1, 1, 1), np.float32)
    rows = neighbours.neighbours_rows(queries, references, np.array([[3, 1], [2, 9]]))
    np.testing.assert_allclose(rows.ravel(), [0, 1, 0.3, 0.1, 0, 1, 0.2, 0.9])


# Held-out denoising score matching.

def gaussian_data(n=2000, d=16, scale=0.5, seed=14):
    return (np.random.default_rng(seed).normal(size=(n, d)) * scale).astype(np.float32), scale


def test_heldout_loss_with_the_exact_score_matches_the_closed_form():
    """x ~ N(0, s^2 I): x + sigma z has score -x/(s^2 + sigma^2) and expected loss
    D/2 s^2/(s^2 + sigma^2); a zero score scores D/2 at every level."""
    x, s = gaussian_data()
    sigmas = np.array([1.0, 0.3, 0.1], np.float32)
    by_level = tf.constant(sigmas)

    def exact(xt, level):
        return -xt / (s ** 2 + tf.gather(by_level, level)[:, None] ** 2)

    result = heldout.heldout_dsm_loss(exact, x, sigmas, seed=3, batch_size=512)
    expected = 16 / 2 * s ** 2 / (s ** 2 + sigmas.astype(np.float64) ** 2)
    np.testing.assert_allclose(result.per_level, expected, rtol=0.03)
    assert result.total == pytest.approx(expected.mean(), rel=0.03)
    assert np.all(result.per_level_sem < 0.02 * result.per_level)
    zero = heldout.heldout_dsm_loss(lambda xt, level: tf.zeros_like(xt), x, sigmas, seed=3)
    np.testing.assert_allclose(zero.per_level, 8.0, rtol=0.03)
    assert result.total < zero.total


def test_heldout_loss_is_deterministic_and_independent_of_the_batch_size():
    x, _ = gaussian_data(n=300)
    sigmas = np.array([1.0, 0.1], np.float32)
    score = lambda xt, level: -xt  # noqa: E731
    a = heldout.heldout_dsm_loss(score, x, sigmas, seed=5, batch_size=64)
    b = heldout.heldout_dsm_loss(score, x, sigmas, seed=5, batch_size=300)
    other_seed = heldout.heldout_dsm_loss(score, x, sigmas, seed=6)
    np.testing.assert_allclose(a.per_level, b.per_level, rtol=1e-6)
    assert a.total != other_seed.total
    assert a.num_examples == 300 and len(a.per_level) == 2


# Inception preprocessing (the network itself: tests/test_evaluate.py, slow).

def test_inception_preprocessing_quantises_resizes_and_repeats_gray():
    images = np.full((2, 8, 8, 1), 0.5 + 0.4 / 255, np.float32)  # Rounds to 128/255.
    x = inception.preprocess(images).numpy()
    assert x.shape == (2, 299, 299, 3)
    np.testing.assert_allclose(x, 128 / 127.5 - 1, atol=1e-6)
    rgb = np.random.default_rng(15).uniform(size=(1, 32, 32, 3)).astype(np.float32)
    y = inception.preprocess(rgb).numpy()
    assert y.min() >= -1 and y.max() <= 1
    with pytest.raises(ValueError, match="1 or 3 channels"):
        inception.preprocess(np.zeros((1, 4, 4, 2), np.float32))


def test_inception_weights_lookup(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.delenv("TFNCSN_TEST_WEIGHTS", raising=False)
    assert inception.find_weights(None, "TFNCSN_TEST_WEIGHTS") is None
    cached = tmp_path / "keras" / "models" / inception.KERAS_FILE
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"x")
    assert inception.find_weights(None, "TFNCSN_TEST_WEIGHTS") == str(cached)
    given = tmp_path / "given.h5"
    given.write_bytes(b"y")
    monkeypatch.setenv("TFNCSN_TEST_WEIGHTS", str(given))
    assert inception.find_weights(None, "TFNCSN_TEST_WEIGHTS") == str(given)
    with pytest.raises(inception.InceptionWeightsError, match="from inception_weights"):
        inception.find_weights(str(tmp_path / "missing.h5"), "TFNCSN_TEST_WEIGHTS")
    monkeypatch.setenv("TFNCSN_TEST_WEIGHTS", str(tmp_path / "gone.h5"))
    with pytest.raises(inception.InceptionWeightsError, match="from TFNCSN_TEST_WEIGHTS"):
        inception.find_weights(None, "TFNCSN_TEST_WEIGHTS")
