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


@pytest.mark.parametrize(("code", "dtype"), [(0x08, "u1"), (0x09, "i1"), (0x0B, ">i2"), (0x0C, ">i4"),
                                             (0x0D, ">f4"), (0x0E, ">f8")])
def test_every_element_type_of_the_format(code, dtype):
    """The six IDX element types (LeCun's format page), written by hand: big-endian values after the header."""
    values = np.array([[-1, 2, 3], [4, 5, 100]]).astype(dtype)
    if dtype == "u1":
        values = np.array([[255, 2, 3], [4, 5, 100]], np.uint8)
    raw = bytes([0, 0, code, 2]) + (2).to_bytes(4, "big") + (3).to_bytes(4, "big") + values.tobytes()
    out = parse_idx(raw, "x")
    assert out.shape == (2, 3) and out.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(out, values)


def test_rank_limits_one_to_four_and_header_length():
    for ndim in (1, 4):
        shape = (2,) * ndim
        assert parse_idx(bytes([0, 0, 8, ndim]) + b"".join(d.to_bytes(4, "big") for d in shape)
                         + bytes(2**ndim)).shape == shape
    for ndim in (0, 5):
        with pytest.raises(VaeadvError, match=f"x: unsupported IDX rank {ndim}\\.$"):
            parse_idx(bytes([0, 0, 8, ndim]) + bytes(24), "x")
    with pytest.raises(VaeadvError, match=r"^x: truncated IDX header\.$"):
        parse_idx(bytes([0, 0, 8, 3]) + bytes(11), "x")  # 3 dimensions need 12 bytes of sizes
    with pytest.raises(VaeadvError, match=r"^x: not an IDX file \(only 3 bytes\)\.$"):
        parse_idx(bytes(3), "x")
    assert parse_idx(bytes([0, 0, 8, 1, 0, 0, 0, 0])).shape == (0,)  # exactly a header: an empty array


def test_messages_state_what_was_found():
    with pytest.raises(VaeadvError, match=r"^x: bad IDX magic number 00010801 \(expected 0000xxnn\)\.$"):
        parse_idx(b"\x00\x01\x08\x01" + bytes(8), "x")
    with pytest.raises(VaeadvError, match=r"^x: unknown IDX element type 0x0a\.$"):
        parse_idx(b"\x00\x00\x0a\x01" + bytes(8), "x")
    data = idx_bytes(np.zeros(3, np.uint8))
    with pytest.raises(VaeadvError, match=r"^x: has trailing bytes: header declares shape \(3,\) \(3 bytes\), "
                                          r"file holds 5 bytes of data\.$"):
        parse_idx(data + b"\x00\x00", "x")
    with pytest.raises(VaeadvError, match=r"^x: truncated: header declares shape \(3,\) \(3 bytes\), file holds 2"):
        parse_idx(data[:-1], "x")


def test_images_and_labels_refuse_the_other_kind_and_wide_types(tmp_path):
    images = tmp_path / "images"
    images.write_bytes(idx_bytes(np.zeros((2, 4, 4), np.uint8)))
    with pytest.raises(VaeadvError, match=r"images: expected uint8 labels of rank 1, got uint8 of shape \(2, 4, 4\)"):
        read_idx_labels(images)
    wide = tmp_path / "wide"
    wide.write_bytes(bytes([0, 0, 0x0C, 3]) + b"".join((2).to_bytes(4, "big") for _ in range(3)) + bytes(32))
    with pytest.raises(VaeadvError, match=r"wide: expected uint8 images of rank 3, got >i4 of shape \(2, 2, 2\)"):
        read_idx_images(wide)
    labels = tmp_path / "labels"
    labels.write_bytes(bytes([0, 0, 0x0C, 1]) + (2).to_bytes(4, "big") + bytes(8))
    with pytest.raises(VaeadvError, match=r"expected uint8 labels of rank 1, got >i4"):
        read_idx_labels(labels)
    five = tmp_path / "five"
    five.write_bytes(idx_bytes(np.array([0, 4, 5], np.uint8)))
    assert read_idx_labels(five, num_classes=6).tolist() == [0, 4, 5]
    with pytest.raises(VaeadvError, match=r"five: label 5 out of range 0\.\.4\.$"):
        read_idx_labels(five, num_classes=5)


def test_unreadable_and_corrupt_gzip_messages(tmp_path):
    with pytest.raises(VaeadvError, match=r"cannot read \(No such file or directory\)\.$"):
        read_idx(tmp_path / "nope")
    path = tmp_path / "bad.gz"
    path.write_bytes(b"\x1f\x8b" + bytes(30))
    with pytest.raises(VaeadvError, match=r"bad.gz: corrupt or truncated gzip data \(.+\)\. Delete it and fetch it"):
        read_idx(path)
    plain = tmp_path / "plain"
    plain.write_bytes(b"\x1f" + bytes(7))  # one byte of the gzip magic is not gzip
    with pytest.raises(VaeadvError, match="bad IDX magic"):
        read_idx(plain)


def test_four_bytes_are_a_header_start_and_bytes_without_a_name_say_so():
    with pytest.raises(VaeadvError, match=r"^<bytes>: truncated IDX header\.$"):
        parse_idx(bytes([0, 0, 8, 1]))  # exactly the magic: the sizes are missing
    with pytest.raises(VaeadvError, match=r"^<bytes>: not an IDX file"):
        parse_idx(b"\x00")
