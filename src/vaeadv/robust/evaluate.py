"""Robust accuracy on whole batches with the template's accounting, and the experiments built on it.

Accounting (the template's ``test_attack``): an image the model already gets wrong is not attacked and
counts as a failure; otherwise it counts as correct if its prediction survives the attack. Accuracy is over
all images, so robust ≤ clean. Work is not done twice: one clean forward pass gives the clean predictions
*and* the input gradient that FGSM (and PGD's first step) need, and only correctly classified images are
attacked.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
import torch.nn as nn

from vaeadv.robust.attacks import Budget, check_inputs, eval_mode, loss_function
from vaeadv.robust.kinds import attack_kind
from vaeadv.stats import accuracy_with_ci


@dataclass(frozen=True)
class AttackSpec:
    """One attack configuration. ``kind`` is one of ``vaeadv.robust.kinds.KINDS`` (fgsm, pgd, noise, apgd-ce,
    apgd-dlr, apgd-t, strong); ``loss`` the loss FGSM and PGD climb (``kinds.ATTACK_LOSSES``). APGD kinds run
    ``steps`` iterations (the authors' 100 when ``steps`` is 0); apgd-t and strong target ``targets`` classes."""

    kind: str
    eps: Budget
    alpha: Budget = 0.0
    steps: int = 0
    loss: str = "ce"
    random_start: bool = False
    restarts: int = 1
    name: str = ""
    targets: int = 3  # APGD-T: target classes (AutoAttack's standard version uses 9)

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        eps = self.eps if isinstance(self.eps, float | int) else "per-channel"
        return f"{self.kind}(eps={eps})" if self.kind != "pgd" else f"pgd(eps={eps},steps={self.steps})"

    @property
    def uses_clean_gradient(self) -> bool:
        """FGSM, and PGD's first step without a random start, begin from the gradient of the clean pass."""
        return attack_kind(self.kind).gradient_steps and not (self.kind == "pgd" and (self.random_start or
                                                                                      self.steps == 0))

    def run(self, model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
            grad: torch.Tensor | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        """The adversarial images, by the function ``vaeadv.robust.kinds`` names for this kind (no input checks:
        ``robust_accuracy`` makes them once)."""
        return attack_kind(self.kind).run()(self, model, images, labels, grad, generator)


def template_attacks(fgsm_eps: Budget, pgd_eps: Budget, pgd_alpha: Budget, pgd_steps: int, *,
                     names: tuple[str, str] = ("fgsm", "pgd")) -> tuple[AttackSpec, AttackSpec]:
    """The template's two attacks: FGSM of size ``fgsm_eps``, and PGD of ``pgd_steps`` signed steps of ``pgd_alpha``
    from the clean image (no random start), both on the cross-entropy; named ``names`` in result tables."""
    return (AttackSpec("fgsm", fgsm_eps, name=names[0]),
            AttackSpec("pgd", pgd_eps, pgd_alpha, pgd_steps, name=names[1]))


@contextlib.contextmanager
def full_fp32() -> Iterator[None]:
    """TF32 off for the duration (cuDNN convolutions use it by default on recent GPUs). With TF32 a
    sign-gradient attack's outcome can depend on the batch size, so batched and one-at-a-time counts drift
    apart (measured on an H100: 1 PGD-10 success in 1000 images); in full fp32 they agree. No effect on a CPU."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def to_unit(images: torch.Tensor) -> torch.Tensor:
    """uint8 0..255 → float [0,1]; float input is taken as already in [0,1]."""
    return images.float().div_(255.0) if images.dtype == torch.uint8 else images.float()


def batches(images: torch.Tensor, labels: torch.Tensor | None, batch_size: int, device: torch.device, *,
            convert_on_device: bool = False) -> Iterator[tuple[int, torch.Tensor, torch.Tensor | None]]:
    """Consecutive batches as (start index, [0,1] floats on ``device``, labels on ``device`` or None). uint8 pixels
    become floats on the CPU, or on the device with ``convert_on_device`` (a GPU's division may differ from the
    CPU's in the last bit: each caller keeps the order its published numbers were measured with)."""
    for start in range(0, len(images), batch_size):
        chunk = images[start:start + batch_size]
        x = to_unit(chunk.to(device)) if convert_on_device else to_unit(chunk).to(device)
        yield start, x, None if labels is None else labels[start:start + batch_size].to(device)


@dataclass
class Example:
    index: int
    label: int
    clean_pred: int
    adv_pred: int
    original: torch.Tensor
    adversarial: torch.Tensor


def robust_accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, attacks: Sequence[AttackSpec],
                    *, batch_size: int = 256, keep_examples: int = 5, device: str | torch.device | None = None,
                    seed: int = 0) -> dict:
    """Clean accuracy and, per attack, robust accuracy (template accounting), the seconds each attack took, and
    up to ``keep_examples`` successful adversarial examples in dataset order."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    check_inputs(images, labels, allow_uint8=True, **{f"{a.label} eps": a.eps for a in attacks},
                 **{f"{a.label} alpha": a.alpha for a in attacks})
    for attack in attacks:
        attack_kind(attack.kind)  # an unknown kind is refused before any work
    device = torch.device(device) if device else next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    n = len(images)
    clean = 0
    correct = {a.label: 0 for a in attacks}
    seconds = {a.label: 0.0 for a in attacks}
    examples: dict[str, list[Example]] = {a.label: [] for a in attacks}
    losses = sorted({a.loss for a in attacks if a.uses_clean_gradient})
    with eval_mode(model), full_fp32():
        for start, x, y in batches(images, labels, batch_size, device):
            logits, grads = clean_pass(model, x, y, losses)
            pred = logits.argmax(1)
            ok = (pred == y).nonzero().flatten()
            clean += len(ok)
            if len(ok) == 0:
                continue
            x_ok, y_ok = x[ok], y[ok]
            for attack in attacks:
                grad = grads[attack.loss][ok] if attack.uses_clean_gradient else None
                start_attack = time.perf_counter()
                adv = attack.run(model, x_ok, y_ok, grad=grad, generator=generator)
                with torch.no_grad():
                    adv_pred = model(adv).argmax(1)
                seconds[attack.label] += time.perf_counter() - start_attack
                survived = adv_pred == y_ok
                correct[attack.label] += int(survived.sum())
                kept = examples[attack.label]
                for j in (~survived).nonzero().flatten().tolist():
                    if len(kept) >= keep_examples:
                        break
                    kept.append(Example(start + int(ok[j]), int(y_ok[j]), int(pred[ok[j]]), int(adv_pred[j]),
                                        x_ok[j].cpu(), adv[j].cpu()))
    return {
        "images": n,
        "clean_accuracy": clean / n,
        "robust_accuracy": {k: v / n for k, v in correct.items()},
        "attack_seconds": {k: round(v, 2) for k, v in seconds.items()},
        "intervals": {"clean": accuracy_with_ci(clean, n), **{k: accuracy_with_ci(v, n) for k, v in correct.items()}},
        "examples": examples,
    }


def clean_pass(model: nn.Module, x: torch.Tensor, y: torch.Tensor, losses: Sequence[str]
               ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """One forward pass: the clean logits and, for each named attack loss, its input gradient (what FGSM and
    PGD's first step need, so they cost no pass of their own)."""
    if not losses:
        with torch.no_grad():
            return model(x), {}
    x_req = x.detach().requires_grad_(True)
    logits = model(x_req)
    grads = {}
    for i, name in enumerate(losses):
        (grads[name],) = torch.autograd.grad(loss_function(name)(logits, y), x_req, retain_graph=i < len(losses) - 1)
    return logits.detach(), grads


def accuracy_vs_eps(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, kind: str,
                    eps_values: Sequence[float], *, steps: int = 10, alpha_ratio: float = 0.1,
                    batch_size: int = 256) -> list[dict]:
    """Robust accuracy over a range of ε, all sharing one clean pass (α = alpha_ratio·ε for PGD)."""
    attacks = [AttackSpec(kind, float(e), alpha=alpha_ratio * float(e), steps=steps, name=f"{kind}@{e:g}")
               for e in eps_values]
    r = robust_accuracy(model, images, labels, attacks, batch_size=batch_size, keep_examples=0)
    return [{"eps": float(e), "accuracy": r["robust_accuracy"][a.label]} for e, a in zip(eps_values, attacks,
                                                                                              strict=True)]


def transfer_accuracy(source: nn.Module, target: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                      attack: AttackSpec, *, batch_size: int = 256) -> dict:
    """Adversarial examples crafted on ``source`` (every image), classified by ``target``."""
    return transfer_accuracies(source, {"target": target}, images, labels, attack, batch_size=batch_size)["target"]


def transfer_accuracies(source: nn.Module, targets: dict[str, nn.Module], images: torch.Tensor,
                        labels: torch.Tensor, attack: AttackSpec, *, batch_size: int = 256) -> dict[str, dict]:
    """Each batch's adversarial examples are crafted on ``source`` once and shown to every target."""
    device = next(source.parameters()).device
    hits = dict.fromkeys(targets, 0)
    clean = dict.fromkeys(targets, 0)
    with contextlib.ExitStack() as stack:
        for target in targets.values():
            stack.enter_context(eval_mode(target))
        for _, x, y in batches(images, labels, batch_size, device):
            adv = attack.run(source, x, y)
            with torch.no_grad():
                for name, target in targets.items():
                    clean[name] += int((target(x).argmax(1) == y).sum())
                    hits[name] += int((target(adv).argmax(1) == y).sum())
    n = len(images)
    return {name: {"clean_accuracy": clean[name] / n, "adversarial_accuracy": hits[name] / n} for name in targets}


@torch.no_grad()
def clean_logits(model: nn.Module, images: torch.Tensor, batch_size: int = 500, flip_tta: bool = False
                 ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Logits in fp32 (no autocast, TF32 off), eval mode restored afterwards; with ``flip_tta`` also the logits
    averaged over each image and its mirror image (test-time augmentation; the attacks never use it), from the
    same pass."""
    device = next(model.parameters()).device
    plain, both = [], []
    with eval_mode(model), full_fp32(), torch.autocast(device.type, enabled=False):
        for _, x, _ in batches(images, None, batch_size, device, convert_on_device=True):
            logits = model(x)
            plain.append(logits.cpu())
            if flip_tta:
                both.append(((logits + model(x.flip(-1))) / 2).cpu())
    empty = torch.empty(0, 0)
    return (torch.cat(plain) if plain else empty), ((torch.cat(both) if both else empty) if flip_tta else None)


def clean_accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 500,
                   flip_tta: bool = False) -> dict[str, float | int]:
    """Accuracy with its Wilson 95% interval (``vaeadv.stats.accuracy_with_ci``)."""
    plain, tta = clean_logits(model, images, batch_size, flip_tta)
    logits = tta if flip_tta else plain
    return accuracy_with_ci(int((logits.argmax(1) == labels.cpu()).sum()), len(labels))


def clean_scores(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, subsets: dict[str, torch.Tensor],
                 batch_size: int = 500) -> dict[str, dict]:
    """Accuracy with Wilson intervals, plain and with flip TTA, on ``images`` and on each boolean-mask subset of
    it, from one fp32 pass (``NAME``, ``NAME_flip_tta``; the whole set is ``all``)."""
    plain, tta = clean_logits(model, images, batch_size, flip_tta=True)
    labels = labels.cpu()
    out = {}
    for name, mask in {"all": torch.ones(len(labels), dtype=torch.bool), **subsets}.items():
        if int(mask.sum()) == 0:
            continue
        for suffix, logits in (("", plain), ("_flip_tta", tta)):
            out[name + suffix] = accuracy_with_ci(int((logits[mask].argmax(1) == labels[mask]).sum()),
                                                  int(mask.sum()))
    return out
