"""One --mask parser (tfncsn_runtime.masks) for `python -m tfncsn_runtime` and `tfncsn inpaint`,
which adds .png masks and its `grayscale` value; and one check of an --images array
(tfncsn_runtime.pixels), which `tfncsn inpaint` also uses for .npz files."""

import numpy as np
import pytest
from PIL import Image

from tfncsn.cli import image_io
from tfncsn.config import ConfigError
from tfncsn_runtime import SampleError, masks, pixels

SHAPE = (8, 6, 3)


def test_named_regions_hide_their_part_of_every_channel():
    left = masks.make_mask("left_half", SHAPE)
    assert left.shape == SHAPE and left.dtype == np.float32
    assert not left[:, :3].any() and left[:, 3:].all()
    center = masks.make_mask("center", SHAPE)
    assert not center[2:6, 1:5].any() and center.sum() == 3 * (48 - 16)
    assert np.array_equal(image_io.make_mask("top_half", SHAPE),
                          masks.make_mask("top_half", SHAPE))


@pytest.mark.parametrize("saved", [(8, 6), (8, 6, 1), (1, 8, 6), (8, 6, 3)])
def test_a_npy_mask_is_one_plane_or_one_element_size_1_axes_aside(tmp_path, saved):
    plane = np.zeros((8, 6), np.float32)
    plane[:, 2:] = 0.9  # Above 0.5: known.
    array = np.broadcast_to(plane[..., None], saved) if len(saved) == 3 and saved[0] != 1 \
        else plane.reshape(saved)
    np.save(tmp_path / "m.npy", array)
    expected = np.broadcast_to((plane > 0.5)[..., None], SHAPE).astype(np.float32)
    for parse in (masks.make_mask, image_io.make_mask):
        assert np.array_equal(parse(str(tmp_path / "m.npy"), SHAPE), expected), parse


def test_the_cli_reads_png_masks_white_known(tmp_path):
    path = tmp_path / "m.png"
    pixels = np.zeros((8, 6), np.uint8)
    pixels[4:] = 255
    Image.fromarray(pixels).save(path)
    mask = image_io.make_mask(str(path), SHAPE)
    assert mask[4:].all() and not mask[:4].any()
    with pytest.raises(SampleError, match=r"or a \.npy file \(1 = known\), got"):
        masks.make_mask(str(path), SHAPE)  # The reader has no PIL.


def test_bad_masks_are_one_line_naming_the_flag(tmp_path):
    np.save(tmp_path / "small.npy", np.ones((5, 5), np.float32))
    with pytest.raises(SampleError, match=r"--mask: '.*small.npy' has shape \(5, 5\); the model "
                                          r"needs \(8, 6, 3\) or \(8, 6\)"):
        masks.make_mask(str(tmp_path / "small.npy"), SHAPE)
    with pytest.raises(ConfigError, match=r"--mask: cannot read '.*missing.npy'"):
        image_io.make_mask(str(tmp_path / "missing.npy"), SHAPE)
    with pytest.raises(ConfigError, match="--mask must be one of left_half, right_half, top_half, "
                                          "bottom_half, center, grayscale or a .npy/.png file"):
        image_io.make_mask("diagonal", SHAPE)
    with pytest.raises(SampleError, match="--mask=center needs images"):
        masks.make_mask("center", (2,))


def test_both_commands_read_an_images_array_alike(tmp_path):
    """uint8 is divided by 255, one image gets its batch axis, and the two readers agree."""
    gen = np.random.default_rng(0)
    batch = gen.integers(0, 256, size=(2, *SHAPE), dtype=np.uint8)
    np.save(tmp_path / "batch.npy", batch)
    np.save(tmp_path / "one.npy", batch[0].astype(np.float32) / 255.0)
    np.savez(tmp_path / "batch.npz", images=batch)
    runtime = pixels.load_images(str(tmp_path / "batch.npy"), SHAPE)
    assert runtime.dtype == np.float32 and runtime.shape == (2, *SHAPE)
    np.testing.assert_array_equal(runtime, batch.astype(np.float32) / 255.0)
    for name in ("batch.npy", "batch.npz"):
        np.testing.assert_array_equal(image_io.load_images(str(tmp_path / name), SHAPE), runtime)
    np.testing.assert_allclose(pixels.load_images(str(tmp_path / "one.npy"), SHAPE),
                               runtime[:1], rtol=1e-6)


@pytest.mark.parametrize("array, problem", [
    (np.zeros((2, 5, 5, 3), np.float32), r"holds an array of shape \(2, 5, 5, 3\); the model "
                                         r"needs \[M, 8, 6, 3\]"),
    (np.zeros((0, *SHAPE), np.float32), r"shape \(0, 8, 6, 3\)"),
    (np.full((1, *SHAPE), 1.5, np.float32), r"pixels in \[0, 1\] \(or uint8\), got \[1.5, 1.5\]"),
    (np.full((1, *SHAPE), np.nan, np.float32), r"pixels in \[0, 1\] \(or uint8\), got NaN"),
])
def test_a_bad_images_array_is_one_line_naming_the_flag(tmp_path, array, problem):
    path = tmp_path / "images.npy"
    np.save(path, array)
    with pytest.raises(SampleError, match=rf"^--images: '{path}' .*{problem}"):
        pixels.load_images(str(path), SHAPE)
    with pytest.raises(ConfigError, match=rf"^--images: '{path}' .*{problem}"):
        image_io.load_images(str(path), SHAPE)


def test_an_unreadable_image_in_an_images_folder_is_named(tmp_path):
    Image.new("RGB", (10, 12), "red").save(tmp_path / "a.png")
    (tmp_path / "b.png").write_bytes(b"not a png")
    with pytest.raises(ConfigError, match=rf"^--images: cannot read '{tmp_path / 'b.png'}'.*"
                                          "replace or delete it$"):
        image_io.load_images(str(tmp_path), SHAPE)
    (tmp_path / "b.png").unlink()
    red = image_io.load_images(str(tmp_path), SHAPE)
    assert red.shape == (1, *SHAPE) and np.allclose(red[..., 0], 1) and np.allclose(red[..., 1:], 0)
