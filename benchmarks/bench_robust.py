"""Robust-accuracy evaluation and attack/training costs on a CIFAR-10 ResNet18, measured in one run.

1. Batched ``robust_accuracy`` (FGSM + PGD-10) vs one image at a time, same model and images: against the
   course template's loop as it is written (``template_loop``) and against vaeadv's lean per-image reference
   (``one_at_a_time_accuracy``, the one the tests hold the batched counts to); the counts must be identical.
2. PGD step cost vs a bare forward+backward of the model on the same batch.
3. Training-step cost of the FGSM objective and PGD-k batches relative to standard training.

The model is trained briefly first (so that accuracy, and hence how many images get attacked, is realistic).
Usage: python benchmarks/bench_robust.py [--images 200] [--train-images 2048] [--device cuda]
       [--npz cifar10_exact_subset_train0-3999_test0-999.npz]   (needs CIFAR-10; --npz reads just that file,
       e.g. on a machine the full set cannot be copied to)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from common import suffix, timed, write

from vaeadv.data import load_dataset
from vaeadv.data.cifar import read_cifar_npz
from vaeadv.robust.attacks import input_gradient, pgd
from vaeadv.robust.evaluate import AttackSpec, full_fp32, robust_accuracy, to_unit
from vaeadv.robust.module import RobustClassifier

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' oracle is the baseline
from tests.robust.helpers import one_at_a_time_accuracy  # noqa: E402

EPS, ALPHA = 8 / 255, 2 / 255


def quick_train(model, x, y, steps_per_epoch, epochs=2, batch=128):
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    model.train()
    device = next(model.parameters()).device
    for _ in range(epochs):
        perm = torch.randperm(len(x))
        for i in range(steps_per_epoch):
            idx = perm[i * batch:(i + 1) * batch]
            loss = F.cross_entropy(model(to_unit(x[idx]).to(device)), y[idx].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return model.eval()


def template_loop(model, images, labels, attack: AttackSpec, device) -> tuple[float, float]:
    """The course template's ``test_attack`` as written there: a batch-1 loader; one grad-enabled forward
    serving both the clean prediction and FGSM's gradient; ``model.zero_grad(); loss.backward()`` (parameter
    gradients included) for every gradient; PGD as a per-step loop of the same; a last forward to classify
    the perturbed image. Returns (clean, robust) accuracy with the template's accounting."""
    model.eval()
    clean = correct = 0
    for i in range(len(images)):
        data, target = to_unit(images[i:i + 1]).to(device), labels[i:i + 1].to(device)
        data.requires_grad = True
        output = model(data)
        if output.argmax(1).item() != target.item():
            continue
        clean += 1
        if attack.kind == "fgsm":
            loss = F.cross_entropy(output, target)
            model.zero_grad()
            loss.backward()
            perturbed = (data + attack.eps * data.grad.sign()).clamp(0, 1)
        else:
            original = data.detach()
            perturbed = original.clone()
            for _ in range(attack.steps):
                perturbed.requires_grad = True
                loss = F.cross_entropy(model(perturbed), target)
                model.zero_grad()
                loss.backward()
                step = perturbed + attack.alpha * perturbed.grad.sign()
                perturbed = torch.min(torch.max(step, original - attack.eps), original + attack.eps)
                perturbed = perturbed.clamp(0, 1).detach()
        output = model(perturbed)
        correct += int(output.argmax(1).item() == target.item())
    model.zero_grad(set_to_none=True)
    return clean / len(images), correct / len(images)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--train-images", type=int, default=2048)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--checkpoint", help="evaluate this trained classifier (e.g. a report's standard model) "
                                             "instead of a briefly trained width-64 one")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--npz", help="read CIFAR-10 from this one .npz (all its test images count as exact)")
    args = parser.parse_args()
    torch.manual_seed(0)
    device = torch.device(args.device)
    if args.npz:
        arrays = {k: torch.from_numpy(v) for k, v in read_cifar_npz(args.npz).items()}
        x_train, y_train = arrays["x_train"], arrays["y_train"].long()
        x_test, y_test = arrays["x_test"], arrays["y_test"].long()
    else:
        data = load_dataset("cifar10")
        x_train, y_train = data.x_train, data.y_train
        x_test, y_test = data.x_test[data.test_exact], data.y_test[data.test_exact]
    if args.checkpoint:
        from vaeadv.robust.models import load_classifier

        model = load_classifier(args.checkpoint).to(device, memory_format=torch.channels_last)
    else:
        model = RobustClassifier("standard", channels_last=True).model.to(device)
        quick_train(model, x_train[: args.train_images], y_train[: args.train_images], args.train_images // 128)
    x, y = x_test[: args.images], y_test[: args.images]
    attacks = [AttackSpec("fgsm", EPS, name="fgsm"), AttackSpec("pgd", EPS, ALPHA, 10, name="pgd")]

    batched = {}
    t_batched = timed(lambda: batched.update(robust_accuracy(model, x, y, attacks, batch_size=args.batch)))

    def per_image(evaluate) -> tuple[dict, float]:
        """(attack → (clean, robust), total seconds) of a one-image-at-a-time evaluation."""
        results, seconds = {}, 0.0
        for a in attacks:
            seconds += timed(lambda a=a: results.__setitem__(a.name, evaluate(model, x, y, a, device)))
        return results, seconds

    def same_counts(results: dict) -> bool:
        return all(results[a.name] == (batched["clean_accuracy"], batched["robust_accuracy"][a.name])
                   for a in attacks)

    loop, t_loop = per_image(one_at_a_time_accuracy)
    with full_fp32():
        template, t_template = per_image(template_loop)

    xb, yb = to_unit(x[: args.batch]).to(device), y[: args.batch].to(device)

    def fwd_bwd():
        input_gradient(model, xb, yb)

    t_fb = timed(fwd_bwd, repeat=3)
    t_pgd = timed(lambda: pgd(model, xb, yb, EPS, ALPHA, 10), repeat=3)

    def step_cost(defense):
        module = RobustClassifier(defense, eps=0.1 * 0.25, alpha=0.01 * 0.25, pgd_steps=10).to(device)
        module.log = lambda *a, **k: None
        module.train()
        xs, ys = to_unit(x_train[:64]).to(device), y_train[:64].to(device)

        def step():
            loss = module.training_step((xs, ys), 0)
            module.backward(loss)  # the LightningModule hook: the fused FGSM objective adds its clean part here
        return timed(step, repeat=3)

    # As under a one-process, full-precision Trainer (the only case where the FGSM objective is fused).
    RobustClassifier._can_fuse_backward = lambda self: fused
    fused = False
    t_std, t_fgsm_unfused, t_pgd_train = step_cost("standard"), step_cost("fgsm"), step_cost("pgd")
    fused = True
    t_fgsm = step_cost("fgsm")
    write("robust" + ("_checkpoint" if args.checkpoint else "") + suffix(args.device), {
        "device": args.device, "data": args.npz or "cifar10 (exact test images)",
        "model": args.checkpoint or f"width-64 ResNet18, 2 epochs on {args.train_images} images",
        "images": len(x), "clean_accuracy": batched["clean_accuracy"], "robust_accuracy": batched["robust_accuracy"],
        "counts_identical_to_one_at_a_time": same_counts(loop),
        "counts_identical_to_template_loop": same_counts(template), "batch": args.batch,
        "one_at_a_time": {name: {"clean": c, "robust": r} for name, (c, r) in loop.items()},
        "template_loop": {name: {"clean": c, "robust": r} for name, (c, r) in template.items()},
        "eval_seconds": {"batched": round(t_batched, 2), "one_at_a_time": round(t_loop, 2),
                         "template_loop": round(t_template, 2)},
        "eval_speedup": round(t_loop / t_batched, 2),
        "eval_speedup_vs_template_loop": round(t_template / t_batched, 2),
        "pgd10_step_over_forward_backward": round(t_pgd / (10 * t_fb), 3),
        "train_step_cost_vs_standard": {"fgsm": round(t_fgsm / t_std, 2),
                                        "fgsm_unfused": round(t_fgsm_unfused / t_std, 2),
                                        "pgd10": round(t_pgd_train / t_std, 2)},
        "train_step_seconds": {"standard": round(t_std, 3), "fgsm": round(t_fgsm, 3),
                               "fgsm_unfused": round(t_fgsm_unfused, 3), "pgd10": round(t_pgd_train, 3)},
    })


if __name__ == "__main__":
    main()
