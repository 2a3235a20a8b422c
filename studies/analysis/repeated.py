"""Tests over three or more time points of the same respondents (DESIGN.md section 7).

* :func:`friedman`, SPSS ``NPAR TESTS /FRIEDMAN``: ranks within each respondent, ties corrected.
* :func:`cochran_q`, SPSS ``NPAR TESTS /COCHRAN``: a binary outcome over k time points.

Rows with a missing value (``None`` or NaN) are left out entirely (SPSS's listwise deletion
within the test).  Pure computation (no Django); numbers unrounded; undefined figures
``None``; plain types only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

__all__ = ["cochran_q", "friedman"]


def _complete_rows(matrix: Sequence[Sequence[Any]] | np.ndarray) -> np.ndarray:
    """An n x k float array of the rows without a missing value; k >= 2 is required."""
    rows = [[np.nan if v is None else float(v) for v in row] for row in matrix]
    data = np.asarray(rows, dtype=float)
    if data.size == 0:
        return data.reshape(0, 0)
    if data.ndim != 2:
        raise ValueError("the data must be a 2-D table: one row per respondent")
    if data.shape[1] < 2:
        raise ValueError(f"at least two time points are needed, got {data.shape[1]}")
    return data[~np.isnan(data).any(axis=1)]


def friedman(matrix: Sequence[Sequence[float | None]] | np.ndarray) -> dict[str, Any]:
    """Friedman's test of k related samples, as SPSS ``NPAR TESTS /FRIEDMAN``.

    ``matrix`` is n x k: one row per respondent, one column per time point.  Each row's values
    get average ranks 1..k; with R_j the rank sum of column j and t the sizes of tied groups
    within rows (Siegel & Castellan 1988, eq. 7.2; SPSS's NPAR TESTS algorithm)::

        chi_square = (12 / (n k (k + 1)) * sum(R_j^2) - 3 n (k + 1))
                     / (1 - sum(t^3 - t) / (n (k^3 - k)))

    with k - 1 degrees of freedom, p from the chi-square distribution.  Returns ``{"n",
    "mean_ranks": [R_j / n per column], "chi_square", "df", "p"}``; with no complete row the
    mean ranks, chi-square and p are ``None``; when every row is tied throughout (the
    denominator is 0) chi-square and p are ``None``.  scipy's ``friedmanchisquare`` gives the
    same statistic (tests compare them).
    """
    data = _complete_rows(matrix)
    n = data.shape[0]
    k = data.shape[1] if data.ndim == 2 and data.shape[1] else None
    result: dict[str, Any] = {
        "n": n, "mean_ranks": None, "chi_square": None, "df": (k - 1) if k else None, "p": None,
    }  # fmt: skip
    if n == 0 or k is None:
        return result
    ranks = stats.rankdata(data, axis=1)
    rank_sums = ranks.sum(axis=0)
    result["mean_ranks"] = [float(r) for r in rank_sums / n]
    # sum(t^3 - t) over the tie groups of every row, vectorised: a group of t equal values
    # contributes t(t^2 - 1), i.e. t^2 - 1 for each of its members, and each value's t is the
    # count of equal values in its row.
    group_size = (data[:, :, None] == data[:, None, :]).sum(axis=2).astype(float)
    tie_term = float(np.sum(group_size**2 - 1))
    denominator = 1 - tie_term / (n * (k**3 - k))
    if denominator <= 0:
        return result
    numerator = 12 / (n * k * (k + 1)) * float(np.sum(rank_sums**2)) - 3 * n * (k + 1)
    chi_square = numerator / denominator
    result["chi_square"] = chi_square
    result["p"] = float(stats.chi2.sf(chi_square, k - 1))
    return result


def cochran_q(matrix: Sequence[Sequence[int | bool | None]] | np.ndarray) -> dict[str, Any]:
    """Cochran's Q test of k related proportions, as SPSS ``NPAR TESTS /COCHRAN``.

    ``matrix`` is n x k of 0/1 (or booleans; anything else raises ValueError).  With C_j the
    column totals of 1, R_i the row totals and N the grand total (Cochran 1950; Siegel &
    Castellan 1988, eq. 7.1)::

        Q = (k - 1) (k sum(C_j^2) - N^2) / (k N - sum(R_i^2))

    with k - 1 degrees of freedom, p from the chi-square distribution.  Returns ``{"n",
    "frequencies": [{"0": count, "1": count} per column], "q", "df", "p"}``; Q and p are
    ``None`` when every row is all 0 or all 1 (the denominator is 0: nothing varies within a
    respondent) or there is no complete row.
    """
    data = _complete_rows(matrix)
    n = data.shape[0]
    k = data.shape[1] if data.ndim == 2 and data.shape[1] else None
    if n and not np.isin(data, (0.0, 1.0)).all():
        raise ValueError("Cochran's Q needs values 0 and 1 only")
    result: dict[str, Any] = {
        "n": n, "frequencies": None, "q": None, "df": (k - 1) if k else None, "p": None,
    }  # fmt: skip
    if k is None:
        return result
    ones = data.sum(axis=0).astype(int)
    result["frequencies"] = [{"0": int(n - c), "1": int(c)} for c in ones]
    if n == 0:
        return result
    row_totals = data.sum(axis=1)
    total = float(ones.sum())
    denominator = k * total - float(np.sum(row_totals**2))
    if denominator <= 0:
        return result
    q = (k - 1) * (k * float(np.sum(ones.astype(float) ** 2)) - total**2) / denominator
    result["q"] = q
    result["p"] = float(stats.chi2.sf(q, k - 1))
    return result
