"""ε and α units, in one place. Attacks work in pixel space [0,1]; the course template states budgets in
*normalised* units, i.e. a pixel-space size of value·σ_c per channel (ε = 0.1 ↔ ≈ 0.025 ≈ 6.3/255)."""

from __future__ import annotations

from vaeadv.errors import VaeadvError
from vaeadv.robust.models import CIFAR10_STD

UNITS = ("pixel", "normalized")


def budget(value: float, units: str) -> list[float] | float:
    """ε or α in ``units`` → pixel space: a float (pixel units) or one size per channel (normalised units)."""
    if units == "pixel":
        return float(value)
    if units == "normalized":
        return [value * s for s in CIFAR10_STD]
    raise VaeadvError(f"unknown units '{units}' (use 'pixel' or 'normalized')")
