"""The command line over the library (nothing in the library imports it)."""

from vaeadv.cli.main import main

__all__ = ["main"]
