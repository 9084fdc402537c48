import dataclasses
import gzip
import hashlib

import numpy as np
import pytest
import torch

from tests.data.helpers import idx_bytes, write_cifar_npz, write_mnist_like
from vaeadv.data import load_dataset, locate
from vaeadv.data.resolve import download_dataset, fetch
from vaeadv.data.sources import FASHION_MNIST, FileSpec
from vaeadv.errors import VaeadvError


def test_order_data_dir_before_env(tmp_path, monkeypatch):
    write_mnist_like(tmp_path / "a" / "mnist")
    write_mnist_like(tmp_path / "b" / "MNIST" / "raw")
    monkeypatch.setenv("VAEADV_DATA", str(tmp_path / "b"))
    assert locate("mnist", tmp_path / "a").origin == "--data-dir"
    found = locate("mnist")
    assert found.origin == "$VAEADV_DATA" and found.folder == tmp_path / "b" / "MNIST" / "raw"


def test_not_found_lists_places_and_advice(tmp_path, monkeypatch):
    monkeypatch.delenv("VAEADV_DATA", raising=False)
    with pytest.raises(VaeadvError) as info:
        locate("mnist", tmp_path / "nowhere")
    text = str(info.value)
    assert str(tmp_path / "nowhere" / "mnist") in text and "switched off" in text and "--data-dir" in text


def test_download_over_file_urls_verifies_and_renames(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    files = []
    for name, arr in [("train-images-idx3-ubyte", np.zeros((3, 28, 28), np.uint8)),
                      ("train-labels-idx1-ubyte", np.array([1, 2, 3], np.uint8)),
                      ("t10k-images-idx3-ubyte", np.ones((2, 28, 28), np.uint8)),
                      ("t10k-labels-idx1-ubyte", np.array([4, 5], np.uint8))]:
        gz = gzip.compress(idx_bytes(arr))
        (mirror / f"{name}.gz").write_bytes(gz)
        files.append(FileSpec(name, "", hashlib.md5(gz).hexdigest()))
    spec = dataclasses.replace(FASHION_MNIST, files=tuple(files),
                               mirrors=("file:///definitely/missing/", mirror.as_uri() + "/"))
    dest = tmp_path / "dest"
    download_dataset(spec, dest)
    assert sorted(p.name for p in dest.iterdir()) == sorted(f"{f.name}.gz" for f in files)
    assert not list(dest.glob(".*part"))


def test_fetch_rejects_checksum_mismatch_and_leaves_nothing(tmp_path):
    src = tmp_path / "f.gz"
    src.write_bytes(b"hello")
    with pytest.raises(VaeadvError, match="checksum mismatch"):
        fetch([src.as_uri()], tmp_path / "out" / "f.gz", md5="0" * 32)
    assert list((tmp_path / "out").iterdir()) == []


def test_load_caches_decoded_tensors(tmp_path, monkeypatch):
    import vaeadv.data.datasets as datasets

    arrays = write_mnist_like(tmp_path / "mnist", n_train=30)
    first = load_dataset("mnist", tmp_path)

    def no_decoding(located):
        raise AssertionError("decoded again instead of reading the cache")

    monkeypatch.setattr(datasets, "_decode", no_decoding)
    again = load_dataset("mnist", tmp_path)
    assert first.x_train.dtype == torch.uint8
    assert np.array_equal(again.x_train[:, 0].numpy(), arrays["train-images-idx3-ubyte"])
    assert again.y_train.tolist() == arrays["train-labels-idx1-ubyte"].tolist()
    assert again.all_exact
    with pytest.raises(AssertionError, match="decoded again"):
        load_dataset("mnist", tmp_path, use_cache=False)


def test_damaged_cache_is_rebuilt(tmp_path, monkeypatch):
    write_mnist_like(tmp_path / "mnist")
    load_dataset("mnist", tmp_path)
    from vaeadv.data.resolve import cache_dir

    (pt,) = (cache_dir() / "decoded").glob("*.pt")
    pt.write_bytes(b"garbage")
    assert len(load_dataset("mnist", tmp_path).x_train) == 20


def test_cifar_npz_with_exact_overlay(tmp_path):
    full = write_cifar_npz(tmp_path / "cifar10" / "cifar10_jpeg_q75_original_order.npz", n_train=8, n_test=4)
    exact = {
        "x_train": np.full((2, 32, 32, 3), 7, np.uint8), "y_train": full["y_train"][[1, 3]],
        "train_index": np.array([1, 3]),
        "x_test": np.full((1, 32, 32, 3), 9, np.uint8), "y_test": full["y_test"][[0]], "test_index": np.array([0]),
    }
    np.savez(tmp_path / "cifar10" / "cifar10_exact_subset_train0-3999_test0-999.npz", **exact)
    data = load_dataset("cifar10", tmp_path)
    assert data.x_train.shape == (8, 3, 32, 32)
    assert data.train_exact.tolist() == [False, True, False, True, False, False, False, False]
    assert (data.x_train[1] == 7).all() and (data.x_test[0] == 9).all()
    assert not (data.x_train[0] == 7).all()
    assert "1 test images exact" in data.source


def test_exact_overlay_label_mismatch_is_an_error(tmp_path):
    full = write_cifar_npz(tmp_path / "cifar10_jpeg_q75_original_order.npz")
    np.savez(tmp_path / "cifar10_exact_subset_train0-3999_test0-999.npz",
             x_train=np.zeros((1, 32, 32, 3), np.uint8), y_train=(full["y_train"][[0]] + 1) % 10,
             train_index=np.array([0]), x_test=np.zeros((0, 32, 32, 3), np.uint8),
             y_test=np.zeros(0, np.uint8), test_index=np.zeros(0, np.int64))
    with pytest.raises(VaeadvError, match="disagree"):
        load_dataset("cifar10", tmp_path)


def test_sources_name_the_search_root_not_the_machines_paths(tmp_path, monkeypatch):
    from tests.data.helpers import write_mnist_like
    from vaeadv.data.resolve import find_local

    write_mnist_like(tmp_path / "mnist")
    monkeypatch.setenv("VAEADV_DATA", str(tmp_path))
    located, _ = find_local("mnist")
    assert located.describe() == "$VAEADV_DATA/mnist (idx)"
    located, _ = find_local("mnist", tmp_path / "mnist")
    assert located.describe() == "--data-dir (idx)"
    assert str(tmp_path) not in located.describe()
