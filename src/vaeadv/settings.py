"""Which fields of a run's config are its training settings, for both halves (a VAE's and a classifier's configs
name their common fields alike). Torch-free: the command line and the report read it.

A run is matched (the report's reuse) and resumed by its training settings only: not by where it is written or how
it reports (``PLUMBING``), nor, when resuming, by what hardware carries it on (``EXECUTION``) or its epoch count,
which may grow (``EXTENDABLE``)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, ClassVar

# where a run is written and read from and how it reports, not what it trains
PLUMBING = frozenset({"data_dir", "download", "log_dir", "run_name", "resume", "progress", "force"})
# what runs it and how fast: a run moved to other hardware, or compiled, trains the same model
EXECUTION = frozenset({"accelerator", "devices", "strategy", "pl_strategy", "compile", "channels_last",
                       "limit_val_batches", "limit_test_batches"})
# what is done after training (a classifier's attack evaluation), not how it trains
EVALUATION = frozenset({"attack", "cross_over", "eval_limit", "holdout_only"})
EXTENDABLE = frozenset({"epochs", "max_epochs"})  # a finished run may be continued for more epochs


def resume_settings(config: dict[str, Any]) -> dict[str, Any]:
    """The settings a resumed run must share with the run it continues, in JSON form (tuples as lists)."""
    left_out = PLUMBING | EXECUTION | EVALUATION | EXTENDABLE
    return {k: v for k, v in json.loads(json.dumps(config, default=str)).items() if k not in left_out}


class RunConfig:
    """The base of both halves' run configs (dataclasses): how a config recorded by older code is read in today's
    terms (``upgrade``: the fields added since, at the values that reproduce what those runs did), how such a
    record is told apart from the other half's (``recognises``), and the settings a run trains with
    (``resolved_settings``: a value left to a recipe filled in)."""

    LATER_FIELDS: ClassVar[dict[str, Any]] = {}  # fields added after runs were first recorded, at their old values
    RECORDED_KEYS: ClassVar[frozenset[str]] = frozenset()  # any of these in a record marks this kind of config

    @classmethod
    def recognises(cls, recorded: dict[str, Any]) -> bool:
        return bool(cls.RECORDED_KEYS & set(recorded))

    @classmethod
    def upgrade(cls, recorded: dict[str, Any]) -> dict[str, Any]:
        """A recorded config of this kind in today's terms; any other record is returned as it is."""
        return {**cls.LATER_FIELDS, **recorded} if cls.recognises(recorded) else dict(recorded)

    def resolved_settings(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
