"""Find a dataset's files: --data-dir → $VAEADV_DATA → the user cache → system folders → download.

Every place that was tried is remembered, so that "not found" can say where we looked and what to do.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from vaeadv.data.sources import CIFAR10_NPZ_EXACT, CIFAR10_NPZ_FULL, CIFAR10_NPZ_SUBDIRS, SPECS, DatasetSpec
from vaeadv.errors import VaeadvError


@dataclass
class Located:
    """Where a dataset was found. ``kind`` is ``idx`` (MNIST-like), ``batches`` or ``npz`` (CIFAR-10)."""

    name: str
    kind: str
    origin: str
    folder: Path
    files: dict[str, Path]
    exact_npz: Path | None = None  # CIFAR-10 only: the lossless subset beside the JPEG-decoded npz
    root: Path | None = None  # the search root the folder was found under (None: a system folder)

    def describe(self) -> str:
        """Where, relative to the search root it was found under (``$VAEADV_DATA/cifar10``, ``cache/mnist``):
        results and published reports must not carry the absolute paths of the machine that made them."""
        if self.root is None:
            return f"{self.folder} ({self.kind}, system folder)"
        try:
            rel = self.folder.relative_to(self.root).as_posix()
        except ValueError:
            return f"{self.folder.name} ({self.kind}, found via {self.origin})"
        origin = "cache" if self.origin == "download" else self.origin
        where = origin if rel == "." else f"{origin}/{rel}"
        return f"{where} ({self.kind}{', downloaded' if self.origin == 'download' else ''})"


def cache_dir() -> Path:
    """Per-user cache: $VAEADV_CACHE, else $XDG_CACHE_HOME/vaeadv, else ~/.cache/vaeadv."""
    if os.environ.get("VAEADV_CACHE"):
        return Path(os.environ["VAEADV_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "vaeadv"


def search_roots(data_dir: str | Path | None) -> list[tuple[str, Path]]:
    roots: list[tuple[str, Path]] = []
    if data_dir:
        roots.append(("--data-dir", Path(data_dir).expanduser()))
    if os.environ.get("VAEADV_DATA"):
        roots.append(("$VAEADV_DATA", Path(os.environ["VAEADV_DATA"]).expanduser()))
    roots.append(("cache", cache_dir()))
    return roots


def _idx_files(spec: DatasetSpec, folder: Path) -> dict[str, Path] | None:
    found = {}
    for f in spec.files:
        for candidate in (folder / f.name, folder / f"{f.name}.gz"):
            if candidate.is_file():
                found[f.name] = candidate
                break
        else:
            return None
    return found


def _batch_files(spec: DatasetSpec, folder: Path) -> dict[str, Path] | None:
    files = {f.name: folder / f.name for f in spec.files}
    return files if all(p.is_file() for p in files.values()) else None


def find_local(name: str, data_dir: str | Path | None = None) -> tuple[Located | None, list[str]]:
    """Search every local place, in order: (what was found or ``None``, the places tried)."""
    spec = _spec(name)
    tried: list[str] = []
    places = [(origin, root, root / sub) for origin, root in search_roots(data_dir) for sub in spec.subdirs]
    places += [("system", None, Path(d)) for d in spec.system_dirs]
    reader = _batch_files if name == "cifar10" else _idx_files
    for origin, root, folder in places:
        tried.append(str(folder))
        files = reader(spec, folder)
        if files:
            return Located(name, "batches" if name == "cifar10" else "idx", origin, folder, files, root=root), tried
    if name == "cifar10":
        for origin, root in search_roots(data_dir):
            for sub in CIFAR10_NPZ_SUBDIRS:
                folder = root / sub
                full = folder / CIFAR10_NPZ_FULL[0]
                tried.append(str(full))
                if full.is_file():
                    exact = folder / CIFAR10_NPZ_EXACT[0]
                    return Located(name, "npz", origin, folder, {CIFAR10_NPZ_FULL[0]: full},
                                   exact_npz=exact if exact.is_file() else None, root=root), tried
    return None, tried


def locate(name: str, data_dir: str | Path | None = None, download: bool = True) -> Located:
    """Find ``name`` locally or download it into the cache; raise one readable paragraph if impossible."""
    found, tried = find_local(name, data_dir)
    if found:
        return found
    problem = "downloading is switched off (--no-download or VAEADV_OFFLINE=1)"
    if download and os.environ.get("VAEADV_OFFLINE", "") in ("", "0"):
        dest = cache_dir() / ("cifar-10-batches-py" if name == "cifar10" else name)
        try:
            download_dataset(_spec(name), dest)
            located, _ = find_local(name, data_dir)
            if located:
                located.origin = "download"
                return located
            problem = f"the download into {dest} did not produce the expected files"
        except VaeadvError as exc:
            problem = str(exc)
    raise VaeadvError(not_found_message(name, tried, problem))


def not_found_message(name: str, tried: list[str], problem: str) -> str:
    spec = _spec(name)
    listing = "\n".join(f"  - {t}" for t in tried)
    if name == "cifar10":
        how = ("Put the original cifar-10-batches-py folder (or cifar10_jpeg_q75_original_order.npz) under one "
               "of these, or point --data-dir / VAEADV_DATA at a folder that holds it.")
    else:
        names = ", ".join(f.name + "[.gz]" for f in spec.files)
        how = f"Put {names} into one of these, or point --data-dir / VAEADV_DATA at them."
        if name == "fashion-mnist":
            how += " On Debian/Ubuntu: apt-get install dataset-fashion-mnist."
    return f"dataset '{name}' not found. Looked in:\n{listing}\nDownload failed: {problem}.\n{how}"


def _spec(name: str) -> DatasetSpec:
    try:
        return SPECS[name]
    except KeyError:
        raise VaeadvError(f"unknown dataset '{name}' (choose from {', '.join(SPECS)}).") from None


def file_digest(path: str | Path, algorithm: str = "md5") -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch(urls: list[str], dest: Path, md5: str, timeout: float = 30.0) -> Path:
    """Download the first URL that works to ``dest``: temp file → verify md5 → rename."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.part")
    errors = []
    for url in urls:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as out:
                shutil.copyfileobj(response, out, 1 << 20)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            errors.append(f"{url}: {getattr(exc, 'reason', exc)}")
            tmp.unlink(missing_ok=True)
            continue
        got = file_digest(tmp)
        if got != md5:
            tmp.unlink(missing_ok=True)
            errors.append(f"{url}: checksum mismatch (md5 {got}, expected {md5})")
            continue
        os.replace(tmp, dest)
        return dest
    raise VaeadvError("; ".join(errors) or "no download URL")


def download_dataset(spec: DatasetSpec, dest: Path) -> Path:
    """Fetch ``spec`` into ``dest`` (MNIST-like: the four gz files; CIFAR-10: the archive, then unpack)."""
    if spec.archive:
        url, md5 = spec.archive
        archive = fetch([url], dest.parent / Path(url).name, md5)
        with tarfile.open(archive) as tar:
            tar.extractall(dest.parent, filter="data")  # 'data' refuses absolute paths, links out, devices
        archive.unlink()
        return dest
    for f in spec.files:
        fetch([m + f.name + ".gz" for m in spec.mirrors], dest / f"{f.name}.gz", f.gz_md5 or "")
    return dest
