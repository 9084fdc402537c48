"""Shared bits of the benchmarks: timing and writing a result file."""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path

import torch

RESULTS = Path(__file__).parent / "results"


def timed(fn, repeat: int = 1) -> float:
    """Best wall time of ``repeat`` calls (seconds): the least disturbed measurement."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def write(name: str, result: dict) -> None:
    result = {"benchmark": name, "torch": torch.__version__, "threads": torch.get_num_threads(),
              "machine": platform.machine(), "device": "cuda" if torch.cuda.is_available() else "cpu", **result}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    json.dump(result, sys.stdout, indent=2)
    print()
