"""Dataset files cut into coded shards of a chosen size, and put back together, checked, somewhere else.

A maintenance tool, not part of vaeadv: for moving a data folder to a remote machine whose transfers are limited in
size. The files are coded first (``imagecodec`` for image arrays inside ``.npz`` and IDX files, LZMA for the rest:
CIFAR-10 to about half of its raw size), then the one byte stream is cut into ``part-NNN.bin`` files beside a
``manifest.json``. Putting them back checks every part (a missing or damaged one is named), then the SHA-256 of
every decoded array and file against the originals'.

    python -m tools.shards pack OUT PATH...   [--shard-mib 9]
    python -m tools.shards unpack SHARDS DEST
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import lzma
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tools.imagecodec import decode_images, encode_images
from vaeadv.data.idx import parse_idx
from vaeadv.errors import VaeadvError
from vaeadv.io import atomic_write_bytes, atomic_write_json

MANIFEST = "manifest.json"
FORMAT = 1


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _code_array(arr: np.ndarray, stream: list[bytes], offset: int) -> tuple[dict, int]:
    """One array into the stream, LZMA-coded; image stacks (uint8 ``[N,H,W,C]``, C 1 or 3) through the image
    codec when that is smaller (natural images: about 0.64 of LZMA's size; MNIST's flat digits: larger)."""
    if arr.dtype == object:
        raise VaeadvError("object arrays cannot be sharded (they would need pickle)")
    arr = np.ascontiguousarray(arr)
    blob = lzma.compress(arr.tobytes(), preset=9 | lzma.PRESET_EXTREME)
    images = arr.dtype == np.uint8 and arr.ndim == 4 and arr.shape[-1] in (1, 3)
    if images:
        coded = encode_images(arr)
        images = len(coded) < len(blob)
        blob = coded if images else blob
    stream.append(blob)
    entry = {"dtype": arr.dtype.str, "shape": list(arr.shape), "codec": "images" if images else "lzma",
             "offset": offset, "length": len(blob), "sha256": _sha(arr.tobytes())}
    return entry, offset + len(blob)


def _decode_array(entry: dict, stream: memoryview) -> np.ndarray:
    blob = bytes(stream[entry["offset"]: entry["offset"] + entry["length"]])
    shape, dtype = tuple(entry["shape"]), np.dtype(entry["dtype"])
    if entry["codec"] == "images":
        arr = decode_images(blob, shape)
    else:
        arr = np.frombuffer(lzma.decompress(blob), dtype=dtype).reshape(shape)
    if _sha(arr.tobytes()) != entry["sha256"]:
        raise VaeadvError(f"an array of shape {shape} decoded to other values than were packed (checksum mismatch)")
    return arr


def _idx_parts(data: bytes, name: str) -> tuple[bytes, np.ndarray]:
    """An IDX file's header, and its body as an array (uint8 images as ``[N,H,W,1]``, other bodies as raw bytes);
    a malformed file is refused by the IDX reader's own checks."""
    arr = parse_idx(data, name)
    header = data[: 4 + 4 * arr.ndim]
    if arr.dtype == np.uint8 and arr.ndim == 3:
        return header, arr[..., None]
    return header, np.frombuffer(data, np.uint8, offset=len(header))


def pack(files: dict[str, Path], out: Path, shard_bytes: int) -> dict:
    """Code ``files`` (stored name → path) into ``out/part-NNN.bin`` of at most ``shard_bytes`` each and
    ``out/manifest.json``; returns the manifest."""
    if shard_bytes < 1:
        raise VaeadvError(f"shard size must be positive, got {shard_bytes}")
    stream: list[bytes] = []
    offset, entries = 0, []
    for name, path in files.items():
        data = Path(path).read_bytes()
        if name.endswith(".npz"):
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                arrays = {}
                for key in npz.files:
                    arrays[key], offset = _code_array(npz[key], stream, offset)
            entries.append({"name": name, "kind": "npz", "arrays": arrays})
        elif "-ubyte" in name:  # IDX (MNIST-like), stored decompressed: the readers take either form
            raw = gzip.decompress(data) if name.endswith(".gz") else data
            header, body = _idx_parts(raw, name)
            stream.append(header)
            body_entry, offset = _code_array(body, stream, offset + len(header))
            entries.append({"name": name.removesuffix(".gz"), "kind": "idx", "header_length": len(header),
                            "body": body_entry, "sha256": _sha(raw)})
        else:
            entry, offset = _code_array(np.frombuffer(data, np.uint8), stream, offset)
            entries.append({"name": name, "kind": "bytes", "body": entry})
    joined = b"".join(stream)
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("part-*.bin"):
        stale.unlink()
    shards = []
    for k, start in enumerate(range(0, max(len(joined), 1), shard_bytes)):
        part = joined[start: start + shard_bytes]
        atomic_write_bytes(out / f"part-{k:03d}.bin", part)
        shards.append({"file": f"part-{k:03d}.bin", "bytes": len(part), "sha256": _sha(part)})
    manifest = {"format": FORMAT, "bytes": len(joined), "sha256": _sha(joined), "shards": shards, "files": entries}
    atomic_write_json(out / MANIFEST, manifest)
    return manifest


def _joined(folder: Path, manifest: dict) -> bytes:
    parts, missing, damaged = [], [], []
    for shard in manifest["shards"]:
        path = folder / shard["file"]
        if not path.is_file():
            missing.append(shard["file"])
            continue
        data = path.read_bytes()
        if len(data) != shard["bytes"] or _sha(data) != shard["sha256"]:
            damaged.append(shard["file"])
        parts.append(data)
    if missing:
        raise VaeadvError(f"{folder}: {len(missing)} of {len(manifest['shards'])} shards are not here "
                          f"({', '.join(missing)}); bring them (one device call each) and run this again")
    if damaged:
        raise VaeadvError(f"{folder}: damaged shard(s) {', '.join(damaged)} (size or SHA-256 differs from the "
                          "manifest); copy them again")
    return b"".join(parts)


def unpack(folder: Path, dest: Path) -> list[Path]:
    """Check and join the shards in ``folder``, decode every file into ``dest`` (under its stored name, IDX files
    decompressed), each checked against its SHA-256; returns the paths written."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise VaeadvError(f"{folder}: no readable {MANIFEST} ({exc}); it travels with the first shard") from None
    if manifest.get("format") != FORMAT:
        raise VaeadvError(f"{folder}/{MANIFEST}: format {manifest.get('format')}, this version reads {FORMAT}")
    stream = memoryview(_joined(folder, manifest))
    written = []
    for entry in manifest["files"]:
        if entry["kind"] == "npz":
            buffer = io.BytesIO()
            np.savez(buffer, **{k: _decode_array(a, stream) for k, a in entry["arrays"].items()})
            data = buffer.getvalue()
        elif entry["kind"] == "idx":
            start = entry["body"]["offset"] - entry["header_length"]
            data = bytes(stream[start: entry["body"]["offset"]]) + _decode_array(entry["body"], stream).tobytes()
            if _sha(data) != entry["sha256"]:
                raise VaeadvError(f"{entry['name']}: decoded to other bytes than were packed (checksum mismatch)")
        else:
            data = _decode_array(entry["body"], stream).tobytes()
        written.append(atomic_write_bytes(dest / entry["name"], data))
    return written


def stored_names(paths: Sequence[str | Path]) -> dict[str, Path]:
    """Files to pack under the names a data folder expects: a folder's files as ``folder/file`` (``mnist/...``),
    a file as ``its-folder/file``."""
    files = {}
    for p in map(Path, paths):
        if p.is_dir():
            files.update({f"{p.name}/{f.name}": f for f in sorted(p.iterdir()) if f.is_file()})
        elif p.is_file():
            files[f"{p.parent.name}/{p.name}"] = p
        else:
            raise VaeadvError(f"{p}: no such file or folder")
    return files


def main(argv: Sequence[str] | None = None) -> int:
    """``pack`` and ``unpack`` from the command line; a bad input is one line on stderr and exit 1."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m tools.shards", description=__doc__.split("\n\n")[0])
    cmds = parser.add_subparsers(dest="command", required=True)
    pack_cmd = cmds.add_parser("pack", help="code dataset files or folders into OUT/part-NNN.bin + manifest.json")
    pack_cmd.add_argument("out")
    pack_cmd.add_argument("paths", nargs="+", metavar="PATH")
    pack_cmd.add_argument("--shard-mib", type=float, default=9.0, help="largest shard in MiB (default 9)")
    unpack_cmd = cmds.add_parser("unpack", help="check and join shards, decode the files into DEST")
    unpack_cmd.add_argument("shards")
    unpack_cmd.add_argument("dest")
    args = parser.parse_args(argv)
    try:
        if args.command == "pack":
            if not args.shard_mib > 0:
                raise VaeadvError(f"--shard-mib must be > 0, got {args.shard_mib}")
            files = stored_names(args.paths)
            manifest = pack(files, Path(args.out), int(args.shard_mib * 2**20))
            raw = sum(p.stat().st_size for p in files.values())
            print(f"{len(files)} files, {raw / 2**20:.1f} MiB → {manifest['bytes'] / 2**20:.1f} MiB coded, in "
                  f"{len(manifest['shards'])} shard(s) of at most {args.shard_mib:g} MiB under {args.out}")
        else:
            for path in unpack(Path(args.shards), Path(args.dest)):
                print(f"{path}  ({path.stat().st_size / 2**20:.1f} MiB, checksum verified)")
    except VaeadvError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
