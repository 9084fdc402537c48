"""CIFAR-10 ResNet18 training throughput: vaeadv's recipe through its real Trainer against the course template's
pipeline, same device, same call; and the cost of an FGSM-objective and a PGD-10 epoch against a standard one
under the recipe (the goals on a GPU: ≥ 10× the template's images/s; PGD-10 ≤ 12× a standard epoch).

The template's pipeline: a Dataset that crops (zero padding 4), flips, converts and normalises one image at a
time as torchvision's transforms do, a DataLoader of batch 64, fp32, SGD 5e-4 / 0.9 in a plain loop. The recipe:
``RobustClassifier`` under ``lightning.Trainer`` with the recipe's precision (bf16-mixed) and batch, the uint8
images resident on the device and augmented there in whole batches. Each side times ``--steps`` steps after
``--skip`` warm-up steps (synchronised on a GPU), so set-up and cuDNN/oneDNN autotuning are left out.

Usage: python benchmarks/bench_train_throughput.py [--device cuda] [--steps 50] [--batch 512] [--workers 4]
(needs CIFAR-10, e.g. VAEADV_DATA)
"""

from __future__ import annotations

import argparse
import time

import lightning.pytorch as pl
import numpy as np
import torch
import torch.nn.functional as F
from common import suffix, synchronize, write

from vaeadv.robust.datamodule import CifarDataModule
from vaeadv.robust.models import CIFAR10_MEAN, CIFAR10_STD, resnet18
from vaeadv.robust.module import RobustClassifier
from vaeadv.robust.recipes import get_recipe
from vaeadv.robust.units import budget


class PerSampleCifar(torch.utils.data.Dataset):
    """RandomCrop(32, padding=4) → RandomHorizontalFlip → ToTensor → Normalize, one image per call."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        self.images = images.permute(0, 2, 3, 1).numpy()  # HWC uint8, as torchvision's CIFAR10 keeps them
        self.labels = labels.tolist()
        self.mean = torch.tensor(CIFAR10_MEAN).view(3, 1, 1)
        self.std = torch.tensor(CIFAR10_STD).view(3, 1, 1)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        padded = np.pad(self.images[i], ((4, 4), (4, 4), (0, 0)))
        top, left = np.random.randint(0, 9, size=2)
        img = padded[top:top + 32, left:left + 32]
        if np.random.rand() < 0.5:
            img = img[:, ::-1]
        x = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).float().div(255)
        return (x - self.mean) / self.std, self.labels[i]


def template_images_per_s(dm: CifarDataModule, args: argparse.Namespace) -> float:
    torch.manual_seed(0)
    model = resnet18(10).to(args.device).train()
    opt = torch.optim.SGD(model.parameters(), lr=5e-4, momentum=0.9)
    loader = torch.utils.data.DataLoader(PerSampleCifar(dm.x_train, dm.y_train), batch_size=64, shuffle=True,
                                         num_workers=args.workers, persistent_workers=args.workers > 0)
    batches = iter(loader)
    start, images = 0.0, 0
    for step in range(args.skip + args.steps):
        if step == args.skip:
            synchronize()
            start = time.perf_counter()
        inputs, labels = next(batches)
        inputs, labels = inputs.to(args.device), labels.to(args.device)
        opt.zero_grad()
        loss = F.cross_entropy(model(inputs), labels)
        loss.backward()
        opt.step()
        images += len(inputs) if step >= args.skip else 0
    synchronize()
    return images / (time.perf_counter() - start)


class StepTimer(pl.Callback):
    """Wall time of training steps ``skip`` .. ``skip + steps - 1``."""

    def __init__(self, skip: int, steps: int) -> None:
        self.skip, self.steps, self.seconds, self.images = skip, steps, 0.0, 0

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        if batch_idx == self.skip:
            synchronize()
            self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if self.skip <= batch_idx:
            self.images += len(batch[0])
        if batch_idx == self.skip + self.steps - 1:
            synchronize()
            self.seconds = time.perf_counter() - self.start


def recipe_images_per_s(dm: CifarDataModule, defense: str, args: argparse.Namespace, compiled: bool = False) -> float:
    pl.seed_everything(0, verbose=False)
    eps = budget(0.1, "normalized")  # the template's ε = 0.1 (normalised), α = 0.01, 10 steps
    model = RobustClassifier(defense, args.recipe, epochs=1, eps=eps, alpha=budget(0.01, "normalized"),
                             pgd_steps=10)
    if compiled:  # in place: the state dict keeps its keys (the compile happens in the warm-up steps)
        model.model.compile()
    timer = StepTimer(args.skip, args.steps)
    trainer = pl.Trainer(max_epochs=1, limit_train_batches=args.skip + args.steps, limit_val_batches=0,
                         num_sanity_val_steps=0, precision=get_recipe(args.recipe).precision,
                         accelerator="gpu" if args.device.startswith("cuda") else "cpu", devices=1, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         callbacks=[timer])
    trainer.fit(model, datamodule=dm)
    return timer.images / timer.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--recipe", default="pretrain")
    parser.add_argument("--batch", type=int, help="the recipe's batch (default: the recipe's own)")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per measurement")
    parser.add_argument("--skip", type=int, default=2, help="warm-up steps left out")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers of the template's pipeline")
    parser.add_argument("--train-subset", type=int, default=10_000, help="training images kept in memory")
    parser.add_argument("--compile", action="store_true", help="also the standard recipe with torch.compile "
                                                               "(raise --skip: the compile runs in the warm-up)")
    args = parser.parse_args()
    batch = args.batch or get_recipe(args.recipe).batch_size
    dm = CifarDataModule(batch_size=batch, augment=True, val_from="train", val_size=2000,
                         train_subset=args.train_subset, download=False)
    dm.setup()
    template = template_images_per_s(dm, args)
    recipe = {d: recipe_images_per_s(dm, d, args) for d in ("standard", "fgsm", "pgd")}
    if args.compile:
        recipe["standard_compiled"] = recipe_images_per_s(dm, "standard", args, compiled=True)
    write("train_throughput" + suffix(args.device), {
        "device": args.device, "recipe": args.recipe, "batch": batch, "steps": args.steps, "workers": args.workers,
        "images_per_s": {"template_pipeline": round(template, 1), **{f"recipe_{d}": round(v, 1)
                                                                      for d, v in recipe.items()}},
        "recipe_over_template": round(recipe["standard"] / template, 2),
        "epoch_cost_vs_standard": {d: round(recipe["standard"] / recipe[d], 2) for d in ("fgsm", "pgd")}})


if __name__ == "__main__":
    main()
