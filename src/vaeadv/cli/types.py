"""Argument types and shared flags of the command line: a bad value is one line from argparse (exit 2)."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable

DATASETS = ("mnist", "fashion-mnist", "cifar10")


class DefaultsHelp(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each flag's default, except where it is None (the help then says where the value comes from)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        return action.help if action.default is None else super()._get_help_string(action)


def _int_at_least(text: str, least: int, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got '{text}'") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"expected {what}, got {value}")
    return value


def positive_int(text: str) -> int:
    return _int_at_least(text, 1, "a positive integer")


def nonneg_int(text: str) -> int:
    return _int_at_least(text, 0, "a non-negative integer")


def sha256_hex(text: str) -> str:
    value = text.strip().lower()
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise argparse.ArgumentTypeError(f"expected a SHA-256 (64 hexadecimal digits), got '{text}'")
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


def smoothing(text: str) -> float:
    """A label-smoothing weight in [0, 1): 0 is plain cross-entropy, 1 would erase the label."""
    value = nonneg_float(text)
    if not value < 1:
        raise argparse.ArgumentTypeError(f"expected a label smoothing in [0, 1), got {text}")
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


def subcommand(cmds, name: str, help: str, add_flags: Callable[[argparse.ArgumentParser], None],
               run: Callable[[argparse.Namespace], int], **parser_kwargs) -> argparse.ArgumentParser:
    """One command of a group: its parser (defaults shown in ``--help``), its flags, and what runs it."""
    parser = cmds.add_parser(name, help=help, formatter_class=DefaultsHelp, **parser_kwargs)
    add_flags(parser)
    parser.set_defaults(run=run)
    return parser


def add_data_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", help="folder holding the dataset files (else $VAEADV_DATA, the cache, "
                                      "system folders, then a download)")
    p.add_argument("--no-download", action="store_true", help="never download; fail if not found locally")


def seed(text: str) -> int:
    """A random seed as numpy and Lightning accept it: an integer in [0, 2³² − 1]."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer seed, got '{text}'") from None
    if not 0 <= value <= 2**32 - 1:
        raise argparse.ArgumentTypeError(f"a seed must lie in [0, 4294967295], got {value}")
    return value


def devices(text: str) -> int | str:
    """Lightning's devices: a count >= 1, 'auto', -1 (all), or a comma list of GPU ids."""
    if text in ("auto", "-1"):
        return text
    if text.isdigit():
        if int(text) < 1:
            raise argparse.ArgumentTypeError(f"expected at least 1 device, got {text}")
        return int(text)
    if all(part.strip().isdigit() for part in text.split(",")):
        return text
    raise argparse.ArgumentTypeError(f"expected a device count, 'auto', -1 or a list of GPU ids, got '{text}'")


def config_from_args(cls, args: argparse.Namespace, **overrides):
    """A config dataclass from parsed flags, by field name (a flag's ``dest`` is its field's name): the flags are
    the one path into the config, so an option is one field plus one flag, and a flag left at ``None`` keeps the
    field's default. ``overrides`` are the fields whose flag is phrased differently (``--no-download``...)."""
    names = {f.name for f in dataclasses.fields(cls)}
    given = {k: v for k, v in vars(args).items() if k in names and v is not None}
    return cls(**{**given, **overrides})


def defaults_of(cls):
    """The dataclass's defaults, for flags to show in ``--help`` (one place for each default)."""
    return cls()
