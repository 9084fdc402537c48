"""The `vaeadv` command: parse, call the library, print. Everything substantial lives in the packages."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from importlib import import_module

from vaeadv.errors import VaeadvError

DATASETS = ("mnist", "fashion-mnist", "cifar10")
# Each group's sub-commands are declared next to the code they run: module.add_commands(groups, data_flags).
COMMAND_MODULES = ("vaeadv.vae.commands", "vaeadv.robust.commands", "vaeadv.report.commands", "vaeadv.demo")


class Parser(argparse.ArgumentParser):
    """argparse, but a bad flag value is one line on stderr (exit 2), not a usage dump."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


class DefaultsHelp(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each flag's default, except where it is None (the help then says where the value comes from)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        return action.help if action.default is None else super()._get_help_string(action)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def nonneg_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got '{text}'") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text}")
    return value


def positive_float(text: str) -> float:
    value = nonneg_float(text)
    if value == 0:
        raise argparse.ArgumentTypeError("expected a number > 0, got 0")
    return value


def unit_fraction(text: str) -> float:
    value = nonneg_float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a number strictly between 0 and 1, got {text}")
    return value


def decay_rate(text: str) -> float:
    """A moving-average decay in [0, 1): 0 keeps no history."""
    value = nonneg_float(text)
    if not value < 1:
        raise argparse.ArgumentTypeError(f"expected a decay in [0, 1), got {text}")
    return value


def batches_limit(text: str) -> int | float:
    """Lightning's limit_*_batches: an int (number of batches) or a float fraction in (0, 1]."""
    try:
        value: int | float = int(text)
    except ValueError:
        value = nonneg_float(text)
        if not 0 < value <= 1:
            raise argparse.ArgumentTypeError(f"a fraction must lie in (0, 1], got {text}") from None
        return value
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a batch count >= 1 or a fraction in (0, 1], got {text}")
    return value


def dataset_name(text: str) -> str:
    if text not in DATASETS:
        raise argparse.ArgumentTypeError(f"unknown dataset '{text}' (choose from {', '.join(DATASETS)})")
    return text


def _add_data_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", help="folder holding the dataset files (else $VAEADV_DATA, the cache, "
                                      "system folders, then a download)")
    p.add_argument("--no-download", action="store_true", help="never download; fail if not found locally")


def build_parser() -> Parser:
    parser = Parser(prog="vaeadv", description="VAEs on 4-bit MNIST and adversarial attacks/defenses on "
                                               "a CIFAR-10 ResNet18.")
    from vaeadv import __version__

    parser.add_argument("--version", action="version", version=f"vaeadv {__version__}")
    groups = parser.add_subparsers(dest="group", metavar="{data,vae,robust,report,demo}", required=True,
                                   parser_class=Parser)

    data = groups.add_parser("data", help="find, describe and verify datasets")
    data_cmds = data.add_subparsers(dest="command", required=True, parser_class=Parser)
    info = data_cmds.add_parser("info", help="where each dataset was found, counts, class balance, checksums")
    info.add_argument("names", nargs="*", type=dataset_name, metavar="NAME",
                      help=f"datasets to describe (default: all of {', '.join(DATASETS)})")
    info.add_argument("--json", action="store_true", help="print JSON instead of a table")
    _add_data_flags(info)
    verify = data_cmds.add_parser("verify", help="recompute checksums of the dataset files (exit 1 on mismatch)")
    verify.add_argument("names", nargs="*", type=dataset_name, metavar="NAME",
                        help="datasets to verify (default: all found)")
    _add_data_flags(verify)

    for module in COMMAND_MODULES:
        import_module(module).add_commands(groups, _add_data_flags)
    return parser


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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.group == "data":
            return _data_info(args) if args.command == "info" else _data_verify(args)
        return args.run(args)
    except VaeadvError as exc:
        print(f"vaeadv: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("vaeadv: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
