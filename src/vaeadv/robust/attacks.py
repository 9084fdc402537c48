"""FGSM and PGD for any classifier taking images in [0,1]: whole batches, gradients w.r.t. inputs only.

Contract (torchattacks-style): ``attack(model, images, labels, ...)`` returns detached adversarial images in
[0,1], within ε of ``images`` in L∞. ε and α are floats or per-channel tensors (the template's normalised
units become per-channel pixel sizes). The model is put in eval mode during the attack and restored after;
parameter gradients are never touched (``torch.autograd.grad`` on the inputs only).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
import torch.nn as nn
import torch.nn.functional as F

from vaeadv.robust.kinds import ATTACK_LOSSES

Budget = float | torch.Tensor
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
TOLERANCE = 1e-6


def margin_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Carlini–Wagner's margin per image: the largest other logit minus the true one (positive = misclassified).
    Unlike cross-entropy its gradient does not fade when the logits are squashed (e.g. by label smoothing)."""
    true = logits.gather(1, labels[:, None]).squeeze(1)
    others = logits.scatter(1, labels[:, None], float("-inf"))
    return others.amax(1) - true


def loss_function(loss: str | LossFn) -> LossFn:
    """The loss an attack climbs, summed over the batch (per-sample gradients, unscaled by the batch size):
    ``"ce"`` cross-entropy; ``"nll"`` the template's FGSM-evaluation quirk, ``nll_loss`` on raw logits, i.e.
    −(true-class logit); ``"margin"`` Carlini–Wagner's margin (``margin_loss``). The names are
    ``vaeadv.robust.kinds.ATTACK_LOSSES``."""
    if callable(loss):
        return loss
    if loss == "ce":
        return lambda logits, y: F.cross_entropy(logits, y, reduction="sum")
    if loss == "nll":
        return lambda logits, y: F.nll_loss(logits, y, reduction="sum")
    if loss == "margin":
        return lambda logits, y: margin_loss(logits, y).sum()
    raise ValueError(f"unknown attack loss '{loss}' (use {', '.join(ATTACK_LOSSES)} or a callable)")


def as_budget(value: Budget, like: torch.Tensor) -> torch.Tensor:
    """A float or per-channel tensor → something that broadcasts against ``[B,C,H,W]``."""
    t = torch.as_tensor(value, dtype=like.dtype, device=like.device)
    return t.view(1, -1, 1, 1) if t.dim() == 1 else t


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode (BatchNorm uses running statistics, nothing is updated) for the attack; afterwards every
    submodule gets back its own mode (a wrapper's mode may differ from the model it wraps)."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, training in modes:
            m.training = training


def check_inputs(images: torch.Tensor, labels: torch.Tensor, allow_uint8: bool = False, **budgets: Budget) -> None:
    """Validate an attack's inputs up front, so a bad input is named as such instead of failing deep in torch
    or being blamed on the attack: a non-empty ``[B,C,H,W]`` batch of finite pixels in [0,1], one integer label
    >= 0 per image, and finite budgets >= 0 (ε = 0 is valid: ε-curves start there)."""
    if images.ndim != 4 or len(images) == 0:
        raise ValueError(f"images must be a non-empty [B,C,H,W] batch, got shape {tuple(images.shape)}")
    if images.is_floating_point():
        if not torch.isfinite(images).all():
            raise ValueError("images contain NaN or infinite pixels")
        low, high = float(images.min()), float(images.max())
        if low < 0 or high > 1:
            raise ValueError(f"images must lie in [0,1], found values in [{low:.4g}, {high:.4g}]")
    elif not (allow_uint8 and images.dtype == torch.uint8):
        raise ValueError(f"images must be floats in [0,1], got {images.dtype} (divide uint8 images by 255)")
    if labels.ndim != 1 or len(labels) != len(images) or labels.is_floating_point():
        raise ValueError(f"labels must be one integer class per image: got {tuple(labels.shape)} {labels.dtype} "
                         f"for {len(images)} images")
    if int(labels.min()) < 0:
        raise ValueError(f"labels must be class indices >= 0, found {int(labels.min())}")
    for name, value in budgets.items():
        t = torch.as_tensor(value, dtype=torch.float64)
        if not torch.isfinite(t).all() or (t < 0).any():
            raise ValueError(f"{name} must be finite and >= 0, got {value}")


def check_label_range(labels: torch.Tensor, logits: torch.Tensor) -> None:
    """Labels must name one of the model's classes (known only once it has produced logits)."""
    if int(labels.max()) >= logits.shape[1]:
        raise ValueError(f"labels must be < the model's {logits.shape[1]} classes, found {int(labels.max())}")


def loss_and_gradient(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, loss: str | LossFn = "ce"
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(∇ₓ Σ loss, logits, loss) at ``images``, without touching parameter gradients. A callable ``loss`` may
    return one value per image (APGD's losses): the gradient is of their sum, and they come back as they are."""
    x = images.detach().requires_grad_(True)
    logits = model(x)
    check_label_range(labels, logits)
    value = loss_function(loss)(logits, labels)
    (grad,) = torch.autograd.grad(value.sum(), x)
    return grad, logits.detach(), value.detach()


def input_gradient(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, loss: str | LossFn = "ce"
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """(∇ₓ loss, logits) at ``images``, without touching parameter gradients."""
    grad, logits, _ = loss_and_gradient(model, images, labels, loss)
    return grad, logits


def fgsm_step(images: torch.Tensor, grad: torch.Tensor, eps: Budget) -> torch.Tensor:
    """x + ε·sign(g), clamped to [0,1]: the whole of FGSM once the gradient is known."""
    return (images + as_budget(eps, images) * grad.sign()).clamp_(0.0, 1.0).detach()


def project(adv: torch.Tensor, images: torch.Tensor, eps: Budget) -> torch.Tensor:
    """Onto the L∞ ball of radius ε around ``images``, then into [0,1]."""
    e = as_budget(eps, images)
    return torch.max(torch.min(adv, images + e), images - e).clamp_(0.0, 1.0)


def check_adversarial(adv: torch.Tensor, images: torch.Tensor, eps: Budget) -> torch.Tensor:
    """Raise if ``adv`` leaves [0,1] or the ε-ball: that would be a bug in an attack, never a user error."""
    e = as_budget(eps, images)
    if adv.shape != images.shape:
        raise RuntimeError(f"attack changed the shape {tuple(images.shape)} → {tuple(adv.shape)}")
    if bool((adv < -TOLERANCE).any() or (adv > 1 + TOLERANCE).any()):
        raise RuntimeError("attack produced pixels outside [0,1]")
    if bool(((adv - images).abs() > e + TOLERANCE).any()):
        raise RuntimeError("attack left the L∞ ε-ball")
    return adv


def fgsm(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, eps: Budget, *, loss: str | LossFn = "ce"
         ) -> torch.Tensor:
    """Fast Gradient Sign Method (Goodfellow et al., 2015): x + ε·sign(∇ₓ loss), in [0,1]."""
    check_inputs(images, labels, eps=eps)
    return fgsm_unchecked(model, images, labels, eps, loss=loss)


def fgsm_unchecked(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, eps: Budget, *,
                   loss: str | LossFn, grad: torch.Tensor | None = None) -> torch.Tensor:
    """FGSM without the input checks; ``grad`` is ∇ₓ loss at ``images`` when the caller (``robust_accuracy``'s
    clean forward pass) already has it. No defaults: each caller states its settings."""
    with eval_mode(model):
        if grad is None:
            grad, _ = input_gradient(model, images, labels, loss)
        return check_adversarial(fgsm_step(images, grad, eps), images, eps)


def pgd(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, eps: Budget, alpha: Budget, steps: int, *,
        random_start: bool = False, restarts: int = 1, loss: str | LossFn = "ce",
        generator: torch.Generator | None = None) -> torch.Tensor:
    """Projected Gradient Descent (Madry et al.): ``steps`` signed steps of size α, each projected onto the
    ε-ball and [0,1]. ``random_start`` begins at a uniform point of the ball; with ``restarts`` > 1 the worst
    case per sample (misclassified if any restart achieves it, else the highest loss) is kept."""
    check_inputs(images, labels, eps=eps, alpha=alpha)
    return pgd_unchecked(model, images, labels, eps, alpha, steps, random_start=random_start, restarts=restarts,
                         loss=loss, generator=generator)


def pgd_unchecked(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, eps: Budget, alpha: Budget,
                  steps: int, *, random_start: bool, restarts: int, loss: str | LossFn,
                  grad: torch.Tensor | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """PGD without the input checks; ``grad`` (∇ₓ loss at ``images``, when known) serves as the first step of the
    first restart without random start. No defaults for the settings: each caller states them.

    A restart after the first attacks only the images no restart has misclassified yet (AutoAttack's practice): a
    success is final, so the others' accuracy is the same and the cost falls with the survivors. The random starts
    are drawn for the whole batch either way, so a seed gives the same start to an image whatever survived."""
    if steps < 0 or restarts < 1:
        raise ValueError(f"steps must be >= 0 and restarts >= 1, got steps={steps}, restarts={restarts}")
    lossf = loss_function(loss)
    images = images.detach()
    best, best_score = images.clone(), None
    with eval_mode(model):
        for restart in range(restarts):
            if restart == 0:
                todo = torch.arange(len(images))
            else:
                todo = (best_score < _SUCCESS).nonzero().flatten()
            noise = torch.rand(images.shape, generator=generator, device="cpu") if random_start else None
            if len(todo) == 0:
                continue  # every image misclassified: nothing left to attack (the draws go on, as said above)
            x, y = images[todo], labels[todo]
            start = None if noise is None else noise[todo.cpu()].to(images) * 2 - 1
            adv = _pgd_run(model, x, y, eps, alpha, steps, start, lossf, grad if restart == 0 else None)
            if restarts == 1:
                return check_adversarial(adv, images, eps)
            with torch.no_grad():
                logits = model(adv)
                # a success beats any loss value; among failures, the highest cross-entropy is the worst case
                score = F.cross_entropy(logits, y, reduction="none") + (logits.argmax(1) != y).float() * _SUCCESS
            if best_score is None:
                best, best_score = adv, score
            else:
                better = score > best_score[todo]
                best[todo] = torch.where(better.view(-1, 1, 1, 1), adv, best[todo])
                best_score[todo] = torch.where(better, score, best_score[todo])
    return check_adversarial(best, images, eps)


_SUCCESS = 1e9  # added to a misclassified image's score: any success outranks any loss


def _pgd_run(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, eps: Budget, alpha: Budget, steps: int,
             start: torch.Tensor | None, lossf: LossFn, grad: torch.Tensor | None) -> torch.Tensor:
    """One PGD run: from ``images`` + ``start``·ε (``start`` uniform in [-1, 1], or None for no random start),
    ``steps`` signed steps of α, each projected; ``grad`` (at ``images``) replaces the first step's gradient."""
    adv = images.clone() if start is None else project(images + start * as_budget(eps, images), images, eps)
    for step in range(steps):
        if step == 0 and start is None and grad is not None:
            g = grad
        else:
            g, _ = input_gradient(model, adv, labels, lossf)
        adv = project(adv + as_budget(alpha, images) * g.sign(), images, eps).detach()
    return adv


def random_sign_noise(images: torch.Tensor, eps: Budget, generator: torch.Generator | None = None) -> torch.Tensor:
    """x + ε·s with random signs s: the same L∞ size as FGSM, no gradient information (assignment Q2.1)."""
    signs = torch.randint(0, 2, images.shape, generator=generator, device="cpu").to(images) * 2 - 1
    return fgsm_step(images, signs, eps)


# The runners of ``vaeadv.robust.kinds`` (one signature for every kind): an ``AttackSpec``'s settings, the clean
# pass's gradient where it has one, the generator for random draws.
def run_fgsm(spec, model: nn.Module, images: torch.Tensor, labels: torch.Tensor, grad: torch.Tensor | None = None,
             generator: torch.Generator | None = None) -> torch.Tensor:
    return fgsm_unchecked(model, images, labels, spec.eps, loss=spec.loss, grad=grad)


def run_pgd(spec, model: nn.Module, images: torch.Tensor, labels: torch.Tensor, grad: torch.Tensor | None = None,
            generator: torch.Generator | None = None) -> torch.Tensor:
    return pgd_unchecked(model, images, labels, spec.eps, spec.alpha, spec.steps, random_start=spec.random_start,
                         restarts=spec.restarts, loss=spec.loss, grad=grad, generator=generator)


def run_noise(spec, model: nn.Module, images: torch.Tensor, labels: torch.Tensor, grad: torch.Tensor | None = None,
              generator: torch.Generator | None = None) -> torch.Tensor:
    return random_sign_noise(images, spec.eps, generator)
