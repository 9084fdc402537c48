"""The ``.bbans`` file: a bits-back message and everything needed to decode it safely.

Layout: the magic line ``VAEADV-BBANS 1\\n``, a 4-byte little-endian header length, the header (JSON), then the
message as little-endian uint32 words. The header pins the model (SHA-256 of its weights: a file is never decoded
with another model), the image shape and count, the coder's settings, where the probabilities were computed
(torch version, device, CPU instruction set: decoding elsewhere may differ in the last bit of a float, so a
difference is named) and the SHA-256 of the images, checked after decoding. Written atomically.
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
from pathlib import Path

import numpy as np
import torch

from vaeadv.errors import VaeadvError
from vaeadv.io import atomic_write_bytes

MAGIC = b"VAEADV-BBANS 1\n"


def model_sha256(model: torch.nn.Module) -> str:
    """SHA-256 of the weights themselves (names, shapes, float32 bytes), whatever file they came from."""
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(str(tuple(tensor.shape)).encode())
        h.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def images_sha256(images: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(images, dtype=np.uint8).tobytes()).hexdigest()


def environment() -> dict:
    """Where the probabilities are computed; a decode elsewhere is compared against it."""
    return {"torch": torch.__version__, "device": "cpu", "threads": 1,
            "cpu_capability": torch.backends.cpu.get_cpu_capability()}


def write(path: str | Path, header: dict, words: np.ndarray) -> int:
    body = json.dumps(header, sort_keys=True).encode()
    data = MAGIC + struct.pack("<I", len(body)) + body + words.astype("<u4").tobytes()
    atomic_write_bytes(Path(path), data)
    return len(data)


def read(path: str | Path) -> tuple[dict, np.ndarray]:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise VaeadvError(f"cannot read {path} ({exc.strerror or exc}).") from None
    stream = io.BytesIO(data)
    if stream.read(len(MAGIC)) != MAGIC:
        raise VaeadvError(f"{path} is not a vaeadv bits-back file (written by 'vaeadv vae compress').")
    try:
        (length,) = struct.unpack("<I", stream.read(4))
        header = json.loads(stream.read(length))
        rest = stream.read()
        if len(rest) % 4 or not isinstance(header, dict):
            raise ValueError
    except (struct.error, ValueError):
        raise VaeadvError(f"{path} is damaged: its header or message is cut short.") from None
    return header, np.frombuffer(rest, dtype="<u4").astype(np.uint32)
