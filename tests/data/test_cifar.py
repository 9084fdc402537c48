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
    def __reduce__(self):
        return (os.system, ("echo pwned > /tmp/vaeadv_pwned",))


def test_malicious_pickle_is_refused_before_running(tmp_path):
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": _Evil(), b"labels": []}, protocol=2))
    with pytest.raises(VaeadvError, match=r"refused by the safe unpickler.*(posix|os)\.system"):
        load_batch(path)
    assert not os.path.exists("/tmp/vaeadv_pwned")


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
