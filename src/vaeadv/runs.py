"""The life of a run folder, shared by ``vae train`` and ``robust train`` (``TrainingRun``): one owner at a time (a
lock file), an existing run refused unless resumed, relocatable checkpoints that carry the run's training settings,
a resume that loads weights only and refuses a checkpoint of any other setting, a Trainer whose bad settings are one
readable error instead of a traceback, and ``results.json`` written once, with versions and hardware."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities.exceptions import MisconfigurationException

from vaeadv.checkpoints import load_checkpoint
from vaeadv.errors import VaeadvError
from vaeadv.io import atomic_write_json, ensure_writable_dir, pid_alive
from vaeadv.progress import TrainingClock
from vaeadv.runinfo import hardware, versions
from vaeadv.settings import EXTENDABLE, resume_settings

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
    its folder and rebased on load, so a moved or copied run resumes and tests its own files; ``last.ckpt`` is
    always overwritten (no ``last-v1.ckpt`` beside a stale ``last.ckpt``), and written at the end of every epoch
    (Lightning writes it at an epoch's end only when the monitored metric improved, so a kill after an epoch
    without improvement would lose it)."""

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

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        if (self.save_last and self._train_time_interval is None and self._should_save_on_train_epoch_end(trainer)
                and not self._should_skip_saving_checkpoint(trainer)):  # nothing saved at this step yet
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

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


class RunSettings(pl.Callback):
    """Keeps the run's training settings in every checkpoint (``resume_settings`` of its config), so that a resume
    is checked against all of them, not only the network's hyper-parameters."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = settings

    def state_dict(self) -> dict[str, Any]:
        return {"settings": self.settings}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """The resumed run's own settings stand: ``resume_checkpoint`` has compared them already."""


def _changed(saved: dict[str, Any], now: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Settings both sides record with different values (a field one side lacks is newer than that side's code)."""
    return {k: (saved[k], v) for k, v in now.items() if k in saved and k not in EXTENDABLE and saved[k] != v}


def resume_checkpoint(last: Path, resume: bool, hparams: dict[str, Any], settings: dict[str, Any] | None = None,
                      upgrade: Callable[[dict], dict] = dict) -> str | None:
    """The checkpoint to resume from, checked first: loadable weights-only (a malicious or truncated file is one
    error, and no code runs whatever the environment says), and written with the same network hyper-parameters
    (``upgrade`` reads those of older code in today's terms) and the same training ``settings`` (the number of
    epochs aside: extending a run is allowed)."""
    if not (resume and last.exists()):
        return None
    ckpt = load_checkpoint(last, "training", required=("state_dict",))
    changed = _changed(upgrade(ckpt.get("hyper_parameters") or {}), hparams)
    saved_settings = ((ckpt.get("callbacks") or {}).get(RunSettings.__qualname__) or {}).get("settings")
    if settings is not None and saved_settings is not None:
        changed |= _changed(saved_settings, settings)
    if changed:
        detail = ", ".join(f"{k} {old!r} → {new!r}" for k, (old, new) in sorted(changed.items()))
        raise VaeadvError(f"{last} was written with other settings ({detail}). Resume with the run's settings, "
                          "or start a new run with --run-name.")
    return str(last)


class TrainingRun:
    """One training run's life-cycle, the same for both halves: ``with TrainingRun(run_dir, cfg) as run:`` holds the
    folder's lock and refuses a folder that holds a run unless ``cfg.resume``; ``run.resume_from(hparams)`` is the
    checked checkpoint to continue; ``run.callbacks`` go to every Trainer (the run's clock, its settings in each
    checkpoint); ``run.write_results(...)`` writes ``results.json`` with the config, versions and hardware.
    ``shared`` names config fields that describe several runs at once (a classifier's list of defenses, one folder
    each): they are left out of this run's settings, its own part being in its hyper-parameters."""

    def __init__(self, run_dir: str | Path, config: Any, shared: tuple[str, ...] = (),
                 upgrade_hparams: Callable[[dict], dict] = dict) -> None:
        self.run_dir, self.config, self._upgrade = Path(run_dir), config, upgrade_hparams
        self.last = self.run_dir / "checkpoints" / "last.ckpt"
        # a setting left to a recipe is compared by the value it resolves to (None and the same value given are one)
        self.settings = {k: v for k, v in resume_settings(config.resolved_settings()).items() if k not in shared}
        self.clock = TrainingClock()
        self._lock: contextlib.ExitStack | None = None

    def __enter__(self) -> TrainingRun:
        with contextlib.ExitStack() as stack:
            stack.enter_context(run_lock(self.run_dir))
            if self.last.exists() and not self.config.resume:
                raise VaeadvError(f"{self.run_dir} already holds a run (checkpoints/last.ckpt). Pass --resume to "
                                  "continue it, or --run-name / --log-dir for a new one.")
            self._lock = stack.pop_all()
        return self

    def __exit__(self, *exc) -> None:
        if self._lock is not None:
            self._lock.close()

    def resume_from(self, hparams: dict[str, Any]) -> str | None:
        return resume_checkpoint(self.last, self.config.resume, hparams, self.settings, self._upgrade)

    @property
    def callbacks(self) -> list[pl.Callback]:
        return [self.clock, RunSettings(self.settings)]

    def write_results(self, results: dict[str, Any], write: bool = True) -> dict[str, Any]:
        """``results`` with the config, versions and hardware, written to ``results.json`` when ``write`` (the
        global-zero process of a multi-process run); returned either way."""
        payload = {"config": dataclasses.asdict(self.config), **results, "versions": versions(),
                   "hardware": hardware()}
        if write:
            atomic_write_json(self.run_dir / "results.json", payload)
        return payload


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
