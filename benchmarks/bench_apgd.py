"""Cost of one APGD iteration against a bare forward+backward of the same model on the same batch (goal ≤ 1.1×),
and the wall time of the strong evaluation (APGD-CE, then APGD-T on the survivors) of one model.

The ratio is measured on images the model keeps classifying correctly (no early exit: every iteration costs the
whole batch), so it is APGD's own overhead — the step-size bookkeeping, projection and momentum.
Usage: python benchmarks/bench_apgd.py [--weights vaeadv-resnet18] [--batch 128] [--steps 20] [--images 500]
       [--device cuda]   (needs CIFAR-10 for --images; the shipped weights by default)
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn as nn
from common import suffix, timed, write

from vaeadv.robust import load_weights, resnet18, robust_accuracy
from vaeadv.robust.autopgd import apgd
from vaeadv.robust.evaluate import AttackSpec

EPS = 8 / 255


class AlwaysRight(nn.Module):
    """The model's own computation, with logits shifted so the label always wins: APGD never exits early."""

    def __init__(self, model: nn.Module, labels: torch.Tensor) -> None:
        super().__init__()
        self.model, self.labels = model, labels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.model(x)
        return logits + 1e4 * nn.functional.one_hot(self.labels[: len(x)], logits.shape[1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", default="vaeadv-resnet18")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--images", type=int, default=500, help="exact test images for the strong evaluation (0: skip)")
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    model = load_weights(resnet18(10), args.weights).to(args.device).eval()
    x = torch.rand(args.batch, 3, 32, 32, device=args.device)
    y = torch.randint(0, 10, (args.batch,), device=args.device)
    wrapped = AlwaysRight(model, y).eval()

    def fwd_bwd():
        xr = x.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(wrapped(xr).sum(), xr)
        return g

    t_fb = timed(fwd_bwd, repeat=3)
    t_apgd = timed(lambda: apgd(wrapped, x, y, EPS, steps=args.steps), repeat=2)
    per_iteration = t_apgd / (args.steps + 1)  # the start point costs one forward+backward too
    result = {"device": args.device, "batch": args.batch, "steps": args.steps, "fwd_bwd_s": round(t_fb, 4),
              "apgd_iteration_s": round(per_iteration, 4), "iteration_vs_fwd_bwd": round(per_iteration / t_fb, 3)}
    if args.images:
        from vaeadv.robust.datamodule import CifarDataModule

        dm = CifarDataModule(val_from="train")
        dm.setup()
        xs, ys, which = dm.exact_test()
        xs, ys = xs[: args.images], ys[: args.images]
        start = time.perf_counter()
        r = robust_accuracy(model, xs, ys, [AttackSpec("pgd", EPS, EPS / 4, 10, name="pgd"),
                                            AttackSpec("strong", EPS, name="strong")])
        result.update({"strong_eval_images": len(xs), "strong_eval_on": which,
                       "strong_eval_seconds": r["attack_seconds"]["strong"],
                       "pgd10_seconds": r["attack_seconds"]["pgd"], "total_seconds": time.perf_counter() - start,
                       "clean": r["clean_accuracy"], "pgd10": r["robust_accuracy"]["pgd"],
                       "strong": r["robust_accuracy"]["strong"]})
    write("apgd" + suffix(args.device), result)


if __name__ == "__main__":
    main()
