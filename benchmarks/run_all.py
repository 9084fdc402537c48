"""Run every benchmark (results land in benchmarks/results/*.json; docs/benchmarks.md summarises them)."""

import subprocess
import sys
from pathlib import Path

here = Path(__file__).parent
SCRIPTS = ("bench_load_times.py", "bench_vae_throughput.py", "bench_robust.py", "bench_precision.py", "bench_apgd.py",
           "bench_vae_concurrent.py", "bench_train_throughput.py")
for script in SCRIPTS:
    subprocess.run([sys.executable, str(here / script)], check=True, cwd=here)
