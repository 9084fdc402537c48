"""How the answers quote a measurement: a percentage, a fixed-point number, a nested lookup, each saying
"(missing)" where the report has no number. Shared by both halves' answers."""

from __future__ import annotations

from typing import Any

from vaeadv.stats import percent_with_ci

Results = dict[str, dict[str, Any] | None]  # experiment name → its stored result (None: not run at this scale)
Answer = tuple[str, str]  # (question, answer)


def pct(x) -> str:
    return "(missing)" if x is None else f"{100 * x:.1f}%"


def pct_ci(x: float | None, n: int | None) -> str:
    """An accuracy with its 95% interval where the number of images is known (older results lack it)."""
    return pct(x) if x is None else percent_with_ci(x, n)


def fixed(x, digits: int = 3) -> str:
    return "(missing)" if x is None else f"{x:.{digits}f}"


def lookup(d, *keys):
    """``d[k0][k1]...``, None as soon as a level is missing (list levels are indexed)."""
    for k in keys:
        if d is None:
            return None
        d = d[k] if isinstance(d, list) else d.get(k)
    return d
