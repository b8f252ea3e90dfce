"""The offline classifier and the metrics in its feature space, on real labelled data.

Digits (scikit-learn's 8x8, about 10 s) run by default; Fashion-MNIST (a 60k-image
classifier, a few minutes on a 2-core CPU) is marked slow.
"""

import numpy as np
import pytest

from tfncsn import builders
from tfncsn.interfaces import DataNotFoundError
from tfncsn.metrics import feature_classifier as classifier, fid, kid, precision_recall


def labelled_arrays(dataset, split):
    batches = list(dataset.load_labelled(split).batch(4096).as_numpy_iterator())
    return np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])


def fitted(name):
    dataset = builders.make_dataset(name, {}, None)
    try:
        train, test = labelled_arrays(dataset, "train"), labelled_arrays(dataset, "test")
    except DataNotFoundError as e:
        pytest.skip(str(e))
    model, info = classifier.fit_classifier(*train, *test)
    return model, info, train, test


@pytest.fixture(scope="module")
def digits():
    return fitted("digits")


def metric_sets(test_images, n, seed=0):
    """Held-out real images, the same with Gaussian pixel noise, and uniform noise."""
    rng = np.random.default_rng(seed)
    real = test_images[rng.choice(len(test_images), n, replace=False)]
    return {"real": real,
            "noisy": np.clip(real + 0.3 * rng.normal(size=real.shape), 0.0, 1.0),
            "uniform": rng.uniform(size=real.shape).astype(np.float32)}


def check_ordering(model, info, train, test, n):
    def features(images):
        return classifier.classifier_outputs(model, images, feature_scale=info["feature_scale"])[0]

    reference = features(train[0])
    values = {}
    for name, images in metric_sets(test[0], n).items():
        f = features(images)
        same_size = reference[np.random.default_rng(1).choice(len(reference), n, replace=False)]
        values[name] = (fid.fid_from_features(reference, f),
                        kid.kernel_inception_distance(reference, f, num_subsets=20).mean,
                        precision_recall.density_coverage(same_size, f).coverage)
    print({k: tuple(round(x, 4) for x in v) for k, v in values.items()})
    fids = [values[k][0] for k in ("real", "noisy", "uniform")]
    assert fids[0] < fids[1] < fids[2], values
    assert values["real"][1] < values["noisy"][1] < values["uniform"][1], values
    assert values["real"][2] > values["noisy"][2] > values["uniform"][2], values
    return values


def test_digits_classifier_is_accurate_and_describes_itself(digits):
    model, info, train, test = digits
    assert info["test_accuracy"] > 0.9
    assert info["train_examples"] == 1437 and info["test_examples"] == 360
    features, logits = classifier.classifier_outputs(model, test[0], feature_scale=1.0)
    assert features.shape == (360, classifier.FEATURE_DIM) and logits.shape == (360, 10)
    scaled, _ = classifier.classifier_outputs(model, train[0],
                                              feature_scale=info["feature_scale"])
    assert np.mean(np.square(scaled)) == pytest.approx(1.0, rel=1e-4)


def test_offline_fid_orders_real_below_noisy_below_uniform_on_digits(digits):
    check_ordering(*digits, n=300)


def test_saved_classifier_gives_the_same_outputs(digits, tmp_path):
    model, info, _, test = digits
    written = classifier.save_classifier(model, str(tmp_path / "clf"), info)
    loaded, loaded_info = classifier.load_classifier(str(tmp_path / "clf"))
    assert loaded_info == written and written["architecture"] == classifier.ARCHITECTURE
    assert written["input_shape"] == [8, 8, 1] and written["num_classes"] == 10
    np.testing.assert_allclose(classifier.classifier_outputs(loaded, test[0][:50])[1],
                               classifier.classifier_outputs(model, test[0][:50])[1], rtol=1e-5)
    assert classifier.load_classifier(str(tmp_path / "nothing")) is None


def test_quantisation_is_eight_bit():
    x = np.array([-0.5, 0.0, 0.4 / 255, 0.6 / 255, 1.0, 7.0, np.nan], np.float32)
    np.testing.assert_allclose(classifier.quantize(x) * 255, [0, 0, 0, 1, 255, 255, 0])


@pytest.mark.slow
def test_offline_fid_orders_real_below_noisy_below_uniform_on_fashion_mnist():
    model, info, train, test = fitted("fashion_mnist")
    assert info["test_accuracy"] > 0.88
    check_ordering(model, info, train, test, n=2000)
