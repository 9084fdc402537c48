"""ε and α units, in one place. Attacks work in pixel space [0,1]; the course template states budgets in
*normalised* units, i.e. a pixel-space size of value·σ_c per channel (ε = 0.1 ↔ ≈ 0.025 ≈ 6.3/255).
Torch-free at import: the command line reads ``UNITS`` for its choices."""

from __future__ import annotations

from vaeadv.errors import VaeadvError

UNITS = ("pixel", "normalized")


def budget(value: float, units: str) -> list[float] | float:
    """ε or α in ``units`` → pixel space: a float (pixel units) or one size per channel (normalised units)."""
    if units == "pixel":
        return float(value)
    if units == "normalized":
        from vaeadv.robust.models import CIFAR10_STD

        return [value * s for s in CIFAR10_STD]
    raise VaeadvError(f"unknown units '{units}' (use {' or '.join(repr(u) for u in UNITS)})")
