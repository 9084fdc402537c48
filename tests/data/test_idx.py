import gzip

import numpy as np
import pytest

from tests.data.helpers import idx_bytes, write_mnist_like
from vaeadv.data.idx import parse_idx, read_idx, read_idx_images, read_idx_labels
from vaeadv.errors import VaeadvError


@pytest.mark.parametrize("gz", [True, False])
def test_reads_images_and_labels_exactly(tmp_path, gz):
    arrays = write_mnist_like(tmp_path, gz=gz)
    suffix = ".gz" if gz else ""
    images = read_idx_images(tmp_path / f"train-images-idx3-ubyte{suffix}")
    labels = read_idx_labels(tmp_path / f"train-labels-idx1-ubyte{suffix}")
    assert images.shape == (20, 1, 28, 28) and images.dtype == np.uint8
    np.testing.assert_array_equal(images[:, 0], arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(labels, arrays["train-labels-idx1-ubyte"])


def test_truncated_file_names_file_and_sizes(tmp_path):
    data = idx_bytes(np.zeros((5, 28, 28), np.uint8))
    path = tmp_path / "cut-idx3-ubyte"
    path.write_bytes(data[:-100])
    with pytest.raises(VaeadvError, match=r"cut-idx3-ubyte: truncated.*\(5, 28, 28\)"):
        read_idx(path)


def test_trailing_bytes_are_an_error():
    with pytest.raises(VaeadvError, match="trailing bytes"):
        parse_idx(idx_bytes(np.zeros(3, np.uint8)) + b"\x00", "x")


def test_bad_magic_and_type():
    with pytest.raises(VaeadvError, match="magic"):
        parse_idx(b"\x01\x02\x08\x01" + b"\x00" * 8, "x")
    with pytest.raises(VaeadvError, match="element type"):
        parse_idx(b"\x00\x00\x07\x01\x00\x00\x00\x00", "x")
    with pytest.raises(VaeadvError, match="not an IDX"):
        parse_idx(b"\x00", "x")


def test_corrupt_gzip_is_reported(tmp_path):
    good = gzip.compress(idx_bytes(np.zeros((2, 28, 28), np.uint8)))
    path = tmp_path / "bad.gz"
    path.write_bytes(good[:20])
    with pytest.raises(VaeadvError, match="bad.gz: corrupt or truncated gzip"):
        read_idx(path)


def test_label_range_and_rank_checked(tmp_path):
    path = tmp_path / "labels"
    path.write_bytes(idx_bytes(np.array([1, 2, 12], np.uint8)))
    with pytest.raises(VaeadvError, match="label 12 out of range"):
        read_idx_labels(path)
    with pytest.raises(VaeadvError, match="expected uint8 images of rank 3"):
        read_idx_images(path)


def test_missing_file(tmp_path):
    with pytest.raises(VaeadvError, match="cannot read"):
        read_idx(tmp_path / "nope")


def test_label_boundary_nine_is_a_class_ten_is_not(tmp_path):
    path = tmp_path / "labels"
    path.write_bytes(idx_bytes(np.array([0, 9], np.uint8)))
    assert read_idx_labels(path).tolist() == [0, 9]
    path.write_bytes(idx_bytes(np.array([0, 10], np.uint8)))
    with pytest.raises(VaeadvError, match="label 10 out of range"):
        read_idx_labels(path)
