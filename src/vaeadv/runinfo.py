"""What a result was made with: software versions and hardware, recorded beside every result (both halves)."""

from __future__ import annotations

import os
import platform

import lightning
import torch

from vaeadv import __version__


def versions() -> dict[str, str]:
    return {"vaeadv": __version__, "torch": torch.__version__, "lightning": lightning.__version__,
            "python": platform.python_version(), "machine": platform.machine(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"}


def hardware() -> str:
    """Where an experiment ran (the process that renders a report may differ from the one that trained)."""
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{platform.machine()}, {os.cpu_count()} CPU cores, {torch.get_num_threads()} torch threads, {gpu}"
