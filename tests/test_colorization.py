"""Colorization: inpainting in the orthogonal colour basis with the luminance known."""

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from conftest import run_cli
from tfncsn.cli.image_io import check_colour
from tfncsn.config import ConfigError
from tfncsn.sampling import Problem, Runner, SamplerError
from tfncsn.sampling.conditioning import (COLOUR_BASIS, COLOUR_MASK, Colorization, Inpainting,
                                          check_basis, luminance)
from tfncsn_plugins.samplers import AnnealedLangevin, PredictorCorrector

SIGMAS = np.geomspace(1.0, 0.01, 5).astype(np.float32)
SHAPE = (4, 4, 3)


def gaussian_score(mean, std):
    """Exact score of N(mean, std^2 I) perturbed by sigma, per level."""
    def score(x, level):
        sigma = tf.reshape(tf.gather(SIGMAS, level), [-1, 1, 1, 1])
        return -(x - mean) / (std ** 2 + tf.square(sigma))
    return score


def build(cls, **options):
    problem = Problem(SIGMAS, SHAPE, (0.0, 1.0))
    return cls(cls.Options(**options), problem)


def test_the_colour_basis_is_orthogonal_with_the_luminance_first():
    np.testing.assert_allclose(COLOUR_BASIS @ COLOUR_BASIS.T, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(COLOUR_BASIS[0], np.ones(3) / np.sqrt(3.0))
    np.testing.assert_array_equal(COLOUR_MASK, [1.0, 0.0, 0.0])
    rgb = np.random.default_rng(0).uniform(size=(5, 3))
    coords = rgb @ COLOUR_BASIS.T  # B x for each pixel.
    np.testing.assert_allclose(coords @ COLOUR_BASIS, rgb, atol=1e-12)  # Round trip B^T B x.
    np.testing.assert_allclose(coords[:, 0], np.sqrt(3.0) * rgb.mean(axis=1))


def test_a_basis_that_is_not_orthogonal_or_the_wrong_size_is_refused():
    with pytest.raises(SamplerError, match="must be orthogonal"):
        check_basis(2.0 * np.eye(3), 3)
    with pytest.raises(SamplerError, match="must be a 3x3 matrix"):
        check_basis(np.eye(2), 3)


def test_impose_keeps_the_luminance_of_the_observation_and_the_chroma_of_x():
    gen = np.random.default_rng(1)
    x, y = gen.uniform(size=(2, *SHAPE)), gen.uniform(size=(2, *SHAPE))
    program = Colorization(build(AnnealedLangevin), luminance(y))
    out = program.impose(tf.constant(x, tf.float32), program.y).numpy()
    np.testing.assert_allclose(luminance(out), luminance(y), atol=1e-6)
    chroma = lambda v: (v @ COLOUR_BASIS.T)[..., 1:]  # noqa: E731
    np.testing.assert_allclose(chroma(out), chroma(x), atol=1e-6)


def test_identity_basis_is_plain_inpainting_bit_for_bit():
    gen = np.random.default_rng(2)
    y = gen.uniform(size=(2, *SHAPE)).astype(np.float32)
    mask = (gen.uniform(size=SHAPE) < 0.5).astype(np.float32)
    score = gaussian_score(0.5, 0.2)
    sampler = build(AnnealedLangevin, eps=2e-5, steps_per_level=3, denoise=True)
    plain = Runner(Inpainting(sampler, y, mask), score)(
        tf.random.Generator.from_seed(0), 2).x.numpy()
    eye = Runner(Inpainting(sampler, y, mask, basis=np.eye(3)), score)(
        tf.random.Generator.from_seed(0), 2).x.numpy()
    np.testing.assert_allclose(eye, plain, atol=1e-6)


@pytest.mark.parametrize("cls, options", [
    (AnnealedLangevin, {"eps": 2e-5, "steps_per_level": 4, "denoise": True}),
    (AnnealedLangevin, {"eps": 2e-5, "steps_per_level": 4}),
    (PredictorCorrector, {}),
])
def test_the_gray_image_is_kept_as_inpainting_keeps_its_pixels(cls, options):
    """With a finish step the luminance ends as the observation's (float32 round-off only);
    without one, as the observation plus the last level's noise, as inpainting's pixels do."""
    gen = np.random.default_rng(3)
    images = gen.uniform(size=(3, *SHAPE)).astype(np.float32)
    gray = luminance(images)
    sampler = build(cls, **options)
    program = Colorization(sampler, gray)
    out = Runner(program, gaussian_score(0.5, 0.2))(
        tf.random.Generator.from_seed(1), 3).x.numpy()
    if program.has_finish:
        np.testing.assert_allclose(luminance(out), gray, atol=2e-6)
    else:  # Luminance coordinate noise sigma_L z, so the channel mean's is sigma_L / sqrt(3).
        error = luminance(out) - gray
        assert np.abs(error).max() < 5 * SIGMAS[-1] / np.sqrt(3.0)
        assert np.abs(error).max() > 1e-4  # Not imposed exactly: the noise is there.
    chroma = (out @ COLOUR_BASIS.T)[..., 1:]
    assert chroma.std() > 0.02  # The colours were sampled, not left at the gray image's zero.


def test_colorization_needs_rgb_images():
    problem = Problem(SIGMAS, (4, 4, 1), (0.0, 1.0))
    with pytest.raises(SamplerError, match="colorization needs RGB images"):
        Colorization(AnnealedLangevin(AnnealedLangevin.Options(), problem),
                     np.zeros((1, 4, 4, 1), np.float32))


# ----------------------------------------------------------------------------- the command


def rgb_folder(root, count=12, size=8):
    """A folder of small RGB PNGs: a coloured square on a coloured background."""
    root.mkdir()
    gen = np.random.default_rng(0)
    for i in range(count):
        image = np.zeros((size, size, 3), np.uint8)
        image[:] = gen.integers(0, 256, 3)
        image[2:6, 2:6] = gen.integers(0, 256, 3)
        Image.fromarray(image).save(root / f"image{i}.png")
    return root


@pytest.fixture(scope="module")
def rgb_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("rgb")
    folder = rgb_folder(base / "images")
    workdir = base / "run"
    run_cli("train", "--dataset=image_folder", f"--data_dir={folder}",
            "--dataset_options=image_size=8", "--dataset_options=test_fraction=0",
            "--model=mlp", "--model_options=hidden_units=[32]", "--batch_size=4", "--steps=4",
            "--log_every=2", f"--workdir={workdir}")
    return workdir, folder


def test_inpaint_grayscale_colours_rgb_images_and_keeps_their_gray(rgb_run, tmp_path):
    workdir, folder = rgb_run
    output = tmp_path / "colour.npz"
    proc = run_cli("inpaint", f"--workdir={workdir}", f"--data_dir={folder}", "--images=test:2",
                   "--mask=grayscale", "--num_completions=2", "--steps_per_level=2",
                   "--denoise", f"--output={output}")
    assert "colorizations (the gray image known)" in proc.stdout
    result = np.load(output)
    images, completions = result["images"], result["completions"]
    assert completions.shape == (2, 2, 8, 8, 3)
    np.testing.assert_allclose(result["gray"], luminance(images))
    # After the denoising finish the gray image is imposed exactly; clipping to [0, 1] for
    # pixels may move it only where a completion left the box.
    inside = np.all((completions > 0) & (completions < 1), axis=-1, keepdims=True)
    error = np.abs(luminance(completions) - luminance(images)[:, None])
    assert inside.sum() >= 10
    assert error[inside].max() < 1e-5
    figure = tmp_path / "colour.png"
    run_cli("inpaint", f"--workdir={workdir}", f"--data_dir={folder}", "--images=test:2",
            "--mask=grayscale", "--num_completions=2", "--steps_per_level=1",
            f"--output={figure}")
    assert Image.open(figure).size == (2 + 4 * 10, 2 + 2 * 10)  # original | gray | 2 colours.


def test_grayscale_on_a_one_channel_dataset_is_one_line():
    """`tfncsn inpaint --mask=grayscale` calls this before reading any image."""
    check_colour((8, 8, 3), "cifar10")
    with pytest.raises(ConfigError) as error:
        check_colour((8, 8, 1), "digits")
    assert str(error.value) == (
        "--mask=grayscale colours RGB images, but dataset 'digits' has 1 channel; use a "
        "region mask (left_half, right_half, top_half, bottom_half, center) or an RGB dataset")


def test_the_export_writes_colorize_graphs_that_follow_tensorflow(rgb_run, tmp_path):
    """colorize_step/finish.onnx: the colour basis is a graph constant, y and mask inputs as
    for inpainting; looped by the runtime they follow the TF program and keep the gray."""
    import tfncsn_runtime
    from export_helpers import tf_trajectory
    from tfncsn import builders, config as run_config, training
    from tfncsn.config import SamplerConfig
    from tfncsn.sampling.score_source import ScoreSource
    workdir, folder = rgb_run
    export = tmp_path / "export"
    run_cli("export", f"--workdir={workdir}", f"--data_dir={folder}", f"--output={export}",
            "--steps_per_level=2", "--denoise")
    exported = tfncsn_runtime.load(str(export))
    spec = exported.meta["programs"]["colorize"]
    assert spec["inputs"] == ["y", "mask"] and spec["finish"] == "colorize_finish.onnx"
    np.testing.assert_allclose(spec["basis"], COLOUR_BASIS)
    config = run_config.load(str(workdir))
    dataset = builders.make_dataset(config.dataset, config.dataset_options, str(folder))
    sigmas = builders.make_sigmas(config.sigmas)
    model = builders.make_model(config.model, config.model_options, dataset.element_shape,
                                sigmas.numpy())
    training.restore_model(model, str(workdir))
    source = ScoreSource.for_model(config, dataset, sigmas, model, "test")
    meta = exported.meta["sampler"]
    program = source.program(SamplerConfig(meta["name"], meta["options"]))
    gray = luminance(np.random.default_rng(4).uniform(size=(2, 8, 8, 3)).astype(np.float32))
    tf_x, _ = tf_trajectory(Colorization(program, gray), source.score_for(program), 2, seed=5)
    y = np.repeat(gray, 3, axis=-1)
    onnx_x = exported.program("colorize").run(
        2, tfncsn_runtime.NumpyNoise(5), inputs={"y": y, "mask": np.broadcast_to(COLOUR_MASK,
                                                                               y.shape)})
    np.testing.assert_allclose(onnx_x, tf_x, atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(luminance(onnx_x), gray, atol=1e-5)
