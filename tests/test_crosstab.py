"""Tests of studies.analysis.crosstab: the chi-square family of an arm-by-category table.

Each statistic is checked against scipy where its definition is SPSS's, against a computation
written here (integer enumeration of Fisher's tables, the correlation of the expanded cases)
and against SPSS output published for known data; GNU PSPP checks them in
tests/test_pspp_between.py.  Pure Python: no Django settings and no database.
"""

from __future__ import annotations

import json
import math
from fractions import Fraction

import numpy as np
import pytest
from scipy import stats

from studies.analysis.crosstab import chi_square, crosstab

TABLES = [
    {"intervention": {0: 3, 1: 2}, "control": {0: 2, 1: 4}},  # small cells
    {"intervention": {0: 1, 1: 9}, "control": {0: 7, 1: 2}},  # Fisher's territory
    {"intervention": {0: 0, 1: 12}, "control": {0: 5, 1: 6}},  # a zero cell
    {"intervention": {0: 10, 1: 10}, "control": {0: 9, 1: 11}},  # |ad - bc| < N/2
    {"intervention": {1: 4, 2: 7, 3: 12}, "control": {1: 9, 2: 8, 3: 3}},  # 2 x 3 ordinal
    {"a": {1: 5, 2: 0, 3: 3, 4: 8}, "b": {1: 2, 2: 6, 3: 3, 4: 1}, "c": {1: 7, 2: 2, 3: 4, 4: 3}},
]


def matrix(table: dict) -> np.ndarray:
    return np.array([list(row.values()) for row in table.values()], dtype=float)


def plain(value) -> bool:
    if isinstance(value, dict):
        return all(plain(v) for v in value.values())
    if isinstance(value, list):
        return all(plain(v) for v in value)
    if isinstance(value, float):
        return math.isfinite(value)
    return value is None or type(value) in (int, str, bool)


def fisher_by_enumeration(a: int, b: int, c: int, d: int) -> tuple[Fraction, Fraction]:
    """Exact two-sided (tables no more probable) and one-sided (observed direction) p, in
    fractions: every table with the observed margins, probability C(R1,x) C(R2,C1-x)/C(N,C1)."""
    row1, row2, col1 = a + b, c + d, a + c
    total = math.comb(row1 + row2, col1)
    weight = {
        x: math.comb(row1, x) * math.comb(row2, col1 - x)
        for x in range(max(0, col1 - row2), min(row1, col1) + 1)
    }
    two = Fraction(sum(w for w in weight.values() if w <= weight[a]), total)
    expected = Fraction(row1 * col1, row1 + row2)
    upper = Fraction(sum(w for x, w in weight.items() if x >= a), total)
    lower = Fraction(sum(w for x, w in weight.items() if x <= a), total)
    one = upper if a > expected else lower if a < expected else min(upper, lower)
    return two, one


def linear_by_linear_from_cases(table: dict) -> float:
    """(N - 1) r^2 with r the correlation of the expanded cases' row code and category value."""
    rows, columns = [], []
    for code, counts in enumerate(table.values(), start=1):
        for value, count in counts.items():
            rows += [code] * count
            columns += [value] * count
    r = np.corrcoef(rows, columns)[0, 1]
    return (len(rows) - 1) * float(r) ** 2


@pytest.mark.parametrize("table", TABLES)
def test_chi_square_family_matches_scipy_and_the_definitions(table) -> None:
    result = chi_square(table)
    observed = matrix(table)
    pearson = stats.chi2_contingency(observed, correction=False)
    assert result["pearson"]["value"] == pytest.approx(float(pearson.statistic), rel=1e-12)
    assert result["pearson"]["df"] == pearson.dof
    assert result["pearson"]["p"] == pytest.approx(float(pearson.pvalue), rel=1e-10)
    ratio = stats.chi2_contingency(observed, correction=False, lambda_="log-likelihood")
    assert result["likelihood_ratio"]["value"] == pytest.approx(float(ratio.statistic), rel=1e-12)
    assert result["likelihood_ratio"]["p"] == pytest.approx(float(ratio.pvalue), rel=1e-10)
    expected = pearson.expected_freq
    ours = [value for row in result["expected"].values() for value in row.values()]
    assert ours == pytest.approx(expected.ravel().tolist(), rel=1e-12)
    assert result["expected_below_5"] == int((expected < 5).sum())
    assert result["expected_below_5_percent"] == pytest.approx(100 * (expected < 5).mean())
    assert result["min_expected"] == pytest.approx(float(expected.min()))
    assert result["n_valid"] == int(observed.sum())
    lbl = result["linear_by_linear"]
    assert lbl["value"] == pytest.approx(linear_by_linear_from_cases(table), rel=1e-10)
    assert lbl["df"] == 1
    assert lbl["p"] == pytest.approx(float(stats.chi2.sf(lbl["value"], 1)), rel=1e-12)
    if observed.shape == (2, 2):
        (a, b), (c, d) = observed.astype(int).tolist()
        corrected = stats.chi2_contingency(observed, correction=True)
        cc = result["continuity_correction"]
        assert cc["value"] == pytest.approx(float(corrected.statistic), rel=1e-12, abs=1e-15)
        assert cc["p"] == pytest.approx(float(corrected.pvalue), rel=1e-10)
        two, one = fisher_by_enumeration(a, b, c, d)
        fisher = result["fisher_exact"]
        assert fisher["p_two_sided"] == pytest.approx(float(two), rel=1e-10)
        assert fisher["p_one_sided"] == pytest.approx(float(one), rel=1e-10)
        assert fisher["p_two_sided"] == pytest.approx(
            float(stats.fisher_exact(observed).pvalue), rel=1e-10
        )
    else:
        assert result["continuity_correction"] is None and result["fisher_exact"] is None
    assert plain(result)
    json.dumps(result, allow_nan=False)


def test_chi_square_spss_published_output() -> None:
    """SPSS's Chi-Square Tests for the cat-training data of Field, Discovering Statistics Using
    SPSS (3rd ed., 2009, section 18.5): food as reward 28 danced, 10 did not; affection 48 and
    114. Pearson 25.356, continuity correction 23.520, likelihood ratio 24.932, linear-by-linear
    25.229 (df 1, Sig. .000), Fisher's exact .000 and .000, N 200, 0 cells (.0%) expected
    below 5, minimum expected count 14.44."""
    from studies.analysis import format_p, format_spss

    result = chi_square({"food": {"yes": 28, "no": 10}, "affection": {"yes": 48, "no": 114}})
    values = [
        format_spss(result[key]["value"], 3)
        for key in ("pearson", "continuity_correction", "likelihood_ratio", "linear_by_linear")
    ]
    assert values == ["25.356", "23.520", "24.932", "25.229"]
    assert {format_p(result[k]["p"]) for k in ("pearson", "linear_by_linear")} == {".000"}
    assert [format_p(p) for p in result["fisher_exact"].values()] == [".000", ".000"]
    assert (result["n_valid"], result["expected_below_5"]) == (200, 0)
    assert format_spss(result["min_expected"], 2) == "14.44"


def test_continuity_correction_is_zero_when_the_difference_is_within_half_n() -> None:
    result = chi_square({"a": {0: 10, 1: 10}, "b": {0: 9, 1: 11}})
    assert abs(10 * 11 - 10 * 9) <= 40 / 2  # at the boundary: 0, not a negative excess squared
    assert result["continuity_correction"] == {"value": 0.0, "df": 1, "p": 1.0}
    assert result["pearson"]["value"] > 0


def test_fisher_one_sided_follows_the_observed_direction() -> None:
    """x above its expectation: P(X >= x); below: P(X <= x), even when that tail is the larger
    one of the two."""
    above = chi_square({"a": {0: 8, 1: 2}, "b": {0: 3, 1: 7}})["fisher_exact"]
    below = chi_square({"a": {0: 2, 1: 8}, "b": {0: 7, 1: 3}})["fisher_exact"]
    greater = stats.fisher_exact([[8, 2], [3, 7]], alternative="greater").pvalue
    less = stats.fisher_exact([[2, 8], [7, 3]], alternative="less").pvalue
    assert above["p_one_sided"] == pytest.approx(float(greater), rel=1e-12)
    assert below["p_one_sided"] == pytest.approx(float(less), rel=1e-12)
    # Tables as probable as the observed one count in the two-sided p (symmetric margins).
    symmetric = chi_square({"a": {0: 4, 1: 1}, "b": {0: 1, 1: 4}})["fisher_exact"]
    two, _ = fisher_by_enumeration(4, 1, 1, 4)
    assert symmetric["p_two_sided"] == pytest.approx(float(two), rel=1e-12)
    assert symmetric["p_two_sided"] == pytest.approx(2 * symmetric["p_one_sided"], rel=1e-12)


def test_empty_rows_and_columns_take_no_part() -> None:
    """A category nobody has is listed with 0 but left out of every statistic, as SPSS and PSPP
    (which tabulate only the values present): a 2 x 3 table with an empty column is tested as
    the 2 x 2 table, Fisher's test and the continuity correction included."""
    with_empty = chi_square({"a": {1: 3, 2: 0, 3: 7}, "b": {1: 6, 2: 0, 3: 2}})
    without = chi_square({"a": {1: 3, 3: 7}, "b": {1: 6, 3: 2}})
    assert with_empty["table"]["a"] == {1: 3, 2: 0, 3: 7}
    assert with_empty["expected"]["b"][2] == 0.0
    for key in ("pearson", "likelihood_ratio", "linear_by_linear", "continuity_correction"):
        assert with_empty[key] == without[key]
    assert with_empty["fisher_exact"] == without["fisher_exact"]
    assert with_empty["pearson"]["df"] == 1
    assert with_empty["expected_below_5"] == without["expected_below_5"] == 2  # E: 5, 5, 4, 4
    assert with_empty["expected_below_5_percent"] == 50.0


def test_undefined_figures_are_none() -> None:
    one_column = chi_square({"a": {0: 4, 1: 0}, "b": {0: 6, 1: 0}})
    for key in ("pearson", "likelihood_ratio", "linear_by_linear"):
        assert one_column[key] == {"value": None, "df": None, "p": None}
    assert one_column["fisher_exact"] is None and one_column["continuity_correction"] is None
    assert one_column["min_expected"] is None and one_column["expected_below_5"] is None
    assert one_column["n_valid"] == 10
    one_arm_empty = chi_square({"a": {0: 4, 1: 3}, "b": {0: 0, 1: 0}})
    assert one_arm_empty["pearson"]["value"] is None
    nothing = chi_square({"a": {0: 0, 1: 0}, "b": {0: 0, 1: 0}})
    assert nothing["n_valid"] == 0 and nothing["expected"] is None
    for result in (one_column, one_arm_empty, nothing):
        json.dumps(result, allow_nan=False)


def test_linear_by_linear_uses_the_category_values_as_scores() -> None:
    """Ordinal codes 1, 2, 5 are the scores (SPSS uses the variable's values), so the statistic
    differs from equally spaced scores."""
    table = {"a": {1: 5, 2: 3, 5: 1}, "b": {1: 1, 2: 3, 5: 6}}
    spaced = {"a": {1: 5, 2: 3, 3: 1}, "b": {1: 1, 2: 3, 3: 6}}
    value = chi_square(table)["linear_by_linear"]["value"]
    assert value == pytest.approx(linear_by_linear_from_cases(table), rel=1e-12)
    assert value != pytest.approx(linear_by_linear_from_cases(spaced), rel=1e-3)
    labelled = chi_square({"a": {"low": 5, "high": 1}, "b": {"low": 1, "high": 6}})
    assert labelled["linear_by_linear"]["value"] == pytest.approx(
        linear_by_linear_from_cases({"a": {1: 5, 2: 1}, "b": {1: 1, 2: 6}})
    )


def test_chi_square_refuses_inconsistent_tables() -> None:
    with pytest.raises(ValueError, match="other categories"):
        chi_square({"a": {0: 1, 1: 2}, "b": {1: 2, 0: 1}})
    with pytest.raises(ValueError, match="non-negative integers"):
        chi_square({"a": {0: 1, 1: -2}, "b": {0: 1, 1: 2}})
    with pytest.raises(ValueError, match="non-negative integers"):
        chi_square({"a": {0: 1.5, 1: 2}, "b": {0: 1, 1: 2}})
    with pytest.raises(ValueError, match="no rows"):
        chi_square({})


def test_crosstab_counts_every_category_in_order_and_drops_missing_values() -> None:
    table = crosstab(
        {"intervention": [1, 0, 1, None, 1, float("nan")], "control": [0, 0, 1]},
        categories=[0, 1, 2],
    )
    assert table == {"intervention": {0: 1, 1: 3, 2: 0}, "control": {0: 2, 1: 1, 2: 0}}
    assert list(table) == ["intervention", "control"]
    assert list(table["control"]) == [0, 1, 2]
    assert chi_square(table)["n_valid"] == 7
    with pytest.raises(ValueError, match="outside the categories"):
        crosstab({"a": [0, 1, 3]}, categories=[0, 1])
    with pytest.raises(ValueError, match="distinct"):
        crosstab({"a": [0]}, categories=[0, 0])


def test_fisher_above_the_exact_pmf_limit_agrees_with_the_exact_pmf():
    """Above FISHER_EXACT_PMF_MAX cases the log-pmf is used (scipy's exact pmf took 73 s for a
    results page at 100,000 mothers); its p-values agree with the exact pmf's to 1e-9."""
    import importlib

    from scipy import stats

    # The package re-exports the function crosstab under the module's name.
    crosstab_module = importlib.import_module("studies.analysis.crosstab")

    observed = np.array([[1500, 1100], [1400, 1300]])
    assert observed.sum() > crosstab_module.FISHER_EXACT_PMF_MAX
    (a, b), (c, d) = observed
    row1, col1, total = a + b, a + c, observed.sum()
    support = np.arange(max(0, row1 - (b + d)), min(row1, col1) + 1)
    exact = stats.hypergeom.pmf(support, total, row1, col1)
    observed_p = exact[a - support[0]]
    two_sided = exact[exact <= observed_p * (1 + crosstab_module.FISHER_RELATIVE_TOLERANCE)].sum()
    upper = exact[a - support[0] :].sum()
    found = crosstab_module.fisher_exact_2x2(observed)
    assert found["p_two_sided"] == pytest.approx(two_sided, rel=1e-9)
    assert found["p_one_sided"] == pytest.approx(upper, rel=1e-9)
