"""One --mask parser (tfncsn_runtime.masks) for `python -m tfncsn_runtime` and `tfncsn inpaint`,
which adds .png masks and its `grayscale` value."""

import numpy as np
import pytest
from PIL import Image

from tfncsn.cli import image_io
from tfncsn.config import ConfigError
from tfncsn_runtime import SampleError, masks

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
