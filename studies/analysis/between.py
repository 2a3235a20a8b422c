"""Between-arm tests of two independent groups, as SPSS prints them (DESIGN.md section 7).

* :func:`mann_whitney` - SPSS ``NPAR TESTS /M-W``: Ranks and Test Statistics;
* :func:`levene` - Levene's test with absolute deviations from each group's mean, SPSS's
  "Levene's Test for Equality of Variances";
* :func:`independent_t` - SPSS ``T-TEST GROUPS``: Group Statistics and Independent Samples Test
  (the equal-variances and the Welch row).

Pure computation over numbers: no Django.  ``groups`` is always a mapping from the arm's key
to its values, in the definition's order: the first key is SPSS's group 1, the second group 2.
A value that is ``None`` or NaN is a missing value: it is dropped and counted in
``n_missing``.  Numbers come back unrounded, as plain ``int``/``float``; a figure that is
undefined is ``None``, never NaN.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import special, stats

from studies.analysis import counting

__all__ = [
    "MANN_WHITNEY_EXACT_MAX_N",
    "independent_t",
    "levene",
    "mann_whitney",
    "mann_whitney_exact_p",
]

# SPSS computes the exact significance of the Mann-Whitney U for 40 cases or fewer (IBM's
# "M-W Subcommand (NPAR TESTS command)": "An exact significance level is computed if there are
# 40 or fewer cases").
MANN_WHITNEY_EXACT_MAX_N = 40

Number = int | float


def _valid(values: Sequence[Number | None]) -> tuple[np.ndarray, int]:
    """The values as float64 without the missing ones (``None``, NaN), in ascending order, and
    how many were left out.  Infinite values are refused: they are not measurements.  Sorted,
    every figure computed from them (numpy's sums included, to the last bit) depends on the
    values only, not on the order the mothers came in."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "iuf":
        present = values.astype(float).reshape(-1)  # a numeric array has no None
    else:
        present = np.asarray([np.nan if v is None else float(v) for v in values], dtype=float)
    if np.isinf(present).any():
        raise ValueError("values must be finite numbers (or None/NaN for a missing value)")
    keep = ~np.isnan(present)
    return counting.sort(present[keep]), int((~keep).sum())


def _two_groups(groups: Mapping[str, Sequence[Number | None]]):
    if len(groups) != 2:
        raise ValueError(f"exactly two groups are needed, got {len(groups)}: {list(groups)}")
    (first, a), (second, b) = groups.items()
    (x, x_missing), (y, y_missing) = _valid(a), _valid(b)
    return (first, x, x_missing), (second, y, y_missing)


def _tie_sum(values: np.ndarray) -> float:
    """sum(t^3 - t) over the groups of tied values (t = size of each group)."""
    _, counts = counting.unique_counts(values)
    counts = counts.astype(float)
    return float(np.sum(counts**3 - counts))


# ---------------------------------------------------------------------------
# Mann-Whitney U, SPSS NPAR TESTS /M-W
# ---------------------------------------------------------------------------


def mann_whitney_exact_p(u: float, n1: int, n2: int) -> float | None:
    """SPSS's "Exact Sig. [2*(1-tailed Sig.)]" of a Mann-Whitney U: min(1, 2 * P(U <= u)).

    ``u`` is the smaller of U1 and U2; P is taken from the exact null distribution of U for
    group sizes ``n1`` and ``n2`` *without* ties (Mann & Whitney 1947), as SPSS does (it
    footnotes the row "Not corrected for ties"): with ties ``u`` may be a half-integer and
    P(U <= u) = P(U <= floor(u)).  The distribution's counts are the coefficients of the
    Gaussian binomial coefficient [n1 + n2 choose n1]_q = prod_{i=1..n1} (1 - q^(n2+i)) /
    (1 - q^i), built with integer polynomial arithmetic (exact; C(40, 20) fits in int64).

    Returns ``None`` above :data:`MANN_WHITNEY_EXACT_MAX_N` cases (SPSS prints no exact p there)
    and when a group is empty.
    """
    if n1 < 1 or n2 < 1 or n1 + n2 > MANN_WHITNEY_EXACT_MAX_N:
        return None
    size = n1 * n2 + 1
    counts = np.zeros(size, dtype=np.int64)
    counts[0] = 1
    for i in range(1, n1 + 1):
        # Multiply by (1 - q^(n2 + i)) ...
        shift = n2 + i
        if shift < size:
            counts[shift:] -= counts[: size - shift].copy()
        # ... and divide by (1 - q^i): a running sum within each residue class modulo i.
        for residue in range(i):
            counts[residue::i] = np.cumsum(counts[residue::i])
    total = math.comb(n1 + n2, n1)
    if int(counts.sum()) != total:  # pragma: no cover - arithmetic self-check
        raise ArithmeticError("the Mann-Whitney distribution does not add up")
    tail = int(counts[: math.floor(u + 1e-9) + 1].sum())
    return min(1.0, 2.0 * tail / total)


def mann_whitney(groups: Mapping[str, Sequence[Number | None]]) -> dict[str, Any]:
    """Mann-Whitney U test of two independent groups, exactly as SPSS ``NPAR TESTS /M-W``.

    ``groups`` maps the two arms' keys, in order (SPSS's group 1 then group 2), to their
    values; ``None``/NaN are dropped and counted in ``n_missing``.  Both groups are ranked
    together with average ranks for ties.  With rank sums R1, R2, N = n1 + n2 and tie groups of
    size t (SPSS Statistics Algorithms, NPAR TESTS, Mann-Whitney U)::

        U1 = R1 - n1(n1+1)/2,   U2 = n1 n2 - U1,   U = min(U1, U2)
        Z  = (U - n1 n2/2) / sqrt(n1 n2 / (N(N-1)) * ((N^3 - N)/12 - sum(t^3 - t)/12))

    without continuity correction, so Z <= 0; ``p_asymptotic`` = 2 Phi(Z), two-sided.

    ``w`` (SPSS's "Wilcoxon W") is the rank sum of the group whose U is reported, which is the
    group with the smaller mean rank; when U1 = U2 it is group 2's.  That is GNU PSPP's rule
    (``mann-whitney.c``; tests/test_pspp_between.py checks it with unequal arms, the larger arm
    having the smaller mean rank) and agrees with SPSS's published outputs (equal arms, W the
    smaller rank sum).  IBM's syntax reference calls W "the rank sum of the smaller group"; the
    two rules differ only for unequal arms, and no SPSS output of that case was at hand.

    ``p_exact`` is SPSS's "Exact Sig. [2*(1-tailed Sig.)]" (:func:`mann_whitney_exact_p`) for
    N <= 40, else ``None``.  ``ranks`` gives each group's ``n``, ``mean_rank`` and
    ``sum_of_ranks`` (the Ranks table; ``mean_rank`` is ``None`` for an empty group).

    Undefined figures are ``None``: ``u``, ``w``, ``z`` and both p when a group is empty; ``z``
    and both p when every value is tied (the variance of U is zero).

    Pitfall: ``scipy.stats.mannwhitneyu`` reports U1 (not the smaller U), applies a continuity
    correction by default and switches to an exact p on its own, so it is not used here.
    """
    (first, x, x_missing), (second, y, y_missing) = _two_groups(groups)
    n1, n2 = len(x), len(y)
    n = n1 + n2
    ranks = counting.average_ranks(np.concatenate([x, y])) if n else np.array([])
    r1, r2 = float(ranks[:n1].sum()), float(ranks[n1:].sum())
    result: dict[str, Any] = {
        "ranks": {
            first: {"n": n1, "mean_rank": r1 / n1 if n1 else None, "sum_of_ranks": r1},
            second: {"n": n2, "mean_rank": r2 / n2 if n2 else None, "sum_of_ranks": r2},
        },
        "n_missing": {first: x_missing, second: y_missing},
        "u": None,
        "w": None,
        "z": None,
        "p_asymptotic": None,
        "p_exact": None,
    }
    if not n1 or not n2:
        return result
    u1 = r1 - n1 * (n1 + 1) / 2
    u2 = n1 * n2 - u1
    # PSPP and SPSS start from group 2's U and swap to group 1 only when group 1's is smaller.
    u, w = (u2, r2) if u2 <= u1 else (u1, r1)
    result.update(u=u, w=w, p_exact=mann_whitney_exact_p(u, n1, n2))
    # N^3 - N - sum(t^3 - t) is an integer (exact in float64): zero only when every value is
    # tied, and then there is nothing to test.
    spread = (n**3 - n) - _tie_sum(ranks)
    if spread > 0:
        variance = n1 * n2 / (n * (n - 1)) * spread / 12
        z = (u - n1 * n2 / 2) / math.sqrt(variance)
        result.update(z=z, p_asymptotic=min(1.0, 2.0 * float(special.ndtr(z))))
    else:
        result["p_exact"] = None
    return result


# ---------------------------------------------------------------------------
# Levene's test and the independent-samples t test, SPSS T-TEST GROUPS
# ---------------------------------------------------------------------------


def levene(groups: Mapping[str, Sequence[Number | None]]) -> dict[str, Any]:
    """Levene's test for equality of variances over two or more groups, as SPSS ``T-TEST``
    (and ``ONEWAY /STATISTICS HOMOGENEITY``) computes it.

    The one-way ANOVA F of the absolute deviations z_ij = |x_ij - mean_i| from each group's
    **mean** (Levene 1960; SPSS Statistics Algorithms, T-TEST)::

        F = ((N - k) sum_i n_i (zbar_i - zbar)^2) / ((k - 1) sum_ij (z_ij - zbar_i)^2)

    with df1 = k - 1 and df2 = N - k; p = P(F(df1, df2) > F).  It equals
    ``scipy.stats.levene(..., center="mean")``; scipy's default (``center="median"``, the
    Brown-Forsythe test) is not SPSS's.  ``None``/NaN values are dropped.  Returns
    ``{"f", "df1", "df2", "p", "not_computed"}``; ``f`` and ``p`` are ``None`` with fewer than
    two non-empty groups or no degrees of freedom left (N <= k) (``not_computed`` =
    ``"too_few"``), or no spread of the deviations within the groups, the denominator being
    zero: every group's values the same (``"constant"``) or values that vary but lie at the
    same distance from their group's mean, as two values always do (``"equal_deviations"``).
    ``not_computed`` is ``None`` when F is computed.
    """
    samples = [_valid(v)[0] for v in groups.values()]
    samples = [s for s in samples if len(s)]
    k = len(samples)
    total = sum(len(s) for s in samples)
    result: dict[str, Any] = {
        "f": None,
        "df1": k - 1 if k >= 2 else None,
        "df2": total - k if k >= 2 and total > k else None,
        "p": None,
        "not_computed": "too_few",
    }
    if k < 2 or total <= k:
        return result
    deviations = [np.abs(s - s.mean()) for s in samples]
    sizes = np.array([len(d) for d in deviations], dtype=float)
    group_means = np.array([d.mean() for d in deviations])
    grand_mean = float(np.concatenate(deviations).mean())
    between = float(np.sum(sizes * (group_means - grand_mean) ** 2))
    within = float(sum(np.sum((d - m) ** 2) for d, m in zip(deviations, group_means, strict=True)))
    scale = max(1.0, float(np.max(np.concatenate(deviations))))
    if within <= 1e-24 * scale**2 * total:
        constant = all(float(np.ptp(s)) == 0.0 for s in samples)
        result["not_computed"] = "constant" if constant else "equal_deviations"
        return result
    f = (total - k) * between / ((k - 1) * within)
    result.update(f=f, p=float(stats.f.sf(f, k - 1, total - k)), not_computed=None)
    return result


def _group_statistics(values: np.ndarray) -> dict[str, Any]:
    n = len(values)
    mean = float(values.mean()) if n else None
    sd = float(values.std(ddof=1)) if n >= 2 else None
    return {
        "n": n,
        "mean": mean,
        "sd": sd,
        "se_mean": sd / math.sqrt(n) if sd is not None else None,
    }


def _t_row(difference: float | None, se: float | None, df: float | None, confidence: float):
    row = {
        "t": None,
        "df": df,
        "p": None,
        "mean_difference": difference,
        "se_difference": se,
        "ci_lower": None,
        "ci_upper": None,
    }
    if difference is None or se is None or df is None or not se > 0:
        return row
    t = difference / se
    margin = float(stats.t.ppf(1 - (1 - confidence) / 2, df)) * se
    row.update(
        t=t,
        p=min(1.0, 2.0 * float(stats.t.sf(abs(t), df))),
        ci_lower=difference - margin,
        ci_upper=difference + margin,
    )
    return row


def independent_t(
    groups: Mapping[str, Sequence[Number | None]], confidence: float = 0.95
) -> dict[str, Any]:
    """Independent-samples t test of two groups, as SPSS ``T-TEST GROUPS=g(1 2)`` prints it.

    ``groups`` maps the two arms' keys in order (group 1, group 2) to their values; ``None``/NaN
    are dropped and counted in ``n_missing``.  ``group_statistics`` is SPSS's Group Statistics
    table: per arm ``n``, ``mean``, ``sd`` (n - 1) and ``se_mean`` = sd / sqrt(n).

    Both rows of the Independent Samples Test, with the mean difference = mean_1 - mean_2
    (SPSS Statistics Algorithms, T-TEST):

    * ``equal_variances``: pooled variance s_p^2 = ((n1-1)s1^2 + (n2-1)s2^2) / (n1+n2-2),
      se = s_p sqrt(1/n1 + 1/n2), df = n1 + n2 - 2;
    * ``unequal_variances`` (Welch): se = sqrt(s1^2/n1 + s2^2/n2), Satterthwaite's
      df = se^4 / ((s1^2/n1)^2/(n1-1) + (s2^2/n2)^2/(n2-1)), not rounded.

    Each row holds ``t``, ``df``, two-sided ``p``, ``mean_difference``, ``se_difference`` and
    ``ci_lower``/``ci_upper`` = difference -/+ t_(1-alpha/2, df) * se at ``confidence``.
    ``levene_f``/``levene_p`` come from :func:`levene`, ``levene_not_computed`` its
    ``not_computed`` (why F is ``None``).  Undefined figures are ``None``: every
    row figure when a group is empty; the pooled row when n1 + n2 < 3; the Welch row when a
    group has fewer than two values; t, p and the CI when the standard error is zero.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence!r}")
    (first, x, x_missing), (second, y, y_missing) = _two_groups(groups)
    n1, n2 = len(x), len(y)
    one, two = _group_statistics(x), _group_statistics(y)
    homogeneity = levene({first: x, second: y})
    difference = one["mean"] - two["mean"] if n1 and n2 else None

    pooled_se = pooled_df = None
    if n1 and n2 and n1 + n2 >= 3:
        squares = float(np.sum((x - x.mean()) ** 2) + np.sum((y - y.mean()) ** 2))
        pooled_df = n1 + n2 - 2
        pooled_se = math.sqrt(squares / pooled_df * (1 / n1 + 1 / n2))

    welch_se = welch_df = None
    if n1 >= 2 and n2 >= 2:
        a, b = one["sd"] ** 2 / n1, two["sd"] ** 2 / n2
        welch_se = math.sqrt(a + b)
        if a + b > 0:
            welch_df = (a + b) ** 2 / (a**2 / (n1 - 1) + b**2 / (n2 - 1))

    return {
        "group_statistics": {first: one, second: two},
        "n_missing": {first: x_missing, second: y_missing},
        "confidence": confidence,
        "levene_f": homogeneity["f"],
        "levene_p": homogeneity["p"],
        "levene_not_computed": homogeneity["not_computed"],
        "equal_variances": _t_row(difference, pooled_se, pooled_df, confidence),
        "unequal_variances": _t_row(difference, welch_se, welch_df, confidence),
    }
