"""Is a model's robustness number real? One model, measured the standard way (Carlini et al. 2019): FGSM and the
template's PGD-10 with each attack loss (cross-entropy, the template's nll on raw logits, the margin), PGD with a
larger step from random starts, APGD-CE then APGD-T, and PGD at ε far beyond the budget; then the masking checks'
verdict (``vaeadv.robust.masking``) per ε. All attacks share one clean pass per batch (``robust_accuracy``).

The attack-loss columns are also the controlled comparison of two models that differ in one training setting
(e.g. label smoothing): the same attacks on the same images.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn

from vaeadv.robust.evaluate import AttackSpec, robust_accuracy
from vaeadv.robust.kinds import ATTACK_LOSSES, NORM, PIXEL
from vaeadv.robust.masking import LARGEST_EPS_255, RESTARTS, AttackAccuracies, checks, verdict_of
from vaeadv.robust.units import budget

LARGE_EPS = (16 / 255, 32 / 255, LARGEST_EPS_255 / 255)  # check (b): accuracy must fall to about 0 as ε grows


@dataclass(frozen=True)
class Budget:
    """One ε of the diagnosis: its label in tables, the pixel-space size (a float or one per channel), and the
    template's PGD step α for it."""

    label: str
    eps: float | list[float]
    alpha: float | list[float]


def standard_budgets(steps: int = 10) -> list[Budget]:
    """The two budgets a diagnosis measures: the template's ε = 0.1 in normalised units (its PGD step 0.01), and
    the customary 8/255 in pixels (step 2.5ε/steps, Madry et al.'s ratio)."""
    return [Budget(NORM, budget(0.1, "normalized"), budget(0.01, "normalized")),
            Budget(PIXEL, 8 / 255, 2.5 * (8 / 255) / steps)]


def diagnosis_attacks(budgets: Sequence[Budget], steps: int = 10, restarts: int = RESTARTS,
                      large_eps: Sequence[float] = LARGE_EPS) -> list[AttackSpec]:
    """Every attack of the diagnosis, named ``"<ε label> <attack>"`` (and ``"pgd@<k>/255"`` for the large ε)."""
    specs = []
    for b in budgets:
        for loss in ATTACK_LOSSES:
            specs.append(AttackSpec("fgsm", b.eps, loss=loss, name=f"{b.label} fgsm-{loss}"))
            specs.append(AttackSpec("pgd", b.eps, b.alpha, steps, loss=loss, name=f"{b.label} pgd-{loss}"))
        specs.append(restarts_attack(b.eps, steps, restarts, name=f"{b.label} pgd-restarts"))
        specs.append(AttackSpec("strong", b.eps, name=f"{b.label} apgd-ce+t"))
    specs.extend(large_eps_attack(e, steps, name=f"pgd@{round(255 * e)}/255") for e in large_eps)
    return specs


def restarts_attack(eps: float | list[float], steps: int = 10, restarts: int = RESTARTS, *, name: str
                    ) -> AttackSpec:
    """Check (c)'s attack: PGD with Madry et al.'s step (α = 2.5ε/steps, which reaches the ball's edge in 40% of
    the steps, where the template's α = ε/steps needs all of them) from ``restarts`` random starts."""
    big_step = [2.5 * e / steps for e in eps] if isinstance(eps, list) else 2.5 * eps / steps
    return AttackSpec("pgd", eps, big_step, steps, random_start=True, restarts=restarts, name=name)


def large_eps_attack(eps: float, steps: int = 10, *, name: str) -> AttackSpec:
    """Check (b)'s attack: PGD (α = 2.5ε/steps) at an ε far beyond the budget, where almost nothing may survive."""
    return AttackSpec("pgd", eps, 2.5 * eps / steps, steps, name=name)


def read_checks(accuracy: dict[str, float], budget_label: str, large_eps: Sequence[float] = LARGE_EPS
                ) -> AttackAccuracies:
    """The accuracies the masking checks read, for one ε, out of a diagnosis's robust accuracies."""
    def get(name: str) -> float | None:
        return accuracy.get(f"{budget_label} {name}")

    margin_pgd = get("pgd-margin")
    largest = accuracy.get(f"pgd@{round(255 * max(large_eps))}/255") if large_eps else None
    return AttackAccuracies(fgsm=get("fgsm-ce"), pgd=get("pgd-ce"), pgd_restarts=get("pgd-restarts"),
                            pgd_margin=margin_pgd, apgd=get("apgd-ce+t"), largest_eps=largest)


def diagnose(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, budgets: Sequence[Budget], *,
             steps: int = 10, restarts: int = RESTARTS, large_eps: Sequence[float] = LARGE_EPS,
             batch_size: int = 256, seed: int = 0) -> dict:
    """The diagnosis of one model on ``images``: every attack's accuracy with its Wilson interval, and per ε the
    masking checks and their verdict. Evaluation in fp32 (``robust_accuracy``)."""
    specs = diagnosis_attacks(budgets, steps, restarts, large_eps)
    r = robust_accuracy(model, images, labels, specs, batch_size=batch_size, keep_examples=0, seed=seed)
    per_eps = {}
    for b in budgets:
        acc = read_checks(r["robust_accuracy"], b.label, large_eps)
        per_eps[b.label] = {"accuracies": asdict(acc), "checks": checks(acc),
                            "verdict": verdict_of(asdict(acc), b.label, len(images))}
    return {"images": len(images), "clean_accuracy": r["clean_accuracy"], "intervals": r["intervals"],
            "attack_seconds": r["attack_seconds"], "steps": steps, "restarts": restarts,
            "large_eps_255": [round(255 * e) for e in large_eps], "per_eps": per_eps}
