"""The generic compressors the bits-back coder is compared with, pinned byte by byte: nibble packing, the PNG
writer (chunks laid out as the PNG specification lays them out) and the baselines' bits per pixel."""

import bz2
import gzip
import lzma
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

import vaeadv.vae.compress as compress_module
from vaeadv.errors import VaeadvError
from vaeadv.vae import bbans_file
from vaeadv.vae.bitsback import SEED_WORDS
from vaeadv.vae.compress import compress, decompress, generic_baselines, pack_nibbles, png_bytes
from vaeadv.vae.module import VAE

IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"  # every PNG's last 12 bytes (the CRC of b"IEND" is AE 42 60 82)


@pytest.fixture
def coded(tmp_path):
    """Three random images coded by a small random VAE with a seed and a bucket count that are not the defaults,
    so a decoder that falls back to either fails."""
    torch.manual_seed(0)
    model = VAE(num_filters=4, z_dim=3)
    images = np.random.default_rng(0).integers(0, 16, size=(3, 28, 28)).astype(np.uint8)
    path = tmp_path / "t.bbans"
    compress(model, images, path, buckets=64, seed=5)
    return model, images, path


def _rewritten(path, **changes):
    """The file with some header fields changed, the message left as it is."""
    header, words = bbans_file.read(path)
    bbans_file.write(path, {**header, **changes}, words)
    return path


def test_the_decoder_uses_the_files_seed_and_buckets_reports_progress_and_times_on_its_clock(coded, monkeypatch):
    model, images, path = coded
    calls = []
    clock = iter([100.0, 102.4567])  # the decode's start and end
    monkeypatch.setattr(compress_module.time, "perf_counter", lambda: next(clock))
    back, info = decompress(model, path, progress=calls.append)
    assert np.array_equal(back, images) and calls == [1, 2, 3]
    assert info == {"decode_seconds": 2.46, "decode_images_per_second": 1.2, "environment_differs": {}}  # 3 / 2.4567


def test_an_encoder_on_another_machine_is_named_in_what_the_decoder_reports(coded):
    model, images, path = coded
    here = bbans_file.environment()
    _rewritten(path, environment={**here, "torch": "0.0"})
    assert decompress(model, path)[1]["environment_differs"] == {"torch": ("0.0", here["torch"])}
    header, words = bbans_file.read(path)
    del header["environment"]  # a file that does not say where it was coded differs in every respect
    bbans_file.write(path, header, words)
    assert decompress(model, path)[1]["environment_differs"] == {k: (None, v) for k, v in here.items()}


def test_a_failed_decode_names_how_the_machines_differ_and_a_wrong_checksum_says_same_environment(coded,
                                                                                                  monkeypatch):
    model, images, path = coded
    here = bbans_file.environment()
    _rewritten(path, images_sha256="0" * 64)
    with pytest.raises(VaeadvError) as caught:
        decompress(model, path)
    assert str(caught.value) == (f"{path}: the decoded images do not match the stored checksum (a damaged file, or "
                                 "probabilities computed differently: same environment).")
    _rewritten(path, environment={**here, "torch": "0.0", "threads": 4})

    def fails(*args, **kwargs):
        raise VaeadvError("the message ran out.")

    monkeypatch.setattr(compress_module.BitsBackCoder, "decode", fails)
    with pytest.raises(VaeadvError) as caught:
        decompress(model, path)
    assert str(caught.value) == (f"the message ran out. This machine differs from the encoder's: torch 0.0 vs "
                                 f"{here['torch']}, threads 4 vs 1")


def test_compress_reports_the_files_sizes_and_writes_every_header_field(tmp_path, monkeypatch):
    torch.manual_seed(1)
    model = VAE(num_filters=4, z_dim=3)
    images = np.random.default_rng(1).integers(0, 16, size=(2, 28, 28))  # int64 levels: coded as their uint8
    calls, clock = [], iter([10.0, 14.1234, 20.0, 21.0])  # the encode, then the decode
    monkeypatch.setattr(compress_module.time, "perf_counter", lambda: next(clock))
    path = tmp_path / "t.bbans"
    stats = compress(model, images, path, progress=calls.append)
    header, words = bbans_file.read(path)
    size, pixels = path.stat().st_size, 2 * 28 * 28
    as_levels = images.astype(np.uint8)
    assert header == {"format": 1, "model_sha256": bbans_file.model_sha256(model), "count": 2, "shape": [28, 28],
                      "levels": 16, "buckets": 1024, "seed": 0, "z_dim": 3,
                      "images_sha256": bbans_file.images_sha256(as_levels), "environment": bbans_file.environment()}
    assert stats == {"images": 2, "file_bytes": size, "bits_per_pixel": 8 * size / pixels,
                     "message_bits_per_pixel": 32 * len(words) / pixels, "initial_bits": 32 * SEED_WORDS,
                     "header_bytes": size - 4 * len(words), "encode_seconds": 4.12,
                     "encode_images_per_second": 0.5}  # 2 images / 4.1234 s
    assert calls == [1, 2]
    assert np.array_equal(decompress(model, path)[0], as_levels)


@pytest.mark.parametrize("shape", [(28, 28), (0, 28, 28)])
def test_compress_takes_a_non_empty_stack_of_images_and_one_image_is_enough(tmp_path, shape):
    model = VAE(num_filters=4, z_dim=3)
    with pytest.raises(VaeadvError) as caught:
        compress(model, np.zeros(shape, dtype=np.uint8), tmp_path / "x.bbans")
    assert str(caught.value) == f"compress takes a non-empty [N,H,W] array of levels, got shape {shape}"
    assert not (tmp_path / "x.bbans").exists()
    assert compress(model, np.zeros((1, 28, 28), dtype=np.uint8), tmp_path / "one.bbans")["images"] == 1


def _by_hand(values) -> bytes:
    """Two pixels per byte, high nibble first, an odd count padded with a 0 pixel."""
    flat = [int(v) for v in np.asarray(values).reshape(-1)] + [0] * (np.asarray(values).size % 2)
    return bytes(16 * a + b for a, b in zip(flat[0::2], flat[1::2], strict=True))


def test_an_odd_count_is_padded_with_a_zero_pixel_and_float_levels_pack_as_integers():
    assert pack_nibbles(np.array([1, 2, 3])) == bytes([0x12, 0x30])
    assert pack_nibbles(np.array([[15.0, 1.0], [7.0, 0.0]])) == bytes([0xF1, 0x70])


def test_the_png_header_and_trailer_are_the_specifications_bytes():
    image = np.arange(12, dtype=np.uint8).reshape(3, 4)
    data = png_bytes(image)
    ihdr = b"IHDR" + bytes([0, 0, 0, 4, 0, 0, 0, 3, 4, 0, 0, 0, 0])  # width 4, height 3, 4-bit grey, no interlace
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[8:33] == b"\x00\x00\x00\x0d" + ihdr + zlib.crc32(ihdr).to_bytes(4, "big")
    assert data.endswith(IEND)
    rows = b"".join(b"\x00" + _by_hand(row) for row in image)  # filter byte 0, then the packed row
    (length,) = struct.unpack(">I", data[33:37])
    assert data[37:41] == b"IDAT" and data[41:41 + length] == zlib.compress(rows, 9)  # deflate at level 9
    assert len(data) == 41 + length + 4 + len(IEND)


def test_an_8_bit_png_stores_one_byte_per_pixel_and_a_peer_decodes_it(tmp_path):
    image = np.random.default_rng(1).integers(0, 256, size=(5, 7)).astype(np.uint8)
    data = png_bytes(image, bit_depth=8)
    assert data[24] == 8  # IHDR's bit depth
    rows = b"".join(b"\x00" + row.tobytes() for row in image)
    assert data[41:41 + struct.unpack(">I", data[33:37])[0]] == zlib.compress(rows, 9)
    (tmp_path / "x.png").write_bytes(data)
    assert np.array_equal(np.array(Image.open(tmp_path / "x.png")), image)


def test_the_baselines_bits_per_pixel_from_independently_packed_and_tiled_images():
    rng = np.random.default_rng(2)
    images = (rng.random((5, 6, 4)) < 0.3) * rng.integers(0, 16, size=(5, 6, 4))
    images = images.astype(np.uint8)
    pixels = images.size  # 120
    raw = _by_hand(images)
    tiled = np.zeros((3 * 6, 3 * 4), dtype=np.uint8)  # 5 images on the smallest square grid, 3 × 3, row by row
    for i, (r, c) in enumerate([(0, 0), (0, 1), (0, 2), (1, 0), (1, 1)]):
        tiled[6 * r:6 * r + 6, 4 * c:4 * c + 4] = images[i]
    expected = {
        "raw 4-bit (packed)": 4.0,
        "PNG, one file per image (4-bit grey)": 8 * sum(len(png_bytes(img)) for img in images) / pixels,
        "PNG, all images tiled in one (4-bit grey)": 8 * len(png_bytes(tiled)) / pixels,
        "gzip -9 (packed 4-bit)": 8 * len(gzip.compress(raw, 9, mtime=0)) / pixels,
        "bzip2 -9 (packed 4-bit)": 8 * len(bz2.compress(raw, 9)) / pixels,
        "xz -9e (packed 4-bit)": 8 * len(lzma.compress(raw, preset=9 | lzma.PRESET_EXTREME)) / pixels,
    }
    assert generic_baselines(images) == expected
