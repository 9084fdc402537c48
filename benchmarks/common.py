"""Shared bits of the benchmarks: timing and writing a result file."""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path

import torch

RESULTS = Path(__file__).parent / "results"


def synchronize() -> None:
    """Wait for queued GPU work, so a wall-clock reading covers it (a no-op on a CPU)."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def timed(fn, repeat: int = 1) -> float:
    """Best wall time of ``repeat`` calls (seconds): the least disturbed measurement."""
    best = float("inf")
    for _ in range(repeat):
        synchronize()
        start = time.perf_counter()
        fn()
        synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def suffix(device: str) -> str:
    """Result-file suffix: CPU results keep their plain names, others are kept beside them."""
    return "" if device == "cpu" else f"_{torch.device(device).type}"


def write(name: str, result: dict) -> None:
    result = {"benchmark": name, "torch": torch.__version__, "threads": torch.get_num_threads(),
              "machine": platform.machine(), **result}
    result.setdefault("device", "cpu")
    if result["device"] != "cpu":
        result["device_name"] = torch.cuda.get_device_name()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    json.dump(result, sys.stdout, indent=2)
    print()
