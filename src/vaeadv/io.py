"""Atomic file writes: results are written to a temporary name and renamed, so a killed run never
leaves a half-written JSON, PNG or checkpoint behind."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vaeadv.errors import VaeadvError


def atomic_write(path: str | Path, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp_path)`` and rename the result to ``path`` (same folder, so the rename is atomic).

    The temporary name carries the writer's PID (``.NAME.PID.RANDOM.tmpSUFFIX``), so temporaries that a killed
    writer left behind are recognised and removed by the next write of the same file. The file is created with
    mode 0666 and the process umask applies, as for any other file (no process-wide umask change)."""
    path = Path(path)
    ensure_writable_dir(path.parent)
    if path.is_dir():
        raise VaeadvError(f"{path} is a folder; give a file name to write to.")
    remove_stale_temporaries(path)
    tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp{path.suffix}"
    try:
        os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        write(str(tmp))
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise VaeadvError(f"cannot write {path} ({exc.strerror or exc}).") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def remove_stale_temporaries(path: Path) -> None:
    """Delete ``.NAME.*.tmp*`` files beside ``path`` whose writer process is gone (or unknown: older layout)."""
    for tmp in path.parent.glob(f".{glob_escape(path.name)}.*.tmp*"):
        parts = tmp.name[len(path.name) + 2:].split(".")
        pid = int(parts[0]) if parts and parts[0].isdigit() else None
        if pid is None or not pid_alive(pid):
            tmp.unlink(missing_ok=True)


def glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    return atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


def _default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):  # numpy / torch scalars and arrays
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    text = json.dumps(obj, indent=2, sort_keys=False, default=_default) + "\n"
    return atomic_write_bytes(path, text.encode())


def read_json(path: str | Path, what: str = "JSON file") -> Any:
    """A JSON file's content, or one readable error naming the file (missing, unreadable or not JSON)."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise VaeadvError(f"{path}: {what} not found.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise VaeadvError(f"{path}: cannot read it as {what} ({err}).") from None


def pyplot():
    """matplotlib.pyplot on the headless Agg backend (imported lazily: most commands draw nothing)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | Path, dpi: int = 100) -> Path:
    """Write a matplotlib figure as PNG atomically, then free it."""
    try:
        return atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=dpi, format="png"))
    finally:
        pyplot().close(fig)


def ensure_writable_dir(path: str | Path) -> Path:
    """Create ``path`` as a folder, or say in one line why it cannot be one (a file is in the way, no permission)."""
    path = Path(path)
    for parent in [path, *path.parents]:
        if parent.exists() and not parent.is_dir():
            raise VaeadvError(f"{parent} is a file, not a folder: choose another output location.")
        if parent.exists():
            break
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise VaeadvError(f"cannot create the folder {path} ({exc.strerror or exc}).") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise VaeadvError(f"{path} is not writable: choose another output location.")
    return path
