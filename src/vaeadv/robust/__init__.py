"""Adversarial attacks and defenses for image classifiers on [0,1] inputs — the public API::

    from vaeadv.robust import apgd, fgsm, pgd, robust_accuracy, AttackSpec, resnet18, load_weights

    model = load_weights(resnet18(10), "vaeadv-resnet18").eval()    # or any classifier of yours
    adv = pgd(model, images, labels, eps=8 / 255, alpha=2 / 255, steps=10)
    r = robust_accuracy(model, images, labels, [AttackSpec("strong", 8 / 255)])

Every attack takes images in [0,1], ε in pixel units (a float or one per channel), returns detached images in
the ε-ball and in [0,1], restores the model's mode and never touches parameter gradients. The course template's
names (``fgsm_attack``, ``pgd_attack``, ``fgsm_loss``, ``get_model`` ...) stay in ``vaeadv.robust.template``.

The names are loaded on first use, so that importing a light submodule (``vaeadv.robust.config`` for the
command line's ``--help``) does not import torch.
"""

from __future__ import annotations

from vaeadv.lazy import lazy_exports

_EXPORTS = {
    "fgsm": "attacks", "pgd": "attacks", "random_sign_noise": "attacks",
    "margin_loss": "attacks",
    "apgd": "autopgd", "apgd_targeted": "autopgd", "dlr_loss": "autopgd", "strong_attack": "autopgd",
    "AttackSpec": "evaluate", "robust_accuracy": "evaluate",
    "ATTACKS": "kinds", "ATTACK_LOSSES": "kinds",
    "clean_accuracy": "evaluate", "accuracy_vs_eps": "evaluate", "transfer_accuracy": "evaluate",
    "resnet18": "models", "load_weights": "models", "load_classifier": "models",
    "fgsm_objective": "objectives",
}
__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports("vaeadv.robust", _EXPORTS, globals())
