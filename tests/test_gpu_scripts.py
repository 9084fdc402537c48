"""The prepared device calls run end to end on the CPU at the smoke scale, so a session that is lent a GPU spends
its minutes on the run, not on debugging the script: every piece ends well, what comes back is within the device
tool's limits (8 files of at most 16 MiB) and the split checkpoints join back into an archive."""

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_part1_script_at_the_smoke_scale(real_data_dir, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(real_data_dir / "mnist", data / "mnist")
    out = tmp_path / "out"
    env = dict(os.environ, OUT=str(out), DATA=str(data), WORK=str(tmp_path / "work"), SCALE="smoke",
               CONCURRENT="2", PY=sys.executable, COMPILE="0", BENCH="0", OMP_NUM_THREADS="1")
    done = subprocess.run(["bash", "scripts/gpu_part1.sh"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    files = sorted(p for p in out.rglob("*") if p.is_file())
    assert len(files) <= 8 and all(p.stat().st_size <= 16 * 2**20 for p in files)
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["pieces"]) == {"report", "improved"} and summary["concurrent"] == 2
    assert all(piece["exit"] == 0 for piece in summary["pieces"].values())
    with tarfile.open(out / "report.tar.gz") as tar:
        names = tar.getnames()
        stored = json.load(tar.extractfile("report/results/beta_sweep.json"))["result"]
    assert stored["concurrent_training"]["concurrent"] == 2 and len(stored["rows"]) == 5
    assert "logs/report.log" in names and not [n for n in names if n.endswith(".ckpt")]
    assert any(n.startswith("improved/mnist_z20_c32_beta1_cosine") and n.endswith("results.json") for n in names)
    joined = b"".join(p.read_bytes() for p in sorted(out.glob("best-checkpoints.tar.gz.part-*")))
    with tarfile.open(fileobj=io.BytesIO(joined)) as tar:
        checkpoints = [n for n in tar.getnames() if n.endswith(".ckpt")]
    assert len(checkpoints) == 9  # the smoke scale's 8 distinct VAEs and the improved run, one best file each
