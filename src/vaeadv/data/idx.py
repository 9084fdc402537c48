"""Reader for the IDX format of MNIST and Fashion-MNIST (gzipped or raw), with strict validation."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from vaeadv.errors import VaeadvError

_GZIP_MAGIC = b"\x1f\x8b"
_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_bytes(path: str | Path) -> bytes:
    """The file's content, transparently gunzipped when it starts with the gzip magic."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise VaeadvError(f"{path}: cannot read ({exc.strerror or exc}).") from None
    if data[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise VaeadvError(f"{path}: corrupt or truncated gzip data ({exc}). "
                              "Delete it and fetch it again.") from None
    return data


def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode IDX bytes into an array, checking magic, dtype, rank and that the size matches the header."""
    if len(data) < 4:
        raise VaeadvError(f"{name}: not an IDX file (only {len(data)} bytes).")
    if data[0] != 0 or data[1] != 0:
        raise VaeadvError(f"{name}: bad IDX magic number {data[:4].hex()} (expected 0000xxnn).")
    code, ndim = data[2], data[3]
    if code not in _DTYPES:
        raise VaeadvError(f"{name}: unknown IDX element type 0x{code:02x}.")
    if not 1 <= ndim <= 4:
        raise VaeadvError(f"{name}: unsupported IDX rank {ndim}.")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise VaeadvError(f"{name}: truncated IDX header.")
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(_DTYPES[code])
    expected = int(np.prod(shape)) * dtype.itemsize
    actual = len(data) - header
    if actual != expected:
        what = "truncated" if actual < expected else "has trailing bytes"
        raise VaeadvError(f"{name}: {what}: header declares shape {shape} ({expected} bytes), "
                          f"file holds {actual} bytes of data.")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)


def read_idx(path: str | Path) -> np.ndarray:
    return parse_idx(read_bytes(path), str(path))


def read_idx_images(path: str | Path) -> np.ndarray:
    """uint8 images as ``[N, 1, H, W]``."""
    arr = read_idx(path)
    if arr.ndim != 3 or arr.dtype != np.uint8:
        raise VaeadvError(f"{path}: expected uint8 images of rank 3, got {arr.dtype} of shape {arr.shape}.")
    return arr[:, None]


def read_idx_labels(path: str | Path, num_classes: int = 10) -> np.ndarray:
    arr = read_idx(path)
    if arr.ndim != 1 or arr.dtype != np.uint8:
        raise VaeadvError(f"{path}: expected uint8 labels of rank 1, got {arr.dtype} of shape {arr.shape}.")
    if arr.size and int(arr.max()) >= num_classes:
        raise VaeadvError(f"{path}: label {int(arr.max())} out of range 0..{num_classes - 1}.")
    return arr
