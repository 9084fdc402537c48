"""VAE training throughput: vaeadv's in-memory loader + channels-last model (eager, and with
``vaeadv vae train --compile``) vs template-style pipelines (a torch DataLoader whose Dataset converts
and quantises each image on its own), same model, same run. Two baselines: ``baseline`` goes through a PIL
image per sample as torchvision's MNIST + ``ToTensor`` do (the course's pipeline); ``baseline_tensor`` is the
lighter per-sample version that slices a uint8 tensor. The one-off compile time is reported apart (it is paid
once per process: about a minute, under 2% of an 80-epoch run).

Usage: python benchmarks/bench_vae_throughput.py [--batches 60] [--device cuda]   (needs MNIST, e.g. VAEADV_DATA)
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from common import suffix, timed, write
from PIL import Image

from vaeadv.data import TensorBatchLoader, load_dataset, quantize
from vaeadv.vae.module import VAE
from vaeadv.vae.train import compile_mode


class PerSampleMNIST(torch.utils.data.Dataset):
    """Per image: uint8 → float in [0,1] → floor(16x) → long, as a per-sample transform does."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, pil: bool) -> None:
        self.images, self.labels, self.pil = images, labels, pil

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        if self.pil:  # torchvision's MNIST.__getitem__ then transforms.ToTensor()
            img = Image.fromarray(self.images[i, 0].numpy(), mode="L")
            x = torch.from_numpy(np.array(img, copy=True)).unsqueeze(0).float().div(255.0)
        else:
            x = self.images[i].float().div(255.0)
        return (x * 16).floor().clamp(max=15).long(), int(self.labels[i])


def train_steps(model: VAE, batches, limit: int) -> int:
    opt = model.configure_optimizers()
    n = 0
    for i, batch in enumerate(batches):
        if i == limit:
            break
        batch = [t.to(model.device, non_blocking=True) for t in batch]  # Lightning's batch transfer
        loss = model.training_step(batch, i)["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        n += len(batch[0])
    return n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers of the baselines")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--no-compile", action="store_true", help="leave out the compiled pipeline")
    args = parser.parse_args()
    data = load_dataset("mnist")
    x, y = data.x_train[:54000], data.y_train[:54000]
    # Every pipeline is built and warmed up (a few steps, compile included) first, then timed in two rounds in
    # alternating order; the best round counts. Timing the baseline first and cold once made it look 25% slower.
    names = ["baseline", "baseline_tensor", "vaeadv"] + ([] if args.no_compile else ["vaeadv_compiled"])
    pipelines = {name: build(name, x, y, args) for name in names}
    model_log: dict[str, dict] = {}
    for order in (list(pipelines), list(reversed(pipelines))):
        for name in order:
            r = measure(*pipelines[name], args.batches)
            if r["images_per_s"] > model_log.get(name, {}).get("images_per_s", 0):
                model_log[name] = {**r, **pipelines[name][2]}
    base = model_log["baseline"]["images_per_s"]
    speedup = {k: round(v["images_per_s"] / base, 2) for k, v in model_log.items() if k != "baseline"}
    epoch_s = {k: round(54000 / v["images_per_s"], 1) for k, v in model_log.items()}
    write("vae_throughput" + suffix(args.device), {"device": args.device, "batches": args.batches,
                                                   "workers": args.workers, **model_log, "speedup": speedup,
                                                   "epoch_s_estimate": epoch_s})


def build(name: str, x: torch.Tensor, y: torch.Tensor, args) -> tuple:
    torch.manual_seed(0)
    if name.startswith("baseline"):
        model = VAE().to(args.device)
        loader = torch.utils.data.DataLoader(PerSampleMNIST(x, y, pil=name == "baseline"), batch_size=128,
                                             shuffle=True, num_workers=args.workers,
                                             persistent_workers=args.workers > 0)
    else:
        model = VAE(channels_last=True).to(args.device)
        loader = TensorBatchLoader(quantize(x).to(torch.uint8), y, batch_size=128, shuffle=True)
    model.log = lambda *a, **k: None  # outside a Trainer: no logging
    extra = {}
    if name == "vaeadv_compiled":
        model.compile_loss_graph(compile_mode(args.device))
    extra["warmup_s"] = round(timed(lambda: train_steps(model, loader, 3)), 1)  # includes the compile
    return model, loader, extra


def measure(model: VAE, loader, _extra: dict, batches: int) -> dict:
    images = {}
    seconds = timed(lambda: images.setdefault("n", train_steps(model, loader, batches)))
    return {"seconds": round(seconds, 2), "images": images["n"], "images_per_s": round(images["n"] / seconds, 1)}


if __name__ == "__main__":
    main()
