"""`vaeadv vae ...` sub-commands."""

from __future__ import annotations


def add_commands(groups, data_flags) -> None:
    p = groups.add_parser("vae", help="(filled by a later issue)")
    p.add_subparsers(dest="command", required=True)
