"""Every attack kind and attack loss, defined once: the name the command line and ``AttackSpec`` take, the label
tables show, its iterations, its help, and the function that runs it. ``AttackSpec.run``, ``robust attack``'s
choices and help, and the report's columns all read this table, so a new attack is one entry here plus its
function (and its tests).

Torch-free at import (the command line's ``--help`` must stay fast): each runner is named as
``"module:function"`` and imported on first use. A runner takes ``(spec, model, images, labels, grad, generator)``:
``grad`` is ∇ₓ loss at ``images`` when the caller's clean pass already has it (``AttackKind.uses_clean_gradient``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

APGD_STEPS = 100  # the authors' iterations for every APGD kind


@dataclass(frozen=True)
class AttackKind:
    name: str
    title: str  # how tables and report columns name it
    runner: str  # "module:function", imported on first use
    help: str
    steps: int = 0  # default iterations: 0 = none (single step or no gradient); APGD kinds: the authors' 100
    parameter_free: bool = False  # APGD: no step size, its own iteration count (robust attack --apgd-steps)
    gradient_steps: bool = False  # FGSM and PGD: can start from the gradient of the clean pass

    def run(self) -> Callable:
        """The runner (imported now; looked up at each call, so it can be replaced in its module)."""
        module, name = self.runner.split(":")
        return getattr(importlib.import_module(module), name)


_KINDS = (
    AttackKind("fgsm", "FGSM", "vaeadv.robust.attacks:run_fgsm",
               "Fast Gradient Sign Method: one signed-gradient step of size ε", gradient_steps=True),
    AttackKind("pgd", "PGD", "vaeadv.robust.attacks:run_pgd",
               "projected gradient descent: --steps signed steps of size α, projected onto the ε-ball", steps=10,
               gradient_steps=True),
    AttackKind("noise", "noise", "vaeadv.robust.attacks:run_noise",
               "random signs of size ε: FGSM's size without its gradient (a baseline)"),
    AttackKind("apgd-ce", "APGD-CE", "vaeadv.robust.autopgd:run_apgd_ce",
               "APGD (Croce & Hein 2020) with the cross-entropy loss", APGD_STEPS, parameter_free=True),
    AttackKind("apgd-dlr", "APGD-DLR", "vaeadv.robust.autopgd:run_apgd_dlr",
               "APGD with the scale-invariant DLR loss", APGD_STEPS, parameter_free=True),
    AttackKind("apgd-t", "APGD-T", "vaeadv.robust.autopgd:run_apgd_t",
               "targeted APGD with the DLR loss towards the --targets classes ranked highest", APGD_STEPS,
               parameter_free=True),
    AttackKind("strong", "APGD-CE+T", "vaeadv.robust.autopgd:run_strong",
               "AutoAttack-lite: APGD-CE, then APGD-T on the images it did not flip", APGD_STEPS,
               parameter_free=True),
)
ATTACKS: dict[str, AttackKind] = {kind.name: kind for kind in _KINDS}
KINDS: tuple[str, ...] = tuple(ATTACKS)

# The losses FGSM and PGD climb (APGD has its own: its kind names it).
ATTACK_LOSSES: dict[str, str] = {
    "ce": "cross-entropy (the standard attack loss)",
    "nll": "the template's nll_loss on raw logits, i.e. −(true-class logit)",
    "margin": "Carlini–Wagner margin: max other logit − true logit (blind to the logits' scale)",
}


def attack_kind(name: str) -> AttackKind:
    if name not in ATTACKS:
        raise ValueError(f"unknown attack kind '{name}' (use {', '.join(KINDS)})")
    return ATTACKS[name]


NORM = "0.1 (norm.)"  # the template's ε = 0.1 in normalised units, as tables label it
PIXEL = "8/255"  # the customary CIFAR-10 L∞ budget, as tables label it


def column(kind: str, eps_text: str) -> str:
    """A report column's name, e.g. ``column("pgd", "8/255")`` → ``"PGD ε=8/255"``."""
    return f"{attack_kind(kind).title} ε={eps_text}"


def choices_help() -> str:
    """One line per kind, for ``--attack``'s help."""
    return "; ".join(f"{kind.name}: {kind.help}" for kind in _KINDS)
