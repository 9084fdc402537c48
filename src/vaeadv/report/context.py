"""What every experiment needs: where to write, which scale, where the data is."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vaeadv.report.scales import Scale


@dataclass
class Context:
    out: Path
    scale: Scale
    data_dir: str | None = None
    download: bool = True
    progress: bool = True

    @property
    def runs(self) -> Path:
        return self.out / "runs"

    @property
    def figures(self) -> Path:
        return self.out / "figures"

    def rel(self, path: str | Path) -> str:
        """Paths inside results are relative to the report folder, so the folder can be moved or committed."""
        return Path(path).resolve().relative_to(self.out.resolve()).as_posix()

    def log(self, message: str) -> None:
        print(f"[report:{self.scale.name}] {message}", flush=True)
