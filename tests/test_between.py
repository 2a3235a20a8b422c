"""Tests of studies.analysis.between: Mann-Whitney U, Levene and the independent-samples t test.

Every figure is checked against a computation written here from the definition (pairwise
counts, loops, enumeration of every allocation), against scipy where its definition is
SPSS's, and against SPSS output published for known data.  GNU PSPP checks the same figures
in tests/test_pspp_between.py.  Pure Python: no Django settings and no database.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
from collections import Counter

import numpy as np
import pytest
from scipy import stats

from studies.analysis.between import (
    MANN_WHITNEY_EXACT_MAX_N,
    independent_t,
    levene,
    mann_whitney,
    mann_whitney_exact_p,
)


def plain(value) -> bool:
    """Only JSON's own types, all the way down (no numpy scalars, no NaN)."""
    if isinstance(value, dict):
        return all(isinstance(k, str) and plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(plain(v) for v in value)
    if isinstance(value, float):
        return math.isfinite(value)
    return value is None or type(value) in (int, str, bool)


# ---------------------------------------------------------------------------
# Fixtures with ties, zeros, unequal arms
# ---------------------------------------------------------------------------

RNG = np.random.default_rng(20260615)
FIXTURES = [
    # (group 1, group 2)
    ([3, 5, 5, 7, 9], [2, 4, 5, 6, 8, 1]),
    ([0, 0, 1, 2, 2, 2, 5], [0, 1, 1, 3, 3, 4, 4, 6, 0]),  # zeros and many ties, 7 vs 9
    ([1.5, 2.25, 2.25, 3.0], [0.5, 4.0]),
    (list(RNG.integers(0, 6, 13)), list(RNG.integers(1, 8, 21))),  # 34 cases, heavy ties
    (list(RNG.normal(10, 2, 25).round(1)), list(RNG.normal(11, 3, 30).round(1))),  # N = 55
    ([7, 8, 9], [1, 2, 3, 4, 5, 6, 10, 11]),  # the smaller arm has the larger mean rank
]


def midranks(values: list[float]) -> list[float]:
    """Average ranks by counting: rank = (#smaller) + (#equal + 1) / 2."""
    return [sum(v < x for v in values) + (sum(v == x for v in values) + 1) / 2 for x in values]


def reference_mann_whitney(x: list[float], y: list[float]) -> dict:
    """SPSS's figures from the definitions, by loops (no ranking library)."""
    n1, n2 = len(x), len(y)
    n = n1 + n2
    ranks = midranks(list(x) + list(y))
    r1, r2 = sum(ranks[:n1]), sum(ranks[n1:])
    # U of group 1: the pairs where group 1's value is larger, ties counting one half.
    u1 = sum((a > b) + 0.5 * (a == b) for a in x for b in y)
    u2 = n1 * n2 - u1
    ties = sum(t**3 - t for t in Counter(list(x) + list(y)).values())
    sigma = math.sqrt(n1 * n2 / (n * (n - 1)) * ((n**3 - n) / 12 - ties / 12))
    u = min(u1, u2)
    z = (u - n1 * n2 / 2) / sigma
    smaller_mean_rank = r1 if r1 / n1 < r2 / n2 else r2
    return {
        "u": u,
        "u1": u1,
        "w": smaller_mean_rank if r1 / n1 != r2 / n2 else r2,
        "r1": r1,
        "r2": r2,
        "z": z,
        "p": math.erfc(-z / math.sqrt(2)),  # 2 * Phi(z) for z <= 0
    }


@functools.cache
def untied_u_values(n1: int, n2: int) -> tuple[float, ...]:
    """U of group 1 for every choice of its ranks among 1..N (no ties), one per allocation."""
    return tuple(
        sum(chosen) - n1 * (n1 + 1) / 2
        for chosen in itertools.combinations(range(1, n1 + n2 + 1), n1)
    )


def enumerated_exact_p(u: float, n1: int, n2: int) -> float:
    """2 * P(U <= u) over every allocation of the ranks 1..N to the two groups."""
    values = untied_u_values(n1, n2)
    return min(1.0, 2 * sum(v <= u for v in values) / len(values))


@pytest.mark.parametrize(("x", "y"), FIXTURES)
def test_mann_whitney_matches_the_definitions(x, y) -> None:
    result = mann_whitney({"intervention": x, "control": y})
    expected = reference_mann_whitney(x, y)
    ranks = result["ranks"]
    assert ranks["intervention"]["n"] == len(x) and ranks["control"]["n"] == len(y)
    assert ranks["intervention"]["sum_of_ranks"] == pytest.approx(expected["r1"], abs=1e-9)
    assert ranks["control"]["sum_of_ranks"] == pytest.approx(expected["r2"], abs=1e-9)
    assert ranks["control"]["mean_rank"] == pytest.approx(expected["r2"] / len(y), abs=1e-9)
    assert result["u"] == pytest.approx(expected["u"], abs=1e-9)
    assert result["w"] == pytest.approx(expected["w"], abs=1e-9)
    assert result["z"] == pytest.approx(expected["z"], rel=1e-12)
    assert result["z"] <= 0
    assert result["p_asymptotic"] == pytest.approx(expected["p"], rel=1e-10)
    # scipy's asymptotic test with the ties term and without continuity correction is SPSS's
    # (scipy reports group 1's U rather than the smaller one).
    reference = stats.mannwhitneyu(x, y, use_continuity=False, method="asymptotic")
    assert float(reference.statistic) == pytest.approx(expected["u1"])
    assert result["p_asymptotic"] == pytest.approx(float(reference.pvalue), rel=1e-10)
    assert plain(result)
    json.dumps(result, allow_nan=False)


@pytest.mark.parametrize(("x", "y"), [f for f in FIXTURES if len(f[0]) + len(f[1]) <= 20])
def test_mann_whitney_exact_p_is_spss_untied_distribution_by_enumeration(x, y) -> None:
    """The exact p ignores ties (SPSS footnotes "Not corrected for ties"): 2 P(U <= u) with U's
    distribution over all C(N, n1) allocations of the ranks 1..N."""
    result = mann_whitney({"a": x, "b": y})
    assert result["p_exact"] == pytest.approx(
        enumerated_exact_p(result["u"], len(x), len(y)), rel=1e-12
    )


@pytest.mark.parametrize(("n1", "n2"), [(1, 1), (1, 7), (4, 4), (5, 9), (10, 10), (6, 13)])
def test_mann_whitney_exact_p_at_every_u_against_enumeration_and_scipy(n1, n2) -> None:
    for twice_u in range(0, n1 * n2 + 1):  # half-integers arise from ties
        u = twice_u / 2
        if u > n1 * n2 / 2:
            break
        assert mann_whitney_exact_p(u, n1, n2) == pytest.approx(
            enumerated_exact_p(u, n1, n2), rel=1e-12
        )
    # Without ties scipy's exact test has the same distribution.
    x, y = list(range(1, 2 * n1, 2)), list(range(2, 2 * n2 + 1, 2))
    ours = mann_whitney({"a": x, "b": y})
    theirs = stats.mannwhitneyu(x, y, method="exact")
    assert ours["p_exact"] == pytest.approx(min(1.0, float(theirs.pvalue)), rel=1e-12)


def test_mann_whitney_exact_p_only_up_to_40_cases() -> None:
    assert MANN_WHITNEY_EXACT_MAX_N == 40
    at_limit = mann_whitney({"a": list(range(20)), "b": [v + 0.5 for v in range(20)]})
    above = mann_whitney({"a": list(range(20)), "b": [v + 0.5 for v in range(21)]})
    assert at_limit["p_exact"] == pytest.approx(
        float(
            stats.mannwhitneyu(list(range(20)), [v + 0.5 for v in range(20)], method="exact").pvalue
        )
    )
    assert above["p_exact"] is None and above["p_asymptotic"] is not None


def test_mann_whitney_spss_published_output() -> None:
    """SPSS's Test Statistics for the "Drug" data of Field, Discovering Statistics Using SPSS
    (3rd ed., 2009, section 15.3): Beck Depression Inventory of 10 ecstasy and 10 alcohol
    users. Sunday: U 35.500, W 90.500, Z -1.105, Asymp. Sig. .269, Exact Sig. .280;
    Wednesday: U 4.000, W 59.000, Z -3.484, .000, .000."""
    from studies.analysis import format_p, format_spss

    sunday = mann_whitney(
        {
            "ecstasy": [15, 35, 16, 18, 19, 17, 27, 16, 13, 20],
            "alcohol": [16, 15, 20, 15, 16, 13, 14, 19, 18, 18],
        }
    )
    wednesday = mann_whitney(
        {
            "ecstasy": [28, 35, 35, 24, 39, 32, 27, 29, 36, 35],
            "alcohol": [5, 6, 30, 8, 9, 7, 6, 17, 3, 10],
        }
    )
    printed = [
        (format_spss(r["u"], 3), format_spss(r["w"], 3), format_spss(r["z"], 3))
        + (format_p(r["p_asymptotic"]), format_p(r["p_exact"]))
        for r in (sunday, wednesday)
    ]
    assert printed == [
        ("35.500", "90.500", "-1.105", ".269", ".280"),
        ("4.000", "59.000", "-3.484", ".000", ".000"),
    ]
    assert format_spss(sunday["ranks"]["ecstasy"]["mean_rank"], 2) == "11.95"
    assert format_spss(sunday["ranks"]["alcohol"]["sum_of_ranks"], 2) == "90.50"


def test_mann_whitney_w_belongs_to_the_smaller_mean_rank_even_in_the_larger_arm() -> None:
    """3 values against 8: group 2 is the larger arm but has the smaller mean rank, so W is
    its rank sum (what PSPP prints), not group 1's ("the smaller group")."""
    result = mann_whitney({"a": [7, 8, 9], "b": [1, 2, 3, 4, 5, 6, 10, 11]})
    assert result["ranks"]["a"]["mean_rank"] == 8.0
    assert result["ranks"]["b"]["mean_rank"] == pytest.approx(5.25)
    assert result["w"] == 42.0 == result["ranks"]["b"]["sum_of_ranks"]
    assert result["u"] == 6.0
    # Equal U: group 2's rank sum, as PSPP.
    equal = mann_whitney({"a": [1, 4], "b": [2, 3]})
    assert equal["u"] == 2.0 and equal["w"] == 5.0 == equal["ranks"]["b"]["sum_of_ranks"]
    assert equal["z"] == 0.0 and equal["p_asymptotic"] == 1.0 and equal["p_exact"] == 1.0


def test_mann_whitney_missing_values_are_dropped_and_counted() -> None:
    with_gaps = mann_whitney({"a": [3, None, 5, float("nan"), 7], "b": [np.nan, 2, 4]})
    without = mann_whitney({"a": [3, 5, 7], "b": [2, 4]})
    assert with_gaps["n_missing"] == {"a": 2, "b": 1}
    assert {k: v for k, v in with_gaps.items() if k != "n_missing"} == {
        k: v for k, v in without.items() if k != "n_missing"
    }


def test_mann_whitney_undefined_figures_are_none() -> None:
    empty = mann_whitney({"a": [1, 2, 3], "b": [None]})
    assert empty["ranks"]["b"] == {"n": 0, "mean_rank": None, "sum_of_ranks": 0.0}
    assert [empty[k] for k in ("u", "w", "z", "p_asymptotic", "p_exact")] == [None] * 5
    both_empty = mann_whitney({"a": [], "b": []})
    assert both_empty["u"] is None and both_empty["ranks"]["a"]["mean_rank"] is None
    tied = mann_whitney({"a": [4, 4, 4], "b": [4, 4]})
    assert tied["u"] == 3.0 and tied["w"] == 6.0
    assert tied["z"] is None and tied["p_asymptotic"] is None and tied["p_exact"] is None
    for result in (empty, both_empty, tied):
        json.dumps(result, allow_nan=False)


def test_mann_whitney_refuses_other_than_two_groups_and_infinities() -> None:
    with pytest.raises(ValueError, match="exactly two groups"):
        mann_whitney({"a": [1], "b": [2], "c": [3]})
    with pytest.raises(ValueError, match="finite"):
        mann_whitney({"a": [1, float("inf")], "b": [2]})


# ---------------------------------------------------------------------------
# Levene and the independent-samples t test
# ---------------------------------------------------------------------------


def reference_levene(*samples: list[float]) -> tuple[float, float]:
    """One-way ANOVA of |x - group mean|, by loops."""
    deviations = [[abs(v - sum(s) / len(s)) for v in s] for s in samples]
    k, n = len(samples), sum(len(s) for s in samples)
    means = [sum(d) / len(d) for d in deviations]
    grand = sum(sum(d) for d in deviations) / n
    between = sum(len(d) * (m - grand) ** 2 for d, m in zip(deviations, means, strict=True))
    within = sum(sum((v - m) ** 2 for v in d) for d, m in zip(deviations, means, strict=True))
    f = (n - k) * between / ((k - 1) * within)
    return f, float(stats.f.sf(f, k - 1, n - k))


@pytest.mark.parametrize(("x", "y"), FIXTURES)
def test_levene_is_the_anova_of_deviations_from_the_mean(x, y) -> None:
    result = levene({"a": x, "b": y})
    f, p = reference_levene(list(map(float, x)), list(map(float, y)))
    assert result["f"] == pytest.approx(f, rel=1e-10)
    assert result["p"] == pytest.approx(p, rel=1e-9)
    assert (result["df1"], result["df2"]) == (1, len(x) + len(y) - 2)
    mean_centred = stats.levene(x, y, center="mean")
    assert result["f"] == pytest.approx(float(mean_centred.statistic), rel=1e-10)


def test_levene_centres_on_the_mean_not_scipys_default_median() -> None:
    skewed = {"a": [1, 1, 2, 9], "b": [3, 4, 4, 5, 12]}
    ours = levene(skewed)["f"]
    assert ours == pytest.approx(reference_levene(*skewed.values())[0], rel=1e-12)
    # scipy's default is the Brown-Forsythe test (deviations from the median): not SPSS's.
    assert ours != pytest.approx(float(stats.levene(*skewed.values()).statistic), rel=1e-3)


def test_levene_three_groups_and_degenerate_cases() -> None:
    groups = {"a": [1, 2, 4, 8], "b": [3, 3, 5], "c": [10, 0, 5, 5, 6]}
    result = levene(groups)
    f, p = reference_levene(*groups.values())
    assert (result["f"], result["df1"], result["df2"]) == (pytest.approx(f), 2, 9)
    assert result["p"] == pytest.approx(p)
    # Equal absolute deviations within each group: no within-group spread, F undefined.
    assert levene({"a": [1, 3], "b": [5, 9]})["f"] is None
    # ... and it says why: the values vary, their deviations from the mean do not.
    assert levene({"a": [1, 3], "b": [5, 9]})["not_computed"] == "equal_deviations"
    assert levene({"a": [4, 4], "b": [7, 7, 7]})["not_computed"] == "constant"
    assert levene({"a": [4, 4], "b": [5, 9]})["not_computed"] == "equal_deviations"
    assert levene(groups)["not_computed"] is None
    assert levene({"a": [1, 2, 3], "b": []}) == {
        "f": None, "df1": None, "df2": None, "p": None, "not_computed": "too_few"
    }


@pytest.mark.parametrize(("x", "y"), FIXTURES)
def test_independent_t_matches_scipy_and_the_formulas(x, y) -> None:
    result = independent_t({"intervention": x, "control": y})
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    stats_1 = result["group_statistics"]["intervention"]
    assert stats_1["n"] == len(x)
    assert stats_1["mean"] == pytest.approx(float(np.mean(xs)), rel=1e-12)
    assert stats_1["sd"] == pytest.approx(float(np.std(xs, ddof=1)), rel=1e-12)
    assert stats_1["se_mean"] == pytest.approx(float(stats.sem(xs)), rel=1e-12)
    for key, equal_var in (("equal_variances", True), ("unequal_variances", False)):
        row = result[key]
        reference = stats.ttest_ind(xs, ys, equal_var=equal_var)
        interval = reference.confidence_interval(0.95)
        assert row["mean_difference"] == pytest.approx(float(xs.mean() - ys.mean()), abs=1e-12)
        assert row["t"] == pytest.approx(float(reference.statistic), rel=1e-10)
        assert row["df"] == pytest.approx(float(reference.df), rel=1e-10)
        assert row["p"] == pytest.approx(float(reference.pvalue), rel=1e-9)
        assert row["ci_lower"] == pytest.approx(float(interval.low), rel=1e-10)
        assert row["ci_upper"] == pytest.approx(float(interval.high), rel=1e-10)
    a, b = np.var(xs, ddof=1) / len(xs), np.var(ys, ddof=1) / len(ys)
    n1, n2 = len(xs), len(ys)
    pooled = ((n1 - 1) * np.var(xs, ddof=1) + (n2 - 1) * np.var(ys, ddof=1)) / (n1 + n2 - 2)
    assert result["equal_variances"]["se_difference"] == pytest.approx(
        math.sqrt(pooled * (1 / n1 + 1 / n2)), rel=1e-12
    )
    assert result["unequal_variances"]["se_difference"] == pytest.approx(
        math.sqrt(a + b), rel=1e-12
    )
    welch_df = (a + b) ** 2 / (a**2 / (len(xs) - 1) + b**2 / (len(ys) - 1))
    assert result["unequal_variances"]["df"] == pytest.approx(float(welch_df), rel=1e-12)
    assert result["equal_variances"]["df"] == len(x) + len(y) - 2
    assert result["levene_f"] == pytest.approx(levene({"a": x, "b": y})["f"])
    assert plain(result)


def test_independent_t_spss_published_output() -> None:
    """SPSS's Independent Samples Test for the spider data of Field, Discovering Statistics
    Using SPSS (3rd ed., 2009, section 9.4): anxiety of 12 people shown a picture and 12 a
    real tarantula. Levene F .782, Sig. .386; t -1.681, df 22, Sig. .107, mean difference
    -7.00, SE 4.16, CI -15.63 to 1.63; Welch df 21.385, Sig. .107, CI -15.65 to 1.65."""
    from studies.analysis import format_p, format_spss

    result = independent_t(
        {
            "picture": [30, 35, 45, 40, 50, 35, 55, 25, 30, 45, 40, 50],
            "real": [40, 35, 50, 55, 65, 55, 50, 35, 30, 50, 60, 39],
        }
    )
    pooled, welch = result["equal_variances"], result["unequal_variances"]
    assert (format_spss(result["levene_f"], 3), format_p(result["levene_p"])) == (".782", ".386")
    assert (format_spss(pooled["t"], 3), pooled["df"], format_p(pooled["p"])) == (
        "-1.681",
        22,
        ".107",
    )
    assert [format_spss(pooled[k], 2) for k in ("mean_difference", "se_difference")] == [
        "-7.00", "4.16",
    ]  # fmt: skip
    assert [format_spss(pooled[k], 2) for k in ("ci_lower", "ci_upper")] == ["-15.63", "1.63"]
    assert (format_spss(welch["df"], 3), format_p(welch["p"])) == ("21.385", ".107")
    assert [format_spss(welch[k], 2) for k in ("ci_lower", "ci_upper")] == ["-15.65", "1.65"]
    assert format_spss(result["group_statistics"]["real"]["sd"], 3) == "11.029"


def test_independent_t_mean_difference_is_group_1_minus_group_2_in_the_given_order() -> None:
    forward = independent_t({"intervention": [10, 12, 14], "control": [1, 2, 3, 4]})
    backward = independent_t({"control": [1, 2, 3, 4], "intervention": [10, 12, 14]})
    assert forward["equal_variances"]["mean_difference"] == pytest.approx(9.5)
    assert backward["equal_variances"]["mean_difference"] == pytest.approx(-9.5)
    assert backward["unequal_variances"]["t"] == pytest.approx(-forward["unequal_variances"]["t"])
    assert list(forward["group_statistics"]) == ["intervention", "control"]


def test_independent_t_undefined_figures_are_none() -> None:
    # One value in group 2: its SD is undefined, the pooled row stands, the Welch row cannot.
    single = independent_t({"a": [1, 2, 4], "b": [3]})
    assert single["group_statistics"]["b"] == {"n": 1, "mean": 3.0, "sd": None, "se_mean": None}
    assert single["equal_variances"]["t"] is not None and single["equal_variances"]["df"] == 2
    assert single["unequal_variances"]["t"] is None and single["unequal_variances"]["df"] is None
    # One value each: no degrees of freedom.
    pair = independent_t({"a": [1], "b": [3]})
    assert pair["equal_variances"]["t"] is None
    assert pair["equal_variances"]["mean_difference"] == -2.0
    assert pair["levene_f"] is None
    # No spread at all: the standard error is 0 and t is undefined.
    flat = independent_t({"a": [5, 5, 5], "b": [7, 7]})
    assert flat["equal_variances"]["se_difference"] == 0.0
    for key in ("t", "p", "ci_lower", "ci_upper"):
        assert flat["equal_variances"][key] is None and flat["unequal_variances"][key] is None
    # An empty arm: nothing but its count.
    empty = independent_t({"a": [1, 2], "b": [None, float("nan")]})
    assert empty["n_missing"] == {"a": 0, "b": 2}
    assert empty["equal_variances"]["mean_difference"] is None
    for result in (single, pair, flat, empty):
        assert plain(result)
        json.dumps(result, allow_nan=False)
    with pytest.raises(ValueError, match="confidence"):
        independent_t({"a": [1, 2], "b": [3, 4]}, confidence=1.0)


def test_independent_t_missing_values_are_dropped_and_counted() -> None:
    gaps = independent_t({"a": [1, None, 2, 4], "b": [float("nan"), 3, 5, 9]}, confidence=0.9)
    whole = independent_t({"a": [1, 2, 4], "b": [3, 5, 9]}, confidence=0.9)
    assert gaps["n_missing"] == {"a": 1, "b": 1}
    assert gaps["equal_variances"] == whole["equal_variances"]
    assert gaps["unequal_variances"] == whole["unequal_variances"]
    assert gaps["confidence"] == 0.9
