"""Training objectives of the defenses (the model stays in training mode, as in the template)."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from vaeadv.robust.attacks import Budget, as_budget, fgsm_step, project


def fgsm_objective(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, eps: Budget, alpha: float,
                   criterion=F.cross_entropy) -> tuple[torch.Tensor, torch.Tensor]:
    """(α·J(x,y) + (1−α)·J(x + ε·sign∇ₓJ(x,y), y), clean logits). The perturbation is built from a detached
    input gradient, so the adversarial pass does not backpropagate into how the perturbation was made."""
    x = images.detach().requires_grad_(True)
    logits = model(x)
    clean_loss = criterion(logits, labels)
    (grad,) = torch.autograd.grad(clean_loss, x, retain_graph=True)
    adv = fgsm_step(images.detach(), grad, eps)
    return alpha * clean_loss + (1 - alpha) * criterion(model(adv), labels), logits


def fgsm_objective_fused(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, eps: Budget, alpha: float,
                         params: list[nn.Parameter], criterion=F.cross_entropy
                         ) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor], torch.Tensor]:
    """The same objective with one backward pass fewer: the clean graph is traversed once, for the input
    gradient and α·∇θJ(x) together, instead of once for the attack and again inside the final backward.

    Returns (loss, clean logits, clean parameter gradients, adversarial term). ``loss`` has the objective's
    value but back-propagates only (1−α)·J(x_adv); the caller adds the returned α·∇θJ(x) to the parameters'
    gradients after that backward (see ``RobustClassifier.backward``)."""
    x = images.detach().requires_grad_(True)
    logits = model(x)
    clean_loss = alpha * criterion(logits, labels)
    grad_x, *grad_params = torch.autograd.grad(clean_loss, [x, *params], allow_unused=True)
    adv = fgsm_step(images.detach(), grad_x, eps)  # sign(α·∇ₓJ) = sign(∇ₓJ) for α > 0
    adv_term = (1 - alpha) * criterion(model(adv), labels)
    grads = [torch.zeros_like(p) if g is None else g for p, g in zip(params, grad_params, strict=True)]
    return adv_term + clean_loss.detach(), logits.detach(), grads, adv_term


FGSM_RS_STEP = 1.25  # Wong, Rice & Kolter's step, in units of ε


def fgsm_rs_examples(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, eps: Budget,
                     criterion=F.cross_entropy, step: float = FGSM_RS_STEP) -> torch.Tensor:
    """Fast adversarial training's examples (Wong, Rice & Kolter 2020, "Fast is better than free"): a uniform
    random start δ in the ε-ball, one signed-gradient step of ``step``·ε from there, projected back onto the ball
    and [0,1]. The gradient is taken in the model's current (training) mode, as theirs; parameters untouched."""
    e = as_budget(eps, images)
    x = images.detach()
    start = (x + (torch.rand_like(x) * 2 - 1) * e).clamp(0.0, 1.0).requires_grad_(True)
    (grad,) = torch.autograd.grad(criterion(model(start), labels), start)
    return project(start.detach() + step * e * grad.sign(), x, eps).detach()


N_FGSM_NOISE = 2.0  # de Jorge et al.'s noise radius, in units of ε


def n_fgsm_examples(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, eps: Budget,
                    criterion=F.cross_entropy, noise: float = N_FGSM_NOISE) -> torch.Tensor:
    """N-FGSM's examples (de Jorge et al. 2022, "Make some noise"): uniform noise of radius ``noise``·ε around the
    image, then one signed-gradient step of ε from there, and **no projection back to the ε-ball** (the paper's
    point: the larger, unclipped perturbation is what avoids catastrophic overfitting without a guard); only
    [0,1] is enforced. The gradient is taken in the model's current (training) mode; parameters untouched."""
    e = as_budget(eps, images)
    x = images.detach()
    start = (x + (torch.rand_like(x) * 2 - 1) * noise * e).clamp(0.0, 1.0).requires_grad_(True)
    (grad,) = torch.autograd.grad(criterion(model(start), labels), start)
    return (start.detach() + e * grad.sign()).clamp(0.0, 1.0).detach()
