"""The assignment template's functions, same names and signatures, working in *normalised* space.

A thin adapter: each converts the template's units (normalised tensors, ε and α in normalised units, i.e.
pixel size ε·σ per channel) and calls the generic pixel-space attacks. There is no second implementation.
The template's model takes normalised inputs, so it is wrapped as a pixel-space model here.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from vaeadv.robust.attacks import fgsm_step, pgd
from vaeadv.robust.evaluate import AttackSpec, robust_accuracy
from vaeadv.robust.models import CIFAR10_MEAN, CIFAR10_STD, ResNet18, load_classifier
from vaeadv.robust.units import budget

STANDARD, FGSM, PGD = "standard", "fgsm", "pgd"
ALPHA, EPSILON, NUM_ITER = "alpha", "epsilon", "num_iter"

_MEAN = torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1)
_STD = torch.tensor(CIFAR10_STD).view(1, 3, 1, 1)


def denormalize(x: torch.Tensor) -> torch.Tensor:
    return x * _STD.to(x) + _MEAN.to(x)


def normalize(x: torch.Tensor) -> torch.Tensor:
    return (x - _MEAN.to(x)) / _STD.to(x)


def pixel_budget(value: float) -> torch.Tensor:
    """A normalised-unit ε or α → its per-channel pixel size value·σ_c (``vaeadv.robust.units.budget``)."""
    return torch.tensor(budget(value, "normalized"))


def get_model(weights: str | None = "vaeadv-resnet18", num_classes: int = 10) -> nn.Module:
    """The template's model: ResNet18 on *normalised* inputs, eval mode. ``weights`` is a shipped name (default:
    vaeadv's own pretrained weights, no network), a state dict file, or None for a fresh model."""
    model = ResNet18(num_classes, normalize=False)
    if weights is not None:
        trained = load_classifier(weights)
        model = ResNet18(num_classes, width=trained.conv1.out_channels, normalize=False)
        model.load_state_dict(trained.state_dict())
    return model.eval()


class PixelSpace(nn.Module):
    """A model on normalised inputs, seen as a model on [0,1] pixels."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.training = model.training

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(normalize(x))


def fgsm_attack(image: torch.Tensor, data_grad: torch.Tensor, epsilon: float = 0.25) -> torch.Tensor:
    """x + ε·sign(∇), kept in the valid range — per channel [(0−μ)/σ, (1−μ)/σ] in normalised space."""
    return normalize(fgsm_step(denormalize(image.detach()), data_grad, pixel_budget(epsilon)))


def fgsm_loss(model: nn.Module, criterion, inputs: torch.Tensor, labels: torch.Tensor, defense_args: dict,
              return_preds: bool = True):
    """α·J(x) + (1−α)·J(x + ε·sign∇ₓJ(x)); the perturbation's gradient is detached, and the predictions
    come from the clean pass (the template's FGSM defense objective)."""
    from vaeadv.robust.objectives import fgsm_objective

    loss, logits = fgsm_objective(PixelSpace(model), denormalize(inputs), labels, pixel_budget(defense_args[EPSILON]),
                                  defense_args[ALPHA], criterion=criterion)
    return (loss, logits.argmax(1)) if return_preds else loss


def pgd_attack(model: nn.Module, data: torch.Tensor, target: torch.Tensor, criterion, args: dict) -> torch.Tensor:
    """PGD from x (no random start), ``num_iter`` steps of α·sign(∇ criterion), ε-ball and valid range."""
    loss = lambda logits, y: criterion(logits, y) * len(y)  # noqa: E731 - mean → sum: same signs, no 1/B
    adv = pgd(PixelSpace(model), denormalize(data.detach()), target, pixel_budget(args[EPSILON]),
              pixel_budget(args[ALPHA]), int(args[NUM_ITER]), loss=loss)
    return normalize(adv)


def test_attack(model: nn.Module, test_loader, attack_function: str, attack_args: dict, *,
                fgsm_loss_kind: str = "nll"):
    """(accuracy, examples) with the template's accounting, on whole batches. ``fgsm_loss_kind="nll"``
    reproduces the template's ``nll_loss``-on-logits gradient for FGSM; pass ``"ce"`` for cross-entropy.
    Examples are (clean prediction, adversarial prediction, original, adversarial), denormalised."""
    if attack_function == FGSM:
        spec = AttackSpec("fgsm", pixel_budget(attack_args[EPSILON]), loss=fgsm_loss_kind, name=FGSM)
    elif attack_function == PGD:
        spec = AttackSpec("pgd", pixel_budget(attack_args[EPSILON]), pixel_budget(attack_args[ALPHA]),
                          int(attack_args[NUM_ITER]), name=PGD)
    else:
        raise ValueError(f"unknown attack '{attack_function}' (use '{FGSM}' or '{PGD}')")
    pixel_model = PixelSpace(model)
    device = next(model.parameters()).device
    total, correct, examples = 0, 0, []
    for data, target in test_loader:
        r = robust_accuracy(pixel_model, denormalize(data.to(device)), target.to(device), [spec],
                            batch_size=len(data), keep_examples=5 - len(examples), device=device)
        total += r["images"]
        correct += round(r["robust_accuracy"][spec.label] * r["images"])
        examples += [(e.clean_pred, e.adv_pred, e.original.numpy(), e.adversarial.numpy())
                     for e in r["examples"][spec.label]]
    return correct / total, examples
