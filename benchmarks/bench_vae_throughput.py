"""VAE training throughput: vaeadv's in-memory loader + channels-last model (eager, and with
``vaeadv vae train --compile``) vs a template-style pipeline (a torch DataLoader whose Dataset converts
and quantises each image on its own), same model, same run. The one-off compile time is reported apart
(it is paid once per process: about a minute, under 2% of an 80-epoch run).

Usage: python benchmarks/bench_vae_throughput.py [--batches 60]   (needs MNIST, e.g. VAEADV_DATA)
"""

from __future__ import annotations

import argparse

import torch
from common import timed, write

from vaeadv.data import TensorBatchLoader, load_dataset, quantize
from vaeadv.vae.module import VAE
from vaeadv.vae.train import compile_networks


class PerSampleMNIST(torch.utils.data.Dataset):
    """What the course's pipeline does per image: uint8 → float in [0,1] (ToTensor) → floor(16x) → long."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        x = self.images[i].float().div(255.0)
        return (x * 16).floor().clamp(max=15).long(), int(self.labels[i])


def train_steps(model: VAE, batches, limit: int) -> int:
    opt = model.configure_optimizers()
    n = 0
    for i, batch in enumerate(batches):
        if i == limit:
            break
        loss = model.training_step(batch, i)["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        n += len(batch[0])
    return n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers of the baseline")
    args = parser.parse_args()
    data = load_dataset("mnist")
    x, y = data.x_train[:54000], data.y_train[:54000]
    # Every pipeline is built and warmed up (a few steps, compile included) first, then timed in two rounds in
    # alternating order; the best round counts. Timing the baseline first and cold once made it look 25% slower.
    pipelines = {name: build(name, x, y, args) for name in ("baseline", "vaeadv", "vaeadv_compiled")}
    model_log: dict[str, dict] = {}
    for order in (list(pipelines), list(reversed(pipelines))):
        for name in order:
            r = measure(*pipelines[name], args.batches)
            if r["images_per_s"] > model_log.get(name, {}).get("images_per_s", 0):
                model_log[name] = {**r, **pipelines[name][2]}
    base = model_log["baseline"]["images_per_s"]
    speedup = {k: round(v["images_per_s"] / base, 2) for k, v in model_log.items() if k != "baseline"}
    epoch_s = {k: round(54000 / v["images_per_s"], 1) for k, v in model_log.items()}
    write("vae_throughput", {"batches": args.batches, **model_log, "speedup": speedup, "epoch_s_estimate": epoch_s})


def build(name: str, x: torch.Tensor, y: torch.Tensor, args) -> tuple:
    torch.manual_seed(0)
    if name == "baseline":
        model = VAE()
        loader = torch.utils.data.DataLoader(PerSampleMNIST(x, y), batch_size=128, shuffle=True,
                                             num_workers=args.workers)
    else:
        model = VAE(channels_last=True)
        loader = TensorBatchLoader(quantize(x).to(torch.uint8), y, batch_size=128, shuffle=True)
    model.log = lambda *a, **k: None  # outside a Trainer: no logging
    extra = {}
    if name == "vaeadv_compiled":
        compile_networks(model)
    extra["warmup_s"] = round(timed(lambda: train_steps(model, loader, 3)), 1)  # includes the compile
    return model, loader, extra


def measure(model: VAE, loader, _extra: dict, batches: int) -> dict:
    images = {}
    seconds = timed(lambda: images.setdefault("n", train_steps(model, loader, batches)))
    return {"seconds": round(seconds, 2), "images": images["n"], "images_per_s": round(images["n"] / seconds, 1)}


if __name__ == "__main__":
    main()
