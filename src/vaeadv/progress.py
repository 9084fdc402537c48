"""Progress for both halves: a bar on a terminal, one line per epoch elsewhere (CI, a log file, a notebook)."""

from __future__ import annotations

import sys
import time

import lightning.pytorch as pl


class EpochLine(pl.Callback):
    """Prints ``epoch N/M  metric value ...  (elapsed)`` after each validation, flushed at once, so a run's log
    is readable while it runs and is a few hundred bytes per epoch instead of a bar frame per step."""

    def __init__(self, stream=None) -> None:
        self.stream = stream
        self._start = None

    def on_train_start(self, trainer, module) -> None:
        self._start = time.perf_counter()

    def on_validation_end(self, trainer, module) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero or self._start is None:
            return
        metrics = "  ".join(f"{k} {float(v):.4f}" for k, v in sorted(trainer.callback_metrics.items())
                            if v.numel() == 1)
        elapsed = time.perf_counter() - self._start
        print(f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs}  {metrics}  ({elapsed / 60:.1f} min)",
              file=self.stream or sys.stdout, flush=True)
