"""Readers for CIFAR-10: the original ``cifar-10-batches-py`` pickles and the ``.npz`` array layout.

The batches are pickles, and unpickling runs code chosen by the file. The unpickler below admits only
the handful of callables a CIFAR batch needs (numpy array reconstruction), so a malicious file is refused
before anything of it runs.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path

import numpy as np

from vaeadv.errors import VaeadvError

_ALLOWED = {
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),  # how protocol-2 pickles written by Python 3 store bytes
}


class RefusedPickle(pickle.UnpicklingError):
    """The file asked for a callable outside the allow-list."""


class RestrictedUnpickler(pickle.Unpickler):
    """Loads only numpy arrays, dicts, lists, strings and numbers."""

    def find_class(self, module: str, name: str):  # noqa: D102 - pickle API
        module = module.replace("numpy.core", "numpy._core", 1) if module.startswith("numpy.core") else module
        if (module, name) not in _ALLOWED:
            raise RefusedPickle(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def load_batch(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch file → (uint8 images ``[N,3,32,32]``, uint8 labels ``[N]``)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise VaeadvError(f"{path}: cannot read ({exc.strerror or exc}).") from None
    try:
        entry = RestrictedUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except RefusedPickle as exc:
        raise VaeadvError(f"{path}: not a CIFAR-10 batch, refused by the safe unpickler ({exc}).") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError) as exc:
        raise VaeadvError(f"{path}: corrupt or truncated CIFAR-10 batch ({type(exc).__name__}: {exc}).") from None
    if not isinstance(entry, dict):
        raise VaeadvError(f"{path}: not a CIFAR-10 batch (top level is {type(entry).__name__}, not a dict).")
    entry = {k.decode() if isinstance(k, bytes) else k: v for k, v in entry.items()}
    if "data" not in entry or "labels" not in entry:
        raise VaeadvError(f"{path}: CIFAR-10 batch lacks 'data' or 'labels' (keys: {sorted(entry)}).")
    data = np.asarray(entry["data"])
    labels = np.asarray(entry["labels"])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise VaeadvError(f"{path}: 'data' must be uint8 [N, 3072], got {data.dtype} {data.shape}.")
    return data.reshape(-1, 3, 32, 32), _check_labels(labels, len(data), path)


def _check_labels(labels: np.ndarray, n: int, where) -> np.ndarray:
    """Labels as uint8 class indices 0..9: integers, or floats that are whole numbers (3.0, never 3.5)."""
    if labels.ndim != 1 or len(labels) != n:
        raise VaeadvError(f"{where}: {len(labels)} labels for {n} images.")
    if labels.dtype.kind == "f":
        if not (np.isfinite(labels).all() and (labels == np.round(labels)).all()):
            raise VaeadvError(f"{where}: labels must be whole class numbers 0..9, found non-integer values "
                              f"such as {labels[~(np.isfinite(labels) & (labels == np.round(labels)))][0]!r}.")
    elif labels.dtype.kind not in "iub":
        raise VaeadvError(f"{where}: labels must be integers 0..9, got an array of {labels.dtype}.")
    if n and (labels.min() < 0 or labels.max() > 9):
        raise VaeadvError(f"{where}: labels must lie in 0..9, found {labels.min()}..{labels.max()}.")
    return labels.astype(np.uint8)


def read_cifar_batches(folder: str | Path) -> dict[str, np.ndarray]:
    """The five training batches and the test batch of ``cifar-10-batches-py``, CHW uint8."""
    folder = Path(folder)
    parts = [load_batch(folder / f"data_batch_{i}") for i in range(1, 6)]
    x_test, y_test = load_batch(folder / "test_batch")
    return {
        "x_train": np.concatenate([p[0] for p in parts]),
        "y_train": np.concatenate([p[1] for p in parts]),
        "x_test": x_test,
        "y_test": y_test,
    }


def read_cifar_npz(path: str | Path, keys: tuple[str, ...] = ("x_train", "y_train", "x_test", "y_test")
                   ) -> dict[str, np.ndarray]:
    """An ``.npz`` with HWC uint8 images (``x_*``) and labels (``y_*``); images are returned CHW.

    Extra integer keys (e.g. ``train_index``) are passed through; ``allow_pickle`` stays off.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in keys if k not in z.files]
            if missing:
                raise VaeadvError(f"{path}: missing arrays {missing} (has {sorted(z.files)}).")
            out = {k: z[k] for k in z.files if k != "label_names"}
    except VaeadvError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise VaeadvError(f"{path}: corrupt or unreadable npz ({type(exc).__name__}: {exc}).") from None
    for split in ("train", "test"):
        x, y = out.get(f"x_{split}"), out.get(f"y_{split}")
        if x is None:
            continue
        if x.dtype != np.uint8 or x.ndim != 4 or x.shape[1:] != (32, 32, 3):
            raise VaeadvError(f"{path}: x_{split} must be uint8 [N,32,32,3], got {x.dtype} {x.shape}.")
        out[f"x_{split}"] = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        out[f"y_{split}"] = _check_labels(np.asarray(y), len(x), f"{path}: y_{split}")
    return out
