"""Whether output goes to a person: progress bars on a terminal, one line per epoch elsewhere (CI, a log file,
a notebook). A module of its own so the command line can ask before importing torch or Lightning."""

from __future__ import annotations

import sys


def is_terminal() -> bool:
    return sys.stderr.isatty()
