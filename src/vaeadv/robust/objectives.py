"""Training objectives of the defenses (the model stays in training mode, as in the template)."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from vaeadv.robust.attacks import Budget, fgsm_step


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
