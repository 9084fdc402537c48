import numpy as np
import pytest

from vaeadv.stats import Z95, accuracy_with_ci, percent_with_ci, wilson_interval


def _wilson_by_quadratic(k, n, z=Z95):
    """The Wilson interval as the two roots in p of (k/n − p)² = z²·p(1 − p)/n, solved by numpy."""
    phat = k / n
    a = 1 + z * z / n
    b = -(2 * phat + z * z / n)
    c = phat * phat
    return tuple(sorted(np.roots([a, b, c]).real))


@pytest.mark.parametrize("k,n", [(930, 1000), (1, 20), (500, 1000), (9999, 10000), (37, 50)])
def test_wilson_matches_the_roots_of_its_defining_quadratic(k, n):
    assert wilson_interval(k, n) == pytest.approx(_wilson_by_quadratic(k, n), abs=1e-9)


def test_wilson_at_the_boundaries_by_hand():
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(Z95**2 / (10 + Z95**2))  # 0.2775
    low, high = wilson_interval(10, 10)
    assert high == pytest.approx(1.0) and low == pytest.approx(10 / (10 + Z95**2))
    assert Z95 == pytest.approx(1.959964, abs=1e-6)


def test_accuracy_with_ci_and_bad_counts():
    r = accuracy_with_ci(930, 1000)
    assert r["accuracy"] == 0.93 and r["ci95_low"] < 0.93 < r["ci95_high"] and r["n"] == 1000
    assert 0.012 < r["ci95_high"] - 0.93 < 0.02  # ≈ ±1.6 points at n = 1000
    for k, n in ((1, 0), (-1, 10), (11, 10)):
        with pytest.raises(ValueError):
            wilson_interval(k, n)


def test_percent_with_ci_prints_the_interval_of_the_recovered_count():
    # 898 of 1000: Wilson by the quadratic's roots above = [0.87769, 0.91526]
    low, high = _wilson_by_quadratic(898, 1000)
    assert f"{100 * low:.1f}, {100 * high:.1f}" == "87.8, 91.5"
    assert percent_with_ci(0.898, 1000) == "89.8% [87.8, 91.5]"
    assert percent_with_ci(0.0, 10) == "0.0% [0.0, 27.8]"  # z²/(10 + z²) = 0.2775
    with pytest.raises(ValueError, match="not a count"):
        percent_with_ci(0.8985, 1000)
    # results stored before the image count was recorded: the plain percent, no interval made up
    assert percent_with_ci(0.8985, None) == "89.8%" == percent_with_ci(0.8985, 0)


def test_the_difference_interval_against_newcombes_published_examples():
    """Newcombe (1998), "Interval estimation for the difference between independent proportions", Table II,
    method 10 (score, no continuity correction): 56/70 − 48/80 → [0.0524, 0.3339]; 9/10 − 3/10 → [0.1705, 0.8090]."""
    from vaeadv.stats import difference_interval

    d, low, high = difference_interval(56, 70, 48, 80)
    assert d == pytest.approx(0.2) and (round(low, 4), round(high, 4)) == (0.0524, 0.3339)
    d, low, high = difference_interval(9, 10, 3, 10)
    assert d == pytest.approx(0.6) and (round(low, 4), round(high, 4)) == (0.1705, 0.8090)


def test_the_difference_interval_meets_the_normal_one_for_large_counts_and_is_antisymmetric():
    import math

    from vaeadv.stats import Z95, difference_interval

    n = 1_000_000
    d, low, high = difference_interval(600_000, n, 550_000, n)
    half = Z95 * math.sqrt(0.6 * 0.4 / n + 0.55 * 0.45 / n)  # Wald, which is fine at this size
    assert low == pytest.approx(d - half, abs=1e-5) and high == pytest.approx(d + half, abs=1e-5)
    d2, low2, high2 = difference_interval(550_000, n, 600_000, n)
    assert (d2, low2, high2) == pytest.approx((-d, -high, -low))
