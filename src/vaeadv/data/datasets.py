"""Decode a dataset once into uint8 tensors in memory, and keep a decoded copy in the user cache.

A second load reads one ``.pt`` file instead of re-parsing gzip/IDX/pickles/LZMA-npz.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vaeadv.data.cifar import read_cifar_batches, read_cifar_npz
from vaeadv.data.idx import read_idx_images, read_idx_labels
from vaeadv.data.resolve import Located, cache_dir, locate
from vaeadv.data.sources import SPECS
from vaeadv.errors import VaeadvError
from vaeadv.io import atomic_write

_CACHE_FORMAT = 1


@dataclass
class ImageData:
    """A whole dataset in memory: images uint8 ``[N,C,H,W]``, labels int64 ``[N]``.

    ``*_exact`` mark images whose pixels are the true originals (all of them, except for the JPEG-decoded
    CIFAR-10 copy, where only the lossless subset is).
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: tuple[str, ...]
    source: str
    train_exact: torch.Tensor
    test_exact: torch.Tensor

    @property
    def all_exact(self) -> bool:
        return bool(self.train_exact.all() and self.test_exact.all())


def _decode(located: Located) -> dict[str, torch.Tensor]:
    if located.kind == "idx":
        f = located.files
        arrays = {
            "x_train": read_idx_images(f["train-images-idx3-ubyte"]),
            "y_train": read_idx_labels(f["train-labels-idx1-ubyte"]),
            "x_test": read_idx_images(f["t10k-images-idx3-ubyte"]),
            "y_test": read_idx_labels(f["t10k-labels-idx1-ubyte"]),
        }
        for split in ("train", "test"):
            if len(arrays[f"x_{split}"]) != len(arrays[f"y_{split}"]):
                raise VaeadvError(f"{located.folder}: {split} has {len(arrays[f'x_{split}'])} images but "
                                  f"{len(arrays[f'y_{split}'])} labels.")
    elif located.kind == "batches":
        arrays = read_cifar_batches(located.folder)
    else:
        arrays = read_cifar_npz(next(iter(located.files.values())))
    out = {k: torch.from_numpy(v if v.flags.writeable else v.copy()) for k, v in arrays.items()}
    out = {k: v.long() if k.startswith("y_") else v for k, v in out.items()}
    out["train_exact"] = torch.full((len(out["x_train"]),), located.kind != "npz")
    out["test_exact"] = torch.full((len(out["x_test"]),), located.kind != "npz")
    if located.kind == "npz" and located.exact_npz is not None:
        _overlay_exact(out, located.exact_npz)
    return out


def _overlay_exact(out: dict[str, torch.Tensor], exact_path: Path) -> None:
    """Paste the lossless pixels over the matching indices of the JPEG-decoded copy."""
    exact = read_cifar_npz(exact_path, keys=("x_train", "y_train", "x_test", "y_test", "train_index", "test_index"))
    for split in ("train", "test"):
        raw_index = exact[f"{split}_index"]
        n = len(out[f"x_{split}"])
        if raw_index.dtype.kind not in "iu" or raw_index.ndim != 1 or len(raw_index) != len(exact[f"x_{split}"]):
            raise VaeadvError(f"{exact_path}: {split}_index must be one integer index per exact image.")
        if len(raw_index) and (raw_index.min() < 0 or raw_index.max() >= n):
            raise VaeadvError(f"{exact_path}: {split}_index points outside the {n} {split} images of the main file "
                              f"(found {raw_index.min()}..{raw_index.max()}); the two files do not belong together.")
        index = torch.from_numpy(raw_index.astype(np.int64))
        labels = torch.from_numpy(exact[f"y_{split}"]).long()
        if not torch.equal(out[f"y_{split}"][index], labels):
            raise VaeadvError(f"{exact_path}: labels of the exact subset disagree with the main CIFAR-10 file.")
        out[f"x_{split}"][index] = torch.from_numpy(exact[f"x_{split}"])
        out[f"{split}_exact"][index] = True


def _cache_key(located: Located) -> str:
    h = hashlib.sha1(f"v{_CACHE_FORMAT}".encode())
    for p in sorted(list(located.files.values()) + ([located.exact_npz] if located.exact_npz else [])):
        st = p.stat()
        h.update(f"{p.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def load_dataset(name: str, data_dir: str | Path | None = None, *, download: bool = True,
                 use_cache: bool = True) -> ImageData:
    """Locate, decode (or read the decoded cache) and return the whole dataset in memory."""
    located = locate(name, data_dir, download=download)
    cached = cache_dir() / "decoded" / f"{name}-{_cache_key(located)}.pt"
    tensors = None
    if use_cache and cached.is_file():
        try:
            tensors = torch.load(cached, weights_only=True)
        except Exception:  # a damaged cache is rebuilt, never trusted
            tensors = None
    if tensors is None:
        tensors = _decode(located)
        if use_cache:
            try:
                atomic_write(cached, lambda tmp: torch.save(tensors, tmp))
            except OSError:
                pass  # a read-only cache only costs speed
    source = located.describe()
    if name == "cifar10" and located.kind == "npz":
        n_exact = int(tensors["test_exact"].sum())
        source += f"; JPEG-decoded pixels, {n_exact} test images exact"
    return ImageData(name=name, classes=SPECS[name].classes, source=source, **tensors)
