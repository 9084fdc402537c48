"""APGD, L∞ (Croce & Hein 2020, "Reliable evaluation of adversarial robustness with an ensemble of diverse
parameter-free attacks"): the core of AutoAttack, with the cross-entropy (APGD-CE) and DLR losses, untargeted and
targeted over the top-k other classes (APGD-T).

Same contract as ``fgsm``/``pgd``: any classifier on [0,1] inputs, per-channel ε allowed, eval mode restored,
no parameter gradients, the result checked to lie in the ε-ball and in [0,1].

The step size needs no tuning: it starts at 2ε and is halved at checkpoints w_j (22% of the iterations, then
intervals shrinking by 3% down to 6%) for every image whose loss rose in at most ρ = 0.75 of the steps since the
last checkpoint, or whose step was not halved last time and whose best loss has not improved since; a halved
image restarts from its best point. Steps carry momentum 0.75. An image stops costing anything once it is
misclassified (per-sample early exit): images never interact (eval mode), so dropping it changes nothing for
the others. Where the paper and the authors' code (fra31/auto-attack, ``autopgd_base.py``) differ, the code is
followed for the halving test (≤ ρ·interval), and the paper for the first interval's count (rises relative to
the starting point, where the code compares against an unset zero entry).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from vaeadv.robust.attacks import (
    Budget,
    as_budget,
    check_adversarial,
    check_inputs,
    check_label_range,
    eval_mode,
    loss_and_gradient,
    project,
)
from vaeadv.robust.kinds import APGD_STEPS

RHO = 0.75  # the halving test's threshold on the fraction of steps that raised the loss
MOMENTUM = 0.75

PerSampleLoss = Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor]


def checkpoints(steps: int) -> list[int]:
    """The iterations after which the step size is checked: the first after ⌊0.22·N⌋ iterations, then
    intervals shrinking by ⌊0.03·N⌋ down to ⌊0.06·N⌋ (each at least 1), as in the authors' code; for N = 100
    they are the paper's w_j = ⌈p_j·N⌉ with p_0 = 0, p_1 = 0.22, p_(j+1) = p_j + max(p_j − p_(j−1) − 0.03, 0.06)."""
    first, shrink, least = max(int(0.22 * steps), 1), max(int(0.03 * steps), 1), max(int(0.06 * steps), 1)
    points, at, interval = [], 0, first
    while at + interval <= steps:
        at += interval
        points.append(at)
        interval = max(interval - shrink, least)
    return points


def dlr_loss(logits: torch.Tensor, labels: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
    """Difference of Logits Ratio, per image: untargeted −(z_y − max_{i≠y} z_i) / (z_π1 − z_π3); targeted
    −(z_y − z_t) / (z_π1 − (z_π3 + z_π4)/2), with z_π the logits sorted in decreasing order. Invariant to shifting
    and scaling the logits, so a model cannot hide behind their size."""
    need = 3 if target is None else 4
    if logits.shape[1] < need:
        raise ValueError(f"the DLR loss needs at least {need} classes, the model has {logits.shape[1]}")
    z = logits.float()
    top = z.sort(dim=1, descending=True).values
    z_y = z.gather(1, labels[:, None]).squeeze(1)
    if target is None:
        other = torch.where(z.argmax(1) == labels, top[:, 1], top[:, 0])
        return -(z_y - other) / (top[:, 0] - top[:, 2] + 1e-12)
    z_t = z.gather(1, target[:, None]).squeeze(1)
    return -(z_y - z_t) / (top[:, 0] - 0.5 * (top[:, 2] + top[:, 3]) + 1e-12)


def ce_loss(logits: torch.Tensor, labels: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy per image; targeted: minus the cross-entropy of the target class (maximised = move to it)."""
    if target is None:
        return F.cross_entropy(logits.float(), labels, reduction="none")
    return -F.cross_entropy(logits.float(), target, reduction="none")


LOSSES: dict[str, PerSampleLoss] = {"ce": ce_loss, "dlr": dlr_loss}


def apgd(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, eps: Budget, *, steps: int = 100,
         loss: str = "ce", restarts: int = 1, generator: torch.Generator | None = None) -> torch.Tensor:
    """Untargeted APGD (APGD-CE with ``loss="ce"``, APGD-DLR with ``"dlr"``): for each image, a misclassified
    point of the ε-ball if one was found (by any restart), else the point of highest loss."""
    check_inputs(images, labels, eps=eps)
    _check_settings(steps, restarts, loss)
    with eval_mode(model):
        adv, _ = _apgd_restarts(model, images.detach(), labels, eps, steps, LOSSES[loss], None, restarts,
                                generator)
    return check_adversarial(adv, images, eps)


def apgd_targeted(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, eps: Budget, *, steps: int = 100,
                  targets: int = 3, loss: str = "dlr", generator: torch.Generator | None = None) -> torch.Tensor:
    """APGD-T: one targeted run (targeted DLR loss by default) towards each of the ``targets`` classes the model
    ranks highest after the true one on the clean image, each on the images no earlier target has flipped.
    AutoAttack's standard version uses 9 targets; 3 is the usual cheaper setting."""
    check_inputs(images, labels, eps=eps)
    _check_settings(steps, 1, loss)
    with eval_mode(model):
        with torch.no_grad():
            logits = model(images)
        check_label_range(labels, logits)
        if not 1 <= targets < logits.shape[1]:
            raise ValueError(f"targets must be 1..{logits.shape[1] - 1} for a {logits.shape[1]}-class model, "
                             f"got {targets}")
        ranked = logits.sort(dim=1, descending=True).indices
        adv, fooled = images.detach().clone(), logits.argmax(1) != labels
        for rank in range(2, targets + 2):  # the true class is usually rank 1
            todo = (~fooled).nonzero().flatten()
            if len(todo) == 0:
                break
            target = ranked[todo, rank - 1]
            found, hit = _apgd_run(model, images[todo], labels[todo], eps, steps, LOSSES[loss], target, generator)
            adv[todo[hit]] = found[hit]
            fooled[todo[hit]] = True
    return check_adversarial(adv, images, eps)


def _check_settings(steps: int, restarts: int, loss: str) -> None:
    if steps < 1 or restarts < 1:
        raise ValueError(f"steps and restarts must be >= 1, got steps={steps}, restarts={restarts}")
    if loss not in LOSSES:
        raise ValueError(f"unknown APGD loss '{loss}' (use {', '.join(LOSSES)})")


def _apgd_restarts(model, images, labels, eps, steps, lossf, target, restarts, generator):
    """Restarts on the images no earlier restart has fooled; each image keeps its worst case."""
    adv = images.clone()
    fooled = torch.zeros(len(images), dtype=torch.bool, device=images.device)
    best_loss = torch.full((len(images),), -math.inf, device=images.device)
    for _ in range(restarts):
        todo = (~fooled).nonzero().flatten()
        if len(todo) == 0:
            break
        found, hit, loss = _apgd_run(model, images[todo], labels[todo], eps, steps, lossf, target, generator,
                                     with_loss=True)
        better = hit | (loss > best_loss[todo])
        adv[todo[better]] = found[better]
        best_loss[todo[better]] = loss[better]
        fooled[todo[hit]] = True
    return adv, fooled


def _random_start(images: torch.Tensor, e: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """The authors' start: a uniform direction scaled so its largest coordinate reaches the ball's edge."""
    t = torch.rand(images.shape, generator=generator, device="cpu").to(images) * 2 - 1
    t = t / t.flatten(1).abs().amax(1).clamp_min(1e-12).view(-1, 1, 1, 1)
    return project(images + e * t, images, e)


def _apgd_run(model, images, labels, eps, steps, lossf, target, generator, with_loss=False):
    """One APGD run from a random start. Returns (points, fooled[, loss at the points]): the misclassified point
    for each fooled image, else its highest-loss point. The images still being attacked are the ``live`` ones."""
    n = len(images)
    e = as_budget(eps, images)  # broadcasts against any number of images
    out = _random_start(images, e, generator)
    out_loss = torch.full((n,), -math.inf, device=images.device)
    fooled = torch.zeros(n, dtype=torch.bool, device=images.device)

    live = torch.arange(n, device=images.device)  # positions (in ``images``) still attacked
    x0, y, t = images, labels, target
    x = out.clone()
    grad, logits, loss = _loss_and_grad(model, x, y, t, lossf)
    x_prev = x.clone()
    best_x, best_grad, best_loss = x.clone(), grad.clone(), loss.clone()
    step = torch.full((n, 1, 1, 1), 2.0, device=images.device)  # in units of ε
    rises = torch.zeros(n, device=images.device)
    last_loss = loss.clone()
    halved_last = torch.zeros(n, dtype=torch.bool, device=images.device)
    best_at_last_check = best_loss.clone()
    checks, since = set(checkpoints(steps)), 0

    def drop(keep: torch.Tensor) -> None:
        nonlocal live, x0, y, t, x, x_prev, grad, best_x, best_grad, best_loss, step, rises, last_loss
        nonlocal halved_last, best_at_last_check
        live, x0, y, x, x_prev, grad = live[keep], x0[keep], y[keep], x[keep], x_prev[keep], grad[keep]
        best_x, best_grad, best_loss, step = best_x[keep], best_grad[keep], best_loss[keep], step[keep]
        rises, last_loss, halved_last = rises[keep], last_loss[keep], halved_last[keep]
        best_at_last_check = best_at_last_check[keep]
        t = None if t is None else t[keep]

    def record(hit: torch.Tensor) -> None:
        """Images misclassified at ``x``: their point is kept and they stop being attacked."""
        out[live[hit]] = x[hit]
        out_loss[live[hit]] = loss[hit]
        fooled[live[hit]] = True
        drop(~hit)

    record(logits.argmax(1) != y)
    for i in range(1, steps + 1):
        if len(live) == 0:
            break
        x_prev, x = x, _momentum_step(x, x_prev, grad, x0, step * e, e, first=i == 1)
        grad, logits, loss = _loss_and_grad(model, x, y, t, lossf)
        rises += (loss > last_loss).float()
        last_loss = loss.clone()
        improved = loss > best_loss
        best_x[improved], best_grad[improved], best_loss[improved] = x[improved], grad[improved], loss[improved]
        since += 1
        if i in checks:
            halve = (rises <= RHO * since) | (~halved_last & (best_at_last_check >= best_loss))
            step[halve] /= 2
            x[halve], grad[halve] = best_x[halve], best_grad[halve]
            halved_last, best_at_last_check = halve, best_loss.clone()
            rises.zero_()
            since = 0
        record(logits.argmax(1) != y)
    out[live] = best_x
    out_loss[live] = best_loss
    return (out, fooled, out_loss) if with_loss else (out, fooled)


@torch.no_grad()
def _momentum_step(x, x_prev, grad, x0, step, eps, *, first: bool):
    """APGD's update (Croce & Hein 2020, eq. 2): a signed-gradient step of ``step`` projected onto the ε-ball around
    ``x0``, then momentum towards it from the previous point (none on the first step), projected again."""
    z = project(x + step * grad.sign(), x0, eps)
    a = 1.0 if first else MOMENTUM
    return project(x + a * (z - x) + (1 - a) * (x - x_prev), x0, eps)


def _loss_and_grad(model, x, labels, target, lossf):
    """(∇ₓ Σ loss, logits, per-image loss) at ``x`` for a loss that may take a target class."""
    return loss_and_gradient(model, x, labels, lambda logits, y: lossf(logits, y, target))


def strong_attack(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, eps: Budget, *,
                  steps: int = APGD_STEPS, targets: int = 3, generator: torch.Generator | None = None
                  ) -> torch.Tensor:
    """AutoAttack-lite: APGD-CE, then APGD-T on the images it left correctly classified; the worst case per
    image. No PGD inside, as in AutoAttack."""
    adv = apgd(model, images, labels, eps, steps=steps, generator=generator)
    with eval_mode(model), torch.no_grad():
        alive = (model(adv).argmax(1) == labels).nonzero().flatten()
    if len(alive):
        adv[alive] = apgd_targeted(model, images[alive], labels[alive], eps, steps=steps, targets=targets,
                                   generator=generator)
    return adv


# The runners of ``vaeadv.robust.kinds``; a spec's 0 steps means the authors' 100.
def run_apgd_ce(spec, model, images, labels, grad=None, generator=None) -> torch.Tensor:
    return apgd(model, images, labels, spec.eps, steps=spec.steps or APGD_STEPS, loss="ce", restarts=spec.restarts,
                generator=generator)


def run_apgd_dlr(spec, model, images, labels, grad=None, generator=None) -> torch.Tensor:
    return apgd(model, images, labels, spec.eps, steps=spec.steps or APGD_STEPS, loss="dlr", restarts=spec.restarts,
                generator=generator)


def run_apgd_t(spec, model, images, labels, grad=None, generator=None) -> torch.Tensor:
    return apgd_targeted(model, images, labels, spec.eps, steps=spec.steps or APGD_STEPS, targets=spec.targets,
                         generator=generator)


def run_strong(spec, model, images, labels, grad=None, generator=None) -> torch.Tensor:
    return strong_attack(model, images, labels, spec.eps, steps=spec.steps or APGD_STEPS, targets=spec.targets,
                         generator=generator)
