"""The same seed gives the same numbers: a short VAE run, and a short robust train + attack, each run twice on
the CPU from scratch, agree exactly (metrics and trained weights)."""

from dataclasses import replace

import torch

from vaeadv.robust.config import RobustTrainConfig
from vaeadv.robust.datamodule import CifarDataModule
from vaeadv.robust.train import train_one
from vaeadv.vae.config import VAETrainConfig
from vaeadv.vae.train import train_vae


def _weights(path):
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


def _same_weights(a, b):
    wa, wb = _weights(a), _weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def test_a_short_vae_run_is_reproducible(real_data_dir, tmp_path):
    def run(name):
        cfg = VAETrainConfig(data_dir=str(real_data_dir), epochs=2, train_subset=256, batch_size=64, z_dim=4,
                             num_filters=8, sample_every=2, limit_val_batches=2, limit_test_batches=2, seed=5,
                             log_dir=str(tmp_path), run_name=name, progress=False, accelerator="cpu", devices=1)
        return train_vae(cfg)

    first, second = run("a"), run("b")
    assert first["test_bpd"] == second["test_bpd"] and first["best_val_bpd"] == second["best_val_bpd"]
    assert [h["train_bpd"] for h in first["history"]] == [h["train_bpd"] for h in second["history"]]
    assert _same_weights(first["best_checkpoint"], second["best_checkpoint"])
    third = train_vae(VAETrainConfig(data_dir=str(real_data_dir), epochs=2, train_subset=256, batch_size=64, z_dim=4,
                                     num_filters=8, sample_every=2, limit_val_batches=2, limit_test_batches=2,
                                     seed=6, log_dir=str(tmp_path), run_name="c", progress=False,
                                     accelerator="cpu", devices=1))
    assert third["test_bpd"] != first["test_bpd"]  # the seed matters: the check above could fail


def test_a_short_robust_train_and_attack_is_reproducible(real_data_dir, tmp_path):
    cfg = RobustTrainConfig(defenses=("fgsm",), recipe="fast", epochs=1, train_subset=256, width=8, pgd_steps=2,
                            cross_over=True, eval_limit=48, test_subset=200, limit_val_batches=2, seed=5,
                            data_dir=str(real_data_dir), log_dir=str(tmp_path), progress=False, accelerator="cpu",
                            devices=1)
    dm = CifarDataModule(cfg.data_dir, 128, False, "train", cfg.valid_ratio, seed=cfg.seed, train_subset=256,
                         test_subset=200)
    dm.setup()  # the same images for every run (the data's own seeding is the datamodule's test)

    def run(name, seed=5):
        return train_one(replace(cfg, run_name=name, seed=seed), "fgsm", dm)

    first, second = run("a"), run("b")
    assert first["clean_eval"] == second["clean_eval"]
    assert first["attack_eval"]["robust_accuracy"] == second["attack_eval"]["robust_accuracy"]
    assert set(first["attack_eval"]["robust_accuracy"]) == {"fgsm", "pgd"}
    assert _same_weights(first["best_checkpoint"], second["best_checkpoint"])
    assert not _same_weights(first["best_checkpoint"], run("c", seed=6)["best_checkpoint"])
