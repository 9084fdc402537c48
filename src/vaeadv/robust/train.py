"""`vaeadv robust train`: one Lightning run per defense, then the template's attack matrix on the best model."""

from __future__ import annotations

import time
from pathlib import Path

import lightning.pytorch as pl
import torch

from vaeadv.averaging import EMAWeights
from vaeadv.errors import VaeadvError
from vaeadv.loggers import run_loggers
from vaeadv.progress import EpochLine, FirstStepTimer
from vaeadv.robust.config import RobustTrainConfig, upgrade_hparams
from vaeadv.robust.datamodule import CifarDataModule
from vaeadv.robust.evaluate import AttackSpec, clean_accuracy, clean_scores, robust_accuracy, template_attacks
from vaeadv.robust.guard import OverfitGuard
from vaeadv.robust.models import load_weights, read_weights
from vaeadv.robust.module import SINGLE_STEP_EXAMPLES, RobustClassifier
from vaeadv.robust.recipes import get_recipe
from vaeadv.robust.units import budget
from vaeadv.robust.viz import save_guard_curve
from vaeadv.runs import RunCheckpoint, TrainingRun, make_trainer, timed_last_checkpoint

GUARD_IMAGES = 512
CHECKPOINT_MINUTES = 10.0  # last.ckpt is also rewritten this often mid-epoch (a PGD epoch takes > 1 h on a CPU)


def attacks_for(cfg: RobustTrainConfig, defense: str) -> list[AttackSpec]:
    """The template's matrix: a standard model meets FGSM and PGD, a defended one its own attack;
    with ``cross_over`` every model meets both."""
    fgsm, pgd = template_attacks(budget(cfg.fgsm_eps, cfg.units), budget(cfg.pgd_eps, cfg.units),
                                 budget(cfg.pgd_alpha, cfg.units), cfg.pgd_steps)
    if cfg.cross_over or defense == "standard" or defense in SINGLE_STEP_EXAMPLES:
        return [fgsm, pgd]
    return [fgsm] if defense == "fgsm" else [pgd]


def train_one(cfg: RobustTrainConfig, defense: str, dm: CifarDataModule) -> dict:
    """Train (or resume, or with ``--pretrained`` and the standard defense just load) one ResNet18 under
    ``log_dir/run/defense`` on ``dm``'s uint8 images; then score it in fp32 (clean accuracy with Wilson CIs, and
    the template's attacks with pixel-space budgets) and write ``results.json``. The run folder is locked."""
    run_dir = Path(cfg.log_dir) / (cfg.run_name or cfg.default_run_name()) / defense
    with TrainingRun(run_dir, cfg, shared=("defenses",), upgrade_hparams=upgrade_hparams) as run:
        return _train_one(cfg, defense, dm, run)


def _train_one(cfg: RobustTrainConfig, defense: str, dm: CifarDataModule, run: TrainingRun) -> dict:
    run_dir = run.run_dir
    pl.seed_everything(cfg.seed, verbose=False)
    epochs = cfg.resolved("epochs")
    eps = budget(cfg.pgd_eps if defense == "pgd" else cfg.fgsm_eps, cfg.units)
    model = _classifier(cfg, defense, epochs, eps)
    first_step = FirstStepTimer()
    resume_from = run.resume_from(dict(model.hparams))
    guard = overfit_guard(cfg, defense, dm, eps)
    checkpoint = RunCheckpoint(dirpath=run_dir / "checkpoints", filename="best-{epoch:03d}-{val_acc:.4f}",
                                 monitor="val_acc", mode="max", save_last=True, save_top_k=1)
    clock = run.clock
    callbacks = [*run.callbacks, first_step, checkpoint,
                 timed_last_checkpoint(run_dir / "checkpoints", CHECKPOINT_MINUTES), *([guard] if guard else []),
                 *([EMAWeights(cfg.ema_decay)] if cfg.ema_decay else []),
                 *([] if cfg.progress else [EpochLine(clock=clock)])]
    trainer = make_trainer(
        max_epochs=epochs, precision=cfg.resolved("precision"), accelerator=cfg.accelerator, devices=cfg.devices,
        strategy=cfg.pl_strategy,
        default_root_dir=run_dir, enable_progress_bar=cfg.progress, enable_model_summary=False,
        logger=run_loggers(run_dir),
        callbacks=callbacks,
        limit_train_batches=cfg.limit_train_batches, limit_val_batches=cfg.limit_val_batches, log_every_n_steps=20,
    )
    start = time.perf_counter()
    # the template does not retrain a pretrained standard model; --train-pretrained does (a fine-tuning control)
    trained = not (defense == "standard" and cfg.pretrained and not cfg.train_pretrained)
    if trained:
        trainer.fit(model, datamodule=dm, ckpt_path=resume_from, weights_only=True)
        _keep_best(trainer, model, checkpoint, guard, run_dir)
    fit_s = time.perf_counter() - start
    model.eval()
    result = {"defense": defense, "trained": trained, "run_dir": str(run_dir), "best_checkpoint":
              checkpoint.best_model_path if trained else cfg.pretrained,
              "epochs": epochs if trained else 0,
              "train_seconds": round(clock.seconds, 1),  # all sessions of the run (0 where nothing trained)
              "train_seconds_this_session": round(fit_s, 1),
              "seconds_per_epoch": round(clock.seconds / max(1, trainer.current_epoch), 1) if trained else None,
              # the first step's excess over a typical one: with --compile, the compile time inside train_seconds
              "first_step_excess_seconds": (None if first_step.excess_seconds is None
                                            else round(first_step.excess_seconds, 2)),
              "clean_test_accuracy": None, "test_images": 0 if cfg.holdout_only else len(dm.x_test),
              "train_images": len(dm.x_train), "data": dm.source}
    if guard:
        result["overfit_guard"] = guard.report()
        if trainer.is_global_zero:
            save_guard_curve(run_dir / "robustness_curve.png", result["overfit_guard"], f"{defense}, {cfg.recipe}")
    if trainer.is_global_zero:
        result.update(score(cfg, defense, dm, model.model, guard))
    run.write_results(result, write=trainer.is_global_zero)
    return result


def _classifier(cfg: RobustTrainConfig, defense: str, epochs: int, eps) -> RobustClassifier:
    """The run's Lightning module, started from ``--pretrained`` weights where given, compiled where asked."""
    model = RobustClassifier(defense, cfg.recipe, lr=cfg.lr, epochs=epochs, eps=eps,
                             alpha=budget(cfg.pgd_alpha, cfg.units), pgd_steps=cfg.pgd_steps,
                             fgsm_alpha=cfg.fgsm_alpha, width=cfg.width, pgd_random_start=cfg.pgd_random_start,
                             ema_decay=cfg.ema_decay, label_smoothing=cfg.resolved("label_smoothing"))
    if cfg.pretrained:
        load_weights(model.model, cfg.pretrained, cfg.pretrained_sha256)
    if cfg.compile:
        model.compile_network()
    return model


def _keep_best(trainer: pl.Trainer, model: RobustClassifier, checkpoint, guard, run_dir: Path) -> None:
    """After fitting, the weights the run reports: those the overfitting guard restored (saved, and made the best
    checkpoint), else the best validation checkpoint's."""
    if guard and guard.fired_at is not None:  # keep the restored weights, not the best clean checkpoint
        best = str(run_dir / "checkpoints" / "guard-restored.ckpt")
        trainer.save_checkpoint(best, weights_only=True)
        checkpoint.best_model_path = best
    elif checkpoint.best_model_path:
        state = torch.load(checkpoint.best_model_path, map_location="cpu", weights_only=True)["state_dict"]
        model.load_state_dict(state)


def score(cfg: RobustTrainConfig, defense: str, dm: CifarDataModule, network: torch.nn.Module,
          guard: OverfitGuard | None = None) -> dict:
    """A trained network scored once, in fp32 whatever the training precision: clean accuracy with Wilson
    intervals on the test images, the exact-pixel ones and the hold-out that chose the checkpoint (flip TTA
    beside), with a ``guard`` the guard's PGD on the whole hold-out (what runs are compared on before any test
    image is attacked), then the template's attacks on the exact test images (unless ``cfg.attack`` is off). A
    ``holdout_only`` run (a pilot) is scored on its hold-out alone."""
    scores = {} if cfg.holdout_only else clean_scores(network, dm.x_test, dm.y_test, {"exact": dm.test_exact})
    scores = {("test" + k[3:] if k.startswith("all") else k): v for k, v in scores.items()}
    if cfg.resolved("val_from") == "train":  # the held-out training images that chose the checkpoint
        scores["holdout"] = clean_accuracy(network, dm.x_val, dm.y_val)
    out = {"clean_eval": scores, "clean_test_accuracy": scores["test"]["accuracy"] if "test" in scores else None}
    if guard:
        attack = guard.attack(next(network.parameters()).device)
        attacked = robust_accuracy(network, dm.x_val, dm.y_val, [attack])["intervals"][attack.label]
        out["holdout_attack"] = {"attack": attack.label, **attacked}
    if cfg.attack and not cfg.holdout_only:
        x, y, what = dm.exact_test()
        x, y = x[: cfg.eval_limit], y[: cfg.eval_limit]
        r = robust_accuracy(network, x, y, attacks_for(cfg, defense), batch_size=256)
        out["attack_eval"] = {"images": len(x), "which": what, "clean_accuracy": r["clean_accuracy"],
                              "robust_accuracy": r["robust_accuracy"], "units": cfg.units}
    return out


def overfit_guard(cfg: RobustTrainConfig, defense: str, dm: CifarDataModule, eps) -> OverfitGuard | None:
    """The catastrophic-overfitting guard, on by default for fgsm-rs: PGD on the first 512 held-out training
    images (never test images, so the recipe must hold images out of the training set)."""
    wanted = cfg.overfit_guard if cfg.overfit_guard is not None else defense == "fgsm-rs"
    if not wanted or defense == "standard":
        return None
    if cfg.resolved("val_from") != "train":
        raise VaeadvError(f"the overfitting guard checks held-out training images, but the '{cfg.recipe}' recipe "
                          "validates on the test set: use --recipe fast, pretrain or finetune, or --no-overfit-guard.")
    return OverfitGuard(dm.x_val[:GUARD_IMAGES], dm.y_val[:GUARD_IMAGES], eps)


def train_defenses(cfg: RobustTrainConfig) -> list[dict]:
    """Every defense of ``cfg``, one run each, on one in-memory copy of the data; the runs record the SHA-256 of
    the weights they start from (``RobustTrainConfig.pinned``)."""
    if cfg.holdout_only and cfg.resolved("val_from") != "train":
        raise VaeadvError(f"--holdout-only scores a run on the training images it held out, but the '{cfg.recipe}' "
                          "recipe validates on the test set: use --val-from train or a recipe that holds images out.")
    if cfg.pretrained:  # a bad weights file is refused before the dataset is loaded
        path, _ = read_weights(cfg.pretrained, cfg.pretrained_sha256)
        cfg = cfg.pinned(downloaded=path)
    dm = CifarDataModule(cfg.data_dir, cfg.resolved("batch_size"), cfg.augment, cfg.resolved("val_from"),
                         cfg.valid_ratio, val_size=get_recipe(cfg.recipe).val_size, seed=cfg.seed,
                         train_subset=cfg.train_subset, test_subset=cfg.test_subset, download=cfg.download,
                         dataset=cfg.dataset, train_shard=cfg.train_shard, cutout=cfg.cutout)
    dm.setup()
    return [train_one(cfg, d, dm) for d in cfg.defenses]
