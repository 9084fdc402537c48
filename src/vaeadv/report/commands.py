"""`vaeadv report ...` sub-commands."""

from __future__ import annotations


def add_commands(groups, data_flags) -> None:
    p = groups.add_parser("report", help="(filled by a later issue)")
    p.add_subparsers(dest="command", required=True)
