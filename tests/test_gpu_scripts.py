"""The two GPU scripts run end to end on the CPU at the smoke scale, so a GPU's minutes go to the runs, not to
debugging the scripts: every piece ends well, the outputs are a few files of at most 16 MiB each (easy to copy off
a remote machine) and the split checkpoints join back into an archive."""

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


@pytest.mark.slow  # end to end, tens of seconds: make test-all
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
    assert "compression.json" not in " ".join(names)  # left to the CPU (the GPU image has no constriction)


@pytest.mark.slow  # end to end, tens of seconds: make test-all
def test_recipe_script_from_shards_at_a_tiny_size(real_data_dir, tmp_path):
    """The recipe script from shards: decoded (checked), a width-8 model trained one epoch from them on the CPU, and
    the summary holding the exact-pixel accuracy with its interval. Real CIFAR-10 files of 2,600 training and
    100 test images (exact pixels, with their overlay file) stand in for the whole set, so coding them takes
    seconds."""
    import numpy as np

    from tools.shards import pack, stored_names

    with np.load(real_data_dir / "cifar10" / "cifar10_exact_subset_train0-3999_test0-999.npz") as exact:
        small = {"x_train": exact["x_train"][:2600], "y_train": exact["y_train"][:2600],
                 "x_test": exact["x_test"][:100], "y_test": exact["y_test"][:100]}
    folder = tmp_path / "cifar10"
    folder.mkdir()
    np.savez(folder / "cifar10_jpeg_q75_original_order.npz", **small)
    np.savez(folder / "cifar10_exact_subset_train0-3999_test0-999.npz", **small,  # the exact-pixel overlay
             train_index=np.arange(2600), test_index=np.arange(100))
    pack(stored_names([folder]), tmp_path / "shards", shard_bytes=2**20)
    out = tmp_path / "out"
    env = dict(os.environ, OUT=str(out), DATA=str(tmp_path / "shards"), WORK=str(tmp_path / "work"),
               EPOCHS="1", BATCH="64", LR="0.05", PY=sys.executable, BENCH="0", COMPILE="0", OMP_NUM_THREADS="1",
               EXTRA="--width 8 --limit-val-batches 2 --accelerator cpu")
    done = subprocess.run(["bash", "scripts/gpu_recipe.sh"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert sorted(p.name for p in out.iterdir()) == ["summary.json", "train.log"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["train_exit"] == 0 and summary["epochs"] == 1 and summary["train_images"] == 600
    assert summary["config"]["batch_size"] == 64 and summary["train_seconds"] > 0
    assert summary["config"]["compile"] is False and "compile_seconds" in summary
    exact = summary["clean_eval"]["exact"]
    assert exact["n"] == 100 and exact["ci95_low"] <= exact["accuracy"] <= exact["ci95_high"]
    assert "checksum verified" in (out / "train.log").read_text()
