"""Friedman, Cochran's Q and McNemar against independent computations (loops over the
definitions, scipy) on fixtures with ties, zeros and missing values."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from studies.analysis import cochran_q, friedman, mcnemar_exact


def friedman_by_hand(rows: list[list[float]]) -> tuple[list[float], float]:
    """Mean ranks and the tie-corrected chi-square, one row at a time (Siegel & Castellan
    1988, eq. 7.2)."""
    n, k = len(rows), len(rows[0])
    sums = [0.0] * k
    ties = 0.0
    for row in rows:
        for j, value in enumerate(row):
            below = sum(1 for v in row if v < value)
            equal = sum(1 for v in row if v == value)
            sums[j] += below + (equal + 1) / 2
        for value in set(row):
            t = row.count(value)
            ties += t**3 - t
    statistic = 12 / (n * k * (k + 1)) * sum(s * s for s in sums) - 3 * n * (k + 1)
    correction = 1 - ties / (n * (k**3 - k))
    return [s / n for s in sums], (statistic / correction if correction else math.nan)


ROWS = [
    [5, 6, 7], [4, 4, 6], [3, 5, 5], [6, 6, 8], [5, 7, 7], [2, 3, 3], [5, None, 6],
    [4, 6, 6], [0, 0, 0], [0, 2, 1], [7, 7, 7], [3, 8, 6], [None, 4, 4], [1, 0, 2],
]  # fmt: skip


def test_friedman_matches_the_definition_and_scipy() -> None:
    result = friedman(ROWS)
    complete = [r for r in ROWS if None not in r]
    mean_ranks, chi_square = friedman_by_hand(complete)
    assert result["n"] == len(complete) == 12
    assert result["mean_ranks"] == pytest.approx(mean_ranks)
    assert result["chi_square"] == pytest.approx(chi_square)
    scipy_result = stats.friedmanchisquare(*np.array(complete, dtype=float).T)
    assert result["chi_square"] == pytest.approx(scipy_result.statistic)
    assert result["p"] == pytest.approx(scipy_result.pvalue)
    assert result["df"] == 2
    json.dumps(result, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(min_value=2, max_value=5).flatmap(
        lambda k: st.lists(
            st.lists(st.integers(min_value=0, max_value=4), min_size=k, max_size=k),
            min_size=2,
            max_size=30,
        )  # fmt: skip
    )
)
def test_friedman_on_counts_with_ties(rows: list[list[int]]) -> None:
    result = friedman(rows)
    mean_ranks, _ = friedman_by_hand(rows)
    assert result["mean_ranks"] == pytest.approx(mean_ranks)
    # Mean ranks always add up to k(k+1)/2.
    k = len(rows[0])
    assert sum(result["mean_ranks"]) == pytest.approx(k * (k + 1) / 2)
    if all(len(set(row)) == 1 for row in rows):
        assert result["chi_square"] is None and result["p"] is None
    else:
        assert result["chi_square"] == pytest.approx(friedman_by_hand(rows)[1], abs=1e-9)
        assert 0 <= result["p"] <= 1


def test_friedman_without_data_or_variation() -> None:
    assert friedman([[None, 1, 2]]) == {
        "n": 0, "mean_ranks": None, "chi_square": None, "df": 2, "p": None,
    }  # fmt: skip
    flat = friedman([[3, 3, 3], [0, 0, 0]])
    assert flat["mean_ranks"] == [2.0, 2.0, 2.0] and flat["chi_square"] is None
    with pytest.raises(ValueError, match="two time points"):
        friedman([[1], [2]])


def cochran_by_hand(rows: list[list[int]]) -> float:
    """Q = (k - 1)(k sum C_j^2 - N^2) / (k N - sum R_i^2) (Cochran 1950)."""
    k = len(rows[0])
    columns = [sum(row[j] for row in rows) for j in range(k)]
    total = sum(columns)
    return (
        (k - 1)
        * (k * sum(c * c for c in columns) - total**2)
        / (k * total - sum(sum(row) ** 2 for row in rows))
    )


def test_cochran_q_matches_the_definition() -> None:
    rows = [
        [0, 1, 1], [0, 0, 1], [1, 1, 1], [0, 1, 0], [0, 1, 1], [0, 0, 1], [1, 1, 1],
        [0, 1, 1], [0, 0, 0], [1, 0, 1], [None, 1, 1], [0, 1, None], [1, 1, 0],
    ]  # fmt: skip
    complete = [r for r in rows if None not in r]
    result = cochran_q(rows)
    assert result["n"] == 11
    assert result["q"] == pytest.approx(cochran_by_hand(complete)) and result["q"] == 3.25
    assert result["p"] == pytest.approx(math.exp(-3.25 / 2))  # chi-square, 2 df
    assert result["frequencies"] == [{"0": 7, "1": 4}, {"0": 4, "1": 7}, {"0": 3, "1": 8}]


def test_cochran_q_with_two_time_points_is_mcnemar_chi_square() -> None:
    # With k = 2, Q = (b - c)^2 / (b + c): McNemar's statistic without continuity correction.
    before = [1, 1, 0, 0, 0, 0, 1, 0, 1]
    after = [1, 0, 1, 1, 1, 1, 1, 1, 0]
    result = cochran_q(list(zip(before, after, strict=True)))
    b = sum(1 for x, y in zip(before, after, strict=True) if x and not y)
    c = sum(1 for x, y in zip(before, after, strict=True) if y and not x)
    assert result["q"] == pytest.approx((b - c) ** 2 / (b + c))


def test_cochran_q_undefined_and_refused() -> None:
    nothing_varies = cochran_q([[1, 1, 1], [0, 0, 0]])
    assert nothing_varies["q"] is None and nothing_varies["p"] is None
    assert nothing_varies["frequencies"] == [{"0": 1, "1": 1}] * 3
    with pytest.raises(ValueError, match="0 and 1"):
        cochran_q([[0, 1, 2]])


def test_mcnemar_carries_n_p_exact_and_the_table() -> None:
    before = [True] * 3 + [True] + [False] * 7 + [False] * 4
    after = [True] * 3 + [False] + [True] * 7 + [False] * 4
    result = mcnemar_exact(before, after)
    assert {k: result[k] for k in ("n", "both", "before_only", "after_only", "neither")} == {
        "n": 15, "both": 3, "before_only": 1, "after_only": 7, "neither": 4,
    }  # fmt: skip
    # Two-sided binomial tail over the 8 discordant pairs, summed by enumeration.
    tail = sum(1 for signs in itertools.product((0, 1), repeat=8) if sum(signs) <= 1) / 2**8
    assert result["p_exact"] == pytest.approx(2 * tail) == result["p"]
