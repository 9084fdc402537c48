"""The loggers of every training run: TensorBoard, plus a CSV copy for scripts."""

from __future__ import annotations

from pathlib import Path

from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger


def run_loggers(run_dir: Path) -> list:
    """TensorBoard appends across resumes by itself; Lightning's CSV writer would truncate an existing
    metrics.csv, so a resumed run writes its CSV into a fresh ``csv_N`` folder beside the earlier ones."""
    n = sum(1 for p in run_dir.glob("csv*") if p.is_dir()) if run_dir.exists() else 0
    return [TensorBoardLogger(run_dir, name="", version="tensorboard"),
            CSVLogger(run_dir, name="", version="csv" if n == 0 else f"csv_{n + 1}")]
