"""What every experiment needs: where to write, which scale, where the data is."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vaeadv.report.scales import Scale


class NeedsTraining(Exception):
    """An experiment that cannot run at all without training a model, under ``Context.train`` False."""


@dataclass
class Context:
    out: Path
    scale: Scale
    data_dir: str | None = None
    download: bool = True
    progress: bool = True
    reuse: tuple[Path, ...] = ()  # folders whose finished training runs are copied in instead of retrained
    train: bool = True  # False: evaluate only models trained already (shipped, in the report folder or reuse)
    compile: bool = False  # torch.compile the VAEs' loss (CUDA graphs on a GPU): other runs, keyed apart

    @property
    def runs(self) -> Path:
        return self.out / "runs"

    @property
    def figures(self) -> Path:
        return self.out / "figures"

    def rel(self, path: str | Path) -> str:
        """Paths inside results are relative to the report folder, so the folder can be moved or committed."""
        return self.local(path).resolve().relative_to(self.out.resolve()).as_posix()

    def local(self, path: str | Path) -> Path:
        """``path`` as it is in this report folder: a path recorded when the folder lay elsewhere (moved or copied)
        is rebased onto the same place under ``out``. Paths that belong to no report folder stay as they are."""
        path = Path(path)
        if not path.is_absolute():
            return self.out / path
        out = self.out.resolve()
        if path.resolve().is_relative_to(out):
            return path
        parts = path.parts
        for i in range(1, len(parts)):
            candidate = out.joinpath(*parts[i:])
            if parts[i] in ("runs", "figures", "results") and candidate.exists():
                return candidate
        return path

    def log(self, message: str) -> None:
        print(f"[report:{self.scale.name}] {message}", flush=True)
