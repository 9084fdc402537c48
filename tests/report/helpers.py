"""Independent formulas the report's tests check its intervals against."""

import math


def newcombe(k1, n1, k2, n2):
    """Newcombe's hybrid score interval for p1 − p2 (his method 10), from Wilson's bounds written out here."""
    def wilson(k, n, z=1.959964):
        p = k / n
        mid, half = p + z * z / (2 * n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        return (mid - half) / (1 + z * z / n), (mid + half) / (1 + z * z / n)

    (l1, u1), (l2, u2), d = wilson(k1, n1), wilson(k2, n2), k1 / n1 - k2 / n2
    return d, d - math.sqrt((k1 / n1 - l1) ** 2 + (u2 - k2 / n2) ** 2), d + math.sqrt((u1 - k1 / n1) ** 2 +
                                                                                        (k2 / n2 - l2) ** 2)
