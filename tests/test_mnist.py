"""The MNIST IDX reader, batching and the shipped subset, on files we write ourselves."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from support.mnist_files import find_mnist, synthetic_digits, write_idx, write_mnist_folder

from network.pretrained import SUBSET as SUBSET_PATH
from network.training.mnist import (
    DataError,
    load_mnist,
    load_subset,
    make_subset,
    minibatches,
    read_idx,
)


@pytest.fixture
def mnist_dir():
    """The real MNIST beside the repo (../shared/data/mnist); skip when it is not there."""
    folder = find_mnist()
    if folder is None:
        pytest.skip("MNIST not found at ../shared/data/mnist")
    return folder


@pytest.fixture
def images():
    return np.random.default_rng(0).integers(0, 256, (7, 28, 28)).astype(np.uint8)


# -- read_idx ----------------------------------------------------------------------
@pytest.mark.parametrize("gz", [False, True])
def test_reads_images_and_labels(tmp_path, images, gz):
    labels = np.arange(7, dtype=np.uint8)
    got_x = read_idx(write_idx(tmp_path / "x", images, gz=gz))
    got_y = read_idx(write_idx(tmp_path / "y", labels, gz=gz))
    assert got_x.dtype == np.uint8 and got_x.shape == (7, 28, 28)
    np.testing.assert_array_equal(got_x, images)
    np.testing.assert_array_equal(got_y, labels)


def test_wrong_magic_number(tmp_path, images):
    path = write_idx(tmp_path / "x", images, magic=0x00000804)
    with pytest.raises(DataError, match="magic number 0x00000804"):
        read_idx(path)
    path.write_bytes(b"<html>404 Not Found</html>")            # a classic bad download
    with pytest.raises(DataError, match="magic number"):
        read_idx(path)


@pytest.mark.parametrize("gz", [False, True])
def test_truncated_data(tmp_path, images, gz):
    path = write_idx(tmp_path / "x", images, gz=gz, cut=100)
    with pytest.raises(DataError, match=r"truncated or padded: header says 5488 bytes .* has 5388"):
        read_idx(path)


def test_padded_data(tmp_path, images):
    with pytest.raises(DataError, match="truncated or padded"):
        read_idx(write_idx(tmp_path / "x", images, tail=b"\0" * 3))


def test_truncated_header(tmp_path, images):
    path = tmp_path / "x"
    path.write_bytes(write_idx(tmp_path / "full", images).read_bytes()[:10])
    with pytest.raises(DataError, match="inside its header"):
        read_idx(path)
    path.write_bytes(b"\0\0")
    with pytest.raises(DataError, match="too short"):
        read_idx(path)


def test_truncated_gzip(tmp_path, images):
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(write_idx(tmp_path / "raw", images).read_bytes())[:-40])
    with pytest.raises(DataError, match="not a valid gzip file"):
        read_idx(path)


def test_unreadable_path(tmp_path):
    with pytest.raises(DataError, match="cannot read"):
        read_idx(tmp_path / "missing")
    with pytest.raises(DataError, match="cannot read"):
        read_idx(tmp_path)                                      # a folder


# -- load_mnist --------------------------------------------------------------------
@pytest.mark.parametrize("gz", [False, True])
def test_loads_a_folder(tmp_path, gz):
    folder = write_mnist_folder(tmp_path / "mnist", n_train=30, n_test=12, seed=1, gz=gz)
    x, y = load_mnist(folder, "train")
    tx, ty = load_mnist(folder, "test")
    assert x.shape == (30, 28, 28) and y.shape == (30,) and tx.shape == (12, 28, 28)
    rng = np.random.default_rng(1)                              # the same draws as the writer
    for got, want in zip((x, y, tx, ty), (*synthetic_digits(30, rng), *synthetic_digits(12, rng)),
                         strict=True):
        np.testing.assert_array_equal(got, want)


def test_accepts_dotted_file_names(tmp_path, images):
    write_idx(tmp_path / "t10k-images.idx3-ubyte", images)
    write_idx(tmp_path / "t10k-labels.idx1-ubyte", np.zeros(7, np.uint8))
    assert load_mnist(tmp_path, "test")[0].shape == (7, 28, 28)


def test_label_count_mismatch(tmp_path, images):
    write_idx(tmp_path / "train-images-idx3-ubyte", images)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(6, np.uint8))
    with pytest.raises(DataError, match="7 images but labels of shape"):
        load_mnist(tmp_path, "train")


def test_images_and_labels_swapped(tmp_path, images):
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros(7, np.uint8))
    write_idx(tmp_path / "train-labels-idx1-ubyte", images)
    with pytest.raises(DataError, match=r"expected \(N, 28, 28\)"):
        load_mnist(tmp_path, "train")


def test_labels_above_nine(tmp_path, images):
    write_idx(tmp_path / "train-images-idx3-ubyte", images)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.full(7, 10, np.uint8))
    with pytest.raises(DataError, match="above 9"):
        load_mnist(tmp_path, "train")


def test_missing_folder_and_files(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_mnist(tmp_path / "nowhere")
    with pytest.raises(DataError, match="is it an MNIST folder"):
        load_mnist(tmp_path)
    with pytest.raises(DataError, match="unknown split"):
        load_mnist(tmp_path, "validation")


def test_real_mnist(mnist_dir):
    x, y = load_mnist(mnist_dir, "train")
    tx, ty = load_mnist(mnist_dir, "test")
    assert x.shape == (60000, 28, 28) and y.shape == (60000,)
    assert tx.shape == (10000, 28, 28) and ty.shape == (10000,)
    assert y[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert x.dtype == np.uint8 and x.max() == 255 and x.min() == 0
    assert sorted(np.unique(ty)) == list(range(10))


# -- batches and scaling ------------------------------------------------------------
def test_minibatches_cover_every_index_once():
    batches = list(minibatches(103, 10, np.random.default_rng(0)))
    assert [len(b) for b in batches] == [10] * 10 + [3]
    assert sorted(np.concatenate(batches).tolist()) == list(range(103))
    assert np.concatenate(batches).tolist() != list(range(103))          # shuffled
    again = list(minibatches(103, 10, np.random.default_rng(0)))
    assert all(np.array_equal(a, b) for a, b in zip(batches, again, strict=True))
    in_order = np.concatenate(list(minibatches(25, 10, None)))
    assert in_order.tolist() == list(range(25))


# -- the shipped subset -------------------------------------------------------------
def test_make_subset_is_balanced_deterministic_and_round_trips(tmp_path):
    folder = write_mnist_folder(tmp_path / "mnist", n_train=200, n_test=100, seed=3)
    out = tmp_path / "subset.npz"
    subset = make_subset(folder, out, heldout_per_class=3, anchors_per_class=5, seed=7)
    assert np.bincount(subset.heldout_y, minlength=10).tolist() == [3] * 10
    assert np.bincount(subset.anchor_y, minlength=10).tolist() == [5] * 10
    loaded = load_subset(out)
    np.testing.assert_array_equal(loaded.anchor_x, subset.anchor_x)
    np.testing.assert_array_equal(loaded.heldout_y, subset.heldout_y)
    # held-out digits come from the test split, anchors from the training split
    test_x, _ = load_mnist(folder, "test")
    assert all((test_x == img).all(axis=(1, 2)).any() for img in subset.heldout_x)
    again = make_subset(folder, tmp_path / "again.npz", heldout_per_class=3,
                        anchors_per_class=5, seed=7)
    np.testing.assert_array_equal(again.anchor_x, subset.anchor_x)


def test_shipped_subset_shape():
    subset = load_subset()
    assert subset.heldout_x.shape == (1000, 28, 28) and subset.anchor_x.shape == (2000, 28, 28)
    assert np.bincount(subset.heldout_y).tolist() == [100] * 10
    assert np.bincount(subset.anchor_y).tolist() == [200] * 10


def test_shipped_subset_matches_real_mnist(mnist_dir):
    subset = load_subset()
    with np.load(SUBSET_PATH) as z:
        h, a = z["heldout_test_index"], z["anchor_train_index"]
    test_x, test_y = load_mnist(mnist_dir, "test")
    train_x, train_y = load_mnist(mnist_dir, "train")
    np.testing.assert_array_equal(subset.heldout_x, test_x[h])
    np.testing.assert_array_equal(subset.heldout_y, test_y[h])
    np.testing.assert_array_equal(subset.anchor_x, train_x[a])
    np.testing.assert_array_equal(subset.anchor_y, train_y[a])
