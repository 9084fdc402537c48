"""Which fields of a run's config are its training settings, for both halves (a VAE's and a classifier's configs
name their common fields alike). Torch-free: the command line and the report read it.

A run is matched (the report's reuse) and resumed by its training settings only: not by where it is written or how
it reports (``PLUMBING``), nor, when resuming, by what hardware carries it on (``EXECUTION``) or its epoch count,
which may grow (``EXTENDABLE``)."""

from __future__ import annotations

import json
from typing import Any

# where a run is written and read from and how it reports, not what it trains
PLUMBING = frozenset({"data_dir", "download", "log_dir", "run_name", "resume", "progress", "force"})
# what runs it and how fast: a run moved to other hardware, or compiled, trains the same model
EXECUTION = frozenset({"accelerator", "devices", "strategy", "pl_strategy", "compile", "channels_last",
                       "limit_val_batches", "limit_test_batches"})
# what is done after training (a classifier's attack evaluation), not how it trains
EVALUATION = frozenset({"attack", "cross_over", "eval_limit"})
EXTENDABLE = frozenset({"epochs", "max_epochs"})  # a finished run may be continued for more epochs


def resume_settings(config: dict[str, Any]) -> dict[str, Any]:
    """The settings a resumed run must share with the run it continues, in JSON form (tuples as lists)."""
    left_out = PLUMBING | EXECUTION | EVALUATION | EXTENDABLE
    return {k: v for k, v in json.loads(json.dumps(config, default=str)).items() if k not in left_out}
