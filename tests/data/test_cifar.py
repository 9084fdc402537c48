import io
import os
import pickle

import numpy as np
import pytest

from tests.data.helpers import write_cifar_batches, write_cifar_npz
from vaeadv.data.cifar import load_batch, read_cifar_batches, read_cifar_npz
from vaeadv.errors import VaeadvError


def test_reads_batches_in_order(tmp_path):
    written = write_cifar_batches(tmp_path)
    out = read_cifar_batches(tmp_path)
    assert out["x_train"].shape == (20, 3, 32, 32) and out["x_test"].shape == (4, 3, 32, 32)
    np.testing.assert_array_equal(out["x_train"][4:8].reshape(4, -1), written["data_batch_2"][0])
    assert out["y_test"].tolist() == written["test_batch"][1]


class _Evil:
    """Unpickling it runs a shell command that creates ``marker``: proof that the file's code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"echo pwned > {self.marker}",))


def test_malicious_pickle_is_refused_before_running(tmp_path):
    path = tmp_path / "data_batch_1"
    marker = tmp_path / "pwned"
    path.write_bytes(pickle.dumps({b"data": _Evil(marker), b"labels": []}, protocol=2))
    with pytest.raises(VaeadvError, match=r"refused by the safe unpickler.*(posix|os)\.system"):
        load_batch(path)
    assert not marker.exists()


def test_truncated_batch(tmp_path):
    write_cifar_batches(tmp_path)
    path = tmp_path / "data_batch_3"
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(VaeadvError, match="data_batch_3: corrupt or truncated"):
        read_cifar_batches(tmp_path)


def test_wrong_shape_and_labels(tmp_path):
    path = tmp_path / "b"
    path.write_bytes(pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, protocol=2))
    with pytest.raises(VaeadvError, match="uint8 \\[N, 3072\\]"):
        load_batch(path)
    path.write_bytes(pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 11]}, protocol=2))
    with pytest.raises(VaeadvError, match="0..9"):
        load_batch(path)
    path.write_bytes(pickle.dumps([1, 2], protocol=2))
    with pytest.raises(VaeadvError, match="not a dict"):
        load_batch(path)


def test_npz_is_converted_to_chw(tmp_path):
    arrays = write_cifar_npz(tmp_path / "c.npz")
    out = read_cifar_npz(tmp_path / "c.npz")
    assert out["x_train"].shape == (8, 3, 32, 32)
    np.testing.assert_array_equal(out["x_train"].transpose(0, 2, 3, 1), arrays["x_train"])
    assert out["y_test"].tolist() == arrays["y_test"].tolist()


def test_npz_missing_key_and_corrupt(tmp_path):
    np.savez(tmp_path / "m.npz", x_train=np.zeros((1, 32, 32, 3), np.uint8))
    with pytest.raises(VaeadvError, match="missing arrays"):
        read_cifar_npz(tmp_path / "m.npz")
    write_cifar_npz(tmp_path / "t.npz")
    raw = (tmp_path / "t.npz").read_bytes()
    (tmp_path / "t.npz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(VaeadvError, match="t.npz: corrupt"):
        read_cifar_npz(tmp_path / "t.npz")


def test_npz_refuses_pickled_object_arrays(tmp_path):
    np.savez(tmp_path / "o.npz", x_train=np.array([object()], dtype=object), y_train=np.zeros(1),
             x_test=np.zeros(1), y_test=np.zeros(1))
    with pytest.raises(VaeadvError, match="o.npz"):
        read_cifar_npz(tmp_path / "o.npz")


class _Py2Pickler(pickle._Pickler):
    """Writes bytes the way Python 2's cPickle wrote ``str``: SHORT_BINSTRING/BINSTRING opcodes, as in the real
    ``cifar-10-batches-py`` files (their keys and the arrays' raw buffers are Python 2 strings)."""

    def save_bytes(self, obj):
        n = len(obj)
        self.write((b"U" + bytes([n]) if n < 256 else b"T" + n.to_bytes(4, "little")) + obj)
        self.memoize(obj)

    dispatch = dict(pickle._Pickler.dispatch)
    dispatch[bytes] = save_bytes


def _py2_pickle(obj) -> bytes:
    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


def test_reads_python2_batches_as_the_originals_are_written(tmp_path):
    """Python 2 strings load as bytes only with ``encoding="bytes"``; under the default ASCII the image buffer
    (bytes ≥ 128) cannot be decoded at all."""
    data = np.arange(2 * 3072, dtype=np.int64).astype(np.uint8).reshape(2, 3072)
    raw = _py2_pickle({b"data": data, b"labels": [3, 9]})
    assert b"U\x04data" in raw and b"_codecs" not in raw  # really the Python 2 layout
    (tmp_path / "b").write_bytes(raw)
    images, labels = load_batch(tmp_path / "b")
    np.testing.assert_array_equal(images.reshape(2, -1), data)
    assert images.shape == (2, 3, 32, 32) and labels.tolist() == [3, 9] and labels.dtype == np.uint8


def test_reads_batches_pickled_by_numpy_1(tmp_path):
    """numpy 1.x pickles name ``numpy.core.multiarray``; numpy 2 moved it to ``numpy._core``: both load."""
    data = np.full((1, 3072), 7, np.uint8)
    raw = pickle.dumps({b"data": data, b"labels": [1]}, protocol=2)
    assert b"numpy._core" in raw
    (tmp_path / "old").write_bytes(raw.replace(b"numpy._core", b"numpy.core"))
    images, labels = load_batch(tmp_path / "old")
    assert int(images.sum()) == 7 * 3072 and labels.tolist() == [1]


def test_str_keys_of_a_python3_repickle_load(tmp_path):
    data = np.zeros((1, 3072), np.uint8)
    (tmp_path / "s").write_bytes(pickle.dumps({"data": data, "labels": [4]}, protocol=4))
    assert load_batch(tmp_path / "s")[1].tolist() == [4]


def test_every_refusal_names_the_file_and_what_was_wrong(tmp_path):
    path = tmp_path / "b"

    def refused(entry, pattern):
        path.write_bytes(pickle.dumps(entry, protocol=2))
        with pytest.raises(VaeadvError, match=pattern):
            load_batch(path)

    zeros = np.zeros((2, 3072), np.uint8)
    refused({b"data": zeros}, r"b: CIFAR-10 batch lacks 'data' or 'labels' \(keys: \['data'\]\)")
    refused({b"labels": [0]}, r"lacks 'data' or 'labels' \(keys: \['labels'\]\)")
    refused({b"data": zeros.astype(np.float32), b"labels": [0, 1]}, r"b: 'data' must be uint8 \[N, 3072\], got float32")
    refused({b"data": np.zeros(3072, np.uint8), b"labels": [0]}, r"got uint8 \(3072,\)")
    refused({b"data": zeros, b"labels": [0, 11]}, r"b: labels must lie in 0\.\.9, found 0\.\.11")
    refused([1, 2], r"b: not a CIFAR-10 batch \(top level is list, not a dict\)")
    with pytest.raises(VaeadvError, match=r"cannot read \(Is a directory\)\.$"):
        load_batch(tmp_path)
    path.write_bytes(pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1]})[:60])
    with pytest.raises(VaeadvError, match=r"b: corrupt or truncated CIFAR-10 batch \((UnpicklingError|EOFError): "):
        load_batch(path)


def test_the_training_labels_are_the_five_batches_in_order(tmp_path):
    written = write_cifar_batches(tmp_path)
    out = read_cifar_batches(tmp_path)
    assert out["y_train"].tolist() == sum((written[f"data_batch_{i}"][1] for i in range(1, 6)), [])
    assert out["y_train"].dtype == np.uint8


def test_labels_are_whole_class_numbers_one_per_image(tmp_path):
    path = tmp_path / "b"
    zeros = np.zeros((2, 3072), np.uint8)

    def batch(labels):
        path.write_bytes(pickle.dumps({b"data": zeros, b"labels": labels}, protocol=2))
        return path

    assert load_batch(batch(np.array([3.0, 9.0])))[1].tolist() == [3, 9]  # whole floats are classes
    assert load_batch(batch(np.array([3.0, 9.0])))[1].dtype == np.uint8
    assert load_batch(batch([9, 0]))[1].tolist() == [9, 0]
    with pytest.raises(VaeadvError, match=r"b: labels must lie in 0\.\.9, found 0\.\.10\.$"):
        load_batch(batch([10, 0]))
    with pytest.raises(VaeadvError, match=r"^.*b: 3 labels for 2 images\.$"):
        load_batch(batch([0, 1, 2]))
    with pytest.raises(VaeadvError, match=r"b: labels must be whole class numbers 0\.\.9, found non-integer values "
                                          r"such as np\.float64\(3\.5\)"):
        load_batch(batch(np.array([3.5, 1.0])))
    with pytest.raises(VaeadvError, match="non-integer values such as np.float64\\(nan\\)"):
        load_batch(batch(np.array([np.nan, 1.0])))
    with pytest.raises(VaeadvError, match=r"labels must be integers 0\.\.9, got an array of <U1"):
        load_batch(batch(np.array(["a", "b"])))


def test_npz_never_unpickles_and_checks_each_split(tmp_path):
    """An object array in an npz is a pickle: loading it would run the code it names. It is refused unread."""
    marker = tmp_path / "pwned"
    np.savez(tmp_path / "evil.npz", x_train=np.array([_Evil(marker)], dtype=object), y_train=np.zeros(1),
             x_test=np.zeros(1), y_test=np.zeros(1))
    with pytest.raises(VaeadvError, match=r"evil\.npz: corrupt or unreadable npz \(ValueError: Object arrays cannot"):
        read_cifar_npz(tmp_path / "evil.npz")
    assert not marker.exists()
    rng = np.random.default_rng(0)
    test_only = rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    np.savez(tmp_path / "test.npz", x_test=test_only, y_test=np.array([1, 2]))
    out = read_cifar_npz(tmp_path / "test.npz", keys=("x_test", "y_test"))  # no training split: the test one is read
    np.testing.assert_array_equal(out["x_test"], test_only.transpose(0, 3, 1, 2))
    for bad in (np.zeros((2, 32, 32, 4), np.uint8), np.zeros((2, 32, 32, 3), np.float32)):
        np.savez(tmp_path / "bad.npz", x_train=bad, y_train=np.array([1, 2]), x_test=test_only, y_test=np.zeros(2))
        with pytest.raises(VaeadvError, match=rf"bad\.npz: x_train must be uint8 \[N,32,32,3\], got {bad.dtype} "):
            read_cifar_npz(tmp_path / "bad.npz")
    np.savez(tmp_path / "lab.npz", x_train=test_only, y_train=np.array([1, 12]), x_test=test_only, y_test=np.zeros(2))
    with pytest.raises(VaeadvError, match=r"lab\.npz: y_train: labels must lie in 0\.\.9"):
        read_cifar_npz(tmp_path / "lab.npz")
