"""What the report reuses, keyed by configuration, in one place: an experiment's stored result is reused only
when its stored configuration matches (the scale settings it reads), and a training run only
when the whole training config (``dataclasses.asdict``, code defaults included) matches the one its
``results.json`` records. A changed setting or default re-runs it, so a number can never outlive the settings that
produced it. Results are written atomically (temp file, then rename)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from vaeadv.io import atomic_write_json
from vaeadv.robust.config import (
    LABEL_SMOOTHING_BEFORE_SETTING,
    LATER_FIELDS,
    recipe_label_smoothing,
    upgrade_config,
)
from vaeadv.settings import EVALUATION, PLUMBING
from vaeadv.vae.config import upgrade_vae_config


def config_hash(config: dict[str, Any]) -> str:
    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


# Fields of a training config that do not change the trained model: where it is written and read from, how it
# reports (``PLUMBING``), and a classifier's evaluation after training (the report makes its own).
NOT_TRAINING = PLUMBING | EVALUATION
# Fields a classifier's config gained after runs were first keyed, at their values that leave them unset: runs that
# do so keep their keys. (A VAE config keys its own ema_decay always, as it has since that field was added.)
KEYED_WHEN_SET = {"pretrained_sha256": None,
                  **{field: LATER_FIELDS[field] for field in ("cutout", "ema_decay", "compile", "train_pretrained")}}


def training_key(config: Any) -> dict[str, Any]:
    """The settings that determine a trained model: the whole config but the fields above, with the hash of the
    weights a run started from (``pinned``); a config recorded by older code first gains the fields added since,
    at the values that reproduce what it did. A classifier run from no weights, without Cutout, EMA or label
    smoothing, keys as it did before those fields existed; label smoothing is keyed by its value, whether the
    recipe's or given."""
    if isinstance(config, dict):
        fields = upgrade_vae_config(upgrade_config(config))
    else:
        fields = asdict(config.pinned() if hasattr(config, "pinned") else config)
    key = {k: v for k, v in json.loads(json.dumps(fields, default=str)).items() if k not in NOT_TRAINING}
    if "defenses" in key:  # label smoothing is keyed by its value, and left out at what runs had before it was a
        # setting (so their keys stand: a pretrain run without the field was smoothed, 0.1)
        smoothing = key.get("label_smoothing")
        smoothing = recipe_label_smoothing(key.get("recipe")) if smoothing is None else smoothing
        key["label_smoothing"] = smoothing
        if smoothing == LABEL_SMOOTHING_BEFORE_SETTING.get(key.get("recipe"), 0.0):
            key.pop("label_smoothing")
    for field, unset in KEYED_WHEN_SET.items() if "defenses" in key else ():
        if key.get(field, unset) == unset:
            key.pop(field, None)
    return key


def run_dir_name(label: str, config: Any) -> str:
    """A readable, configuration-unique folder name: runs with equal training settings share one folder (and so
    one training), runs with different settings never do."""
    return f"{label}-{config_hash(training_key(config))}"


def _read(path: Path) -> dict | None:
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return saved if isinstance(saved, dict) else None


def find_run(root: Path, config: Any, finished: Callable[[dict], bool], need_weights: bool = True) -> dict | None:
    """A finished run under ``root`` (any depth) whose ``results.json`` records exactly this training config: a
    run trained from the command line with the same settings and copied under ``root`` is found too. A run whose
    best checkpoint file is gone (results committed without their weights) cannot be evaluated: not found, unless
    ``need_weights`` is False (what it measured when it was trained is all the caller reads)."""
    key = training_key(config)
    for path in sorted(root.rglob("results.json")) if root.is_dir() else ():
        saved = _read(path)
        if saved and training_key(saved.get("config") or {}) == key and finished(saved):
            run = located(saved, path.parent)
            if _has_weights(run) or not need_weights:
                return run
    return None


def _has_weights(run: dict) -> bool:
    """False only when the run names a checkpoint file that is not there (a shipped weights name is fine)."""
    best = str(run.get("best_checkpoint") or "")
    return not best.endswith(".ckpt") or Path(best).is_file()


def located(results: dict, run_dir: Path) -> dict:
    """``results`` with its run folder and best checkpoint where the folder is now (it may have been moved or
    copied since it recorded them). A best checkpoint that is a shipped weights name stays as it is."""
    best = str(results.get("best_checkpoint") or "")
    moved = {"run_dir": str(run_dir)}
    if best.endswith(".ckpt"):
        moved["best_checkpoint"] = str(_best_file(run_dir, Path(best).name))
    return {**results, **moved}


def _best_file(run_dir: Path, name: str) -> Path:
    """Where a run folder keeps its best checkpoint: ``checkpoints/<name>`` as training writes it, or a single
    ``best.ckpt`` beside results.json as the committed runs of docs/results keep it."""
    usual = run_dir / "checkpoints" / name
    return next((p for p in (usual, run_dir / name, run_dir / "best.ckpt") if p.is_file()), usual)


def adopt(found: dict, dest: Path) -> dict:
    """A finished run found outside the report folder, copied to ``dest``: its results, figures and best
    checkpoint (no logs, no other checkpoints), so the report folder holds everything it shows. Built beside
    ``dest`` and swapped in, so an interruption leaves no half-copied run that would pass for finished."""
    source = Path(found["run_dir"])
    staging = dest.with_name(f".{dest.name}.{os.getpid()}.adopting")
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "checkpoints").mkdir(parents=True)
    for path in source.iterdir():
        if path.is_file() and path.suffix in (".json", ".png") and not path.name.startswith("."):
            shutil.copy2(path, staging / path.name)
    best = str(found.get("best_checkpoint") or "")
    recorded = (_read(source / "results.json") or {}).get("best_checkpoint") or best
    if best.endswith(".ckpt"):  # under the name results.json records, where training would have put it
        shutil.copy2(best, staging / "checkpoints" / Path(recorded).name)
    if dest.exists():  # an unfinished training of the same config: the finished run replaces it
        shutil.rmtree(dest)
    os.replace(staging, dest)
    return located({**found, "best_checkpoint": recorded}, dest)


def reuse_or_train(config: Any, root: Path, train: Callable[[], dict], finished: Callable[[dict], bool],
                   elsewhere: tuple[Path, ...] = (), into: Path | None = None) -> dict:
    """The recorded results of a finished run of exactly this training config under ``root``; else one found
    under a folder of ``elsewhere`` (e.g. docs/results, a robust_logs folder), copied to ``into``; otherwise
    ``train()`` (which resumes an interrupted run from its last checkpoint)."""
    found = find_run(root, config, finished)
    if found:
        return found
    for folder in elsewhere:
        found = find_run(folder, config, finished)
        if found:
            if into is None:
                raise ValueError("a run found elsewhere needs `into`, the report folder's place for it")
            return adopt(found, into)
    return train()


class ResultStore:
    """``<root>/<name>.json`` = {"name", "config", "config_hash", "result"}."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, name: str) -> Path:
        return self.root / f"{name}.json"

    def get(self, name: str, config: dict[str, Any],
            view: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> dict | None:
        """The stored result if it was produced by exactly ``config``, else None (missing, stale or damaged). With
        ``view``, the stored and the given config need only look the same through it (what of a config the result
        depends on, so that keys stored with more settings than that still match)."""
        stored = self.read(name)
        if stored is None:
            return None
        if view is None:
            same = stored.get("config_hash") == config_hash(config)
        else:
            try:
                same = config_hash(view(stored.get("config"))) == config_hash(view(config))
            except (AttributeError, KeyError, TypeError):  # a stored config of another shape
                same = False
        return stored.get("result") if same else None

    def read(self, name: str) -> dict | None:
        """The whole stored entry (its ``config`` and ``result``), or None where missing or damaged."""
        try:
            stored = json.loads(self.path(name).read_text())
        except (OSError, ValueError):
            return None
        return stored if isinstance(stored, dict) else None

    def put(self, name: str, config: dict[str, Any], result: dict) -> Path:
        return atomic_write_json(self.path(name), {"name": name, "config": config,
                                                   "config_hash": config_hash(config), "result": result})
