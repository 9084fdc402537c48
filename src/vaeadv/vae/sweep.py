"""Many VAE runs on one machine at once: each run in its own process, at most ``concurrent`` at a time.

Why processes: the small VAE is bound by the CPU that launches its kernels, not by the GPU (13 ms of CPU time per
step against 1.3 ms of GPU time on an H100), so N processes, each with its own cores, keep one GPU about N times
as busy. Each run is an ordinary ``vae train`` run in its own folder, so a finished run is skipped, an interrupted
one resumes from its last checkpoint, and a failed one does not stop the others."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from multiprocessing.connection import wait
from pathlib import Path

from vaeadv.errors import VaeadvError
from vaeadv.io import atomic_write_json, ensure_writable_dir
from vaeadv.runinfo import hardware
from vaeadv.settings import PLUMBING
from vaeadv.vae.config import VAETrainConfig, upgrade_vae_config

LOG_NAME = "train.log"


def training_settings(config: VAETrainConfig | dict) -> dict:
    """The settings that decide the trained model (a recorded config from older code gains today's fields)."""
    fields = upgrade_vae_config(config) if isinstance(config, dict) else asdict(config)
    return {k: v for k, v in sorted(fields.items()) if k not in PLUMBING}


def sweep_run_name(cfg: VAETrainConfig) -> str:
    """The readable name of the settings, the epochs, and a hash of every training setting: two configurations
    never share a folder, so a run is resumed or skipped only by a run of exactly its settings."""
    digest = hashlib.sha256(json.dumps(training_settings(cfg), default=str).encode()).hexdigest()[:8]
    return f"{cfg.default_run_name()}_e{cfg.epochs}-{digest}"


def finished_results(run_dir: Path, cfg: VAETrainConfig) -> dict | None:
    """The run's results when it trained all its epochs with exactly ``cfg``'s settings and was tested."""
    try:
        saved = json.loads((run_dir / "results.json").read_text())
    except (OSError, ValueError):
        return None
    done = (isinstance(saved, dict) and saved.get("epochs_completed") == cfg.epochs
            and saved.get("test_bpd") is not None
            and training_settings(saved.get("config") or {}) == training_settings(cfg))
    return saved if done else None


def _train_in_child(cfg: VAETrainConfig, log_path: str, threads: int, env: dict[str, str]) -> None:
    """A worker process: everything it prints goes to the run's log; an error is one line there and exit 1."""
    os.environ.update(env)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    sys.stdout.reconfigure(line_buffering=True)
    sys.stderr.reconfigure(line_buffering=True)
    import torch

    from vaeadv.vae.train import train_vae

    torch.set_num_threads(threads)
    try:
        train_vae(cfg)
    except VaeadvError as exc:
        print(f"vaeadv: error: {exc}", file=sys.stderr)
        sys.exit(1)


def _outcome(name: str, status: str, results: dict | None = None) -> dict:
    results = results or {}
    return {"run": name, "status": status, "test_bpd": results.get("test_bpd"),
            "best_val_bpd": results.get("best_val_bpd"), "epochs": results.get("epochs_completed"),
            "wall_time_s": results.get("wall_time_s"), "log": LOG_NAME}


def _last_line(log: Path) -> str:
    try:
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1].strip() if lines else ""


def _gpu_env(slot: int) -> dict[str, str]:
    """With several GPUs, worker ``slot`` sees one of them (round robin), so a run's "auto" devices means one GPU
    rather than all of them; on one GPU or none nothing changes."""
    import torch

    count = torch.cuda.device_count()
    return {"CUDA_VISIBLE_DEVICES": str(slot % count)} if count > 1 else {}


def _run_folders(configs: Sequence[VAETrainConfig]) -> list[Path]:
    names = [Path(c.log_dir) / (c.run_name or c.default_run_name()) for c in configs]
    if len(set(names)) != len(names):
        raise VaeadvError("two runs of the sweep would share a folder; give each its own run_name")
    return names


def _start(ctx, cfg: VAETrainConfig, run_dir: Path, threads: int, slot: int) -> multiprocessing.Process:
    """One run in its own process (resuming whatever it left), logging to ``train.log`` in its folder."""
    run_dir = ensure_writable_dir(run_dir)
    proc = ctx.Process(target=_train_in_child, name=run_dir.name, args=(
        replace(cfg, resume=True, progress=False), str(run_dir / LOG_NAME), threads, _gpu_env(slot)))
    proc.start()
    return proc


def run_many(configs: Sequence[VAETrainConfig], concurrent: int, threads: int | None = None,
             summary: Path | None = None, say: Callable[[str], None] = print) -> list[dict]:
    """Train every config not finished yet, ``concurrent`` processes at a time, each with ``threads`` torch threads
    (default: the machine's cores shared out). Each run is written in ``cfg.log_dir/cfg.run_name`` with its log
    in ``train.log`` there. Returns one outcome per config, in order; ``summary`` (if given) is rewritten as JSON
    after every run ends, so an interrupted sweep still records what finished."""
    if concurrent < 1:
        raise VaeadvError(f"concurrent runs must be at least 1, got {concurrent}")
    names = _run_folders(configs)
    threads = threads or max(1, (os.cpu_count() or 1) // concurrent)
    outcomes, todo = _done_earlier(configs, names)
    say(f"{len(configs)} runs: {len(configs) - len(todo)} done earlier, {len(todo)} to train"
        + (f", {min(concurrent, len(todo))} at a time with {threads} torch threads each" if todo else ""))
    start, to_train, machine = time.perf_counter(), len(todo), hardware()

    def record() -> None:
        if summary is not None:
            atomic_write_json(summary, {"concurrent": concurrent, "threads_per_run": threads, "hardware": machine,
                                        "trained_now": to_train,
                                        "wall_seconds": round(time.perf_counter() - start, 1),  # this call's
                                        "runs": [o for o in outcomes if o is not None]})

    ctx = multiprocessing.get_context("spawn")  # CUDA cannot be used in a forked child
    running: dict[object, tuple[int, multiprocessing.Process, int]] = {}  # sentinel: (config, process, slot)
    free_slots = list(range(concurrent))
    ended = 0
    try:
        while todo or running:
            while todo and free_slots:
                i, slot = todo.pop(0), free_slots.pop(0)
                proc = _start(ctx, configs[i], names[i], threads, slot)
                running[proc.sentinel] = (i, proc, slot)
                say(f"started  {names[i].name}")
            for sentinel in wait(list(running)):
                i, proc, slot = running.pop(sentinel)
                proc.join()
                free_slots.append(slot)
                run_dir, ended = names[i], ended + 1
                results = finished_results(run_dir, configs[i])
                status = "finished" if proc.exitcode == 0 and results else "failed"
                outcomes[i] = _outcome(run_dir.name, status, results)
                detail = (f"test bpd {results['test_bpd']:.4f}" if results
                          else f"exit {proc.exitcode}: {_last_line(run_dir / LOG_NAME)} (log: {run_dir / LOG_NAME})")
                say(f"{status:<8} {run_dir.name} [{ended}/{to_train}] {detail}")
                record()
    finally:
        _stop([proc for _, proc, _ in running.values()])
        for i, _, _ in running.values():
            outcomes[i] = _outcome(names[i].name, "interrupted")
        if running:
            record()
    record()
    return [o for o in outcomes if o is not None]


def _done_earlier(configs: Sequence[VAETrainConfig], names: list[Path]) -> tuple[list[dict | None], list[int]]:
    """The outcomes of the runs finished earlier (None for the others) and the indices of those left to train."""
    outcomes: list[dict | None] = [None] * len(configs)
    todo = []
    for i, (cfg, run_dir) in enumerate(zip(configs, names, strict=True)):
        done = finished_results(run_dir, cfg)
        if done:
            outcomes[i] = _outcome(run_dir.name, "done earlier", done)
        else:
            todo.append(i)
    return outcomes, todo


def _stop(processes: list) -> None:
    """Interrupted: stop the workers (each resumes from its last checkpoint), killing any that outlive a minute."""
    for proc in processes:
        proc.terminate()
    for proc in processes:
        proc.join(timeout=60)
        if proc.is_alive():
            proc.kill()
            proc.join()
