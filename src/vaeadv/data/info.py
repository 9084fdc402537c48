"""`vaeadv data info` / `vaeadv data verify`: where each dataset is, what it holds, whether it is intact."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from vaeadv.data.datasets import load_dataset
from vaeadv.data.idx import read_bytes
from vaeadv.data.resolve import Located, cache_dir, file_digest, locate
from vaeadv.data.sources import CIFAR10_NPZ_EXACT, CIFAR10_NPZ_FULL, SPECS
from vaeadv.io import atomic_write_json


def _expected(located: Located, path: Path) -> tuple[str, str] | None:
    """(algorithm, digest) the file should have, or None when we know no published value."""
    if located.kind == "npz":
        for fname, sha in (CIFAR10_NPZ_FULL, CIFAR10_NPZ_EXACT):
            if path.name == fname:
                return "sha256", sha
        return None
    by_name = {f.name: f.raw_md5 for f in SPECS[located.name].files}
    stem = path.name.removesuffix(".gz")
    return ("md5", by_name[stem]) if stem in by_name else None


def _digest(located: Located, path: Path, algorithm: str) -> str:
    if located.kind == "idx":  # compare decompressed content: mirrors re-compress the gzip wrapper
        return hashlib.new(algorithm, read_bytes(path)).hexdigest()
    return file_digest(path, algorithm)


def checksum_status(located: Located, recheck: bool = False) -> dict[str, str]:
    """Per file: ``ok``, ``MISMATCH`` or ``no published checksum``. Results are remembered per
    (path, size, mtime) so ``info`` is instant after the first look; ``verify`` always recomputes."""
    memo_path = cache_dir() / "verified.json"
    try:
        memo = json.loads(memo_path.read_text())
    except (OSError, ValueError):
        memo = {}
    paths = list(located.files.values()) + ([located.exact_npz] if located.exact_npz else [])
    status = {}
    for p in paths:
        st = p.stat()
        key = f"{p.resolve()}|{st.st_size}|{st.st_mtime_ns}"
        if not recheck and key in memo:
            status[p.name] = memo[key]
            continue
        expected = _expected(located, p)
        if expected is None:
            result = "no published checksum"
        else:
            result = "ok" if _digest(located, p, expected[0]) == expected[1] else "MISMATCH"
        status[p.name] = memo[key] = result
    try:
        atomic_write_json(memo_path, memo)
    except OSError:
        pass
    return status


def dataset_info(name: str, data_dir: str | Path | None = None, download: bool = False) -> dict:
    located = locate(name, data_dir, download=download)
    t0 = time.perf_counter()
    data = load_dataset(name, data_dir, download=False)
    load_s = time.perf_counter() - t0
    return {
        "name": name,
        "found": str(located.folder),
        "via": located.origin,
        "format": located.kind,
        "source": data.source,
        "train": len(data.x_train),
        "test": len(data.x_test),
        "image_shape": list(data.x_train.shape[1:]),
        "train_class_counts": data.y_train.bincount(minlength=10).tolist(),
        "test_class_counts": data.y_test.bincount(minlength=10).tolist(),
        "exact_pixels": {"train": int(data.train_exact.sum()), "test": int(data.test_exact.sum())},
        "checksums": checksum_status(located),
        "load_seconds": round(load_s, 3),
    }


def format_info(info: dict) -> str:
    lines = [f"{info['name']}: {info['train']} train / {info['test']} test, images {info['image_shape']}",
             f"  found     {info['found']} ({info['format']}, via {info['via']})",
             f"  classes   train {info['train_class_counts']}",
             f"            test  {info['test_class_counts']}"]
    ex = info["exact_pixels"]
    if ex["train"] != info["train"] or ex["test"] != info["test"]:
        lines.append(f"  pixels    exact for {ex['train']} train / {ex['test']} test images, the rest JPEG-decoded")
    for fname, st in info["checksums"].items():
        lines.append(f"  checksum  {fname}: {st}")
    lines.append(f"  load      {info['load_seconds']:.2f} s")
    return "\n".join(lines)
