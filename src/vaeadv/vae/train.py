"""`vaeadv vae train`: the Trainer configured in one place, results written as files."""

from __future__ import annotations

import math
import time
from pathlib import Path

import lightning.pytorch as pl
import torch

from vaeadv.averaging import EMAWeights
from vaeadv.loggers import run_loggers
from vaeadv.progress import EpochLine
from vaeadv.runs import RunCheckpoint, TrainingRun, check_run_size, make_trainer
from vaeadv.vae.callbacks import EpochHistory, Manifold, SampleGrids
from vaeadv.vae.config import VAETrainConfig
from vaeadv.vae.datamodule import QuantizedImageDataModule
from vaeadv.vae.module import VAE
from vaeadv.vae.viz import plot_bpd_curves


def compile_mode(accelerator: str) -> str | None:
    """CUDA graphs when training will run on a GPU, inductor's default elsewhere."""
    on_gpu = accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available()
    return "reduce-overhead" if on_gpu else None


def train_vae(cfg: VAETrainConfig) -> dict:
    """Train (or resume) one VAE run in ``log_dir/run_name``, test its best-val checkpoint, write
    ``results.json`` and the curves; returns the results. The run folder is locked while this runs."""
    with TrainingRun(Path(cfg.log_dir) / (cfg.run_name or cfg.default_run_name()), cfg) as run:
        return _train_vae(cfg, run)


def _train_vae(cfg: VAETrainConfig, run: TrainingRun) -> dict:
    run_dir = run.run_dir
    ckpt_dir = run_dir / "checkpoints"
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    dm = QuantizedImageDataModule(cfg.dataset, cfg.data_dir, cfg.batch_size, download=cfg.download,
                                  shuffle_seed=cfg.seed, train_subset=cfg.train_subset)
    dm.setup()
    model = VAE(cfg.num_filters, cfg.z_dim, cfg.lr, beta=cfg.beta, image_size=dm.image_size,
                lr_schedule=cfg.lr_schedule, max_epochs=cfg.epochs, channels_last=cfg.channels_last,
                weight_decay=cfg.weight_decay, ema_decay=cfg.ema_decay)
    check_run_size(model, run_dir, cfg.force)
    resume_from = run.resume_from(dict(model.hparams))
    if cfg.compile:
        model.compile_loss_graph(compile_mode(cfg.accelerator))
    checkpoint = RunCheckpoint(dirpath=ckpt_dir, filename="best-{epoch:03d}-{val_bpd:.4f}", monitor="val_bpd",
                                 mode="min", save_last=True, save_top_k=1)
    history_cb, clock = EpochHistory(), run.clock
    callbacks = [*run.callbacks, checkpoint, history_cb, SampleGrids(run_dir, every=cfg.sample_every),
                 Manifold(run_dir)]
    if cfg.ema_decay:
        callbacks.append(EMAWeights(decay=cfg.ema_decay))
    if not cfg.progress:
        callbacks.append(EpochLine(clock=clock))
    trainer = make_trainer(
        max_epochs=cfg.epochs, accelerator=cfg.accelerator, devices=cfg.devices, strategy=cfg.strategy,
        default_root_dir=run_dir, enable_progress_bar=cfg.progress, enable_model_summary=False,
        logger=run_loggers(run_dir),
        callbacks=callbacks,
        limit_train_batches=cfg.limit_train_batches, limit_val_batches=cfg.limit_val_batches,
        limit_test_batches=cfg.limit_test_batches, log_every_n_steps=50,
    )
    start = time.perf_counter()
    trainer.fit(model, datamodule=dm, ckpt_path=resume_from, weights_only=True)
    fit_s = time.perf_counter() - start
    tested = trainer.test(model, datamodule=dm, ckpt_path="best", verbose=False, weights_only=True)
    history = history_cb.history
    val = [(h["val_bpd"], h["epoch"]) for h in history if "val_bpd" in h]
    best_val, best_epoch = min(val) if val else (math.nan, None)
    results = {
        "run_dir": str(run_dir),
        "data": dm.source,
        "train_images": len(dm.x_train),
        "epochs_completed": trainer.current_epoch,
        "best_epoch": best_epoch,
        "best_val_bpd": best_val,
        "test_bpd": tested[0]["test_bpd"] if tested else None,
        "test_images": len(dm.x_test) if cfg.limit_test_batches is None else None,  # what test_bpd covers
        "best_checkpoint": checkpoint.best_model_path,
        "final_train_bpd": history[-1].get("train_bpd") if history else None,
        "wall_time_s": round(clock.seconds, 1),  # training, all sessions of the run
        "wall_time_s_this_session": round(fit_s, 1),
        "history": history,
    }
    results = run.write_results(results, write=trainer.is_global_zero)
    if trainer.is_global_zero:
        plot_bpd_curves(history, run_dir / "bpd_curves.png",
                        f"{cfg.dataset}, z={cfg.z_dim}, β={cfg.beta:g}, {cfg.lr_schedule} lr — test bpd "
                        f"{results['test_bpd']:.4f}")
    return results
