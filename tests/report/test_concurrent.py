"""Part 1's VAEs trained several at a time for the report (`--concurrent`), and a `vae sweep` run with a report's
settings taken in by `--reuse` instead of being trained again."""

import json
import subprocess
import sys

import pytest

from vaeadv.cli import main
from vaeadv.report.context import Context
from vaeadv.report.scales import SCALES
from vaeadv.report.vae_experiments import planned_runs, vae_run_config


def _report(out, data_dir, *extra):
    return main(["report", "--scale", "smoke", "--out", str(out), "--data-dir", str(data_dir), "--no-download",
                 "--no-progress", *extra])


@pytest.mark.slow  # end to end, tens of seconds: make test-all
def test_concurrent_report_trains_its_vaes_in_workers_first(real_data_dir, tmp_path, capsys):
    out = tmp_path / "smoke"
    assert _report(out, real_data_dir, "--only", "vae_main", "beta_sweep", "--concurrent", "2") == 0
    log = capsys.readouterr().out
    assert "VAEs trained 2 at a time" in log and "training VAE" not in log  # none left for the experiments
    ctx = Context(out, SCALES["smoke"], str(real_data_dir))
    plans = planned_runs(ctx.scale)
    assert len(plans["vae_main"]) == 1 and len(plans["beta_sweep"]) == 5
    for settings in plans["vae_main"] + plans["beta_sweep"]:
        cfg = vae_run_config(ctx, *settings)
        run = out / "runs" / "vae" / cfg.run_name
        assert "Trainer.fit" in (run / "train.log").read_text()  # trained by a worker process, logged there
        results = json.loads((run / "results.json").read_text())
        assert (results["config"]["beta"], results["epochs_completed"]) == (settings[1], settings[2])
    summary = json.loads((out / "runs" / "vae" / "concurrent.json").read_text())
    assert summary["concurrent"] == 2 and [r["status"] for r in summary["runs"]] == ["finished"] * 6
    stored = json.loads((out / "results" / "beta_sweep.json").read_text())["result"]
    assert stored["concurrent_training"]["concurrent"] == 2 and stored["concurrent_training"]["wall_seconds"] > 0
    assert "Part 1's VAEs, trained 2 at a time" in (out / "report.md").read_text()

    stamps = sorted(p.stat().st_mtime_ns for p in (out / "runs" / "vae").rglob("results.json"))
    assert _report(out, real_data_dir, "--only", "vae_main", "vae_manifold", "--concurrent", "2") == 0
    log = capsys.readouterr().out  # later, the rest: only the manifold's VAE is trained
    assert "1 runs: 0 done earlier, 1 to train" in log and "vae_main: done earlier, reused" in log
    again = sorted(p.stat().st_mtime_ns for p in (out / "runs" / "vae").rglob("results.json"))
    assert len(again) == 7 and set(stamps) < set(again)


@pytest.mark.slow  # end to end, tens of seconds: make test-all
def test_a_sweep_with_the_report_settings_is_reused_not_retrained(real_data_dir, tmp_path, capsys):
    smoke = SCALES["smoke"]
    sweep = tmp_path / "sweep"
    done = subprocess.run([sys.executable, "-m", "vaeadv", "vae", "sweep", "--log-dir", str(sweep), "--z-dim", "2",
                           "--epochs", str(smoke.vae_epochs), "--train-subset", str(smoke.vae_train_subset),
                           "--sample-every", str(smoke.vae_sample_every), "--data-dir", str(real_data_dir)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    (trained,) = sweep.rglob("results.json")
    out = tmp_path / "smoke"
    assert _report(out, real_data_dir, "--only", "vae_manifold", "--reuse", str(sweep)) == 0
    assert "training VAE" not in capsys.readouterr().out
    (adopted,) = (out / "runs" / "vae").rglob("results.json")
    assert json.loads(adopted.read_text())["test_bpd"] == json.loads(trained.read_text())["test_bpd"]
    result = json.loads((out / "results" / "vae_manifold.json").read_text())["result"]
    assert result["test_bpd"] == json.loads(trained.read_text())["test_bpd"]


def test_compiled_vaes_are_other_runs(tmp_path):
    plain = vae_run_config(Context(tmp_path, SCALES["full"]), 20, 1.0, 80, None)
    compiled = vae_run_config(Context(tmp_path, SCALES["full"], compile=True), 20, 1.0, 80, None)
    assert compiled.compile and not plain.compile
    assert compiled.run_name != plain.run_name and compiled.log_dir == plain.log_dir
    assert (plain.epochs, plain.sample_every, plain.z_dim, plain.beta) == (80, 10, 20, 1.0)
