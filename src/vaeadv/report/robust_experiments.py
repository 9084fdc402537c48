"""Part 2 experiments: the template's run matrix (with and without augmentation, every model against every
attack, ε in normalised and pixel units), accuracy-vs-ε with the random-noise baseline, FGSM vs PGD cost,
adversarial-example pictures, and the transfer matrix between models trained on disjoint halves."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch

from vaeadv.io import pyplot, save_figure
from vaeadv.report.columns import (
    FGSM_KEY,
    FGSM_NLL_KEY,
    FGSM_PIXEL_KEY,
    NOISE_PIXEL_KEY,
    PGD_KEY,
    PGD_LARGE_KEY,
    PGD_PIXEL_KEY,
    PGD_RESTARTS_PIXEL_KEY,
    STRONG_KEY,
    STRONG_PIXEL_KEY,
    pgd_restarts_key,
)
from vaeadv.report.context import Context, NeedsTraining
from vaeadv.report.scales import CifarModel
from vaeadv.report.store import ResultStore, config_hash, find_run, located, reuse_or_train, run_dir_name, training_key
from vaeadv.robust.datamodule import CifarDataModule
from vaeadv.robust.diagnose import large_eps_attack, restarts_attack
from vaeadv.robust.evaluate import AttackSpec, accuracy_vs_eps, robust_accuracy, template_attacks, transfer_accuracies
from vaeadv.robust.masking import LARGEST_EPS_255
from vaeadv.robust.models import load_classifier
from vaeadv.robust.train import RobustTrainConfig, train_defenses
from vaeadv.robust.units import budget
from vaeadv.robust.viz import examples_to_json, save_overview

TEMPLATE_EPS = 0.1  # the template's ε (FGSM and PGD), in normalised units
PIXEL_EPS = 8 / 255  # the customary CIFAR-10 L∞ budget, in pixel units
DEFENSE_NAMES = {"standard": "standard", "fgsm": "FGSM-defended (adversarial loss)",
                 "pgd": "PGD-defended (adversarial batch)", "fgsm-rs": "fast AT (FGSM from a random start)",
                 "n-fgsm": "fast AT (N-FGSM)"}


def _config(ctx: Context, model: CifarModel, *, shard=None, recipe: str | None = None,
            epochs: int | None = None) -> RobustTrainConfig:
    """The training config of one model of this scale (report settings over the code defaults)."""
    s = ctx.scale
    # shipped weights evaluated as they are: the standard defense with --pretrained loads them and trains nothing
    defense = "standard" if model.load_only else model.defense
    return RobustTrainConfig(defenses=(defense,), recipe=recipe or model.recipe or s.recipe,
                             epochs=epochs or model.epochs or s.cifar_epochs, augment=model.augment,
                             pretrained=model.pretrained, train_pretrained=model.tuned, data_dir=ctx.data_dir,
                             download=ctx.download,
                             train_subset=s.cifar_train_subset, train_shard=shard, test_subset=s.test_subset,
                             pgd_steps=s.pgd_steps, width=s.width, fgsm_eps=TEMPLATE_EPS, pgd_eps=TEMPLATE_EPS,
                             pgd_alpha=template_alpha(s.pgd_steps), seed=s.cifar_seed, resume=True,
                             progress=ctx.progress, limit_val_batches=s.limit_val_batches, attack=False)


def _named(ctx: Context, cfg: RobustTrainConfig) -> RobustTrainConfig:
    """``cfg`` writing to its configuration-unique folder under the report's runs."""
    label = ("aug" if cfg.augment else "plain") + (f"_part{cfg.train_shard[0]}" if cfg.train_shard else "")
    return replace(cfg, log_dir=str(ctx.runs / "robust"), run_name=run_dir_name(label, cfg))


def _trained(ctx: Context, cfg: RobustTrainConfig, *, may_train: bool = True) -> dict | None:
    """The finished run of exactly ``cfg`` under the report's runs folder (one trained from the command line
    with the same settings and copied there counts), else train it (an interrupted run resumes). None where it
    would have to be trained and ``may_train`` or the context forbids it (shipped weights only load: allowed)."""
    cfg = _named(ctx, cfg)
    just_loads = _just_loads(cfg)

    def train() -> dict | None:
        if not (may_train and ctx.train) and not just_loads:
            return None
        ctx.log(f"{'loading' if just_loads else 'training'} CIFAR-10 {cfg.defenses[0]} ({cfg.run_name})")
        (result,) = train_defenses(cfg)
        return located({"config": asdict(cfg), **result}, Path(result["run_dir"]))

    return reuse_or_train(cfg, ctx.runs / "robust", train, _finished(cfg), elsewhere=ctx.reuse,
                          into=ctx.runs / "robust" / cfg.run_name / cfg.defenses[0])


def _just_loads(cfg: RobustTrainConfig) -> bool:
    """Shipped weights under the standard defense: train_one loads them and trains nothing."""
    return cfg.pretrained is not None and cfg.defenses == ("standard",) and not cfg.train_pretrained


def _finished(cfg: RobustTrainConfig):
    epochs = 0 if _just_loads(cfg) else cfg.epochs
    return lambda r: r.get("epochs") == epochs and bool(r.get("best_checkpoint"))


def model_name(model: CifarModel) -> str:
    tuned = "standard fine-tune" + (f", {model.epochs} epochs" if model.epochs else "")
    name = (tuned if model.tuned else DEFENSE_NAMES[model.defense]) + (" + augmentation" if model.augment else "")
    if model.pretrained:
        name += f" (from {model.pretrained})" if model.trains() else f" ({model.pretrained})"
    return name


def template_alpha(steps: int) -> float:
    """The template's PGD step (0.01 normalised for 10 steps: α·steps = ε), kept at α·steps = ε when a
    reduced scale takes fewer steps, so the attack can still reach the edge of the ε-ball."""
    return TEMPLATE_EPS / steps


def _attacks(steps: int, strong_steps: int = 0) -> list[AttackSpec]:
    """The matrix's columns; ``strong_steps`` > 0 adds AutoAttack-lite (APGD-CE, then APGD-T on the survivors) and
    the other attacks the masking checks read: PGD with a larger step from random starts (c), PGD at a large ε (b)."""
    norm_eps, norm_alpha = budget(TEMPLATE_EPS, "normalized"), budget(template_alpha(steps), "normalized")
    strong = [AttackSpec("strong", norm_eps, steps=strong_steps, name=STRONG_KEY),
              AttackSpec("strong", PIXEL_EPS, steps=strong_steps, name=STRONG_PIXEL_KEY),
              restarts_attack(norm_eps, steps, name=pgd_restarts_key(steps)),
              restarts_attack(PIXEL_EPS, steps, name=PGD_RESTARTS_PIXEL_KEY),
              large_eps_attack(LARGEST_EPS_255 / 255, steps, name=PGD_LARGE_KEY)] if strong_steps else []
    return [*template_attacks(norm_eps, norm_eps, norm_alpha, steps, names=(FGSM_KEY, PGD_KEY)),
            AttackSpec("fgsm", norm_eps, loss="nll", name=FGSM_NLL_KEY),
            *_pixel_attacks(steps, names=(FGSM_PIXEL_KEY, PGD_PIXEL_KEY)),
            AttackSpec("noise", PIXEL_EPS, name=NOISE_PIXEL_KEY), *strong]


def _pixel_attacks(steps: int, names: tuple[str, str] = ("fgsm", "pgd")) -> tuple[AttackSpec, AttackSpec]:
    """FGSM and PGD at 8/255 (α = 2.5ε/steps, Madry et al.'s ratio)."""
    return template_attacks(PIXEL_EPS, PIXEL_EPS, 2.5 * PIXEL_EPS / steps, steps, names=names)


def attack_images(ctx: Context) -> tuple[torch.Tensor, torch.Tensor, str, list[str]]:
    dm = CifarDataModule(ctx.data_dir, val_from="train", download=ctx.download)
    dm.setup()
    x, y, which = dm.exact_test()
    n = min(ctx.scale.attack_images, len(x))
    return x[:n], y[:n], f"first {n} {which}", dm.classes


def adversarial_matrix(ctx: Context) -> dict:
    """Every model of the scale against every attack. Each model's row is stored as soon as it is measured, and
    models whose weights are at hand go first, so an interruption during a long training keeps what was measured.
    Under ``ctx.train`` False the models that would need training are left out (listed in ``missing``), or shown
    with what their committed results measured when they were trained, where their weights were not kept."""
    s = ctx.scale
    x, y, which, classes = attack_images(ctx)
    attacks = _attacks(s.pgd_steps, s.strong_steps)
    store = ResultStore(ctx.out / "results" / "matrix_rows")
    models = s.matrix_models()
    cfgs = [_named(ctx, _config(ctx, m)) for m in models]
    keys = [{"training": training_key(cfg), "attacks": [asdict(a) for a in attacks], "images": which,
             "examples": m == s.curve_models()[0], "format": 1} for m, cfg in zip(models, cfgs, strict=True)]
    # a stored row is shown under today's name of its model (names are presentation, not part of the key)
    rows = {i: {**row, "model": model_name(models[i])} for i in range(len(models))
            if (row := store.get(cfgs[i].run_name, keys[i])) is not None}
    todo = [i for i in range(len(models)) if i not in rows]  # stored rows need no model loaded
    runs = {i: _trained(ctx, cfgs[i], may_train=False) for i in todo}
    for i in [i for i in todo if runs[i]] + [i for i in todo if not runs[i]]:
        m, cfg = models[i], cfgs[i]
        run = runs[i] or _trained(ctx, cfg)
        if run is None:
            row = _measured_when_trained(ctx, m, cfg, which, attacks)
        else:
            earlier = _earlier_row(store, cfg.run_name, keys[i])
            row = _evaluate_row(ctx, m, run, x, y, attacks, classes, earlier=earlier)
            store.put(cfg.run_name, keys[i], row)
        if row is not None:
            rows[i] = row
    done = [rows[i] for i in range(len(models)) if i in rows]
    if not any(r["defense"] == "standard" and r.get("clean_accuracy") is not None for r in done):
        raise NeedsTraining("no standard model has weights yet")
    return {"evaluated_on": which, "images": len(x), "data": done[0].get("data"),
            "attacks": [a.label for a in attacks], "rows": done,
            "missing": [model_name(m) for i, m in enumerate(models) if i not in rows or rows[i].get("partial")],
            "wall_seconds": round(sum(r.get("eval_seconds") or 0.0 for r in done), 1),  # its rows, when measured
            "pgd_steps": s.pgd_steps,
            "eps_pixel_of_template": [round(e, 5) for e in budget(TEMPLATE_EPS, "normalized")]}


def _earlier_row(store: ResultStore, name: str, key: dict) -> dict | None:
    """A row stored for the same model and images with fewer columns (a column added since): each of its columns
    was measured with the very settings of today's attack of that name. None where there is none."""
    entry = store.read(name) or {}
    stored, row = entry.get("config"), entry.get("result")
    if not isinstance(stored, dict) or not isinstance(row, dict) or row.get("partial"):
        return None
    wanted = [json.loads(json.dumps(a)) for a in key["attacks"]]
    same = {k: v for k, v in key.items() if k != "attacks"} | {"attacks": stored.get("attacks")}
    if config_hash(same) != config_hash(stored) or not all(a in wanted for a in stored["attacks"]):
        return None
    return row


def _evaluate_row(ctx: Context, m: CifarModel, r: dict, x, y, attacks: list[AttackSpec], classes, *,
                  earlier: dict | None = None) -> dict:
    """The row of model ``m`` under ``attacks``. Given the ``earlier`` row of the same model and images, only the
    columns it lacks are measured and added to it (all of them again if its clean accuracy is not reproduced,
    e.g. measured on another device)."""
    model = _classifier(ctx, r)
    start = time.perf_counter()
    if earlier is not None:
        missing = [a for a in attacks if a.label not in earlier["robust_accuracy"]]
        ev = robust_accuracy(model, x, y, missing, keep_examples=0)
        if ev["clean_accuracy"] == earlier["clean_accuracy"]:
            measured = earlier["robust_accuracy"] | ev["robust_accuracy"]
            return {**earlier, "model": model_name(m), "tuned": m.tuned,
                    "robust_accuracy": {a.label: measured[a.label] for a in attacks},
                    "eval_seconds": round(earlier.get("eval_seconds", 0.0) + time.perf_counter() - start, 1)}
        start = time.perf_counter()  # not reproduced (another device?): every column again, timed afresh
    examples = m == ctx.scale.curve_models()[0]  # the first standard model
    ev = robust_accuracy(model, x, y, attacks, keep_examples=2 if examples else 0)
    row = {"model": model_name(m), "defense": m.defense, "augment": m.augment, "tuned": m.tuned,
           "recipe": r["config"]["recipe"], "epochs": r["epochs"], "pretrained": m.pretrained,
           "checkpoint": _shown(ctx, r["best_checkpoint"]), "data": r.get("data"),
           "clean_test_accuracy": r["clean_test_accuracy"], "test_images": r["test_images"],
           "clean_accuracy": ev["clean_accuracy"], "robust_accuracy": ev["robust_accuracy"],
           "seconds_per_epoch": r["seconds_per_epoch"], "train_seconds": r.get("train_seconds"),
           "eval_seconds": round(time.perf_counter() - start, 1)}
    if examples:
        pictures = save_overview(ctx.figures / "adversarial_examples.png", ev["examples"], classes)
        row["examples"] = examples_to_json(ev["examples"], classes)
        row["pictures"] = ctx.rel(pictures) if pictures else None
    return row


def _measured_when_trained(ctx: Context, m: CifarModel, cfg: RobustTrainConfig, which: str,
                           attacks: list[AttackSpec]) -> dict | None:
    """A row from a finished run of exactly ``cfg`` whose weights were not kept (e.g. committed results): the
    template's FGSM and PGD, which its training measured on the same images with the same settings (``cfg``
    sets them), and its clean accuracies; the other columns stay empty. None where no such run exists."""
    found = next(filter(None, (find_run(d, cfg, _finished(cfg), need_weights=False) for d in ctx.reuse)), None)
    ev = (found or {}).get("attack_eval") or {}
    if not ev or f"first {ev.get('images')} {ev.get('which')}" != which or ev.get("units") != "normalized":
        return None
    template = {"fgsm": attacks[0].label, "pgd": attacks[1].label}
    return {"model": model_name(m), "defense": m.defense, "augment": m.augment, "tuned": m.tuned, "recipe": cfg.recipe,
            "epochs": found["epochs"], "pretrained": m.pretrained, "checkpoint": None, "data": found.get("data"),
            "clean_test_accuracy": found["clean_test_accuracy"], "test_images": found["test_images"],
            "clean_accuracy": ev["clean_accuracy"],
            "robust_accuracy": {template[k]: v for k, v in ev["robust_accuracy"].items() if k in template},
            "seconds_per_epoch": found["seconds_per_epoch"], "train_seconds": found.get("train_seconds"),
            "partial": "weights not kept: FGSM and PGD at the template's ε as measured when it was trained"}


def _classifier(ctx: Context, run: dict):
    """The run's best model in fp32: its checkpoint in this report folder, or the shipped weights it loaded."""
    best = run["best_checkpoint"]
    return load_classifier(ctx.local(best) if best.endswith(".ckpt") else best)


def _shown(ctx: Context, checkpoint: str) -> str:
    """A checkpoint as the report shows it: relative to the report folder, or a shipped weights name."""
    return checkpoint if not checkpoint.endswith(".ckpt") else ctx.rel(ctx.local(checkpoint))


def robustness_curves(ctx: Context) -> dict:
    """Accuracy vs ε (pixel units) for FGSM, PGD and random-sign noise, on the plain standard and defended
    models, plus the cost of one FGSM and one PGD evaluation. Each model's curves are stored as they are
    measured, like the run matrix's rows; a model without weights (under ``ctx.train`` False) is listed missing."""
    s = ctx.scale
    x, y, _, _ = attack_images(ctx)
    x, y = x[: s.curve_images], y[: s.curve_images]
    which = f"first {len(x)} test images with exact pixels"
    eps = [e / 255 for e in s.eps_curve_255]
    store = ResultStore(ctx.out / "results" / "curve_rows")
    measured, missing, names = {}, [], {}
    for m in s.curve_models():
        cfg = _named(ctx, _config(ctx, m))
        key = {"training": training_key(cfg), "eps": eps, "images": which, "steps": s.pgd_steps,
               "cost": m.defense == "standard", "format": 1}
        entry = store.get(cfg.run_name, key)
        if entry is None:
            run = _trained(ctx, cfg)
            if run is None:
                missing.append(DEFENSE_NAMES[m.defense])
                continue
            entry = _measure_curves(_classifier(ctx, run), x, y, eps, s.pgd_steps, with_cost=key["cost"])
            store.put(cfg.run_name, key, entry)
        measured[m.defense], names[m.defense] = entry, model_name(m)
    if "standard" not in measured:
        raise NeedsTraining("the standard model has no weights yet")
    curves = {defense: entry["curves"] for defense, entry in measured.items()}
    figure = _plot_curves(curves, ctx.figures / "accuracy_vs_eps.png")
    return {"evaluated_on": which, "images": len(x), "models": names, "eps_255": list(s.eps_curve_255),
            "curves": curves,
            "pgd_steps": s.pgd_steps, "cost": measured["standard"]["cost"], "figure": ctx.rel(figure),
            "missing": missing, "wall_seconds": round(sum(e["seconds"] for e in measured.values()), 1)}


def _measure_curves(model, x, y, eps: list[float], steps: int, *, with_cost: bool) -> dict:
    start = time.perf_counter()
    curves = {kind: accuracy_vs_eps(model, x, y, kind, eps, steps=steps, alpha_ratio=2.5 / steps)
              for kind in ("noise", "fgsm", "pgd")}
    cost = {}
    for spec in _pixel_attacks(steps) if with_cost else ():
        begun = time.perf_counter()
        acc = robust_accuracy(model, x, y, [spec], keep_examples=0)["robust_accuracy"][spec.name]
        cost[spec.name] = {"accuracy": acc, "ms_per_image": 1000 * (time.perf_counter() - begun) / len(x)}
    return {"curves": curves, "cost": cost, "seconds": round(time.perf_counter() - start, 1)}


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
        if r is None:
            raise NeedsTraining(f"transfer model {name} is not trained yet")
        models[name] = (_classifier(ctx, r), r)
    x, y, which, _ = attack_images(ctx)
    fgsm, pgd = _pixel_attacks(s.pgd_steps, names=("", ""))
    attacks = {FGSM_PIXEL_KEY: fgsm, PGD_PIXEL_KEY: pgd, NOISE_PIXEL_KEY: AttackSpec("noise", PIXEL_EPS)}
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
