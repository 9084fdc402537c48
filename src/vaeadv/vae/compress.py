"""`vaeadv vae compress` / `decompress`: a trained VAE as a lossless compressor of 4-bit images (bits-back ANS),
and the generic compressors it is compared with, measured on the same images."""

from __future__ import annotations

import bz2
import gzip
import lzma
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import torch

from vaeadv.errors import VaeadvError
from vaeadv.vae import bbans_file
from vaeadv.vae.bitsback import DEFAULT_BUCKETS, BitsBackCoder


def compress(model: torch.nn.Module, images: np.ndarray, out: str | Path, *, buckets: int = DEFAULT_BUCKETS,
             seed: int = 0, progress=None) -> dict:
    """Encode ``images`` ``[N,H,W]`` (levels 0..k−1) into ``out``; returns sizes and throughput."""
    images = np.ascontiguousarray(images, dtype=np.uint8)
    if images.ndim != 3 or len(images) == 0:
        raise VaeadvError(f"compress takes a non-empty [N,H,W] array of levels, got shape {images.shape}")
    levels = int(model.hparams.levels)
    if int(images.max()) >= levels:
        raise VaeadvError(f"the images hold level {int(images.max())}, but the model codes {levels} levels")
    coder = BitsBackCoder(model, buckets)
    start = time.perf_counter()
    words, stats = coder.encode(images, seed=seed, progress=progress)
    seconds = time.perf_counter() - start
    header = {"format": 1, "model_sha256": bbans_file.model_sha256(model), "count": len(images),
              "shape": list(images.shape[1:]), "levels": levels, "buckets": buckets, "seed": seed,
              "z_dim": coder.z_dim, "images_sha256": bbans_file.images_sha256(images),
              "environment": bbans_file.environment()}
    size = bbans_file.write(out, header, words)
    pixels = images.size
    return {"images": len(images), "file_bytes": size, "bits_per_pixel": 8 * size / pixels,
            "message_bits_per_pixel": stats["message_bits"] / pixels, "initial_bits": stats["initial_bits"],
            "header_bytes": size - 4 * len(words), "encode_seconds": round(seconds, 2),
            "encode_images_per_second": round(len(images) / seconds, 1)}


def decompress(model: torch.nn.Module, path: str | Path, progress=None) -> tuple[np.ndarray, dict]:
    """The images stored in ``path``, checked: the right model, the initial bits back, the images' checksum."""
    header, words = bbans_file.read(path)
    if header.get("model_sha256") != bbans_file.model_sha256(model):
        raise VaeadvError(f"{path} was compressed with another model (SHA-256 {str(header.get('model_sha256'))[:12]}"
                          f"…): decode it with that checkpoint.")
    here, there = bbans_file.environment(), header.get("environment", {})
    differs = {k: (there.get(k), v) for k, v in here.items() if there.get(k) != v}
    coder = BitsBackCoder(model, int(header["buckets"]))
    start = time.perf_counter()
    try:
        images = coder.decode(words, int(header["count"]), tuple(header["shape"]), seed=int(header["seed"]),
                              progress=progress)
    except VaeadvError as exc:
        if differs:
            raise VaeadvError(f"{exc} This machine differs from the encoder's: "
                              + ", ".join(f"{k} {a} vs {b}" for k, (a, b) in differs.items())) from None
        raise
    seconds = time.perf_counter() - start
    if bbans_file.images_sha256(images) != header.get("images_sha256"):
        raise VaeadvError(f"{path}: the decoded images do not match the stored checksum (a damaged file, or "
                          f"probabilities computed differently: {differs or 'same environment'}).")
    return images, {"decode_seconds": round(seconds, 2),
                    "decode_images_per_second": round(len(images) / seconds, 1), "environment_differs": differs}


def pack_nibbles(images: np.ndarray) -> bytes:
    """Two 4-bit pixels per byte, the raw size a generic compressor starts from."""
    flat = np.ascontiguousarray(images, dtype=np.uint8).reshape(-1)
    if len(flat) % 2:
        flat = np.append(flat, 0)
    return ((flat[0::2] << 4) | flat[1::2]).astype(np.uint8).tobytes()


def png_bytes(image: np.ndarray, bit_depth: int = 4) -> bytes:
    """A minimal grayscale PNG of ``image`` (levels < 2^bit_depth): rows with filter 0, deflate level 9."""
    h, w = image.shape
    rows = b"".join(b"\x00" + pack_nibbles(row[None]) for row in image) if bit_depth == 4 else \
        b"".join(b"\x00" + row.astype(np.uint8).tobytes() for row in image)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows, 9))
            + chunk(b"IEND", b""))


def generic_baselines(images: np.ndarray) -> dict[str, float]:
    """Bits per pixel of the usual lossless compressors on the same 4-bit images."""
    pixels = images.size
    raw = pack_nibbles(images)
    n = len(images)
    side = int(np.ceil(np.sqrt(n)))
    tiled = np.zeros((side * images.shape[1], side * images.shape[2]), dtype=np.uint8)
    for i, img in enumerate(images):
        r, c = divmod(i, side)
        tiled[r * images.shape[1]:(r + 1) * images.shape[1], c * images.shape[2]:(c + 1) * images.shape[2]] = img
    sizes = {
        "raw 4-bit (packed)": len(raw),
        "PNG, one file per image (4-bit grey)": sum(len(png_bytes(img)) for img in images),
        "PNG, all images tiled in one (4-bit grey)": len(png_bytes(tiled)),
        "gzip -9 (packed 4-bit)": len(gzip.compress(raw, 9, mtime=0)),
        "bzip2 -9 (packed 4-bit)": len(bz2.compress(raw, 9)),
        "xz -9e (packed 4-bit)": len(lzma.compress(raw, preset=9 | lzma.PRESET_EXTREME)),
    }
    return {k: 8 * v / pixels for k, v in sizes.items()}
