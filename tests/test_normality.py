"""Tests of Normality (Shapiro-Wilk and Lilliefors K-S) against independent computations:
the exact W for three values, the K-S statistic by brute force over the empirical
distribution, Dallal & Wilkinson's formula written out, scipy and statsmodels."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.diagnostic import lilliefors

from studies.analysis import tests_of_normality as normality_table  # "test*" is collected


def brute_force_d(values: list[float]) -> float:
    """sup |F_n(x) - Phi(z)| checked just before and at every data point."""
    x = sorted(values)
    n = len(x)
    mean = sum(x) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in x) / (n - 1))
    gaps = []
    for v in x:
        phi = 0.5 * (1 + math.erf((v - mean) / sd / math.sqrt(2)))
        below = sum(1 for w in x if w < v) / n
        at = sum(1 for w in x if w <= v) / n
        gaps += [abs(phi - below), abs(at - phi)]
    return max(gaps)


def dallal_wilkinson(d: float, n: int) -> float:
    """Dallal & Wilkinson (1986), The American Statistician 40(4), 294-296, eq. for p < .1."""
    if n > 100:
        d *= (n / 100) ** 0.49
        n = 100
    return math.exp(
        -7.01256 * d * d * (n + 2.78019)
        + 2.99587 * d * math.sqrt(n + 2.78019)
        - 0.122119
        + 0.974598 / math.sqrt(n)
        + 1.67997 / n
    )


SKEWED = [1, 1, 1, 1, 2, 2, 3, 9, 10, 30, 2, 3]
RNG = np.random.default_rng(7)


def test_shapiro_wilk_of_three_values_is_exact() -> None:
    # For n = 3, W = (x3 - x1)^2 / (2 SS) and p = 6/pi (asin(sqrt(W)) - asin(sqrt(3/4)))
    # (Shapiro & Wilk 1965, section 5; Royston 1995).
    result = normality_table([2, 3, 7])
    w = 25 / 2 / 14
    assert result["shapiro_wilk"]["statistic"] == pytest.approx(w, abs=1e-12)
    expected_p = 6 / math.pi * (math.asin(math.sqrt(w)) - math.asin(math.sqrt(0.75)))
    assert result["shapiro_wilk"]["p"] == pytest.approx(expected_p, abs=1e-6)
    assert result["shapiro_wilk"]["df"] == 3
    assert result["kolmogorov_smirnov"] is None
    assert result["not_computed"] == {"shapiro_wilk": None, "kolmogorov_smirnov": "too_few"}


@pytest.mark.parametrize(
    "values",
    [SKEWED, [3, 4, 4, 5, 5, 5, 6, 6, 6, 6, 7, 7, 8, 9, 12], [1.5, 2.25, 2.5, 4.0, 7.75],
     [round(float(v), 1) for v in RNG.normal(50, 10, 150)]],
    ids=["skewed", "ties", "five", "n150"],
)  # fmt: skip
def test_lilliefors_statistic_and_p(values: list[float]) -> None:
    result = normality_table(values)
    ks = result["kolmogorov_smirnov"]
    assert ks["statistic"] == pytest.approx(brute_force_d(values), abs=1e-12)
    assert ks["df"] == len(values)
    sw = stats.shapiro(values)
    assert result["shapiro_wilk"] == {
        "statistic": pytest.approx(float(sw.statistic)), "df": len(values),
        "p": pytest.approx(float(sw.pvalue)),
    }  # fmt: skip
    formula = dallal_wilkinson(ks["statistic"], len(values))
    if formula <= 0.1:
        assert ks["p"] == pytest.approx(formula, rel=1e-9)
        assert ks["p_is_lower_bound"] is False
    else:
        _, table_p = lilliefors(values, pvalmethod="approx")
        if table_p >= 0.2:
            assert (ks["p"], ks["p_is_lower_bound"]) == (0.2, True)
        else:
            assert (ks["p"], ks["p_is_lower_bound"]) == (pytest.approx(table_p), False)


def test_skewed_sample_is_significant_below_point_one() -> None:
    ks = normality_table(SKEWED)["kolmogorov_smirnov"]
    assert ks["p"] < 0.01 and not ks["p_is_lower_bound"]


def test_p_above_point_two_is_a_lower_bound_as_spss_prints_it() -> None:
    # 1, 2, 2, 3, 4, 7, 8, 9: D = .189676 (PSPP prints the same D), far inside the
    # acceptance region, so SPSS prints ".200*"; statsmodels' table gives about .54.
    result = normality_table([1, 2, 2, 3, 4, 7, 8, 9])
    ks = result["kolmogorov_smirnov"]
    assert ks["statistic"] == pytest.approx(0.189676, abs=5e-7)
    assert lilliefors([1, 2, 2, 3, 4, 7, 8, 9], pvalmethod="approx")[1] > 0.2
    assert (ks["p"], ks["p_is_lower_bound"]) == (0.2, True)


def test_missing_values_are_left_out() -> None:
    with_gaps = normality_table([4, None, 7, 1, float("nan"), 3, 9, 2, 2])
    without = normality_table([4, 7, 1, 3, 9, 2, 2])
    assert with_gaps == without
    assert with_gaps["n"] == 7 and with_gaps["shapiro_wilk"]["df"] == 7


@pytest.mark.parametrize(
    ("values", "shapiro", "kolmogorov"),
    [
        ([], "too_few", "too_few"),
        ([5, 6], "too_few", "too_few"),
        ([5, 5, 5, 5, 5, 5], "constant", "constant"),
        ([5, 6, 7, 8], None, "too_few"),
        (list(range(5001)), "too_many", None),
    ],
)
def test_not_computed_says_why(values, shapiro, kolmogorov) -> None:
    result = normality_table(values)
    assert result["not_computed"] == {"shapiro_wilk": shapiro, "kolmogorov_smirnov": kolmogorov}
    assert (result["shapiro_wilk"] is None) == (shapiro is not None)
    assert (result["kolmogorov_smirnov"] is None) == (kolmogorov is not None)
    json.dumps(result, allow_nan=False)


def test_plain_types_only() -> None:
    result = normality_table(np.array([1, 2, 2, 3, 4, 7, 8, 9], dtype=np.int64))
    for test in ("shapiro_wilk", "kolmogorov_smirnov"):
        for value in result[test].values():
            assert type(value) in (int, float, bool)
