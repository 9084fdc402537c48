"""Loading checkpoints safely (``weights_only=True``: no code runs from the file) with clear errors."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from vaeadv.errors import VaeadvError


def load_checkpoint(path: str | Path, what: str, required: tuple[str, ...] = ()) -> dict[str, Any]:
    """``torch.load(path, weights_only=True)`` on the CPU, turned into one readable error when the file is
    missing, not a torch file, or lacks the keys a ``what`` checkpoint must have."""
    path = Path(path)
    if not path.is_file():
        raise VaeadvError(f"{path}: no such checkpoint file.")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # garbage makes torch.load raise almost anything (KeyError, EOFError, ...)
        raise VaeadvError(f"{path}: {describe_load_error(exc)}") from None
    if not isinstance(ckpt, dict) or any(k not in ckpt for k in required):
        keys = sorted(ckpt)[:8] if isinstance(ckpt, dict) else type(ckpt).__name__
        raise VaeadvError(f"{path}: not a {what} checkpoint (expected keys {list(required)}, found {keys}).")
    return ckpt


def load_state(module: torch.nn.Module, state: dict[str, torch.Tensor], path: str | Path, what: str) -> None:
    """``load_state_dict(strict=True)`` with the mismatch summarised in one line."""
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        detail = " ".join(str(exc).split())[:300]
        raise VaeadvError(f"{path}: weights do not fit the {what} ({detail}).") from None


def describe_load_error(exc: BaseException) -> str:
    """One sentence for a failed weights-only ``torch.load``: the refused global when the file asks to run code,
    else the error's own first line, shortened at a word boundary."""
    text = str(exc)
    refused = re.search(r"(?:unsupported|Unsupported global:) GLOBAL ([\w.]+)", text)
    if refused:
        return (f"refused: the file asks to run code ({refused.group(1)}), which a checkpoint never needs. "
                "Use only checkpoints you or vaeadv wrote.")
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    first = lines[0] if lines else type(exc).__name__
    if len(first) > 200:
        first = first[:200].rsplit(" ", 1)[0] + " …"
    return f"not a loadable PyTorch checkpoint ({type(exc).__name__}: {first})."
