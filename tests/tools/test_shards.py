"""The maintenance tool that moves dataset files in coded shards: exact round trips of the image codec, its
predictor against JPEG-LS's rule written out by hand, and every way a carried set can be incomplete or damaged."""

import gzip
import hashlib
import io
import itertools
import json

import numpy as np
import pytest

from tools.imagecodec import decode_images, encode_images, med_predict
from tools.shards import main, pack, stored_names, unpack
from vaeadv.errors import VaeadvError


def _loco_i(a: int, b: int, c: int) -> int:
    """JPEG-LS (ITU-T T.87, A.2.1) prediction of a pixel from its left a, upper b and upper-left c neighbours."""
    if c >= max(a, b):
        return min(a, b)
    if c <= min(a, b):
        return max(a, b)
    return a + b - c


def test_med_predictor_is_jpeg_ls_rule():
    values = range(0, 256, 37)
    triples = np.array(list(itertools.product(values, repeat=3)), dtype=np.int16)
    got = med_predict(triples[:, 0], triples[:, 1], triples[:, 2])
    assert got.tolist() == [_loco_i(*map(int, t)) for t in triples]


@pytest.mark.parametrize("shape", [(3, 5, 7, 3), (2, 1, 1, 3), (4, 6, 6, 1), (1, 28, 28, 1)])
def test_codec_round_trips_any_uint8_images(shape):
    x = np.random.default_rng(sum(shape)).integers(0, 256, shape, dtype=np.uint8)
    assert np.array_equal(decode_images(encode_images(x), shape), x)


def test_codec_refuses_what_it_cannot_code():
    with pytest.raises(VaeadvError, match="uint8"):
        encode_images(np.zeros((2, 4, 4, 3), np.float32))
    blob = encode_images(np.zeros((2, 4, 4, 3), np.uint8))
    with pytest.raises(VaeadvError, match="not the 64"):
        decode_images(blob, (2, 4, 4, 2))
    with pytest.raises(VaeadvError, match="damaged"):
        decode_images(blob[:-7] + b"garbage", (2, 4, 4, 3))


def test_codec_beats_lzma_on_real_cifar_images(real_cifar):
    import lzma

    x = np.ascontiguousarray(real_cifar.x_test[:500].permute(0, 2, 3, 1).numpy())  # HWC, as the npz stores them
    coded = encode_images(x)
    assert np.array_equal(decode_images(coded, x.shape), x)
    assert len(coded) < 0.6 * x.nbytes  # 0.55 on these 500 images (0.49 on 2,000)
    assert len(coded) < 0.8 * len(lzma.compress(x.tobytes(), preset=9))  # 0.73: the point of the codec


def _idx(arr: np.ndarray) -> bytes:
    """IDX bytes written by hand: magic 0x0000, type 0x08 (ubyte), rank, big-endian dimensions, the data."""
    header = bytes([0, 0, 8, arr.ndim]) + np.array(arr.shape, ">u4").tobytes()
    return header + arr.astype(np.uint8).tobytes()


@pytest.fixture
def dataset_folder(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "src"
    (root / "cifar").mkdir(parents=True)
    smooth = np.cumsum(rng.integers(0, 3, (20, 8, 8, 3)), axis=2).astype(np.uint8)  # image-like: codec pays
    arrays = {"x_train": smooth, "y_train": rng.integers(0, 10, 20).astype(np.uint8),
              "label_names": np.array(["plane", "car"]), "scores": rng.normal(size=(5, 2))}
    np.savez_compressed(root / "cifar" / "set.npz", **arrays)
    (root / "mnist").mkdir()
    images, labels = _idx(rng.integers(0, 256, (6, 5, 4))), _idx(rng.integers(0, 10, 6))
    (root / "mnist" / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(images))
    (root / "mnist" / "train-labels-idx1-ubyte").write_bytes(labels)
    (root / "mnist" / "notes.txt").write_bytes(b"anything else travels as bytes\n")
    return root, arrays, {"train-images-idx3-ubyte": images, "train-labels-idx1-ubyte": labels}


def test_shards_put_back_every_file_exactly(dataset_folder, tmp_path):
    root, arrays, idx = dataset_folder
    files = stored_names([root / "mnist", root / "cifar" / "set.npz"])
    assert sorted(files) == ["cifar/set.npz", "mnist/notes.txt", "mnist/train-images-idx3-ubyte.gz",
                             "mnist/train-labels-idx1-ubyte"]
    manifest = pack(files, tmp_path / "shards", shard_bytes=300)
    parts = sorted((tmp_path / "shards").glob("part-*.bin"))
    assert len(parts) == len(manifest["shards"]) > 2 and all(p.stat().st_size <= 300 for p in parts)
    assert sum(p.stat().st_size for p in parts) == manifest["bytes"]
    written = unpack(tmp_path / "shards", tmp_path / "data")
    assert len(written) == 4
    with np.load(tmp_path / "data" / "cifar" / "set.npz") as back:
        assert sorted(back.files) == sorted(arrays)
        for key, value in arrays.items():
            assert back[key].dtype == value.dtype and np.array_equal(back[key], value)
    for name, original in idx.items():  # IDX files come back decompressed, byte for byte
        assert (tmp_path / "data" / "mnist" / name).read_bytes() == original
    assert (tmp_path / "data" / "mnist" / "notes.txt").read_bytes() == b"anything else travels as bytes\n"
    codecs = {f["name"]: f for f in manifest["files"]}
    assert codecs["cifar/set.npz"]["arrays"]["x_train"]["codec"] == "images"
    assert codecs["cifar/set.npz"]["arrays"]["x_train"]["sha256"] == hashlib.sha256(arrays["x_train"]).hexdigest()


def test_missing_damaged_or_unknown_shards_are_named(dataset_folder, tmp_path):
    root, *_ = dataset_folder
    shards = tmp_path / "shards"
    pack(stored_names([root / "mnist", root / "cifar"]), shards, shard_bytes=300)
    (shards / "part-001.bin").unlink()
    with pytest.raises(VaeadvError, match=r"1 of \d+ shards are not here \(part-001.bin\)"):
        unpack(shards, tmp_path / "data")
    pack(stored_names([root / "mnist", root / "cifar"]), shards, shard_bytes=300)
    data = bytearray((shards / "part-002.bin").read_bytes())
    data[10] ^= 0xFF
    (shards / "part-002.bin").write_bytes(bytes(data))
    with pytest.raises(VaeadvError, match="damaged shard.*part-002.bin"):
        unpack(shards, tmp_path / "data")
    assert not (tmp_path / "data").exists()  # nothing written from a damaged set
    manifest = json.loads((shards / "manifest.json").read_text())
    (shards / "manifest.json").write_text(json.dumps({**manifest, "format": 99}))
    with pytest.raises(VaeadvError, match="format 99"):
        unpack(shards, tmp_path / "data")
    (shards / "manifest.json").unlink()
    with pytest.raises(VaeadvError, match="manifest.json"):
        unpack(shards, tmp_path / "data")
    with pytest.raises(VaeadvError, match="no such file"):
        stored_names([root / "nope"])


@pytest.mark.slow  # end to end, tens of seconds: make test-all
def test_real_mnist_test_files_round_trip_to_their_published_md5(real_data_dir, tmp_path, capsys):
    from vaeadv.data.sources import MNIST

    mnist = tmp_path / "mnist"
    mnist.mkdir()
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (mnist / name).write_bytes((real_data_dir / "mnist" / name).read_bytes())
    assert main(["pack", str(tmp_path / "shards"), str(mnist), "--shard-mib", "0.5"]) == 0
    assert "2 files" in capsys.readouterr().out
    assert main(["unpack", str(tmp_path / "shards"), str(tmp_path / "data")]) == 0
    published = {f.name: f.raw_md5 for f in MNIST.files}
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        data = (tmp_path / "data" / "mnist" / name).read_bytes()
        assert hashlib.md5(data).hexdigest() == published[name]


def test_npz_with_objects_is_refused(tmp_path):
    buffer = io.BytesIO()
    np.savez(buffer, bad=np.array([{"a": 1}], dtype=object))
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x.npz").write_bytes(buffer.getvalue())
    with pytest.raises(ValueError):  # numpy refuses to unpickle it: nothing is ever unpickled
        pack(stored_names([tmp_path / "d"]), tmp_path / "out", 1000)


def test_a_malformed_idx_file_is_refused_before_packing(tmp_path):
    (tmp_path / "mnist").mkdir()
    (tmp_path / "mnist" / "train-images-idx3-ubyte").write_bytes(_idx(np.zeros((4, 5, 5)))[:-3])
    with pytest.raises(VaeadvError, match="train-images-idx3-ubyte: truncated"):
        pack(stored_names([tmp_path / "mnist"]), tmp_path / "out", 1000)
