"""scripts/fast_at.sh end to end at a tiny size: each method's pilot, the choice read off their held-out PGD, the
main run of the chosen one, the shipped file on the same held-out images, and a second call that trains nothing."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


def _run(runs: Path, data: Path) -> str:
    env = dict(os.environ, RUNS=str(runs), PY=sys.executable, VAEADV_DATA=str(data), PILOT_EPOCHS="1",
               EPOCHS="1", THREADS="1", HOLDOUT_LIMIT="16", OMP_NUM_THREADS="1",
               EXTRA="--train-subset 2600 --width 8 --limit-train-batches 2 --limit-val-batches 1 --no-download")
    done = subprocess.run(["bash", "scripts/fast_at.sh"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


@pytest.mark.slow  # end to end, tens of seconds: make test-all
def test_the_method_is_chosen_on_the_hold_out_and_a_second_call_trains_nothing(real_data_dir, tmp_path):
    runs = tmp_path / "runs"
    out = _run(runs, real_data_dir)
    pilots = {m: json.loads((runs / f"pilot_{m}" / m / "results.json").read_text()) for m in ("fgsm-rs", "n-fgsm")}
    assert all("exact" not in p["clean_eval"] and p["test_images"] == 0 for p in pilots.values())  # no test image
    unfired = {m: p["holdout_attack"]["accuracy"] for m, p in pilots.items() if not p["overfit_guard"]["fired"]}
    chosen = max(unfired, key=unfired.get)
    assert f"== chosen on the hold-out: {chosen}\n" in out
    main = json.loads((runs / "main" / chosen / "results.json").read_text())
    assert main["config"]["recipe"] == "fast-at-128" and main["config"]["defenses"] == [chosen]
    assert "attack_eval" not in main  # the test images are attacked only after the choice, by hand
    shipped = json.loads((runs / "shipped_holdout" / "attack_results.json").read_text())
    assert shipped["evaluated_on"].startswith("first 16 ")
    better = main["holdout_attack"]["accuracy"] > shipped["robust_accuracy"][next(iter(shipped["robust_accuracy"]))]
    assert ("better: vaeadv robust export" in out) is better and ("not better" in out) is not better
    again = _run(runs, real_data_dir)
    assert "== pilot" not in again and "== main" not in again and f"chosen on the hold-out: {chosen}" in again
