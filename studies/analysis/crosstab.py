"""The chi-square family of an arm-by-category crosstabulation, as SPSS ``CROSSTABS
/STATISTICS=CHISQ`` prints it (DESIGN.md section 7: Crosstabulation and Chi-Square Tests).

Pure computation over counts: no Django.  Rows are the arms in the definition's order, columns
the outcome's category values in order, every category listed even with a count of 0.
Numbers come back unrounded as plain ``int``/``float``; undefined figures are ``None``.

Empty rows and columns: SPSS and GNU PSPP tabulate only the values present in the data, so a
row or column whose total is 0 takes no part in any statistic: the degrees of freedom, the
expected-count footnote and the 2 x 2 statistics all speak of the table without it.  The
returned ``table`` and ``expected`` still list every arm and category.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats

__all__ = ["chi_square", "crosstab"]

# Tables whose probability is within this relative distance of the observed table's count as
# "as probable" in Fisher's two-sided p, absorbing floating-point noise between tables that are
# mathematically equally likely (the tolerance of R's fisher.test and scipy's fisher_exact).
FISHER_RELATIVE_TOLERANCE = 1e-7


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def crosstab(
    rows_by_arm: Mapping[str, Sequence[Hashable | None]], categories: Sequence[Hashable]
) -> dict[str, dict[Hashable, int]]:
    """Count each arm's values per category: ``{arm: {category: n}}``.

    Arms keep the mapping's order and categories the order of ``categories``; every category is
    listed under every arm, 0 included.  ``None`` and NaN are missing values and are not
    counted (:func:`chi_square`'s ``n_valid`` is the total of the table).  A value that is not
    one of ``categories`` raises ``ValueError``: a silent "other" would change the test.
    """
    order = list(categories)
    if len(set(order)) != len(order):
        raise ValueError(f"categories must be distinct, got {order!r}")
    table: dict[str, dict[Hashable, int]] = {}
    for arm, values in rows_by_arm.items():
        if isinstance(values, np.ndarray) and values.dtype.kind in "iuf":
            # A numeric array: its distinct values counted at once (NaN is missing).
            numbers = values.reshape(-1)
            if numbers.dtype.kind == "f":
                numbers = numbers[~np.isnan(numbers)]
            distinct, n = np.unique(numbers, return_counts=True)
            seen = list(zip(distinct.tolist(), n.tolist(), strict=True))
        else:
            seen = list(Counter(v for v in values if not _is_missing(v)).items())
        unknown = {value for value, _n in seen if value not in order}
        if unknown:
            raise ValueError(
                f"arm {arm!r}: value(s) outside the categories: {sorted(map(str, unknown))}"
            )
        counts = dict.fromkeys(order, 0)
        for value, n in seen:
            counts[value] += n
        table[arm] = counts
    return table


def _test(value: float | None, df: int | None) -> dict[str, Any]:
    p = float(stats.chi2.sf(value, df)) if value is not None and df else None
    return {"value": value, "df": df, "p": p}


def _scores(labels: Sequence[Hashable]) -> np.ndarray:
    """Category values as scores when they are all numbers, else 1, 2, ..."""
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in labels):
        return np.asarray(labels, dtype=float)
    return np.arange(1, len(labels) + 1, dtype=float)


# Up to this many cases the probabilities are scipy's exact pmf; above, its log-pmf.
FISHER_EXACT_PMF_MAX = 2000


def fisher_exact_2x2(observed: np.ndarray) -> dict[str, float]:
    """Fisher's exact test of a 2 x 2 table of counts with no empty row or column.

    With the margins fixed, the top-left count X is hypergeometric (population N, R1 row-1
    cases, C1 draws).  As SPSS's "Exact Sig. (2-sided)", ``p_two_sided`` sums the probabilities
    of every table no more probable than the observed one (up to a relative 1e-7, see
    :data:`FISHER_RELATIVE_TOLERANCE`); ``p_one_sided`` ("Exact Sig. (1-sided)") is the tail in
    the observed direction: P(X >= x) when x is above its expectation R1 C1 / N, P(X <= x)
    when below, the smaller tail when equal.  Probabilities come from
    ``scipy.stats.hypergeom`` (exact definition, double precision).  GNU PSPP 1.6 differs in
    the two-sided p where a table is exactly as probable as the observed one (it leaves it
    out) and where its loop reaches tables the margins do not allow (tests/test_pspp_between.py).
    """
    (a, b), (c, d) = (int(v) for v in observed[0]), (int(v) for v in observed[1])
    row1, col1, total = a + b, a + c, a + b + c + d
    low, high = max(0, row1 - (b + d)), min(row1, col1)
    support = np.arange(low, high + 1)
    if total <= FISHER_EXACT_PMF_MAX:
        probabilities = stats.hypergeom.pmf(support, total, row1, col1)
    else:
        # scipy's pmf evaluates each probability exactly, at a cost growing with N: 73 s for a
        # results page at 100,000 mothers. Its log-pmf (log-beta functions) is vectorised and
        # agrees to about 1e-12 relative there, far inside the tie tolerance and the printed
        # three decimals.
        probabilities = np.exp(stats.hypergeom.logpmf(support, total, row1, col1))
    observed_p = probabilities[a - low]
    two_sided = float(
        probabilities[probabilities <= observed_p * (1 + FISHER_RELATIVE_TOLERANCE)].sum()
    )
    lower = float(probabilities[: a - low + 1].sum())
    upper = float(probabilities[a - low :].sum())
    expected = row1 * col1 / total
    if a > expected:
        one_sided = upper
    elif a < expected:
        one_sided = lower
    else:
        one_sided = min(lower, upper)
    return {"p_two_sided": min(1.0, two_sided), "p_one_sided": min(1.0, one_sided)}


def chi_square(table: Mapping[str, Mapping[Hashable, int]]) -> dict[str, Any]:
    """SPSS's Chi-Square Tests of an r x c table (``CROSSTABS /STATISTICS=CHISQ``).

    ``table`` is ``{arm: {category value: count}}`` as :func:`crosstab` builds it; every arm
    must list the same categories in the same order.  With observed O, expected
    E = row total * column total / N, over the non-empty rows and columns (module docstring),
    r' and c' of them, df = (r' - 1)(c' - 1) (SPSS Statistics Algorithms, CROSSTABS):

    * ``pearson``: sum (O - E)^2 / E;
    * ``likelihood_ratio``: 2 sum O ln(O / E) over the cells with O > 0;
    * ``continuity_correction`` (2 x 2 only, as SPSS prints it, else ``None``): Yates's
      N (|ad - bc| - N/2)^2 / (R1 R2 C1 C2), and 0 when |ad - bc| <= N/2 (SPSS's rule; the same
      as ``scipy.stats.chi2_contingency(correction=True)``, which caps the correction at
      |O - E|);
    * ``linear_by_linear``: (N - 1) r^2 with df 1, r the Pearson correlation of the row and
      column scores over the N cases: rows score 1, 2, ... (the arms' codes in SPSS syntax),
      columns the category values when they are numbers, else 1, 2, ...;
    * ``fisher_exact`` (2 x 2 only, else ``None``): :func:`fisher_exact_2x2`.

    Each test is ``{"value", "df", "p"}`` with p the upper chi-square tail.  Also ``table``
    (the counts as given), ``expected`` (same shape; ``None`` when N = 0), ``n_valid`` = N,
    ``expected_below_5`` (how many cells of the non-empty table have E < 5),
    ``expected_below_5_percent`` (of those cells, 0-100) and ``min_expected`` - SPSS's
    footnote "k cells (x%) have expected count less than 5. The minimum expected count is m."

    Undefined figures are ``None``: every statistic when fewer than two rows or two columns are
    non-empty (including N = 0); the linear-by-linear row when a score does not vary.
    Counts must be non-negative integers (``ValueError`` otherwise).
    """
    arms = list(table)
    if not arms:
        raise ValueError("the table has no rows")
    categories = list(table[arms[0]])
    for arm in arms:
        if list(table[arm]) != categories:
            raise ValueError(f"arm {arm!r} lists other categories than {arms[0]!r}")
    observed = np.array([[table[arm][c] for c in categories] for arm in arms], dtype=float)
    if observed.size and ((observed < 0).any() or (observed != np.round(observed)).any()):
        raise ValueError("counts must be non-negative integers")
    total = int(observed.sum())
    row_totals, column_totals = observed.sum(axis=1), observed.sum(axis=0)
    expected = np.outer(row_totals, column_totals) / total if total else None

    result: dict[str, Any] = {
        "table": {arm: {c: int(table[arm][c]) for c in categories} for arm in arms},
        "expected": (
            {
                arm: {c: float(expected[i, j]) for j, c in enumerate(categories)}
                for i, arm in enumerate(arms)
            }
            if expected is not None
            else None
        ),
        "pearson": _test(None, None),
        "continuity_correction": None,
        "likelihood_ratio": _test(None, None),
        "linear_by_linear": _test(None, None),
        "fisher_exact": None,
        "n_valid": total,
        "expected_below_5": None,
        "expected_below_5_percent": None,
        "min_expected": None,
    }
    rows, columns = row_totals > 0, column_totals > 0
    if rows.sum() < 2 or columns.sum() < 2:
        return result

    o = observed[np.ix_(rows, columns)]
    e = expected[np.ix_(rows, columns)]
    df = int((rows.sum() - 1) * (columns.sum() - 1))
    pearson = float(np.sum((o - e) ** 2 / e))
    present = o > 0
    likelihood = float(2.0 * np.sum(o[present] * np.log(o[present] / e[present])))
    result.update(
        pearson=_test(pearson, df),
        likelihood_ratio=_test(likelihood, df),
        expected_below_5=int((e < 5).sum()),
        expected_below_5_percent=100.0 * float((e < 5).sum()) / e.size,
        min_expected=float(e.min()),
    )

    row_scores = np.arange(1, len(arms) + 1, dtype=float)[rows]
    column_scores = _scores(categories)[columns]
    row_mean = float(o.sum(axis=1) @ row_scores) / total
    column_mean = float(o.sum(axis=0) @ column_scores) / total
    row_dev, column_dev = row_scores - row_mean, column_scores - column_mean
    covariance = float(row_dev @ o @ column_dev)
    row_ss = float(o.sum(axis=1) @ row_dev**2)
    column_ss = float(o.sum(axis=0) @ column_dev**2)
    if row_ss > 0 and column_ss > 0:
        r = covariance / math.sqrt(row_ss * column_ss)
        result["linear_by_linear"] = _test((total - 1) * r * r, 1)

    if o.shape == (2, 2):
        (a, b), (c, d) = (float(v) for v in o[0]), (float(v) for v in o[1])
        excess = abs(a * d - b * c) - total / 2
        yates = total * excess**2 / float(np.prod(o.sum(axis=1)) * np.prod(o.sum(axis=0)))
        result["continuity_correction"] = _test(yates if excess > 0 else 0.0, 1)
        result["fisher_exact"] = fisher_exact_2x2(o)
    return result
