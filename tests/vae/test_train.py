"""Short real training runs on a subset of real MNIST (the CI machine has $VAEADV_DATA)."""

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from vaeadv.errors import VaeadvError
from vaeadv.vae.config import VAETrainConfig
from vaeadv.vae.evaluate import load_vae
from vaeadv.vae.train import train_vae

QUICK = dict(train_subset=2048, limit_val_batches=4, limit_test_batches=4, progress=False, sample_every=1)


def test_bpd_drops_from_about_4(real_data_dir, tmp_path):
    cfg = VAETrainConfig(data_dir=str(real_data_dir), epochs=2, log_dir=str(tmp_path), **QUICK)
    torch.manual_seed(0)
    from vaeadv.vae.datamodule import QuantizedImageDataModule
    from vaeadv.vae.module import VAE

    dm = QuantizedImageDataModule(data_dir=str(real_data_dir))
    dm.setup()
    *_, before = VAE().eval()(dm.x_val[:256].long())
    assert 3.0 < before.item() < 5.0
    r = train_vae(cfg)
    assert r["best_val_bpd"] < 2.5 and r["test_bpd"] < 2.5
    assert [h["epoch"] for h in r["history"]] == [1, 2]
    run = tmp_path / "mnist_z20_c32_beta1_constant_seed42"
    for name in ("epoch_0_samples.png", "epoch_1_samples.png", "epoch_2_samples.png", "results.json",
                 "bpd_curves.png"):
        assert (run / name).is_file()
    keys = set(r["history"][-1])
    assert {"train_bpd", "val_bpd", "train_ELBO", "val_reconstruction_loss", "val_regularization_loss"} <= keys
    model = load_vae(r["best_checkpoint"])
    assert model.hparams.z_dim == 20
    assert not list(run.rglob("*.tmp*"))


def test_z2_writes_manifold_and_beta_is_used(real_data_dir, tmp_path):
    cfg = VAETrainConfig(data_dir=str(real_data_dir), epochs=1, z_dim=2, beta=4.0, log_dir=str(tmp_path), **QUICK)
    r = train_vae(cfg)
    assert (tmp_path / cfg.default_run_name() / "vae_manifold.png").is_file()
    assert r["config"]["beta"] == 4.0


def _cli(tmp_path, *extra):
    return [sys.executable, "-m", "vaeadv", "vae", "train", "--log-dir", str(tmp_path), "--train-subset", "512",
            "--limit-val-batches", "2", "--limit-test-batches", "2", "--no-progress", "--z-dim", "4",
            "--num-filters", "8", *extra]


@pytest.mark.slow  # end to end, tens of seconds: make test-all
def test_killed_run_resumes_from_last_checkpoint(real_data_dir, tmp_path):
    env = dict(os.environ, VAEADV_DATA=str(real_data_dir))
    proc = subprocess.Popen(_cli(tmp_path, "--epochs", "12"), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    last = None
    deadline = time.time() + 120
    while time.time() < deadline:
        found = list(tmp_path.rglob("last.ckpt"))
        if found:
            last = found[0]
            break
        time.sleep(0.2)
    assert last is not None, "no checkpoint appeared"
    time.sleep(1.0)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    run = last.parent.parent
    assert not (run / "results.json").exists()
    epoch_before = torch.load(last, weights_only=True)["epoch"]
    again = subprocess.run(_cli(tmp_path, "--epochs", "12"), env=env, capture_output=True, text=True)
    assert again.returncode == 1 and "--resume" in again.stderr  # refuses to overwrite
    done = subprocess.run(_cli(tmp_path, "--epochs", "12", "--resume"), env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    said = done.stdout + done.stderr
    assert not any(chatter in said for chatter in ("GPU available", "litlogger", "LeafSpec", "on_after_batch"))
    results = json.loads((run / "results.json").read_text())
    assert results["epochs_completed"] == 12 and epoch_before < 11
    assert [h["epoch"] for h in results["history"]] == list(range(1, 13))
    assert (run / "csv_2" / "metrics.csv").is_file()  # the resumed run's CSV; the first one is kept
    assert (run / "csv").is_dir()


def test_ddp_two_cpu_processes(real_data_dir, tmp_path):
    env = dict(os.environ, VAEADV_DATA=str(real_data_dir))
    done = subprocess.run(_cli(tmp_path, "--epochs", "1", "--accelerator", "cpu", "--devices", "2",
                               "--strategy", "ddp"), env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    (results,) = tmp_path.rglob("results.json")
    r = json.loads(results.read_text())
    assert r["test_bpd"] < 4.5 and r["epochs_completed"] == 1


def test_compiled_networks_keep_plain_checkpoint_names():
    from vaeadv.vae.module import VAE

    plain = VAE()
    compiled = VAE().compile_loss_graph()
    assert list(compiled.state_dict()) == list(plain.state_dict())
    plain.load_state_dict(compiled.state_dict())  # a checkpoint of a compiled run loads without torch.compile


def test_compile_mode_uses_cuda_graphs_only_for_gpu_runs(monkeypatch):
    from vaeadv.vae.train import compile_mode

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert compile_mode("auto") == compile_mode("gpu") == "reduce-overhead"
    assert compile_mode("cpu") is None
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert compile_mode("auto") is None


def test_run_names_tell_recipes_apart():
    from vaeadv.vae.config import VAETrainConfig

    names = {VAETrainConfig().default_run_name(), VAETrainConfig(lr_schedule="cosine").default_run_name(),
             VAETrainConfig(lr_schedule="cosine", lr=2e-3).default_run_name()}
    assert len(names) == 3
    assert VAETrainConfig().default_run_name() == "mnist_z20_c32_beta1_constant_seed42"
    assert "lr0.002" in VAETrainConfig(lr=2e-3).default_run_name()


def test_history_keeps_the_epochs_after_the_best_one(real_data_dir, tmp_path, monkeypatch):
    from vaeadv.vae.module import VAE

    def worse_every_epoch(self, batch, batch_idx):  # validation that is best after epoch 1
        self.log("val_bpd", 1.0 + self.current_epoch, on_epoch=True)

    monkeypatch.setattr(VAE, "validation_step", worse_every_epoch)
    r = train_vae(VAETrainConfig(data_dir=str(real_data_dir), epochs=2, log_dir=str(tmp_path), **QUICK))
    assert r["best_epoch"] == 1
    assert [h["epoch"] for h in r["history"]] == [1, 2]
    assert r["final_train_bpd"] == r["history"][-1]["train_bpd"]


def test_recipes_set_the_optimisation_and_explicit_settings_win():
    from vaeadv.vae.config import recipe_config

    assert recipe_config("template") == VAETrainConfig()
    improved = recipe_config("improved", lr=None, seed=1)
    settings = (improved.lr, improved.lr_schedule, improved.weight_decay, improved.ema_decay)
    assert settings == (3e-3, "cosine", 0.01, 0.999)
    assert improved.seed == 1 and improved.epochs == 80 and improved.z_dim == 20  # same model and epochs
    assert recipe_config("improved", ema_decay=0.0, lr=2e-3).ema_decay == 0.0
    assert recipe_config("improved", lr=2e-3).lr == 2e-3
    with pytest.raises(VaeadvError, match="unknown recipe"):
        recipe_config("best")


def test_ema_decay_flag_is_checked():
    from vaeadv.cli.types import decay_rate

    assert decay_rate("0") == 0.0 and decay_rate("0.999") == 0.999
    for bad in ("1", "1.5", "-0.1", "x"):
        with pytest.raises(argparse.ArgumentTypeError):
            decay_rate(bad)


def test_ema_run_validates_checkpoints_and_tests_the_average(real_data_dir, tmp_path):
    cfg = VAETrainConfig(data_dir=str(real_data_dir), epochs=1, ema_decay=0.9, weight_decay=0.01,
                         log_dir=str(tmp_path), **QUICK)
    r = train_vae(cfg)
    ckpt = torch.load(r["best_checkpoint"], weights_only=False)
    assert "current_model_state" in ckpt  # raw weights kept for resuming, average in state_dict
    raw, ema = ckpt["current_model_state"], ckpt["state_dict"]
    assert any(not torch.equal(raw[k], ema[k]) for k in ema)
    # test_bpd is the average's, as loaded from the best checkpoint's state_dict: the 4 test batches it saw
    from vaeadv.vae.datamodule import QuantizedImageDataModule
    from vaeadv.vae.evaluate import evaluate_vae

    dm = QuantizedImageDataModule(data_dir=str(real_data_dir))
    dm.setup()
    tested = dm.x_test[: 4 * 128]
    model = load_vae(r["best_checkpoint"])
    with torch.no_grad():
        assert abs(evaluate_vae(model, tested, iw_samples=1)["elbo_bpd"] - r["test_bpd"]) < 0.02  # one z per image
        model.load_state_dict(raw)
        # early in training the raw weights are far from their average
        assert abs(evaluate_vae(model, tested, iw_samples=1)["elbo_bpd"] - r["test_bpd"]) > 0.1
    assert model.hparams.weight_decay == 0.01
    assert "_wd0.01_ema0.9_" in r["run_dir"]


def test_resumed_ema_run_continues_the_average(real_data_dir, tmp_path):
    settings = dict(data_dir=str(real_data_dir), ema_decay=0.9, log_dir=str(tmp_path), **QUICK)
    first = train_vae(VAETrainConfig(epochs=1, **settings))
    last_path = Path(first["run_dir"]) / "checkpoints" / "last.ckpt"
    ckpt = torch.load(last_path, weights_only=True)
    ckpt["callbacks"]["TrainingClock"]["seconds"] = 1e6  # as if the first session had trained for 1e6 s
    torch.save(ckpt, last_path)
    resumed = train_vae(VAETrainConfig(epochs=2, resume=True, **settings))
    # the training time reported is the run's: the first session's (from its checkpoint) plus this one's
    assert 1e6 <= resumed["wall_time_s"] <= 1e6 + resumed["wall_time_s_this_session"] + 0.1  # both rounded
    last = torch.load(Path(resumed["run_dir"]) / "checkpoints" / "last.ckpt", weights_only=False)
    # one average over both sessions' steps, not a fresh one started at the resume
    assert int(last["averaging_state"]["n_averaged"]) == last["global_step"] == 2 * 16
    assert [h["epoch"] for h in resumed["history"]] == [1, 2] and first["epochs_completed"] == 1
    # resuming the same folder without the averaging would train on from the average as if it were the weights
    with pytest.raises(VaeadvError, match="ema_decay 0.9 → 0.0"):
        train_vae(VAETrainConfig(epochs=3, resume=True, run_name=Path(resumed["run_dir"]).name,
                                 **{**settings, "ema_decay": 0.0}))
