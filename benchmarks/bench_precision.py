"""bf16 mixed precision vs fp32: one training step of the full-width course ResNet18 (batch 128, SGD Nesterov,
label-smoothed cross-entropy), in both memory formats, on this machine. The ratio is what the 'pretrain'
recipe's choice of bf16-mixed (and of channels-last only where it pays) rests on."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F
from common import suffix, timed, write

from vaeadv.robust.models import resnet18

BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # the CPU instructions that multiply bf16 natively


def native_bf16(cpuinfo: str) -> bool | None:
    """Whether a Linux ``/proc/cpuinfo`` text lists a bf16 instruction; None where it lists no flags at all.
    Without one, oneDNN emulates bf16 and autocast can be slower than fp32, so the ratio depends on it."""
    flags = {f for line in cpuinfo.splitlines() if line.startswith("flags") for f in line.split(":", 1)[1].split()}
    return None if not flags else any(f in flags for f in BF16_FLAGS)


def step_seconds(device: str, bf16: bool, channels_last: bool, batch: int, repeat: int) -> float:
    torch.manual_seed(0)
    model = resnet18(10).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    x = torch.rand(batch, 3, 32, 32, device=device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch,), device=device)

    def step():
        with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(model(x), y, label_smoothing=0.1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()  # warm-up: oneDNN / cuDNN pick their kernels
    return timed(step, repeat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=5, help="steps timed per setting (best is kept)")
    args = parser.parse_args()
    seconds = {f"{'bf16' if bf16 else 'fp32'}_{'channels_last' if cl else 'contiguous'}":
               step_seconds(args.device, bf16, cl, args.batch, args.repeat)
               for bf16 in (False, True) for cl in (False, True)}
    best = {p: min((v, k) for k, v in seconds.items() if k.startswith(p)) for p in ("fp32", "bf16")}
    cpuinfo = Path("/proc/cpuinfo")
    native = native_bf16(cpuinfo.read_text()) if args.device == "cpu" and cpuinfo.exists() else None
    # a CPU without native bf16 keeps its result beside the reference one instead of replacing it
    write(f"precision{suffix(args.device)}{'_emulated_bf16' if native is False else ''}", {
        "device": args.device, "batch": args.batch, "cpu_native_bf16": native,
        "seconds_per_step": {k: round(v, 4) for k, v in seconds.items()},
        "best": {p: k for p, (_, k) in best.items()},
        # each precision in its faster memory format: the choice a recipe makes
        "bf16_speedup_over_fp32": round(best["fp32"][0] / best["bf16"][0], 2),
        "same_format_speedup": {cl: round(seconds[f"fp32_{cl}"] / seconds[f"bf16_{cl}"], 2)
                                for cl in ("contiguous", "channels_last")},
        "minutes_per_epoch_50k_bf16": round(best["bf16"][0] * 50_000 / args.batch / 60, 2)})


if __name__ == "__main__":
    main()
