"""Part 2 experiments: the template's run matrix (with and without augmentation, every model against every
attack, ε in normalised and pixel units), accuracy-vs-ε with the random-noise baseline, FGSM vs PGD cost,
adversarial-example pictures, and the transfer matrix between models trained on disjoint halves."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import torch

from vaeadv.io import pyplot, save_figure
from vaeadv.report.context import Context
from vaeadv.report.store import run_dir_name
from vaeadv.robust.datamodule import CifarDataModule
from vaeadv.robust.evaluate import AttackSpec, accuracy_vs_eps, robust_accuracy, transfer_accuracies
from vaeadv.robust.models import load_classifier
from vaeadv.robust.train import RobustTrainConfig, train_strategies
from vaeadv.robust.units import budget
from vaeadv.robust.viz import examples_to_json, save_overview

TEMPLATE_EPS = 0.1  # the template's ε (FGSM and PGD), in normalised units
PIXEL_EPS = 8 / 255  # the customary CIFAR-10 L∞ budget, in pixel units
STRATEGY_NAMES = {"standard": "standard", "fgsm": "FGSM-defended (adversarial loss)",
                  "pgd": "PGD-defended (adversarial batch)"}


def _config(ctx: Context, *, strategies, augment: bool, epochs: int, shard=None) -> RobustTrainConfig:
    s = ctx.scale
    key = {"strategies": list(strategies), "augment": augment, "epochs": epochs, "recipe": s.recipe,
           "width": s.width, "subset": s.cifar_train_subset, "shard": shard, "pgd_steps": s.pgd_steps,
           "test_subset": s.test_subset, "limit_val_batches": s.limit_val_batches,
           "eps": TEMPLATE_EPS, "pgd_alpha": template_alpha(s.pgd_steps)}
    name = run_dir_name(("aug" if augment else "plain") + (f"_part{shard[0]}" if shard else ""), key)
    return RobustTrainConfig(strategies=tuple(strategies), recipe=s.recipe, epochs=epochs, augment=augment,
                             data_dir=ctx.data_dir, download=ctx.download, train_subset=s.cifar_train_subset,
                             train_shard=shard, test_subset=s.test_subset, pgd_steps=s.pgd_steps, width=s.width,
                             fgsm_eps=TEMPLATE_EPS, pgd_eps=TEMPLATE_EPS, pgd_alpha=template_alpha(s.pgd_steps),
                             log_dir=str(ctx.runs / "robust"), run_name=name, resume=True, progress=ctx.progress,
                             limit_val_batches=s.limit_val_batches, attack=False)


def _train(ctx: Context, cfg: RobustTrainConfig) -> list[dict]:
    """Train (or resume, or reuse) every strategy of ``cfg``; a strategy whose results.json says it finished
    its epochs is not touched again."""
    results, todo = {}, []
    for strategy in cfg.strategies:
        done = ctx.runs / "robust" / cfg.run_name / strategy / "results.json"
        saved = json.loads(done.read_text()) if done.exists() else None
        if saved and saved.get("epochs") == cfg.epochs and saved.get("best_checkpoint"):
            results[strategy] = saved
        else:
            todo.append(strategy)
    if todo:
        ctx.log(f"training CIFAR-10 {', '.join(todo)} ({cfg.run_name})")
        for r in train_strategies(replace(cfg, strategies=tuple(todo))):
            results[r["strategy"]] = r
    return [results[s] for s in cfg.strategies]


def template_alpha(steps: int) -> float:
    """The template's PGD step (0.01 normalised for 10 steps: α·steps = ε), kept at α·steps = ε when a
    reduced scale takes fewer steps, so the attack can still reach the edge of the ε-ball."""
    return TEMPLATE_EPS / steps


def _attacks(steps: int) -> list[AttackSpec]:
    norm_eps, norm_alpha = budget(TEMPLATE_EPS, "normalized"), budget(template_alpha(steps), "normalized")
    return [AttackSpec("fgsm", norm_eps, name="FGSM ε=0.1 (norm.)"),
            AttackSpec("pgd", norm_eps, norm_alpha, steps, name="PGD ε=0.1 (norm.)"),
            AttackSpec("fgsm", PIXEL_EPS, name="FGSM ε=8/255"),
            AttackSpec("pgd", PIXEL_EPS, 2.5 * PIXEL_EPS / steps, steps, name="PGD ε=8/255"),
            AttackSpec("noise", PIXEL_EPS, name="noise ε=8/255")]


def _attack_images(ctx: Context) -> tuple[torch.Tensor, torch.Tensor, str, list[str]]:
    dm = CifarDataModule(ctx.data_dir, val_from="train", download=ctx.download)
    dm.setup()
    x, y, which = dm.exact_test()
    n = min(ctx.scale.attack_images, len(x))
    return x[:n], y[:n], f"first {n} {which}", dm.classes


def adversarial_matrix(ctx: Context) -> dict:
    s = ctx.scale
    trained = []
    for augment in (False, True):
        cfg = _config(ctx, strategies=("standard", "fgsm", "pgd"), augment=augment, epochs=s.cifar_epochs)
        trained += [(augment, r) for r in _train(ctx, cfg)]
    x, y, which, classes = _attack_images(ctx)
    attacks = _attacks(s.pgd_steps)
    rows = []
    for augment, r in trained:
        model = load_classifier(ctx.local(r["best_checkpoint"]))
        start = time.perf_counter()
        ev = robust_accuracy(model, x, y, attacks, keep_examples=2)
        name = STRATEGY_NAMES[r["strategy"]] + (" + augmentation" if augment else "")
        row = {"model": name, "strategy": r["strategy"], "augment": augment,
               "checkpoint": ctx.rel(ctx.local(r["best_checkpoint"])),
               "clean_test_accuracy": r["clean_test_accuracy"], "test_images": r["test_images"],
               "clean_accuracy": ev["clean_accuracy"], "robust_accuracy": ev["robust_accuracy"],
               "seconds_per_epoch": r["seconds_per_epoch"], "eval_seconds": round(time.perf_counter() - start, 1)}
        if r["strategy"] == "standard" and not augment:
            pictures = save_overview(ctx.figures / "adversarial_examples.png", ev["examples"], classes)
            row["examples"] = examples_to_json(ev["examples"], classes)
            row["pictures"] = ctx.rel(pictures) if pictures else None
        rows.append(row)
    standard = [r for r in rows if r["strategy"] == "standard"]
    best = max(standard, key=lambda r: r["clean_test_accuracy"] or 0.0)
    return {"evaluated_on": which, "data": trained[0][1].get("data"), "attacks": [a.label for a in attacks],
            "rows": rows,
            "best_standard": best["model"], "pgd_steps": s.pgd_steps,
            "eps_pixel_of_template": [round(e, 5) for e in budget(TEMPLATE_EPS, "normalized")]}


def robustness_curves(ctx: Context) -> dict:
    """Accuracy vs ε (pixel units) for FGSM, PGD and random-sign noise, on the plain standard and defended
    models, plus the cost of one FGSM and one PGD evaluation."""
    s = ctx.scale
    cfg = _config(ctx, strategies=("standard", "fgsm", "pgd"), augment=False, epochs=s.cifar_epochs)
    trained = _train(ctx, cfg)
    x, y, _, _ = _attack_images(ctx)
    x, y = x[: s.curve_images], y[: s.curve_images]
    which = f"first {len(x)} test images with exact pixels"
    eps = [e / 255 for e in s.eps_curve_255]
    models = {r["strategy"]: load_classifier(ctx.local(r["best_checkpoint"])) for r in trained}
    curves = {strategy: {kind: accuracy_vs_eps(model, x, y, kind, eps, steps=s.pgd_steps,
                                               alpha_ratio=2.5 / s.pgd_steps)
                         for kind in ("noise", "fgsm", "pgd")}
              for strategy, model in models.items()}
    standard = models["standard"]
    cost = {}
    for spec in (AttackSpec("fgsm", PIXEL_EPS, name="fgsm"),
                 AttackSpec("pgd", PIXEL_EPS, 2.5 * PIXEL_EPS / s.pgd_steps, s.pgd_steps, name="pgd")):
        start = time.perf_counter()
        acc = robust_accuracy(standard, x, y, [spec], keep_examples=0)["robust_accuracy"][spec.name]
        cost[spec.name] = {"accuracy": acc, "ms_per_image": 1000 * (time.perf_counter() - start) / len(x)}
    figure = _plot_curves(curves, ctx.figures / "accuracy_vs_eps.png")
    return {"evaluated_on": which, "eps_255": list(s.eps_curve_255), "curves": curves,
            "pgd_steps": s.pgd_steps, "cost": cost, "figure": ctx.rel(figure)}


def _plot_curves(curves: dict, path: Path) -> Path:
    plt = pyplot()
    fig, axes = plt.subplots(1, len(curves), figsize=(4 * len(curves), 3.2), squeeze=False)
    for ax, (strategy, by_kind) in zip(axes[0], curves.items(), strict=True):
        for kind, points in by_kind.items():
            ax.plot([p["eps"] * 255 for p in points], [p["accuracy"] for p in points], "o-", label=kind)
        ax.set_title(STRATEGY_NAMES[strategy], fontsize=9)
        ax.set_xlabel("ε (pixel units, ×1/255)")
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("accuracy")
    axes[0][0].legend()
    fig.tight_layout()
    return save_figure(fig, path, dpi=100)


def transfer(ctx: Context) -> dict:
    """Q2.1: models A and B, trained on disjoint halves; adversarial examples made on one, tried on both."""
    s = ctx.scale
    models = {}
    for part, name in ((0, "A"), (1, "B")):
        cfg = _config(ctx, strategies=("standard",), augment=False, epochs=s.transfer_epochs, shard=(part, 2))
        (r,) = _train(ctx, cfg)
        models[name] = (load_classifier(ctx.local(r["best_checkpoint"])), r)
    x, y, which, _ = _attack_images(ctx)
    attacks = {"FGSM ε=8/255": AttackSpec("fgsm", PIXEL_EPS),
               "PGD ε=8/255": AttackSpec("pgd", PIXEL_EPS, 2.5 * PIXEL_EPS / s.pgd_steps, s.pgd_steps),
               "noise ε=8/255": AttackSpec("noise", PIXEL_EPS)}
    targets = {name: model for name, (model, _) in models.items()}
    matrix: dict[str, dict[str, dict[str, float]]] = {}
    clean: dict[str, float] = {}
    for label, spec in attacks.items():
        matrix[label] = {}
        for src, source in targets.items():
            r = transfer_accuracies(source, targets, x, y, spec)
            matrix[label][src] = {dst: v["adversarial_accuracy"] for dst, v in r.items()}
            clean = {dst: v["clean_accuracy"] for dst, v in r.items()}
    return {"evaluated_on": which, "train_images_each": {n: r.get("train_images") for n, (_, r) in models.items()},
            "clean": clean, "matrix": matrix}
