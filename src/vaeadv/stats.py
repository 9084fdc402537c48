"""Confidence intervals for the accuracies vaeadv reports (shared by both halves)."""

from __future__ import annotations

import math

Z95 = 1.959963984540054  # the standard normal's 97.5% quantile


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion: unlike the normal approximation it stays inside
    [0, 1] and keeps its coverage near 0% and 100% accuracy."""
    if n <= 0 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n and n > 0, got {successes} of {n}")
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def accuracy_with_ci(correct: int, n: int) -> dict[str, float | int]:
    """``{"accuracy", "ci95_low", "ci95_high", "correct", "n"}`` for a JSON result."""
    low, high = wilson_interval(correct, n)
    return {"accuracy": correct / n, "ci95_low": low, "ci95_high": high, "correct": correct, "n": n}


def percent_with_ci(accuracy: float, n: int | None) -> str:
    """An accuracy measured on ``n`` images as a report shows it, with its 95% Wilson interval in brackets
    (``89.8% [87.8, 91.5]``). Results store the accuracy, so the count is recovered by rounding. Results
    stored before the count was recorded (``n`` None) show the plain percent: no interval can be made up."""
    if not n:
        return f"{100 * accuracy:.1f}%"
    correct = round(accuracy * n)
    if abs(correct - accuracy * n) > 1e-6 * n:
        raise ValueError(f"accuracy {accuracy} is not a count out of {n} images")
    low, high = wilson_interval(correct, n)
    return f"{100 * accuracy:.1f}% [{100 * low:.1f}, {100 * high:.1f}]"


def difference_interval(k1: int, n1: int, k2: int, n2: int, z: float = Z95) -> tuple[float, float, float]:
    """(p1 − p2, low, high): Newcombe's hybrid score interval for the difference of two proportions (his method
    10), built from each proportion's Wilson interval, so it keeps its coverage near 0% and 100% where the normal
    approximation does not. For "what a defense bought": defended accuracy minus its control's."""
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson_interval(k1, n1, z)
    l2, u2 = wilson_interval(k2, n2, z)
    d = p1 - p2
    return d, d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
