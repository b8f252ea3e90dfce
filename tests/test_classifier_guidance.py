"""Classifier guidance: exact against a labelled Gaussian mixture, the classifier's training
and resume, and `tfncsn train-classifier` + `tfncsn sample --class=K` end to end."""

import glob

import numpy as np
import pytest
import tensorflow as tf

from conftest import error_line, run_cli
from tfncsn import classifier_records as records
from tfncsn.classifier_records import ClassifierConfig
from tfncsn.config import ConfigError
from tfncsn.gaussian_mixture import GaussianMixture
from tfncsn.models import noise_conditional_classifier as nets
from tfncsn.sampling import Problem, Runner
from tfncsn.sampling.conditioning import guided_score
from tfncsn_plugins.samplers import AnnealedLangevin, PredictorCorrector
from tfncsn_plugins.sigma_schedules import geometric

# Labels = components; the minority component is class 0.
MIXTURE = GaussianMixture([0.2, 0.5, 0.3], [[-5.0, -5.0], [5.0, 5.0], [5.0, -5.0]], std=1.0)
SIGMAS = geometric(20.0, 1.0, 10).numpy()


def exact_log_posterior(x, sigma, labels):
    """log p(y | x, sigma): the posterior component probability of the perturbed mixture."""
    variance = MIXTURE.std ** 2 + tf.square(tf.reshape(sigma, [-1, 1]))
    means = tf.constant(MIXTURE.means, tf.float32)
    logits = (tf.math.log(tf.constant(MIXTURE.weights, tf.float32))[None]
              - tf.reduce_sum(tf.square(x[:, None] - means[None]), -1) / (2.0 * variance))
    log_posterior = tf.nn.log_softmax(logits, axis=-1)
    return tf.reduce_sum(log_posterior * tf.one_hot(labels, len(MIXTURE.weights)), axis=-1)


def component_score(x, sigma, k):
    """Score of component k perturbed by sigma: -(x - mu_k) / (s^2 + sigma^2)."""
    return -(x - MIXTURE.means[k]) / (MIXTURE.std ** 2 + sigma[:, None] ** 2)


@pytest.mark.parametrize("score_input", ["level", "sigma"])
def test_guided_score_at_scale_one_is_the_chosen_components_score(score_input):
    gen = np.random.default_rng(0)
    x = tf.constant(gen.uniform(-8, 8, size=(64, 2)), tf.float32)
    levels = gen.integers(0, len(SIGMAS), size=64)
    sigma = SIGMAS[levels]
    labels = gen.integers(0, 3, size=64)
    if score_input == "level":
        score = lambda x, level: MIXTURE.score(x, tf.gather(SIGMAS, level))  # noqa: E731
        noise = tf.constant(levels, tf.int32)
    else:
        score, noise = MIXTURE.score, tf.constant(sigma, tf.float32)
    guided = guided_score(score, exact_log_posterior, labels, 1.0, score_input, SIGMAS)
    expected = np.stack([component_score(x.numpy()[i:i + 1], sigma[i:i + 1], labels[i])[0]
                         for i in range(64)])
    np.testing.assert_allclose(guided(x, noise).numpy(), expected, rtol=1e-4, atol=1e-5)
    unguided = guided_score(score, exact_log_posterior, labels, 0.0, score_input, SIGMAS)
    np.testing.assert_allclose(unguided(x, noise).numpy(), score(x, noise).numpy())


@pytest.mark.parametrize("cls, options", [
    (AnnealedLangevin, {"eps": 0.1, "steps_per_level": 50}),
    (PredictorCorrector, {"num_steps": 200}),
])
def test_guided_samples_land_in_the_requested_mode(cls, options):
    """The minority mode (weight 0.2) gets every sample when asked for, with either sampler
    (the PC sampler asks for the score between the trained levels, by sigma)."""
    problem = Problem(SIGMAS, (2,), (-8.0, 8.0), continuous_sigma=True)
    program = cls(cls.Options(**options), problem)
    if program.score_input == "level":
        score = lambda x, level: MIXTURE.score(x, tf.gather(SIGMAS, level))  # noqa: E731
    else:
        score = MIXTURE.score
    for k in (0, 2):
        guided = guided_score(score, exact_log_posterior, k, 1.0, program.score_input, SIGMAS)
        x = Runner(program, guided)(tf.random.Generator.from_seed(k), 400).x.numpy()
        assert np.mean(MIXTURE.nearest_component(x) == k) >= 0.99, (k, cls)


# ----------------------------------------------------------------------------- the classifier


class LabelledMixture:
    """A labelled dataset of mixture samples (`load_labelled`, as labelled plugins have)."""

    element_shape = (2,)

    def load_labelled(self, split):
        gen = np.random.default_rng(0 if split == "train" else 1)
        labels = gen.choice(3, size=2000, p=MIXTURE.weights)
        x = MIXTURE.means[labels] + MIXTURE.std * gen.standard_normal((2000, 2))
        return tf.data.Dataset.from_tensor_slices((x.astype(np.float32), labels.astype(np.int64)))


def test_the_classifier_learns_the_posterior_and_resumes(tmp_path):
    config = ClassifierConfig(width=32, steps=300, batch_size=64, log_every=100,
                              checkpoint_every=150, learning_rate=3e-3)
    result = nets.train(LabelledMixture(), (1.0, 20.0), config, str(tmp_path))
    assert result.step == 300
    folder = tmp_path / records.CLASSIFIER_DIR
    assert (folder / "checkpoints" / "ckpt-300.index").exists()
    assert glob.glob(str(folder / "train" / "events*"))
    model, step = nets.restore(str(tmp_path), (2,))
    assert (step, model.num_classes) == (300, 3)
    # Against the exact posterior at a low and a high level: close in log-probability.
    gen = np.random.default_rng(2)
    for sigma in (1.0, 8.0):
        x = MIXTURE.sample(500, 3) + sigma * gen.standard_normal((500, 2)).astype(np.float32)
        labels = MIXTURE.nearest_component(x)
        s = tf.fill([500], sigma)
        exact = np.exp(exact_log_posterior(tf.constant(x), s, labels).numpy())
        learned = np.exp(nets.log_prob_fn(model)(tf.constant(x), s, labels).numpy())
        assert np.abs(exact - learned).mean() < 0.08, sigma

    # Resume: a longer run continues from step 300 with the same weights.
    before = [v.numpy().copy() for v in model.variables]
    resumed = nets.train(LabelledMixture(), (1.0, 20.0),
                         ClassifierConfig(width=32, steps=310, batch_size=64, log_every=10,
                                          checkpoint_every=150, learning_rate=3e-3),
                         str(tmp_path))
    assert resumed.step == 310
    assert (folder / "checkpoints" / "ckpt-310.index").exists()
    model_310, _ = nets.restore(str(tmp_path), (2,))
    moved = [np.abs(a - b.numpy()).max() for a, b in zip(before, model_310.variables)]
    assert 0 < max(moved) < 0.1  # Ten more steps from the restored weights, not afresh.
    with pytest.raises(ConfigError, match="different network"):
        nets.train(LabelledMixture(), (1.0, 20.0),
                   ClassifierConfig(width=16, steps=320, batch_size=64), str(tmp_path))


def test_a_dataset_without_labels_is_one_line():
    class Unlabelled:
        element_shape = (2,)
    with pytest.raises(ConfigError, match="has no labels"):
        nets.labelled_batches(Unlabelled(), 8, 0)


# ----------------------------------------------------------------------------- the commands

TINY = ["--model=mlp", "--model_options=hidden_units=[32]", "--batch_size=16", "--log_every=5"]


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """A tiny score model and classifier on scikit-learn's 8x8 digits."""
    workdir = tmp_path_factory.mktemp("guided") / "run"
    run_cli("train", "--dataset=digits", *TINY, "--steps=10", f"--workdir={workdir}")
    proc = run_cli("train-classifier", f"--workdir={workdir}", "--classifier_steps=20",
                   "--classifier_batch_size=16", "--classifier_log_every=10",
                   "--classifier_width=8")
    assert "trained the classifier to step 20" in proc.stdout
    return workdir


def test_train_classifier_then_sample_a_class(digits_run, tmp_path):
    folder = digits_run / records.CLASSIFIER_DIR
    assert (folder / "checkpoints" / "ckpt-20.index").exists()
    assert records.load(str(digits_run))["num_classes"] == 10
    output = tmp_path / "three.npz"
    proc = run_cli("sample", f"--workdir={digits_run}", "--class=3", "--guidance=2",
                   "--num_samples=3", "--steps_per_level=2", f"--output={output}")
    assert "guided by the classifier (scale 2) to class 3" in proc.stdout
    result = np.load(output)
    assert result["samples"].shape == (3, 8, 8, 1)
    np.testing.assert_array_equal(result["labels"], [3, 3, 3])
    grid = tmp_path / "grid.png"
    run_cli("sample", f"--workdir={digits_run}", "--class=all", "--num_samples=2",
            "--steps_per_level=1", f"--output={grid}")
    from PIL import Image
    assert Image.open(grid).size == (2 + 2 * 10, 2 + 10 * 10)  # One row per class.


def test_bad_class_requests_are_one_line(digits_run, tmp_path):
    for args, expected in [
        (["--class=ten"], "--class must be a class index (0, 1, ...) or all, got 'ten'"),
        (["--class=10"], "--class=10: the classifier knows classes 0 to 9"),
    ]:
        proc = run_cli("sample", f"--workdir={digits_run}", *args, "--steps_per_level=1",
                       f"--output={tmp_path / 'o.npz'}", check=False)
        assert expected in error_line(proc)
    proc = run_cli("train-classifier", f"--workdir={tmp_path / 'none'}", check=False)
    assert "no score model in" in error_line(proc)
