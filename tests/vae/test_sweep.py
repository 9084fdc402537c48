"""`vaeadv vae sweep`: a grid of tiny real-MNIST runs trained two at a time, skipped when finished, resumed when
interrupted, and a failed run that does not stop the others."""

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace

import pytest

from vaeadv.errors import VaeadvError
from vaeadv.vae.config import VAETrainConfig
from vaeadv.vae.sweep import finished_results, run_many, sweep_run_name


def _sweep(tmp_path, *extra):
    return [sys.executable, "-m", "vaeadv", "vae", "sweep", "--log-dir", str(tmp_path / "sweep"),
            "--train-subset", "512", "--limit-val-batches", "2", "--limit-test-batches", "2", "--num-filters", "8",
            "--z-dim", "2", "--concurrent", "2", *extra]


def _env(real_data_dir):
    return dict(os.environ, VAEADV_DATA=str(real_data_dir), OMP_NUM_THREADS="1")


def test_run_names_differ_exactly_when_the_training_differs():
    base = VAETrainConfig()
    trained_differently = [replace(base, epochs=79), replace(base, batch_size=64), replace(base, train_subset=100),
                           replace(base, sample_every=10), replace(base, compile=True), replace(base, beta=2.0)]
    names = {sweep_run_name(c) for c in [base, *trained_differently]}
    assert len(names) == 1 + len(trained_differently)
    same_training = [replace(base, data_dir="/elsewhere"), replace(base, log_dir="x", run_name="y"),
                     replace(base, resume=True, progress=False, download=False, force=True)]
    assert {sweep_run_name(c) for c in same_training} == {sweep_run_name(base)}
    assert sweep_run_name(base).startswith("mnist_z20_c32_beta1_constant_seed42_e80-")


def test_finished_means_all_epochs_tested_with_the_same_settings(tmp_path):
    from dataclasses import asdict

    cfg = VAETrainConfig(epochs=3, data_dir="/data/here")

    def write(**results):
        (tmp_path / "results.json").write_text(json.dumps(results))

    write(config={**asdict(cfg), "data_dir": "/data/moved"}, epochs_completed=3, test_bpd=0.6)
    assert finished_results(tmp_path, cfg)["test_bpd"] == 0.6  # moved data is the same training
    write(config=asdict(cfg), epochs_completed=2, test_bpd=0.6)
    assert finished_results(tmp_path, cfg) is None  # stopped early
    write(config=asdict(cfg), epochs_completed=3, test_bpd=None)
    assert finished_results(tmp_path, cfg) is None  # never tested
    write(config={**asdict(cfg), "batch_size": 64}, epochs_completed=3, test_bpd=0.6)
    assert finished_results(tmp_path, cfg) is None  # other training
    old = {k: v for k, v in asdict(cfg).items() if k not in ("weight_decay", "ema_decay", "compile", "force")}
    write(config=old, epochs_completed=3, test_bpd=0.6)
    assert finished_results(tmp_path, cfg) is not None  # recorded before those fields existed, at their defaults
    (tmp_path / "results.json").write_text('{"config": ')
    assert finished_results(tmp_path, cfg) is None


def test_run_many_refuses_bad_input(tmp_path):
    with pytest.raises(VaeadvError, match="at least 1"):
        run_many([VAETrainConfig()], 0)
    twice = VAETrainConfig(log_dir=str(tmp_path), run_name="same")
    with pytest.raises(VaeadvError, match="share a folder"):
        run_many([twice, replace(twice, beta=2.0)], 2)


@pytest.mark.slow  # end to end, tens of seconds: make test-all
def test_grid_trains_concurrently_then_is_skipped(real_data_dir, tmp_path):
    env = _env(real_data_dir)
    done = subprocess.run(_sweep(tmp_path, "--beta", "1", "4", "--epochs", "2"), env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "2 at a time with 1 torch threads each" in done.stdout
    summary = json.loads((tmp_path / "sweep" / "sweep.json").read_text())
    assert summary["concurrent"] == 2 and summary["trained_now"] == 2
    assert [r["status"] for r in summary["runs"]] == ["finished", "finished"]
    betas = []
    for row in summary["runs"]:
        results = json.loads((tmp_path / "sweep" / row["run"] / "results.json").read_text())
        assert results["test_bpd"] == row["test_bpd"] < 4.5 and results["epochs_completed"] == 2
        assert (tmp_path / "sweep" / row["run"] / "vae_manifold.png").is_file()
        assert "epoch 2/2" in (tmp_path / "sweep" / row["run"] / "train.log").read_text()
        betas.append((results["config"]["beta"], results["config"]["z_dim"]))
    assert betas == [(1.0, 2), (4.0, 2)]
    stamps = sorted(p.stat().st_mtime_ns for p in (tmp_path / "sweep").rglob("results.json"))

    again = subprocess.run(_sweep(tmp_path, "--beta", "1", "4", "--epochs", "2"), env=env, capture_output=True,
                           text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "2 done earlier, 0 to train" in again.stdout
    assert sorted(p.stat().st_mtime_ns for p in (tmp_path / "sweep").rglob("results.json")) == stamps
    assert json.loads((tmp_path / "sweep" / "sweep.json").read_text())["trained_now"] == 0


@pytest.mark.slow  # end to end, tens of seconds: make test-all
def test_a_killed_sweep_resumes_every_run(real_data_dir, tmp_path):
    env = _env(real_data_dir)
    command = _sweep(tmp_path, "--beta", "1", "2", "--epochs", "20")
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 180
    while len(list(tmp_path.rglob("last.ckpt"))) < 2 and time.time() < deadline:
        time.sleep(0.2)
    assert len(list(tmp_path.rglob("last.ckpt"))) == 2, "the runs wrote no checkpoints"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143 and "run it again" in err
    assert not list(tmp_path.rglob("results.json"))  # stopped before any run ended
    statuses = [r["status"] for r in json.loads((tmp_path / "sweep" / "sweep.json").read_text())["runs"]]
    assert statuses == ["interrupted", "interrupted"]

    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    for results in tmp_path.rglob("results.json"):
        r = json.loads(results.read_text())
        assert [h["epoch"] for h in r["history"]] == list(range(1, 21))
        assert "Restoring states from the checkpoint path" in (results.parent / "train.log").read_text()


def test_a_failed_run_does_not_stop_the_others(real_data_dir, tmp_path):
    cfg = VAETrainConfig(data_dir=str(real_data_dir), z_dim=2, num_filters=8, epochs=1, train_subset=512,
                         limit_val_batches=2, limit_test_batches=2, log_dir=str(tmp_path))
    busy, fine = (replace(c, run_name=sweep_run_name(c)) for c in (cfg, replace(cfg, beta=2.0)))
    (tmp_path / busy.run_name).mkdir()
    (tmp_path / busy.run_name / ".lock").write_text(str(os.getpid()))  # a live process writes there
    lines = []
    outcomes = run_many([busy, fine], 2, threads=1, summary=tmp_path / "sweep.json", say=lines.append)
    assert [o["status"] for o in outcomes] == ["failed", "finished"]
    assert outcomes[1]["test_bpd"] < 4.5 and outcomes[0]["test_bpd"] is None
    failed = next(line for line in lines if line.startswith("failed"))
    assert "exit 1" in failed and "is in use by process" in failed
    assert json.loads((tmp_path / "sweep.json").read_text())["runs"] == outcomes


def test_cli_grid_is_every_combination_with_the_recipes_settings(capsys):
    from vaeadv.cli.main import build_parser
    from vaeadv.cli.vae import sweep_configs

    args = build_parser().parse_args(["vae", "sweep", "--beta", "1", "4", "--z-dim", "2", "20", "--recipe",
                                      "template", "improved", "--epochs", "3", "--lr", "2e-3"])
    configs = sweep_configs(args)
    assert [(c.lr_schedule, c.z_dim, c.beta) for c in configs] == [
        (schedule, z, b) for schedule in ("constant", "cosine") for z in (2, 20) for b in (1.0, 4.0)]
    assert {c.lr for c in configs} == {2e-3} and {c.epochs for c in configs} == {3}  # a flag beats the recipe
    assert {c.ema_decay for c in configs[4:]} == {0.999} and {c.ema_decay for c in configs[:4]} == {0.0}
    assert len({c.run_name for c in configs}) == 8 and {c.log_dir for c in configs} == {"VAE_sweep"}
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["vae", "sweep", "--concurrent", "0"])
    assert exc.value.code == 2 and "concurrent" in capsys.readouterr().err
