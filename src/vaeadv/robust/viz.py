"""Adversarial-example pictures (original | adversarial | amplified perturbation, with predicted classes), and the
robustness curve of a guarded run (clean and PGD accuracy on its held-out training images, per epoch)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from vaeadv.io import pyplot, save_figure
from vaeadv.robust.evaluate import Example
from vaeadv.robust.guard import GUARD_PGD_STEPS


def _figure(rows: Sequence[tuple[str, Example]], classes: Sequence[str]):
    plt = pyplot()

    fig, axes = plt.subplots(len(rows), 3, figsize=(6.6, 2.3 * len(rows)), squeeze=False)
    for (title, ex), ax in zip(rows, axes, strict=True):
        delta = ex.adversarial - ex.original
        scale = float(delta.abs().max()) or 1.0
        panels = [(ex.original, f"{title}\noriginal: {classes[ex.clean_pred]}"),
                  (ex.adversarial, f"adversarial: {classes[ex.adv_pred]}"),
                  (delta / (2 * scale) + 0.5, f"perturbation ×{0.5 / scale:.0f}\n(L∞ = {scale * 255:.1f}/255)")]
        for a, (img, label) in zip(ax, panels, strict=True):
            a.imshow(img.clamp(0, 1).permute(1, 2, 0).numpy(), interpolation="nearest")
            a.set_title(label, fontsize=8)
            a.axis("off")
    fig.tight_layout()
    return fig


def save_example(path: str | Path, example: Example, classes: Sequence[str], title: str = "") -> Path:
    fig = _figure([(title or f"test image {example.index}", example)], classes)
    return save_figure(fig, path, dpi=110)


def save_overview(path: str | Path, examples: dict[str, list[Example]], classes: Sequence[str]) -> Path | None:
    rows = [(f"{name} · image {ex.index}", ex) for name, exs in examples.items() for ex in exs]
    if not rows:
        return None
    fig = _figure(rows, classes)
    return save_figure(fig, path, dpi=90)


def guard_curve_figure(guard: dict, title: str = ""):
    """Clean and PGD accuracy (%) per epoch from an overfitting guard's report; the epoch it fired at, if any."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 3.2))
    pgd = f"PGD-{guard.get('pgd_steps', GUARD_PGD_STEPS)}"  # reports from before the steps were kept: the default
    for key, label in (("clean_accuracy_per_epoch", "clean"), ("pgd_accuracy_per_epoch", pgd)):
        values = guard.get(key) or []
        epochs = guard.get("epochs") or range(1, len(values) + 1)  # older reports: one value per epoch from 1
        ax.plot(list(epochs), [100 * v for v in values], marker="o", ms=3, label=label)
    if guard.get("fired"):
        ax.axvline(guard["fired_after_epoch"], color="grey", ls=":", label="guard fired")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"accuracy (%), {guard['images']} held-out training images")
    ax.set_title(title or "robustness on held-out training images", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def save_guard_curve(path: str | Path, guard: dict, title: str = "") -> Path:
    return save_figure(guard_curve_figure(guard, title), path, dpi=110)


def examples_to_json(examples: dict[str, list[Example]], classes: Sequence[str]) -> dict:
    return {name: [{"index": e.index, "label": classes[e.label], "clean_pred": classes[e.clean_pred],
                    "adv_pred": classes[e.adv_pred],
                    "linf_255": round(float((e.adversarial - e.original).abs().max()) * 255, 3)} for e in exs]
            for name, exs in examples.items()}


__all__ = ["examples_to_json", "guard_curve_figure", "save_example", "save_guard_curve", "save_overview"]
