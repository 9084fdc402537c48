"""Part 2 experiments: the template's run matrix (with and without augmentation, every model against every
attack, ε in normalised and pixel units), accuracy-vs-ε with the random-noise baseline, FGSM vs PGD cost,
adversarial-example pictures, and the transfer matrix between models trained on disjoint halves."""

from __future__ import annotations

import time
from dataclasses import asdict, replace
from pathlib import Path

import torch

from vaeadv.io import pyplot, save_figure
from vaeadv.report.context import Context
from vaeadv.report.scales import CifarModel
from vaeadv.report.store import located, reuse_or_train, run_dir_name
from vaeadv.robust.datamodule import CifarDataModule
from vaeadv.robust.evaluate import AttackSpec, accuracy_vs_eps, robust_accuracy, transfer_accuracies
from vaeadv.robust.models import load_classifier
from vaeadv.robust.train import RobustTrainConfig, train_defenses
from vaeadv.robust.units import budget
from vaeadv.robust.viz import examples_to_json, save_overview

TEMPLATE_EPS = 0.1  # the template's ε (FGSM and PGD), in normalised units
PIXEL_EPS = 8 / 255  # the customary CIFAR-10 L∞ budget, in pixel units
DEFENSE_NAMES = {"standard": "standard", "fgsm": "FGSM-defended (adversarial loss)",
                 "pgd": "PGD-defended (adversarial batch)", "fgsm-rs": "fast AT (FGSM from a random start)"}


def _config(ctx: Context, model: CifarModel, *, shard=None, recipe: str | None = None,
            epochs: int | None = None) -> RobustTrainConfig:
    """The training config of one model of this scale (report settings over the code defaults)."""
    s = ctx.scale
    # shipped weights evaluated as they are: the standard defense with --pretrained loads them and trains nothing
    defense = "standard" if model.load_only else model.defense
    return RobustTrainConfig(defenses=(defense,), recipe=recipe or model.recipe or s.recipe,
                             epochs=epochs or model.epochs or s.cifar_epochs, augment=model.augment,
                             pretrained=model.pretrained, data_dir=ctx.data_dir, download=ctx.download,
                             train_subset=s.cifar_train_subset, train_shard=shard, test_subset=s.test_subset,
                             pgd_steps=s.pgd_steps, width=s.width, fgsm_eps=TEMPLATE_EPS, pgd_eps=TEMPLATE_EPS,
                             pgd_alpha=template_alpha(s.pgd_steps), seed=s.cifar_seed, resume=True,
                             progress=ctx.progress, limit_val_batches=s.limit_val_batches, attack=False)


def _trained(ctx: Context, cfg: RobustTrainConfig) -> dict:
    """The finished run of exactly ``cfg`` under the report's runs folder (one trained from the command line
    with the same settings and copied there counts), else train it (an interrupted run resumes)."""
    label = ("aug" if cfg.augment else "plain") + (f"_part{cfg.train_shard[0]}" if cfg.train_shard else "")
    cfg = replace(cfg, log_dir=str(ctx.runs / "robust"), run_name=run_dir_name(label, cfg))

    def train() -> dict:
        ctx.log(f"training CIFAR-10 {cfg.defenses[0]} ({cfg.run_name})")
        (result,) = train_defenses(cfg)
        return located({"config": asdict(cfg), **result}, Path(result["run_dir"]))

    just_loads = cfg.pretrained is not None and cfg.defenses == ("standard",)  # train_one trains nothing
    epochs = 0 if just_loads else cfg.epochs
    return reuse_or_train(cfg, ctx.runs / "robust", train,
                          lambda r: r.get("epochs") == epochs and bool(r.get("best_checkpoint")),
                          elsewhere=ctx.reuse, into=ctx.runs / "robust" / cfg.run_name / cfg.defenses[0])


def model_name(model: CifarModel) -> str:
    name = DEFENSE_NAMES[model.defense] + (" + augmentation" if model.augment else "")
    if model.pretrained:
        shipped = model.defense == "standard" or model.load_only
        name += f" ({model.pretrained})" if shipped else f" (from {model.pretrained})"
    return name


def template_alpha(steps: int) -> float:
    """The template's PGD step (0.01 normalised for 10 steps: α·steps = ε), kept at α·steps = ε when a
    reduced scale takes fewer steps, so the attack can still reach the edge of the ε-ball."""
    return TEMPLATE_EPS / steps


def _attacks(steps: int, strong_steps: int = 0) -> list[AttackSpec]:
    """The matrix's columns; ``strong_steps`` > 0 adds AutoAttack-lite (APGD-CE, then APGD-T on the survivors)."""
    norm_eps, norm_alpha = budget(TEMPLATE_EPS, "normalized"), budget(template_alpha(steps), "normalized")
    strong = [AttackSpec("strong", norm_eps, steps=strong_steps, name="APGD-CE+T ε=0.1 (norm.)"),
              AttackSpec("strong", PIXEL_EPS, steps=strong_steps, name="APGD-CE+T ε=8/255")] if strong_steps else []
    return [AttackSpec("fgsm", norm_eps, name="FGSM ε=0.1 (norm.)"),
            AttackSpec("pgd", norm_eps, norm_alpha, steps, name="PGD ε=0.1 (norm.)"),
            AttackSpec("fgsm", PIXEL_EPS, name="FGSM ε=8/255"),
            AttackSpec("pgd", PIXEL_EPS, 2.5 * PIXEL_EPS / steps, steps, name="PGD ε=8/255"),
            AttackSpec("noise", PIXEL_EPS, name="noise ε=8/255"), *strong]


def _attack_images(ctx: Context) -> tuple[torch.Tensor, torch.Tensor, str, list[str]]:
    dm = CifarDataModule(ctx.data_dir, val_from="train", download=ctx.download)
    dm.setup()
    x, y, which = dm.exact_test()
    n = min(ctx.scale.attack_images, len(x))
    return x[:n], y[:n], f"first {n} {which}", dm.classes


def adversarial_matrix(ctx: Context) -> dict:
    s = ctx.scale
    trained = [(m, _trained(ctx, _config(ctx, m))) for m in s.matrix_models()]
    x, y, which, classes = _attack_images(ctx)
    attacks = _attacks(s.pgd_steps, s.strong_steps)
    rows = []
    for m, r in trained:
        model = _classifier(ctx, r)
        start = time.perf_counter()
        ev = robust_accuracy(model, x, y, attacks, keep_examples=2)
        row = {"model": model_name(m), "defense": m.defense, "augment": m.augment,
               "recipe": r["config"]["recipe"], "epochs": r["epochs"], "pretrained": m.pretrained,
               "checkpoint": _shown(ctx, r["best_checkpoint"]),
               "clean_test_accuracy": r["clean_test_accuracy"], "test_images": r["test_images"],
               "clean_accuracy": ev["clean_accuracy"], "robust_accuracy": ev["robust_accuracy"],
               "seconds_per_epoch": r["seconds_per_epoch"], "train_seconds": r.get("train_seconds"),
               "eval_seconds": round(time.perf_counter() - start, 1)}
        if m == s.curve_models()[0]:  # the first standard model
            pictures = save_overview(ctx.figures / "adversarial_examples.png", ev["examples"], classes)
            row["examples"] = examples_to_json(ev["examples"], classes)
            row["pictures"] = ctx.rel(pictures) if pictures else None
        rows.append(row)
    standard = [r for r in rows if r["defense"] == "standard"]
    best = max(standard, key=lambda r: r["clean_test_accuracy"] or 0.0)
    return {"evaluated_on": which, "images": len(x), "data": trained[0][1].get("data"),
            "attacks": [a.label for a in attacks], "rows": rows, "best_standard": best["model"],
            "pgd_steps": s.pgd_steps,
            "eps_pixel_of_template": [round(e, 5) for e in budget(TEMPLATE_EPS, "normalized")]}


def _classifier(ctx: Context, run: dict):
    """The run's best model in fp32: its checkpoint in this report folder, or the shipped weights it loaded."""
    best = run["best_checkpoint"]
    return load_classifier(ctx.local(best) if best.endswith(".ckpt") else best)


def _shown(ctx: Context, checkpoint: str) -> str:
    """A checkpoint as the report shows it: relative to the report folder, or a shipped weights name."""
    return checkpoint if not checkpoint.endswith(".ckpt") else ctx.rel(ctx.local(checkpoint))


def robustness_curves(ctx: Context) -> dict:
    """Accuracy vs ε (pixel units) for FGSM, PGD and random-sign noise, on the plain standard and defended
    models, plus the cost of one FGSM and one PGD evaluation."""
    s = ctx.scale
    trained = [_trained(ctx, _config(ctx, m)) for m in s.curve_models()]
    x, y, _, _ = _attack_images(ctx)
    x, y = x[: s.curve_images], y[: s.curve_images]
    which = f"first {len(x)} test images with exact pixels"
    eps = [e / 255 for e in s.eps_curve_255]
    models = {m.defense: _classifier(ctx, r) for m, r in zip(s.curve_models(), trained, strict=True)}
    curves = {defense: {kind: accuracy_vs_eps(model, x, y, kind, eps, steps=s.pgd_steps,
                                               alpha_ratio=2.5 / s.pgd_steps)
                         for kind in ("noise", "fgsm", "pgd")}
              for defense, model in models.items()}
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
    for ax, (defense, by_kind) in zip(axes[0], curves.items(), strict=True):
        for kind, points in by_kind.items():
            ax.plot([p["eps"] * 255 for p in points], [p["accuracy"] for p in points], "o-", label=kind)
        ax.set_title(DEFENSE_NAMES[defense], fontsize=9)
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
        cfg = _config(ctx, CifarModel("standard", s.transfer_augment), shard=(part, 2),
                      recipe=s.transfer_recipe, epochs=s.transfer_epochs)
        r = _trained(ctx, cfg)
        models[name] = (_classifier(ctx, r), r)
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
    return {"evaluated_on": which, "images": len(x),
            "train_images_each": {n: r.get("train_images") for n, (_, r) in models.items()},
            "clean": clean, "matrix": matrix}
