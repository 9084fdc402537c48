"""Experiment results on disk, keyed by configuration: a finished experiment is reused only when its
stored configuration hash matches, so a changed setting re-runs it and a number can never outlive the
settings that produced it. Results are written atomically (temp file, then rename)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from vaeadv.io import atomic_write_json


def config_hash(config: dict[str, Any]) -> str:
    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def run_dir_name(label: str, config: dict[str, Any]) -> str:
    """A readable, configuration-unique folder name: runs with equal settings share one folder (and so one
    training), runs with different settings never do."""
    return f"{label}-{config_hash(config)}"


class ResultStore:
    """``<root>/<name>.json`` = {"name", "config", "config_hash", "result"}."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, name: str) -> Path:
        return self.root / f"{name}.json"

    def get(self, name: str, config: dict[str, Any]) -> dict | None:
        """The stored result if it was produced by exactly ``config``, else None (missing, stale or damaged)."""
        path = self.path(name)
        try:
            stored = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(stored, dict) or stored.get("config_hash") != config_hash(config):
            return None
        return stored.get("result")

    def put(self, name: str, config: dict[str, Any], result: dict) -> Path:
        return atomic_write_json(self.path(name), {"name": name, "config": config,
                                                   "config_hash": config_hash(config), "result": result})
