"""Concurrent VAE training on one machine: the summed training throughput (images/s) of N worker processes,
each training its own VAE as ``vaeadv vae sweep --concurrent N`` does, against one process alone, in the same
call. Each worker builds its model and data, warms up (compile included), waits for the others at a barrier,
then times the same number of steps; throughput = all images / the slowest worker's time.

Why it can pay: the small VAE is bound by the CPU launching its kernels, not by a GPU's arithmetic, so on a GPU
with many CPU cores N processes keep the device N times as busy, up to the GPU's own limit. On a 2-core CPU the
cores are the limit, and the ratio shows what splitting them costs or gains.

Usage: python benchmarks/bench_vae_concurrent.py [--runs 1 2] [--batches 60] [--device cuda] [--compile]
(needs MNIST, e.g. VAEADV_DATA)
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import time

import torch
from bench_vae_throughput import train_steps
from common import suffix, synchronize, write


def worker(index: int, args: argparse.Namespace, threads: int, barrier, results) -> None:
    from vaeadv.data import TensorBatchLoader, load_dataset, quantize
    from vaeadv.vae.module import VAE
    from vaeadv.vae.train import compile_mode

    torch.set_num_threads(threads)
    torch.manual_seed(index)
    data = load_dataset("mnist")
    model = VAE(channels_last=True).to(args.device)
    model.log = lambda *a, **k: None  # outside a Trainer: no logging
    if args.compile:
        model.compile_loss_graph(compile_mode(args.device))
    loader = TensorBatchLoader(quantize(data.x_train[:54000]).to(torch.uint8), data.y_train[:54000],
                               batch_size=128, shuffle=True)
    train_steps(model, loader, 5)  # warm-up (the compile included)
    synchronize()
    barrier.wait()
    start = time.perf_counter()
    images = train_steps(model, loader, args.batches)
    synchronize()
    results.put((index, images, time.perf_counter() - start))


def measure(runs: int, args: argparse.Namespace) -> dict:
    ctx = multiprocessing.get_context("spawn")
    threads = max(1, (os.cpu_count() or 1) // runs)
    barrier, results = ctx.Barrier(runs), ctx.Queue()
    procs = [ctx.Process(target=worker, args=(i, args, threads, barrier, results)) for i in range(runs)]
    for p in procs:
        p.start()
    got = [results.get(timeout=1800) for _ in procs]
    for p in procs:
        p.join()
    images, seconds = sum(g[1] for g in got), max(g[2] for g in got)
    return {"runs": runs, "threads_per_run": threads, "images": images, "seconds": round(seconds, 2),
            "images_per_s": round(images / seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, nargs="+", default=[1, 2], help="concurrent processes to compare")
    parser.add_argument("--batches", type=int, default=60, help="timed steps per process")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--compile", action="store_true", help="vae train --compile (CUDA graphs on a GPU)")
    args = parser.parse_args()
    rows = [measure(n, args) for n in args.runs]
    alone = rows[0]["images_per_s"]
    ratio = {str(r["runs"]): round(r["images_per_s"] / alone, 2) for r in rows}
    write("vae_concurrent" + ("_compiled" if args.compile else "") + suffix(args.device),
          {"device": args.device, "batches": args.batches, "compile": args.compile, "cpu_cores": os.cpu_count(),
           "rows": rows, "throughput_ratio_vs_first": ratio})


if __name__ == "__main__":
    main()
