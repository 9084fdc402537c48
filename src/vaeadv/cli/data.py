"""`vaeadv data info|verify|shard|unshard`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from vaeadv.cli.types import DATASETS, DefaultsHelp, add_data_flags, dataset_name, positive_float
from vaeadv.errors import VaeadvError


def add_commands(groups) -> None:
    data = groups.add_parser("data", help="find, describe and verify datasets")
    data_cmds = data.add_subparsers(dest="command", required=True)
    info = data_cmds.add_parser("info", help="where each dataset was found, counts, class balance, checksums")
    info.add_argument("names", nargs="*", type=dataset_name, metavar="NAME",
                      help=f"datasets to describe (default: all of {', '.join(DATASETS)})")
    info.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_data_flags(info)
    info.set_defaults(run=_data_info)
    verify = data_cmds.add_parser("verify", help="recompute checksums of the dataset files (exit 1 on mismatch)")
    verify.add_argument("names", nargs="*", type=dataset_name, metavar="NAME",
                        help="datasets to verify (default: all found)")
    add_data_flags(verify)
    verify.set_defaults(run=_data_verify)
    shard = data_cmds.add_parser(
        "shard", help="code dataset files into shards small enough to carry one per device call",
        description="Codes the files (image arrays of .npz and IDX files losslessly, about half of LZMA's size on "
                    "CIFAR-10) and cuts the result into OUT/part-NNN.bin of at most --shard-mib each, with "
                    "OUT/manifest.json. A folder's files are stored as FOLDER-NAME/FILE (mnist/..., cifar10/...), "
                    "the layout a data folder has. 'vaeadv data unshard' puts them back, checked.",
        formatter_class=DefaultsHelp)
    shard.add_argument("out", help="folder for the shards and the manifest (e.g. .data/shards, git-ignored)")
    shard.add_argument("paths", nargs="+", metavar="PATH", help="dataset files or folders")
    shard.add_argument("--shard-mib", type=positive_float, default=9.0,
                       help="largest shard in MiB: what a device call carries beside the checkout (64 MiB in all)")
    shard.set_defaults(run=_data_shard)
    unshard = data_cmds.add_parser("unshard", help="check and join shards, decode the files into a data folder",
                                   formatter_class=DefaultsHelp)
    unshard.add_argument("shards", help="folder with manifest.json and the part-NNN.bin files")
    unshard.add_argument("dest", help="data folder to write into (then VAEADV_DATA=DEST)")
    unshard.set_defaults(run=_data_unshard)


def _data_info(args: argparse.Namespace) -> int:
    from vaeadv.data.info import dataset_info, format_info

    names = args.names or list(DATASETS)
    infos, missing = [], []
    for name in names:
        try:
            infos.append(dataset_info(name, args.data_dir, download=not args.no_download))
        except VaeadvError as exc:
            if args.names:  # asked for explicitly: an error; else report and go on
                raise
            missing.append(f"{name}: not found ({str(exc).splitlines()[0]})")
    if args.json:
        print(json.dumps({"datasets": infos, "missing": missing}, indent=2))
    else:
        print("\n\n".join(format_info(i) for i in infos))
        for m in missing:
            print(m)
    return 0


def _data_verify(args: argparse.Namespace) -> int:
    from vaeadv.data.info import checksum_status
    from vaeadv.data.resolve import find_local

    bad = 0
    for name in args.names or DATASETS:
        located, _ = find_local(name, args.data_dir)
        if located is None:
            if args.names:
                raise VaeadvError(f"dataset '{name}' not found; see 'vaeadv data info {name}'.")
            print(f"{name}: not found, skipped")
            continue
        for fname, status in checksum_status(located, recheck=True).items():
            print(f"{name}: {fname}: {status}")
            bad += status == "MISMATCH"
    return 1 if bad else 0


def _data_shard(args: argparse.Namespace) -> int:
    from vaeadv.data.shards import pack, stored_names

    files = stored_names(args.paths)
    manifest = pack(files, Path(args.out), int(args.shard_mib * 2**20))
    raw = sum(p.stat().st_size for p in files.values())
    print(f"{len(files)} files, {raw / 2**20:.1f} MiB → {manifest['bytes'] / 2**20:.1f} MiB coded, in "
          f"{len(manifest['shards'])} shard(s) of at most {args.shard_mib:g} MiB under {args.out}")
    print("carry the manifest and one part-NNN.bin per device call; then run 'vaeadv data unshard' there")
    return 0


def _data_unshard(args: argparse.Namespace) -> int:
    from vaeadv.data.shards import unpack

    written = unpack(Path(args.shards), Path(args.dest))
    for path in written:
        print(f"{path}  ({path.stat().st_size / 2**20:.1f} MiB, checksum verified)")
    return 0
