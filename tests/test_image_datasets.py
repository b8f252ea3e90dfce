"""The image dataset plugins, on mocked TFDS data and files made here (no network)."""

import gzip
import os
import struct
import time

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tfncsn import builders
from tfncsn.config import ConfigError
from tfncsn.interfaces import DataNotFoundError, Dataset
from runtime_helpers import missing
from tfncsn_plugins.datasets import idx
from tfncsn_plugins.datasets.digits import Digits
from tfncsn_plugins.datasets.emoji import Emoji
from tfncsn_plugins.datasets.image_folder import ImageFolder, _hash_fraction
from tfncsn_plugins.datasets.tfds_images import CIFAR10, MNIST, CelebA, FashionMNIST

DEBIAN_FASHION_MNIST = "/usr/share/datasets/fashion-mnist"
ALL = [MNIST, FashionMNIST, CIFAR10, CelebA, ImageFolder, Digits, Emoji]


def arrays(ds):
    return np.stack(list(ds.as_numpy_iterator()))


def assert_one_line_error(excinfo, *needles):
    message = str(excinfo.value)
    assert "\n" not in message
    for needle in needles:
        assert needle in message


@pytest.fixture
def mock_tfds():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=24):
        yield


@pytest.fixture
def empty_tfds_home(tmp_path, monkeypatch):
    """TFDS' default data dir pointed at an empty folder, whatever this machine holds."""
    from tensorflow_datasets.core import constants

    monkeypatch.setattr(constants, "DATA_DIR", str(tmp_path / "tfds_home"))
    return tmp_path / "tfds_home"


# --- All plugins -------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", ALL)
def test_plugins_are_datasets_built_from_data_dir_alone(cls):
    dataset = cls(data_dir=None)
    assert isinstance(dataset, Dataset)
    assert len(dataset.element_shape) == 3 and dataset.prior_range == (0.0, 1.0)


@pytest.mark.parametrize("cls", ALL)
def test_unknown_split_is_a_clear_error(cls):
    with pytest.raises(ValueError, match="unknown split 'validation'"):
        cls().load("validation")


# --- TFDS-backed (mocked) -------------------------------------------------------------------


@pytest.mark.parametrize("cls, shape", [(MNIST, (28, 28, 1)), (FashionMNIST, (28, 28, 1)),
                                        (CIFAR10, (32, 32, 3)), (CelebA, (32, 32, 3))])
def test_tfds_datasets_give_float32_images_in_unit_range(mock_tfds, tmp_path, cls, shape):
    dataset = cls(data_dir=str(tmp_path))  # Empty: FashionMNIST finds no IDX files, uses TFDS.
    assert dataset.element_shape == shape
    for training in (False, True):
        ds = dataset.load("train", training=training, seed=1)
        assert ds.element_spec == tf.TensorSpec(shape, tf.float32)
        x = arrays(ds)
        assert x.shape == (24, *shape) and x.min() >= 0.0 and x.max() <= 1.0


@pytest.mark.parametrize("cls, flips", [(MNIST, False), (FashionMNIST, False), (CIFAR10, True),
                                        (CelebA, True)])
def test_training_dequantises_and_flips_only_where_the_paper_does(mock_tfds, tmp_path, cls,
                                                                  flips):
    dataset = cls(data_dir=str(tmp_path))
    clean = arrays(dataset.load("train")) * 255 / 256  # Lower edge of each dequantisation bin.
    noisy = arrays(dataset.load("train", training=True, seed=3))

    def within_bin(reference):
        return np.all((noisy >= reference - 1e-6) & (noisy <= reference + 1 / 256 + 1e-6),
                      axis=(1, 2, 3))

    kept, mirrored = within_bin(clean), within_bin(clean[:, :, ::-1])
    assert np.all(kept | mirrored)
    assert np.any(mirrored & ~kept) == flips
    assert np.any(kept & ~mirrored)
    assert not np.allclose(noisy, clean)  # Noise was added.


def test_random_flip_option_overrides_the_default(mock_tfds, tmp_path):
    clean = arrays(CIFAR10(data_dir=str(tmp_path)).load("train")) * 255 / 256
    noisy = arrays(CIFAR10(data_dir=str(tmp_path), random_flip=False).load("train",
                                                                           training=True))
    assert np.all((noisy >= clean - 1e-6) & (noisy <= clean + 1 / 256 + 1e-6))


def test_dequantize_option_turns_the_noise_off_and_keeps_the_flips(mock_tfds, tmp_path):
    """Issue 10.5: NCSNv2's CIFAR-10 config trains without dequantisation."""
    clean = arrays(CIFAR10(data_dir=str(tmp_path)).load("train"))
    dataset = builders.make_dataset("cifar10", {"dequantize": False}, str(tmp_path))
    assert dataset.dequantize is False and CIFAR10().dequantize is True
    x = arrays(dataset.load("train", training=True, seed=3))
    kept = np.all(x == clean, axis=(1, 2, 3))
    mirrored = np.all(x == clean[:, :, ::-1], axis=(1, 2, 3))
    assert np.all(kept | mirrored) and np.any(mirrored & ~kept)  # Exact pixels, still flipped.
    digits = builders.make_dataset("digits", {"dequantize": False})
    np.testing.assert_array_equal(arrays(digits.load("train", training=True, seed=3)),
                                  arrays(digits.load("train")))
    with pytest.raises(ConfigError, match="dequantize must be true or false"):
        builders.make_dataset("digits", {"dequantize": "false"})


def test_dequantize_option_reaches_the_dataset_from_the_command_line():
    from tfncsn.cli.flags import parse_options
    options = parse_options(["dequantize=false"], "dataset_options")
    assert builders.make_dataset("image_folder", options, "unused").dequantize is False


def test_training_randomness_is_seeded_and_fresh_every_epoch(mock_tfds, tmp_path):
    dataset = CIFAR10(data_dir=str(tmp_path))
    a = arrays(dataset.load("train", training=True, seed=5))
    b = arrays(dataset.load("train", training=True, seed=5))
    c = arrays(dataset.load("train", training=True, seed=6))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    two_epochs = arrays(dataset.load("train", training=True, seed=5).repeat(2))
    np.testing.assert_array_equal(two_epochs[:24], a)
    assert not np.allclose(two_epochs[:24], two_epochs[24:])


def test_test_split_is_deterministic_without_noise(mock_tfds, tmp_path):
    dataset = MNIST(data_dir=str(tmp_path))
    x = arrays(dataset.load("test"))
    np.testing.assert_array_equal(x, arrays(dataset.load("test", seed=9)))
    np.testing.assert_allclose(x * 255, np.round(x * 255), atol=1e-4)  # Still on the 8-bit grid.


def test_logit_transform_option_and_postprocess(mock_tfds, tmp_path):
    pixels = arrays(CIFAR10(data_dir=str(tmp_path)).load("test"))
    dataset = CIFAR10(data_dir=str(tmp_path), logit_transform=True)
    z = arrays(dataset.load("test"))
    y = 1e-6 + (1 - 2e-6) * pixels.astype(np.float64)
    np.testing.assert_allclose(z, np.log(y / (1 - y)), atol=1e-3)
    np.testing.assert_allclose(dataset.postprocess(z), pixels, atol=1e-5)
    trained = arrays(dataset.load("train", training=True))
    assert np.all(np.isfinite(trained))
    np.testing.assert_allclose(CIFAR10().postprocess(tf.constant([-0.5, 0.3, 2.0])), [0, 0.3, 1])


def test_load_labelled_pairs_images_with_labels(mock_tfds, tmp_path):
    dataset = CIFAR10(data_dir=str(tmp_path))
    assert dataset.load_labelled("test").element_spec == (
        tf.TensorSpec((32, 32, 3), tf.float32), tf.TensorSpec((), tf.int64))
    images = np.stack([image for image, _ in dataset.load_labelled("test").as_numpy_iterator()])
    np.testing.assert_array_equal(images, arrays(dataset.load("test")))
    assert not hasattr(CelebA(), "load_labelled")  # CelebA has no class labels.


@pytest.mark.parametrize("cls, name", [(MNIST, "mnist"), (CIFAR10, "cifar10"),
                                       (CelebA, "celeb_a"), (FashionMNIST, "fashion_mnist")])
def test_missing_tfds_data_fails_fast_in_one_line(tmp_path, cls, name):
    start = time.monotonic()
    with pytest.raises(DataNotFoundError) as excinfo:
        cls(data_dir=str(tmp_path)).load("train")
    assert time.monotonic() - start < 10  # No download attempt, no network retries.
    assert_one_line_error(excinfo, str(tmp_path / name), f"tfds build {name}", "--data_dir")
    assert excinfo.value.__suppress_context__  # No chained tfds traceback.


def test_missing_fashion_mnist_default_says_to_install_the_debian_package(
        tmp_path, monkeypatch, empty_tfds_home):
    monkeypatch.setattr(FashionMNIST, "idx_dirs", (str(tmp_path / "none"),))
    with pytest.raises(DataNotFoundError) as excinfo:
        FashionMNIST().load("test")
    assert_one_line_error(excinfo, "apt-get install dataset-fashion-mnist",
                          "t10k-images-idx3-ubyte", str(empty_tfds_home))


# --- IDX files ---------------------------------------------------------------------------------


def write_idx(path, array, compress):
    codes = {np.dtype(np.uint8): 0x08, np.dtype(">i2"): 0x0B, np.dtype(">f4"): 0x0D}
    header = struct.pack(">BBBB", 0, 0, codes[array.dtype], array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.tobytes()
    with open(path, "wb") as f:
        f.write(gzip.compress(data) if compress else data)


def write_mnist_like(folder, n, compress, dotted=False, prefix="train"):
    rng = np.random.default_rng(n)
    images = rng.integers(0, 256, [n, 28, 28], dtype=np.uint8)
    labels = rng.integers(0, 10, [n], dtype=np.uint8)
    gz = ".gz" if compress else ""
    sep = "." if dotted else "-"
    write_idx(os.path.join(folder, f"{prefix}-images{sep}idx3-ubyte{gz}"), images, compress)
    write_idx(os.path.join(folder, f"{prefix}-labels{sep}idx1-ubyte{gz}"), labels, compress)
    return images, labels


@pytest.mark.parametrize("compress, dotted", [(True, False), (False, False), (False, True)])
def test_fashion_mnist_reads_idx_files_from_data_dir(tmp_path, compress, dotted):
    images, labels = write_mnist_like(tmp_path, 5, compress, dotted)
    test_images, _ = write_mnist_like(tmp_path, 3, compress, dotted, prefix="t10k")
    dataset = FashionMNIST(data_dir=str(tmp_path))
    np.testing.assert_allclose(arrays(dataset.load("train")), images[..., None] / 255, atol=1e-7)
    assert len(arrays(dataset.load("test"))) == 3
    pairs = list(dataset.load_labelled("train").as_numpy_iterator())
    np.testing.assert_array_equal([label for _, label in pairs], labels)
    noisy = arrays(dataset.load("train", training=True))  # No flips: stays in its bins.
    clean = images[..., None] / 256
    assert np.all((noisy >= clean - 1e-6) & (noisy <= clean + 1 / 256 + 1e-6))


def test_fashion_mnist_looks_in_its_default_folder(tmp_path, monkeypatch):
    images, _ = write_mnist_like(tmp_path, 4, compress=True)
    monkeypatch.setattr(FashionMNIST, "idx_dirs", (str(tmp_path),))
    np.testing.assert_allclose(arrays(FashionMNIST().load("train")), images[..., None] / 255,
                               atol=1e-7)


def test_mnist_reads_idx_files_too(tmp_path):
    images, _ = write_mnist_like(tmp_path, 2, compress=False)
    np.testing.assert_allclose(arrays(MNIST(data_dir=str(tmp_path)).load("train")),
                               images[..., None] / 255, atol=1e-7)


def test_read_idx_handles_other_types_and_rejects_bad_files(tmp_path):
    shorts = np.arange(-6, 6, dtype=">i2").reshape(3, 4)
    write_idx(tmp_path / "shorts", shorts, compress=True)
    np.testing.assert_array_equal(idx.read_idx(str(tmp_path / "shorts")), shorts)
    floats = np.linspace(0, 1, 5, dtype=">f4")
    write_idx(tmp_path / "floats", floats, compress=False)
    np.testing.assert_array_equal(idx.read_idx(str(tmp_path / "floats")), floats)
    (tmp_path / "junk").write_bytes(b"PNG not an idx file")
    with pytest.raises(ValueError, match="not an IDX file"):
        idx.read_idx(str(tmp_path / "junk"))
    (tmp_path / "short").write_bytes((tmp_path / "floats").read_bytes()[:-1])
    with pytest.raises(ValueError, match="promises"):
        idx.read_idx(str(tmp_path / "short"))


@pytest.mark.skipif(not os.path.isdir(DEBIAN_FASHION_MNIST),
                    reason="Debian package dataset-fashion-mnist is not installed "
                           "(apt-get install dataset-fashion-mnist)")
def test_fashion_mnist_from_the_debian_package():
    dataset = FashionMNIST()
    train = dataset.load("train", training=True)
    assert int(train.cardinality()) == 60_000
    x = next(iter(train.batch(512))).numpy()
    assert x.shape == (512, 28, 28, 1) and 0.0 <= x.min() and x.max() <= 1.0
    assert 0.2 < x.mean() < 0.4  # Fashion-MNIST's mean pixel is about 0.286.
    labelled = dataset.load_labelled("test")
    assert int(labelled.cardinality()) == 10_000
    labels = np.array([int(label) for _, label in labelled.take(10)])
    np.testing.assert_array_equal(labels, [9, 2, 1, 1, 6, 1, 4, 6, 5, 7])


# --- Image folder ------------------------------------------------------------------------------


@pytest.fixture
def folder(tmp_path):
    """Images of mixed sizes, modes and formats in nested folders, plus a non-image."""
    root = tmp_path / "images"
    (root / "a" / "b").mkdir(parents=True)
    rng = np.random.default_rng(0)
    Image.fromarray(np.full([30, 40, 3], (200, 100, 50), np.uint8)).save(root / "wide.png")

    def pixels(*shape):
        return rng.integers(0, 256, shape, dtype=np.uint8)

    Image.fromarray(pixels(50, 17)).save(root / "a" / "g.PNG")  # Grayscale.
    Image.fromarray(pixels(64, 64, 3)).save(root / "a" / "b" / "c.jpg")
    Image.fromarray(pixels(20, 20, 4)).save(root / "d.png")  # RGBA.
    Image.fromarray(pixels(33, 21, 3)).save(root / "e.jpeg")
    (root / "notes.txt").write_text("not an image")
    return root


@pytest.mark.parametrize("channels, size", [(3, 32), (1, 16)])
def test_image_folder_crops_resizes_and_converts(folder, channels, size):
    dataset = ImageFolder(str(folder), image_size=size, channels=channels, test_fraction=0)
    assert dataset.element_shape == (size, size, channels)
    assert len(dataset.files("train")) == 5  # Recursive, case-insensitive, .txt ignored.
    x = arrays(dataset.load("train"))
    assert x.shape == (5, size, size, channels) and x.dtype == np.float32
    assert x.min() >= 0 and x.max() <= 1
    wide = dataset.files("train").index(str(folder / "wide.png"))
    expected = [200, 100, 50] if channels == 3 else [round(.299 * 200 + .587 * 100 + .114 * 50)]
    np.testing.assert_allclose(x[wide], np.broadcast_to(np.array(expected) / 255, x[wide].shape),
                               atol=1.5 / 255)


def test_image_folder_flips_only_when_asked(folder):
    files = [str(folder / "a" / "b" / "c.jpg")] * 32  # One asymmetric image, many draws.
    for random_flip, flips in ((True, True), (False, False)):
        dataset = ImageFolder(str(folder), random_flip=random_flip)
        dataset.files = lambda split: files
        clean = arrays(dataset.load("train")) * 255 / 256
        noisy = arrays(dataset.load("train", training=True, seed=2))
        kept = np.all(np.abs(noisy - clean - 1 / 512) <= 1 / 512 + 1e-6, axis=(1, 2, 3))
        assert np.all(kept) != flips and np.any(kept)


def test_image_folder_hash_split_is_stable_and_disjoint(tmp_path):
    for i in range(60):
        Image.fromarray(np.full([4, 4], i, np.uint8)).save(tmp_path / f"{i:02d}.png")
    dataset = ImageFolder(str(tmp_path), test_fraction=0.2)
    train, test = dataset.files("train"), dataset.files("test")
    assert sorted(train + test) == sorted(ImageFolder(str(tmp_path), test_fraction=0)
                                          .files("train"))
    assert 3 <= len(test) <= 24
    assert test == ImageFolder(str(tmp_path), test_fraction=0.2).files("test")
    everything = ImageFolder(str(tmp_path), test_fraction=0)
    assert everything.files("test") == everything.files("train") == sorted(train + test)


def test_image_folder_test_split_defaults_to_a_5_percent_hash_holdout(tmp_path):
    for i in range(200):
        Image.fromarray(np.full([4, 4], i, np.uint8)).save(tmp_path / f"{i:03d}.png")
    dataset = ImageFolder(str(tmp_path))
    assert 2 <= len(dataset.files("test")) <= 25
    assert not set(dataset.files("test")) & set(dataset.files("train"))


@pytest.mark.parametrize("make, needle", [(lambda p: None, "does not exist"),
                                          (lambda p: p.mkdir(), "no .png/.jpg/.jpeg images")])
def test_image_folder_missing_or_empty_is_a_one_line_error(tmp_path, make, needle):
    make(tmp_path / "x")
    with pytest.raises(DataNotFoundError) as excinfo:
        ImageFolder(str(tmp_path / "x")).load("train")
    assert_one_line_error(excinfo, needle, "--data_dir")
    with pytest.raises(DataNotFoundError, match="no folder given"):
        ImageFolder().load("train")


def test_image_folder_empty_split_and_bad_options_are_clear(tmp_path):
    Image.fromarray(np.zeros([4, 4], np.uint8)).save(tmp_path / "only.png")
    empty = "train" if _hash_fraction("only.png") < 0.01 else "test"
    with pytest.raises(DataNotFoundError, match="test_fraction=0"):
        ImageFolder(str(tmp_path), test_fraction=0.01).files(empty)
    with pytest.raises(TypeError, match="channels"):
        ImageFolder(str(tmp_path), channels=4)
    with pytest.raises(TypeError, match="image_size"):
        ImageFolder(str(tmp_path), image_size="32")
    with pytest.raises(TypeError, match="test_fraction"):
        ImageFolder(str(tmp_path), test_fraction=1.0)


@pytest.mark.parametrize("cls", ALL)
def test_options_arriving_as_strings_are_rejected_not_misread(cls):
    with pytest.raises(TypeError, match="logit_transform must be true or false"):
        cls(logit_transform="False")  # bool("False") would silently turn it on.


# --- Emoji -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def emoji_font():
    """The Noto Color Emoji font: skipped where it is not installed, required under CI=1
    (.ci/run installs Debian's fonts-noto-color-emoji)."""
    try:
        return Emoji().font_path()
    except DataNotFoundError as e:
        missing(str(e))


def test_emoji_are_colour_images_on_white_with_a_fixed_split(emoji_font):
    dataset = Emoji()
    code_points, images = dataset.code_points_and_images()
    train, test = arrays(dataset.load("train")), arrays(dataset.load("test"))
    assert len(images) > 1000 and len(set(code_points)) == len(images)
    assert train.shape == (len(images) - len(images[::10]), 32, 32, 3)
    np.testing.assert_allclose(test, images[::10] / 255, atol=1e-7)  # Every tenth is test.
    np.testing.assert_allclose(train[:9], images[1:10] / 255, atol=1e-7)
    assert np.median(train[:, 0, 0]) == 1.0  # Laid on white.
    chroma = train.max(axis=-1) - train.min(axis=-1)
    assert chroma.mean() > 0.1  # Colour, not gray: the point of the dataset.
    np.testing.assert_array_equal(arrays(Emoji().load("test")), test)  # Drawn the same again.
    assert arrays(Emoji(image_size=16).load("test")).shape == (len(test), 16, 16, 3)


def test_emoji_without_the_font_say_how_to_get_it(tmp_path):
    with pytest.raises(DataNotFoundError) as excinfo:
        Emoji(data_dir=str(tmp_path / "nowhere")).load("train")
    assert_one_line_error(excinfo, "NotoColorEmoji.ttf", "--data_dir")
    not_a_font = tmp_path / "broken.ttf"  # Pillow would find a system font of the same name.
    not_a_font.write_text("not a font")
    with pytest.raises(DataNotFoundError) as excinfo:
        Emoji(data_dir=str(not_a_font)).load("train")
    assert_one_line_error(excinfo, "cannot read", str(not_a_font))
    with pytest.raises(TypeError, match="image_size must be an integer of at least 8"):
        Emoji(image_size=4)


# --- Digits ------------------------------------------------------------------------------------


def test_digits_are_8x8_in_unit_range_with_a_fixed_split():
    from sklearn.datasets import load_digits

    dataset = Digits()
    train, test = arrays(dataset.load("train")), arrays(dataset.load("test"))
    assert train.shape == (1437, 8, 8, 1) and test.shape == (360, 8, 8, 1)
    digits = load_digits()
    np.testing.assert_allclose(test[..., 0], digits.images[::5] / 16, atol=1e-7)
    labels = [int(label) for _, label in dataset.load_labelled("test").as_numpy_iterator()]
    np.testing.assert_array_equal(labels, digits.target[::5])


def test_digits_dequantise_over_17_levels():
    dataset = Digits()
    k = arrays(dataset.load("train")) * 16
    noisy = arrays(dataset.load("train", training=True, seed=4))
    assert np.all((noisy >= k / 17 - 1e-6) & (noisy <= (k + 1) / 17 + 1e-6))
    assert abs(np.mean(noisy * 17 - k) - 0.5) < 0.01
