"""Progress for both halves: a bar on a terminal, one line per epoch elsewhere (CI, a log file, a notebook),
and the training time of a run summed over the sessions it took."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import lightning.pytorch as pl


class TrainingClock(pl.Callback):
    """Wall seconds of training, summed over every session of a run: the total so far is stored in each
    checkpoint and taken back on resume, so a run killed and resumed reports the time its weights cost, not only
    its last session's (work lost after the last checkpoint is not counted; redoing it is)."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self._clock = clock
        self._before = 0.0  # seconds of earlier sessions, from the resumed checkpoint
        self._start: float | None = None
        self._stop: float | None = None

    @property
    def seconds(self) -> float:
        if self._start is None:
            return self._before
        return self._before + ((self._stop if self._stop is not None else self._clock()) - self._start)

    @property
    def resumed_seconds(self) -> float:
        """The part of :attr:`seconds` that earlier sessions spent."""
        return self._before

    def on_train_start(self, trainer, module) -> None:
        self._start, self._stop = self._clock(), None

    def on_train_end(self, trainer, module) -> None:
        self._stop = self._clock()

    def state_dict(self) -> dict[str, Any]:
        return {"seconds": self.seconds}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if self._start is not None:  # a checkpoint loaded after training (``trainer.test(ckpt_path="best")``)
            return  # is not a resume: its older total must not replace this run's
        self._before = float(state_dict.get("seconds", 0.0))


class FirstStepTimer(pl.Callback):
    """How much longer this session's first training step took than a typical one (the median of the next
    ``steps``): with ``torch.compile`` that is the compile time, which is then stated apart from training."""

    def __init__(self, steps: int = 10, clock: Callable[[], float] = time.perf_counter) -> None:
        self._clock, self._steps, self._durations, self._start = clock, steps, [], 0.0

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        if len(self._durations) <= self._steps:
            self._start = self._clock()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if len(self._durations) <= self._steps:
            self._durations.append(self._clock() - self._start)

    @property
    def excess_seconds(self) -> float | None:
        """First step minus the median of the later ones; None before two steps ran."""
        if len(self._durations) < 2:
            return None
        later = sorted(self._durations[1:])
        return max(0.0, self._durations[0] - later[len(later) // 2])


class EpochLine(pl.Callback):
    """Prints ``epoch N/M  metric value ...  (elapsed)`` after each validation, flushed at once, so a run's log
    is readable while it runs and is a few hundred bytes per epoch instead of a bar frame per step. The elapsed
    time is the run's :class:`TrainingClock` (all its sessions)."""

    def __init__(self, clock: TrainingClock, stream=None) -> None:
        self.clock = clock
        self.stream = stream

    def on_validation_end(self, trainer, module) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        metrics = "  ".join(f"{k} {float(v):.4f}" for k, v in sorted(trainer.callback_metrics.items())
                            if v.numel() == 1)
        print(f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs}  {metrics}  ({self.clock.seconds / 60:.1f} min)",
              file=self.stream or sys.stdout, flush=True)
