"""`vaeadv data info|verify`."""

from __future__ import annotations

import argparse
import json

from vaeadv.cli.types import DATASETS, add_data_flags, dataset_name
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
