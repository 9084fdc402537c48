"""The life of a run folder, shared by ``vae train`` and ``robust train``: one owner at a time (a lock file),
relocatable checkpoints, a resume that loads weights only and refuses a checkpoint of other settings, and a
Trainer whose bad settings are one readable error instead of a traceback."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities.exceptions import MisconfigurationException

from vaeadv.checkpoints import load_checkpoint
from vaeadv.errors import VaeadvError
from vaeadv.io import ensure_writable_dir, pid_alive

LOCK_NAME = ".lock"
MAX_RUN_BYTES = 1 << 30  # a run folder estimated above this is refused unless forced


def _is_child_rank() -> bool:
    """A DDP worker that Lightning started by re-running the command: the parent already holds the lock."""
    return os.environ.get("LOCAL_RANK", "0") != "0" or os.environ.get("NODE_RANK", "0") != "0"


@contextlib.contextmanager
def run_lock(run_dir: str | Path) -> Iterator[Path]:
    """Hold ``run_dir/.lock`` (the owner's PID) for the duration. A live owner makes this refuse; a lock left by
    a killed process (its PID is gone) is taken over."""
    run_dir = Path(run_dir)
    ensure_writable_dir(run_dir)
    lock = run_dir / LOCK_NAME
    if _is_child_rank():
        yield lock
        return
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                owner = int(lock.read_text().strip() or "0")
            except (OSError, ValueError):
                owner = 0
            if owner and owner != os.getpid() and pid_alive(owner):
                raise VaeadvError(f"{run_dir} is in use by process {owner} (a run is writing there). Wait for it "
                                  "to finish, or use another --run-name / output folder.") from None
            lock.unlink(missing_ok=True)  # stale: its process is gone
            continue
        with os.fdopen(fd, "w") as fh:
            fh.write(f"{os.getpid()}\n")
        break
    else:
        raise VaeadvError(f"could not take the lock {lock}; remove it if no run is using {run_dir}.")
    try:
        yield lock
    finally:
        with contextlib.suppress(OSError):
            if lock.read_text().strip() == str(os.getpid()):
                lock.unlink()


class RunCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` for a relocatable run folder: the paths it keeps in a checkpoint are stored relative to
    its folder and rebased on load, so a moved or copied run resumes and tests its own files; and ``last.ckpt`` is
    always overwritten (no ``last-v1.ckpt`` beside a stale ``last.ckpt``)."""

    _PATH_KEYS = ("best_model_path", "kth_best_model_path", "last_model_path")

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("enable_version_counter", False)
        super().__init__(*args, **kwargs)

    def _relative(self, path: str) -> str:
        if not path or self.dirpath is None:
            return path
        p = Path(path)
        return p.name if p.parent == Path(self.dirpath) else path

    def _absolute(self, path: str) -> str:
        if not path or self.dirpath is None:
            return path
        p = Path(path)
        if not p.is_absolute() or not p.exists():  # relative (ours), or absolute from a folder that moved
            return str(Path(self.dirpath) / p.name)
        return path

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        for key in self._PATH_KEYS:
            state[key] = self._relative(state.get(key, ""))
        state["best_k_models"] = {self._relative(k): v for k, v in state.get("best_k_models", {}).items()}
        state["dirpath"] = "."
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = dict(state_dict)
        for key in self._PATH_KEYS:
            if key in state:
                state[key] = self._absolute(state[key])
        state["best_k_models"] = {self._absolute(k): v for k, v in state.get("best_k_models", {}).items()}
        state["dirpath"] = self.dirpath  # the folder it is in now
        super().load_state_dict(state)


def timed_last_checkpoint(dirpath: str | Path, minutes: float = 10.0) -> RunCheckpoint:
    """A second checkpoint callback that rewrites ``last.ckpt`` every ``minutes`` of training, mid-epoch: a PGD
    epoch of the full-width model takes over an hour on two CPU cores, and a kill should cost minutes, not the
    epoch. (The epoch-end callback still writes ``last.ckpt`` and the best checkpoint after validation.)"""
    return RunCheckpoint(dirpath=dirpath, save_top_k=0, save_last=True,
                         train_time_interval=timedelta(minutes=minutes))


EXTENDABLE = ("epochs", "max_epochs")  # a finished run may be continued for more epochs


def resume_checkpoint(last: Path, resume: bool, hparams: dict[str, Any]) -> str | None:
    """The checkpoint to resume from, checked first: loadable weights-only (a malicious or truncated file is one
    error, and no code runs whatever the environment says), and written with the same settings (the number of
    epochs aside: extending a run is allowed)."""
    if not (resume and last.exists()):
        return None
    ckpt = load_checkpoint(last, "training", required=("state_dict",))
    saved = ckpt.get("hyper_parameters") or {}
    changed = {k: (saved[k], v) for k, v in hparams.items()
               if k in saved and k not in EXTENDABLE and saved[k] != v}
    if changed:
        detail = ", ".join(f"{k} {old!r} → {new!r}" for k, (old, new) in sorted(changed.items()))
        raise VaeadvError(f"{last} was written with other settings ({detail}). Resume with the run's settings, "
                          "or start a new run with --run-name.")
    return str(last)


def check_devices(accelerator: str, devices: str | int) -> None:
    """Refuse a device count the machine does not have, before Lightning starts that many processes."""
    if not isinstance(devices, int):
        if devices not in ("auto", "-1") and not str(devices).replace(",", "").isdigit():
            raise VaeadvError(f"--devices must be a count, a comma list of GPU ids, 'auto' or -1; got '{devices}'.")
        return
    if devices < 1:
        raise VaeadvError(f"--devices must be at least 1, got {devices}.")
    gpus = torch.cuda.device_count()
    on_gpu = accelerator in ("gpu", "cuda") or (accelerator == "auto" and gpus > 0)
    have, what = (gpus, "GPUs") if on_gpu else (os.cpu_count() or 1, "CPU cores")
    if devices > have:
        raise VaeadvError(f"--devices {devices} asks for more than this machine has ({have} {what}).")


def make_trainer(**kwargs) -> pl.Trainer:
    """``pl.Trainer(**kwargs)``, with the device count checked first and a rejected setting (accelerator,
    strategy, precision, devices) reported in one line."""
    check_devices(str(kwargs.get("accelerator", "auto")), kwargs.get("devices", "auto"))
    try:
        return pl.Trainer(**kwargs)
    except (MisconfigurationException, ValueError, RuntimeError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise VaeadvError(f"Lightning refused the trainer settings: {first[:300]}") from None


def estimate_run_bytes(model: torch.nn.Module, checkpoints: int = 2) -> int:
    """Bytes the run folder's checkpoints will take: weights + Adam/SGD state (≈ 3 copies) per checkpoint."""
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    return checkpoints * 3 * params


def check_run_size(model: torch.nn.Module, run_dir: Path, force: bool) -> None:
    """Refuse a run whose checkpoints would exceed 1 GB or the free disk space, unless forced."""
    need = estimate_run_bytes(model)
    free = shutil.disk_usage(ensure_writable_dir(run_dir)).free
    if not force and (need > MAX_RUN_BYTES or need > free):
        raise VaeadvError(f"this run's checkpoints would take about {need / 1e9:.1f} GB (free: {free / 1e9:.1f} GB); "
                          "check the model size flags, or pass --force to write them anyway.")
