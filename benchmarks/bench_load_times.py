"""Dataset load time: cold (parse the original files) vs cached (the decoded .pt), per dataset.

Usage: python benchmarks/bench_load_times.py   (uses a fresh temporary cache; needs the datasets)
"""

from __future__ import annotations

import os
import tempfile

from common import timed, write

from vaeadv.data import load_dataset
from vaeadv.errors import VaeadvError


def main() -> None:
    os.environ["VAEADV_CACHE"] = tempfile.mkdtemp(prefix="vaeadv-bench-cache-")
    rows = {}
    for name in ("mnist", "fashion-mnist", "cifar10"):
        try:
            cold = timed(lambda name=name: load_dataset(name, download=False))
        except VaeadvError as exc:
            rows[name] = {"error": str(exc).splitlines()[0]}
            continue
        cached = timed(lambda name=name: load_dataset(name, download=False), repeat=3)
        rows[name] = {"cold_s": round(cold, 2), "cached_s": round(cached, 3), "speedup": round(cold / cached, 1)}
    write("load_times", rows)


if __name__ == "__main__":
    main()
