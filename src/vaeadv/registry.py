"""Shipped weights by short name (``vaeadv-resnet18``, ``vaeadv-vae-z20``), hash-checked, no network; a neutral
module, so both halves load their weights the same way.

The registry is the ``vaeadv/weights`` package folder: a name is known when ``NAME.json`` (the manifest) and
``NAME.pt`` lie there. The manifest's SHA-256 is checked before the file is unpickled (weights-only).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from vaeadv.errors import VaeadvError


def weights_folder() -> Path:
    return Path(str(resources.files("vaeadv.weights")))


def available() -> list[str]:
    folder = weights_folder()
    return sorted(p.stem for p in folder.glob("*.json") if (folder / f"{p.stem}.pt").is_file())


def manifest(name: str) -> dict:
    path = weights_folder() / f"{name}.json"
    if not path.is_file():
        known = ", ".join(available()) or "none shipped"
        raise VaeadvError(f"'{name}' is neither a file nor the name of shipped weights (known: {known}).")
    return json.loads(path.read_text())


def resolve(source: str | Path) -> tuple[Path | str, str | None]:
    """(file or URL, expected SHA-256 or None): a registered short name becomes its shipped file and hash;
    anything else is passed through."""
    text = str(source)
    if "/" in text or "\\" in text or text.endswith((".pt", ".pth", ".ckpt")) or Path(text).exists():
        return source, None
    info = manifest(text)
    return weights_folder() / f"{text}.pt", info["sha256"]


def checked_file(source: str | Path, sha256: str | None = None,
                 fetch: Callable[[str], Path] | None = None) -> Path:
    """The local file behind ``source`` (a shipped name, a file, or a URL that ``fetch`` downloads), its SHA-256
    checked against the manifest's (or the given) hash before anyone unpickles it: the one gate every loader
    of weights passes."""
    path, shipped_sha = resolve(source)
    if shipped_sha and sha256 and shipped_sha != sha256.lower():
        raise VaeadvError(f"the shipped '{source}' has SHA-256 {shipped_sha}, not the {sha256} asked for: the "
                          "shipped weights changed since (install the vaeadv version that shipped that file, or "
                          "pass that file itself).")
    path = fetch(str(path)) if fetch is not None and "://" in str(path) else Path(path)
    expected = shipped_sha or sha256
    if expected and path.is_file():
        check_sha256(path, expected)
    return path


def weights_sha256(source: str | Path) -> str | None:
    """The SHA-256 of the weights behind ``source`` without loading them: a shipped name's (from its manifest) or
    a local file's; None for a URL (known once downloaded) or for what is neither (loading it will say why)."""
    try:
        path, shipped_sha = resolve(source)
    except VaeadvError:
        return None
    if shipped_sha:
        return shipped_sha
    return sha256_of(path) if "://" not in str(path) and Path(path).is_file() else None


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_sha256(path: str | Path, expected: str) -> None:
    digest = sha256_of(path)
    if digest != expected.lower():
        raise VaeadvError(f"{path}: SHA-256 {digest} does not match the expected {expected}; the file was changed "
                          "or damaged (reinstall vaeadv, or pass a file you trust).")
