"""Named training recipes for the CIFAR ResNet18: everything about *how* a model is optimised, in one place.

A recipe is data, not code: ``RobustClassifier.configure_optimizers`` and ``train_one`` read its fields, so a
new recipe is one entry here. ``template`` is the course's; ``fast`` a short CPU-sized one-cycle run;
``pretrain`` the recipe of vaeadv's own pretrained full-width ResNet18 (bf16 mixed precision, SGD Nesterov
with a linear warm-up/decay, plain cross-entropy as the course's model, no weight decay on BatchNorm and biases);
``finetune`` the template's optimiser for defenses started from those weights, under bf16 and with the pretrained
run's hold-out; ``fast-at`` Wong, Rice & Kolter's schedule for fast adversarial training from scratch
(``--defense fgsm-rs`` or ``n-fgsm``) at batch 256, and ``fast-at-128`` the same at their batch of 128 (twice the
optimizer steps per epoch at the same peak rate). Both stretch their triangle over ``--epochs`` (30 for N-FGSM's
longer schedule).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

from vaeadv.errors import VaeadvError

Schedule = Literal["step", "onecycle", "linear"]


@dataclass(frozen=True)
class Recipe:
    epochs: int
    batch_size: int
    val_from: Literal["test", "train"]
    lr: float
    schedule: Schedule
    val_size: int = 5000  # images held out of the training set when val_from == "train"
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 0.0
    decay_norm_and_bias: bool = True  # False: BatchNorm parameters and biases get no weight decay
    warmup: float = 0.25  # fraction of the steps spent warming up (onecycle, linear)
    label_smoothing: float = 0.0  # of the training loss; evaluation and attacks always use plain cross-entropy
    precision: str = "32-true"  # Lightning's precision of training; evaluation is always fp32


RECIPES: dict[str, Recipe] = {
    # SGD 5e-4, momentum 0.9, StepLR(7, 0.1) per epoch, 30 epochs, batch 64, validation from the test set
    "template": Recipe(epochs=30, batch_size=64, val_from="test", lr=5e-4, schedule="step"),
    "fast": Recipe(epochs=8, batch_size=128, val_from="train", lr=0.1, schedule="onecycle", nesterov=True,
                   weight_decay=5e-4),
    "pretrain": Recipe(epochs=20, batch_size=256, val_from="train", val_size=2000, lr=0.2, schedule="linear",
                       nesterov=True, weight_decay=5e-4, decay_norm_and_bias=False, warmup=0.15,
                       precision="bf16-mixed"),
    # the template's optimiser and batch for fine-tuning a defense from pretrained weights, under bf16; the
    # 2,000 held-out training images are the pretrain run's (same seed), which the pretrained model never saw
    "finetune": Recipe(epochs=5, batch_size=64, val_from="train", val_size=2000, lr=5e-4, schedule="step",
                       precision="bf16-mixed"),
    # "Fast is better than free" (Wong, Rice & Kolter 2020) for CIFAR-10: SGD 0.9 with weight decay 5e-4 on every
    # parameter, a triangular cyclic rate 0 → 0.2 → 0 peaking mid-run, 15 epochs, no label smoothing (smoothed
    # targets flatten the loss an attack climbs, a known source of gradient masking); under bf16 here, batch 256
    # (their 128 under apex amp), and the guard's held-out images come out of the training set
    "fast-at": Recipe(epochs=15, batch_size=256, val_from="train", val_size=2000, lr=0.2, schedule="linear",
                      weight_decay=5e-4, warmup=0.5, precision="bf16-mixed"),
}
# the same at Wong et al.'s batch of 128 (de Jorge et al.'s N-FGSM runs use it too, over 30 epochs); a recipe of its
# own so that the runs recorded under "fast-at" keep their meaning
RECIPES["fast-at-128"] = replace(RECIPES["fast-at"], batch_size=128)

DESCRIPTIONS: dict[str, str] = {
    "template": "SGD 5e-4/0.9, StepLR(7,0.1), 30 epochs, batch 64, val from the test set",
    "fast": "one-cycle SGD + weight decay, 8 epochs, batch 128, val held out of train",
    "pretrain": "vaeadv's full-width recipe (bf16 mixed precision, SGD Nesterov peak 0.2 with linear warm-up/decay, "
                "plain cross-entropy, no decay on BN/bias, 20 epochs, batch 256, 2,000 training images held out)",
    "finetune": "the template's optimiser (SGD 5e-4/0.9, StepLR(7,0.1), batch 64) under bf16, 5 epochs, for defenses "
                "started from --pretrained weights; val on the pretrain recipe's 2,000 held-out training images",
    "fast-at": "Wong et al.'s fast adversarial training schedule (SGD 0.9, weight decay 5e-4, triangular rate "
               "0 → 0.2 → 0, 15 epochs, no label smoothing) under bf16, batch 256, 2,000 training images held out; "
               "use with --defense fgsm-rs or n-fgsm",
    "fast-at-128": "the fast-at recipe at Wong et al.'s batch 128 (twice the optimizer steps per epoch); "
                   "--epochs 30 for N-FGSM's longer schedule",
}


def get_recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise VaeadvError(f"unknown recipe '{name}' (choose from {', '.join(RECIPES)})")
    return RECIPES[name]


def warmup_linear_decay(step: int, total: int, warmup_steps: int) -> float:
    """Learning-rate factor of a triangular one-cycle: 0 → 1 linearly over ``warmup_steps``, then 1 → 0
    linearly at ``total`` (the last step still trains, with a small positive rate)."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    return max(0.0, (total - step) / max(1, total - warmup_steps))


def warmup_steps(recipe: Recipe, total: int) -> int:
    return max(1, math.ceil(recipe.warmup * total))
