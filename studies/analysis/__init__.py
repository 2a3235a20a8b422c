"""Statistics for every design (DESIGN.md sections 4.5, 5 and 7); this module holds the one-group
pre-test/post-test tests of the paper, the modules beside it the other designs' tests.

Everything here is pure computation: no Django, no ORM, no I/O, so the results
document can be rebuilt and tested without a database.  The numbers follow
SPSS, because the study's reference results (the paper's tables) were produced
with SPSS ``FREQUENCIES``, ``DESCRIPTIVES``/``EXAMINE`` and
``NPAR TESTS /WILCOXON``; scipy's and R's defaults differ from SPSS
(continuity correction, automatic exact switch, zero handling), so the
Wilcoxon test is computed here rather than delegated.

Conventions of every public function:

* numbers are returned unrounded; rounding belongs to display
  (:func:`format_spss`, :func:`format_p`);
* a figure that is undefined (the SD of one value, a CI with no pairs) is
  ``None``, never NaN, so the document survives ``json.dumps(allow_nan=False)``;
* only plain ``int``/``float``/``str``/``None``/``dict``/``list`` come back,
  never numpy scalars.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Any

import numpy as np
from scipy import special, stats

# The within-respondent tests, the normality table and the test choice (issue 15).
from studies.analysis import counting
from studies.analysis.choice import choose
from studies.analysis.normality import tests_of_normality
from studies.analysis.repeated import cochran_q, friedman

__all__ = [
    "HODGES_LEHMANN_EXACT_MAX",
    "choose",
    "cochran_q",
    "friedman",
    "signed_rank_critical_value",
    "tests_of_normality",
    "AGE_GROUPS",
    "EDUCATION_LEVELS",
    "EMPLOYMENT_STATUSES",
    "EXACT_P_MAX_PAIRS",
    "PARITY_GROUPS",
    "SHAPIRO_WILK_MAX",
    "SHAPIRO_WILK_MIN",
    "adequacy",
    "age_group",
    "analyze",
    "analyze_outcome",
    "characteristics",
    "describe",
    "exact_p_signed_rank",
    "format_p",
    "format_spss",
    "hodges_lehmann",
    "mcnemar_exact",
    "paired_t",
    "parity_group",
    "shapiro_wilk",
    "wilcoxon_signed_rank",
]

# Category keys in display order; every key is listed in the results even when
# its count is zero, so tables keep the same rows from study to study.
AGE_GROUPS: tuple[str, ...] = ("lt20", "20to35", "gt35")
PARITY_GROUPS: tuple[str, ...] = ("primipara", "multipara")
EDUCATION_LEVELS: tuple[str, ...] = ("basic", "secondary", "higher")
EMPLOYMENT_STATUSES: tuple[str, ...] = ("working", "not_working")
# The mothers' fields Table 1 is counted from.
CHARACTERISTIC_COLUMNS: tuple[str, ...] = ("age_years", "parity", "education", "employment")

# Above this many non-zero pairs the exact distribution is not computed: the
# normal approximation is already accurate there (DESIGN section 5).
EXACT_P_MAX_PAIRS = 200

Number = int | float


# ---------------------------------------------------------------------------
# Respondent characteristics (the paper's Table 1)
# ---------------------------------------------------------------------------


def age_group(age_years: int) -> str:
    """Age band of the paper's Table 1: ``lt20`` (<20), ``20to35`` (20-35 inclusive), ``gt35``."""
    if age_years < 20:
        return "lt20"
    if age_years <= 35:
        return "20to35"
    return "gt35"


def parity_group(parity: int) -> str:
    """``primipara`` for a first child (parity 1), ``multipara`` otherwise.

    Parity counts the children including this one, so anything below 1 is a
    data error rather than a category.
    """
    if parity < 1:
        raise ValueError(f"parity must be at least 1, got {parity!r}")
    return "primipara" if parity == 1 else "multipara"


def _frequency(values: Sequence[str], keys: Sequence[str], field: str) -> list[dict[str, Any]]:
    return _frequency_of_counts(Counter(values), len(values), keys, field)


def _frequency_of_counts(
    counts: Mapping[Any, int], total: int, keys: Sequence[str], field: str
) -> list[dict[str, Any]]:
    unknown = set(counts) - set(keys)
    if unknown:
        # A silent "other" would make the percentages stop adding up to 100;
        # the import/forms are supposed to make this impossible, so say so loudly.
        raise ValueError(f"unknown {field} value(s): {sorted(map(str, unknown))}")
    return [
        {
            "key": key,
            "n": counts.get(key, 0),
            "percent": (100.0 * counts.get(key, 0) / total) if total else None,
        }
        for key in keys
    ]


def _grouped(counts: Counter, group) -> Counter:
    """The counts of each value summed by ``group(value)``, values in first-seen order (so a
    value ``group`` refuses is the first such one of the records, as when grouping each)."""
    grouped: Counter = Counter()
    for value, count in counts.items():
        grouped[group(value)] += count
    return grouped


def _counted(column: Any) -> Counter:
    """How often each value of a column (list, tuple or 1-D array) occurs, as plain values:
    an integer array counted (``counting.unique_counts``, in ascending order, so a value
    :func:`_grouped` refuses is the smallest such one), anything else value by value."""
    if isinstance(column, np.ndarray) and column.dtype.kind in "iu":
        distinct, counts = counting.unique_counts(column)
        return Counter(dict(zip(distinct.tolist(), counts.tolist(), strict=True)))
    return Counter(column.tolist() if isinstance(column, np.ndarray) else column)


def characteristics(
    records: Iterable[Mapping[str, Any]] | Mapping[str, Any],
) -> dict[str, list[dict[str, Any]]]:
    """Frequency tables of age group, parity, education and employment.

    ``records`` are the mothers as mappings (one per mother), or the same as columns: a
    mapping of ``age_years``, ``parity``, ``education`` and ``employment`` to equally long
    lists or 1-D arrays (:func:`analyze`).  Each table is a list of ``{"key", "n", "percent"}``
    in display order; percent is 0-100 and unrounded, ``None`` when there are no records.  The
    values are counted first and the (few) distinct ages and parities grouped after, so the
    cost per mother is one dictionary look-up per characteristic.
    """
    if isinstance(records, Mapping):
        counted = {name: _counted(records[name]) for name in CHARACTERISTIC_COLUMNS}
        total = len(records["age_years"])
    else:
        rows = records if isinstance(records, list) else list(records)
        counted = {name: Counter([r[name] for r in rows]) for name in CHARACTERISTIC_COLUMNS}
        total = len(rows)
    return {
        "age_group": _frequency_of_counts(
            _grouped(counted["age_years"], age_group), total, AGE_GROUPS, "age"
        ),
        "parity": _frequency_of_counts(
            _grouped(counted["parity"], parity_group),
            total,
            PARITY_GROUPS,
            "parity",
        ),
        "education": _frequency_of_counts(
            counted["education"], total, EDUCATION_LEVELS, "education"
        ),
        "employment": _frequency_of_counts(
            counted["employment"], total, EMPLOYMENT_STATUSES, "employment"
        ),
    }


# ---------------------------------------------------------------------------
# Descriptives
# ---------------------------------------------------------------------------


def _plain_number(value: Any) -> Any:
    """Turn numpy scalars into ``int``/``float`` so ``json`` accepts them."""
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


# Integers up to this magnitude are exact in float64, so numpy's arithmetic on them gives the
# figures Python's gives on the same ``int`` values.
_EXACT_INT = 2**53
_INT_TYPES = (int, np.integer)
_FLOAT_TYPES = (float, np.floating)


def _numbers(values: Any) -> np.ndarray | None:
    """``values`` as one 1-D int64 or float64 array, when numpy's vectorised arithmetic on it
    gives exactly what Python's gives value by value: every value an integer (not a bool)
    below 2**53 in magnitude, or every value a float (NaN excluded).  ``None`` for anything
    else (mixed ints and floats, ``None``, bools, Decimals, NaN, huge integers, no values):
    the caller then takes the value-by-value path, so no figure changes type or last bit."""
    if isinstance(values, np.ndarray):
        if values.ndim != 1 or values.size == 0:
            return None
        kind = values.dtype.kind
        if kind in "iu":
            if np.abs(values).max() >= _EXACT_INT:
                return None
            return values.astype(np.int64, copy=False)
        if kind == "f":
            array = values.astype(np.float64, copy=False)
            return None if np.isnan(array).any() else array
        return None
    if not isinstance(values, list | tuple) or not values:
        return None
    types = set(map(type, values))
    if all(issubclass(t, _INT_TYPES) and not issubclass(t, bool | np.bool_) for t in types):
        try:
            array = np.array(values, dtype=np.int64)
        except OverflowError:
            return None
        return None if np.abs(array).max() >= _EXACT_INT else array
    if all(issubclass(t, _FLOAT_TYPES) for t in types):
        array = np.array(values, dtype=np.float64)
        return None if np.isnan(array).any() else array
    return None


def _percentile_haverage(sorted_values: Sequence[float], p: float) -> float:
    # SPSS EXAMINE's default percentile method, HAVERAGE: the weighted average
    # at position p(n+1), clamped to the extremes.  It equals numpy's
    # method="weibull" and Hyndman & Fan type 6.
    n = len(sorted_values)
    position = p * (n + 1)
    k = math.floor(position)
    if k < 1:
        return float(sorted_values[0])
    if k >= n:
        return float(sorted_values[-1])
    fraction = position - k
    low, high = _plain_number(sorted_values[k - 1]), _plain_number(sorted_values[k])
    return float(low + fraction * (high - low))


def describe(values: Sequence[Number]) -> dict[str, Any]:
    """N, mean, sample SD (n - 1), min, max, median and quartiles.

    Quartiles use SPSS's default EXAMINE definition (HAVERAGE, position
    p(n+1)); the median is the same under every definition.  The SD is
    ``None`` for fewer than two values and every statistic is ``None`` for
    no values.  ``values`` is a sequence or a 1-D array of numbers; ints stay
    ``int`` in min and max.  The mean is ``math.fsum`` / n and the SD's sum of
    squares ``math.fsum`` too (correctly rounded sums), computed on the array
    when :func:`_numbers` takes it, value by value otherwise, with the same result.
    """
    array = _numbers(values)
    if array is None:
        return _describe_values([_plain_number(v) for v in values])
    n = len(array)
    counted = counting.histogram(array)
    if counted is None:
        ordered = np.sort(array, kind="stable")
        starts = np.r_[0, np.flatnonzero(np.diff(ordered)) + 1]
        distinct, counts = ordered[starts], np.diff(np.r_[starts, n])
    else:
        distinct, counts = counted
        ordered = np.repeat(distinct, counts)
    if len(distinct) <= n // 4:
        # Few distinct values (counts, scores): the sums over the histogram, exactly.
        mean, sd = _mean_sd_of_histogram(distinct, counts, n)
    else:
        mean = math.fsum(array.tolist()) / n
        sd = None
        if n >= 2:
            # Two-pass sum of squares: exact enough for counts and immune to the
            # cancellation of the sum-of-squares shortcut.  float_power is C's pow, as
            # Python's ``x ** 2`` (a plain product can differ in the last bit).
            deviations = array.astype(np.float64) - mean
            sd = math.sqrt(math.fsum(np.float_power(deviations, 2.0).tolist()) / (n - 1))
    return {
        "n": n,
        "mean": mean,
        "sd": sd,
        "min": _plain_number(ordered[0]),
        "max": _plain_number(ordered[-1]),
        "median": _percentile_haverage(ordered, 0.5),
        "q1": _percentile_haverage(ordered, 0.25),
        "q3": _percentile_haverage(ordered, 0.75),
    }


def _exact_sum(values: np.ndarray, counts: np.ndarray) -> float:
    """sum(count * value) over a 1-D int64 or float64 array of finite values and their int64
    counts, computed exactly and rounded once to the nearest float (ties to even): what
    ``math.fsum`` gives for the list holding each value ``count`` times.  Each value is an
    integer M times a power of two (``numpy.frexp``: M below 2**53 in magnitude), so the sum is
    one integer over the smallest such power, and Python's integer division rounds it
    correctly.  The products are summed per power of two in int64, M split in halves of 27 and
    26 bits so that no partial sum can overflow (value by value in Python integers for 2**35
    values and more)."""
    if values.dtype.kind in "iu":
        whole, powers = values.astype(np.int64), np.zeros(len(values), dtype=np.int64)
    else:
        fractions, exponents = np.frexp(values)
        whole = np.ldexp(fractions, 53).astype(np.int64)
        powers = exponents.astype(np.int64) - 53
    counts = np.asarray(counts, dtype=np.int64)
    lowest = int(powers.min()) if len(values) else 0
    total = 0
    if int(counts.sum()) < 2**35:
        high, low = whole >> 26, whole & (2**26 - 1)
        for power in np.unique(powers).tolist():
            at = powers == power
            partial = (int(np.dot(counts[at], high[at])) << 26) + int(np.dot(counts[at], low[at]))
            total += partial << (power - lowest)
    else:
        for m, c, e in zip(whole.tolist(), counts.tolist(), powers.tolist(), strict=True):
            total += (m * c) << (e - lowest)
    return total / 2**-lowest if lowest < 0 else float(total << lowest)


def _mean_sd_of_histogram(
    distinct: np.ndarray, counts: np.ndarray, n: int
) -> tuple[float, float | None]:
    """:func:`describe`'s mean and SD from the distinct values (int64 or float64, ascending)
    and how often each occurs (``n`` in all): the same figures, to the last bit, as
    ``math.fsum`` over the ``n`` values and over their squared deviations, since each value's
    deviation and square are the same float wherever it occurs and both sums are exact and
    rounded once."""
    mean = _exact_sum(distinct, counts) / n
    if n < 2:
        return mean, None
    squares = np.float_power(distinct.astype(np.float64) - mean, 2.0)
    return mean, math.sqrt(_exact_sum(squares, counts) / (n - 1))


def _describe_values(data: list[Number]) -> dict[str, Any]:
    """:func:`describe` value by value, for what :func:`_numbers` does not take."""
    n = len(data)
    if n == 0:
        return {
            "n": 0, "mean": None, "sd": None, "min": None, "max": None,
            "median": None, "q1": None, "q3": None,
        }  # fmt: skip
    ordered = sorted(data)
    mean = math.fsum(data) / n
    sd = None
    if n >= 2:
        sd = math.sqrt(math.fsum((x - mean) ** 2 for x in data) / (n - 1))
    return {
        "n": n,
        "mean": mean,
        "sd": sd,
        "min": ordered[0],
        "max": ordered[-1],
        "median": _percentile_haverage(ordered, 0.5),
        "q1": _percentile_haverage(ordered, 0.25),
        "q3": _percentile_haverage(ordered, 0.75),
    }


# ---------------------------------------------------------------------------
# Wilcoxon signed-rank test, SPSS NPAR TESTS /WILCOXON
# ---------------------------------------------------------------------------


def _differences(pre: Sequence[Number], post: Sequence[Number]) -> np.ndarray | list[Number]:
    """post - pre per pair: an int64 or float64 array when both sides are arrays of one kind
    (:func:`_numbers`; int - float is float, as in Python), else a list of plain numbers."""
    if len(pre) != len(post):
        raise ValueError(f"pre and post differ in length ({len(pre)} != {len(post)})")
    before, after = _numbers(pre), _numbers(post)
    if before is not None and after is not None:
        if before.dtype.kind == after.dtype.kind == "i":
            return after - before
        return after.astype(np.float64) - before.astype(np.float64)
    return [_plain_number(b) - _plain_number(a) for a, b in zip(pre, post, strict=True)]


def _rank_summary(n: int, rank_sum: float) -> dict[str, Any]:
    # SPSS prints ".00" for the mean rank of an empty row, not a blank.
    return {"n": n, "mean_rank": rank_sum / n if n else 0.0, "sum_of_ranks": rank_sum}


def exact_p_signed_rank(abs_ranks: Sequence[float], s_plus: float) -> float | None:
    """Exact two-sided p of the signed-rank statistic, conditional on the given ranks.

    ``abs_ranks`` are the (mid)ranks of the non-zero |d| and ``s_plus`` the
    observed sum of the ranks of the positive differences.  Under H0 each rank
    is positive or negative with probability 1/2 independently, so S+ has a
    distribution over all 2**n sign assignments; the p-value is
    P(|S+ - E| >= |observed - E|) with E = sum(ranks) / 2.  With ties this is
    the conditional (permutation) test; without ties it is the classic exact
    test.

    Mid-ranks are multiples of 1/2, so the distribution is built by dynamic
    programming over doubled ranks (integers) in O(n * sum(ranks)) instead
    of enumerating 2**n assignments.  Returns 1.0 for no ranks and ``None``
    above :data:`EXACT_P_MAX_PAIRS` ranks.
    """
    n = len(abs_ranks)
    if n > EXACT_P_MAX_PAIRS:
        return None
    if n == 0:
        return 1.0
    doubled: list[int] = []
    for rank in abs_ranks:
        twice = round(2 * float(rank))
        # The tolerance only absorbs float noise; a rank that is not a
        # multiple of 1/2 is not a mid-rank and would be silently mangled.
        if twice < 0 or abs(twice - 2 * float(rank)) > 1e-6:
            raise ValueError(f"ranks must be non-negative multiples of 1/2, got {rank!r}")
        doubled.append(twice)
    observed = round(2 * float(s_plus))
    total = sum(doubled)
    if observed < 0 or observed > total or abs(observed - 2 * float(s_plus)) > 1e-6:
        raise ValueError(f"s_plus {s_plus!r} is not attainable with these ranks")

    # Probabilities rather than counts: 2**200 would overflow float64 counts
    # and halving at each step keeps every term representable.
    dist = np.zeros(total + 1)
    dist[0] = 1.0
    reach = 0
    for r in doubled:
        shifted = 0.5 * dist[: reach + 1]
        dist[: reach + 1] *= 0.5
        dist[r : r + reach + 1] += shifted
        reach += r
    # Compare |2*S - total| in doubled integer units: no float tolerance needed.
    support = np.arange(total + 1)
    extreme = np.abs(2 * support - total) >= abs(2 * observed - total)
    return min(1.0, float(dist[extreme].sum()))


def wilcoxon_signed_rank(pre: Sequence[Number], post: Sequence[Number]) -> dict[str, Any]:
    """Wilcoxon signed-rank test of post vs pre exactly as SPSS NPAR TESTS /WILCOXON.

    d = post - pre; zero differences form the "Ties" row and are dropped
    before ranking; the remaining |d| get average ranks.  With n non-zero
    pairs and tie groups of size t::

        Z = (min(S+, S-) - n(n+1)/4) / sqrt(n(n+1)(2n+1)/24 - sum(t^3 - t)/48)

    without continuity correction, so Z <= 0, and p_asymptotic = 2 * Phi(Z).
    ``based_on`` names SPSS's footnote ("Based on negative ranks" when
    S- <= S+).  ``effect_size_r`` is |Z| / sqrt(all analysed pairs, ties
    included); ``rank_biserial`` is (S+ - S-) / (S+ + S-), the matched-pairs
    rank-biserial correlation.  When every difference is zero Z is 0 and both
    p are 1; with no pair at all Z and both p are ``None`` (nothing to test).
    """
    diffs = _differences(pre, post)
    if not isinstance(diffs, np.ndarray):
        diffs = np.asarray(diffs, dtype=float)
    nonzero = diffs[diffs != 0]
    n = len(nonzero)
    magnitudes = np.abs(nonzero.astype(np.float64))
    ranks = counting.average_ranks(magnitudes) if n else np.array([])
    positive = nonzero > 0
    # Ranks are multiples of 1/2, so their sums are exact in any order.
    s_plus = float(ranks[positive].sum())
    s_minus = float(ranks[nonzero < 0].sum())
    n_plus = int(np.count_nonzero(positive))
    n_minus = n - n_plus

    z = 0.0
    if n:
        _values, sizes = counting.unique_counts(magnitudes)
        tie_term = sum(t**3 - t for t in sizes.tolist()) / 48
        variance = n * (n + 1) * (2 * n + 1) / 24 - tie_term
        # The variance equals sum(rank^2)/4 > 0 whenever n >= 1; the guard only
        # protects against a future change of the formula, never divides by 0.
        if variance > 0:
            z = (min(s_plus, s_minus) - n * (n + 1) / 4) / math.sqrt(variance)
    # ndtr keeps full relative accuracy deep in the lower tail, unlike 1 - cdf.
    p_asymptotic = min(1.0, 2.0 * float(special.ndtr(z)))
    p_exact = exact_p_signed_rank(ranks, s_plus)
    analysed = len(diffs)
    if not analysed:
        # No pair at all is not "no change": there is nothing to test, and the
        # results document says so with null (DESIGN section 4.5).
        z = p_asymptotic = p_exact = None
    return {
        "negative_ranks": _rank_summary(n_minus, s_minus),
        "positive_ranks": _rank_summary(n_plus, s_plus),
        "ties": analysed - n,
        "total": analysed,
        "z": z,
        "p_asymptotic": p_asymptotic,
        "p_exact": p_exact,
        "based_on": "negative_ranks" if s_minus <= s_plus else "positive_ranks",
        "effect_size_r": abs(z) / math.sqrt(analysed) if z is not None else None,
        "rank_biserial": (s_plus - s_minus) / (s_plus + s_minus) if n else None,
    }


# Up to this many pairs the Hodges-Lehmann interval takes its order statistic from the exact
# signed-rank distribution; above, from its normal approximation (the two pick the same order
# statistic or a neighbour there, and the exact table would cost O(n^3)).
HODGES_LEHMANN_EXACT_MAX = 200


def signed_rank_critical_value(n: int, confidence: float) -> tuple[int, float] | None:
    """Order statistic C of the exact Hodges-Lehmann interval and the confidence it reaches.

    T+ is the Wilcoxon signed-rank statistic of n untied, non-zero values; under H0 each of
    the 2**n sign assignments of the ranks 1..n is equally likely.  With alpha = 1 -
    confidence, C = 1 + max{c : P(T+ <= c) <= alpha / 2} (Hollander & Wolfe 1999, section 3.3,
    C_alpha = n(n+1)/2 + 1 - t_(alpha/2); Bauer 1972; R's ``wilcox.test(conf.int=TRUE)``
    takes ``qsignrank(alpha/2, n)``, the same C whenever alpha/2 is not itself a probability
    of the distribution).  The interval [W_(C), W_(M + 1 - C)] of the M = n(n+1)/2 sorted
    Walsh averages then has coverage 1 - 2 P(T+ <= C - 1) >= confidence, returned second.
    ``None`` when even the widest interval (C = 1) falls short of the confidence (n <= 5 at
    95%).  The distribution is built by dynamic programming over the ranks (probabilities,
    halved at every step, so no count overflows).
    """
    if n < 1:
        return None
    total = n * (n + 1) // 2
    dist = np.zeros(total + 1)
    dist[0] = 1.0
    reach = 0
    for rank in range(1, n + 1):
        shifted = 0.5 * dist[: reach + 1]
        dist[: reach + 1] *= 0.5
        dist[rank : rank + reach + 1] += shifted
        reach += rank
    cdf = np.cumsum(dist)
    half_alpha = (1 - confidence) / 2
    # The relative tolerance only absorbs float noise, so that a dyadic alpha/2 (a confidence
    # of .875 at n = 4, say) counts as reached, as Hollander & Wolfe's "<=" says.
    c = int(np.count_nonzero(cdf <= half_alpha * (1 + 1e-12)))
    if c < 1:
        return None
    return c, 1.0 - 2.0 * float(cdf[c - 1])


def hodges_lehmann(
    pre: Sequence[Number], post: Sequence[Number], confidence: float = 0.95
) -> dict[str, Any]:
    """Hodges-Lehmann estimate of the shift post - pre with its distribution-free CI.

    d = post - pre over all n analysed pairs.  The estimate is the median of the M =
    n(n+1)/2 Walsh averages (d_i + d_j) / 2, i <= j; the CI is [W_(C), W_(M + 1 - C)] of the
    sorted Walsh averages (Hollander & Wolfe 1999, section 3.2-3.3; Bauer 1972).

    * **C for n <= 200** (:data:`HODGES_LEHMANN_EXACT_MAX`): the exact critical value of the
      signed-rank distribution, :func:`signed_rank_critical_value` (so 1..7 gives [2, 6]);
      ``method`` is ``"exact"`` and ``achieved_confidence`` the interval's exact coverage
      (at least ``confidence``; the discrete distribution rarely hits it exactly).
    * **C for n > 200**: the large-sample approximation of Hollander & Wolfe, C =
      n(n+1)/4 - z_(1-alpha/2) * sqrt(n(n+1)(2n+1)/24) rounded to the nearest integer;
      ``method`` is ``"normal_approximation"`` and ``achieved_confidence`` ``None``.

    **Zero differences** stay in: a pair with d = 0 is an observation of the shift like any
    other, so it enters the Walsh averages (with itself and with every other pair) and n counts
    it, as in Hollander & Wolfe's estimator and Bauer's interval, and as R's
    ``wilcox.test(conf.int=TRUE)`` does in its exact branch (which runs only without zeros or
    ties).  Only the signed-rank *test* drops zeros (SPSS's Ties row, DESIGN section 5); doing
    the same here would pull the estimate away from 0.  R's approximate branch drops zeros
    and solves for the interval numerically, so with zeros it can differ from this one.
    **Tied differences** (counts always tie) keep the critical value of the untied
    distribution, as Hollander & Wolfe's tables do; the interval is then conservative.

    ``ci_low``/``ci_high`` are ``None`` when the confidence cannot be reached (n <= 5 at 95%)
    and every figure is ``None`` with no pair.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence!r}")
    diffs = np.asarray(_differences(pre, post), dtype=float)
    n = len(diffs)
    result: dict[str, Any] = {
        "estimate": None, "ci_low": None, "ci_high": None, "confidence": confidence,
        "method": None, "achieved_confidence": None,
    }  # fmt: skip
    if n == 0:
        return result
    walsh = _walsh_averages(diffs)
    count = n * (n + 1) // 2
    middle = walsh((count + 1) // 2)
    result["estimate"] = middle if count % 2 else (middle + walsh(count // 2 + 1)) / 2
    if n <= HODGES_LEHMANN_EXACT_MAX:
        result["method"] = "exact"
        critical = signed_rank_critical_value(n, confidence)
        if critical is None:
            return result
        c, result["achieved_confidence"] = critical
    else:
        result["method"] = "normal_approximation"
        z = float(special.ndtri(1 - (1 - confidence) / 2))
        c = math.floor(n * (n + 1) / 4 - z * math.sqrt(n * (n + 1) * (2 * n + 1) / 24) + 0.5)
    result["ci_low"] = walsh(c)
    result["ci_high"] = walsh(count + 1 - c)
    return result


# Up to this many distinct differences the Walsh averages are counted by value; beyond, they
# are listed (n(n+1)/2 of them: fine for the few hundred pairs continuous data comes in).
WALSH_DISTINCT_MAX = 2000


def _walsh_averages(diffs: np.ndarray):
    """``k -> W_(k)``, the k-th smallest (1-based) of the n(n+1)/2 Walsh averages
    (d_i + d_j) / 2, i <= j.

    Counts take few distinct values, so the averages are counted per pair of distinct values
    (c_a * c_b pairs for a < b, c_a(c_a + 1)/2 for a = b) instead of listed: 100,000 mothers
    would otherwise need 5 * 10^9 averages. Both ways give the same floats."""
    values, counts = counting.unique_counts(diffs)
    if len(values) > WALSH_DISTINCT_MAX:
        upper = np.triu_indices(len(diffs))
        listed = np.sort((diffs[:, None] + diffs[None, :])[upper] / 2.0)
        return lambda k: float(listed[k - 1])
    first, second = np.triu_indices(len(values))
    averages = (values[first] + values[second]) / 2.0
    counts = counts.astype(np.int64)
    pairs = np.where(
        first == second, counts[first] * (counts[first] + 1) // 2, counts[first] * counts[second]
    )
    order = np.argsort(averages, kind="stable")
    averages, cumulative = averages[order], np.cumsum(pairs[order])
    return lambda k: float(averages[np.searchsorted(cumulative, k)])


# ---------------------------------------------------------------------------
# Parametric companions and normality
# ---------------------------------------------------------------------------


# SPSS's EXAMINE prints Shapiro-Wilk only for 3 to 5,000 values; above that its
# approximation of the p-value is not trusted, and a reader comparing with SPSS must see the same
# empty cell rather than a p SPSS would never print.
SHAPIRO_WILK_MIN = 3
SHAPIRO_WILK_MAX = 5000


def shapiro_wilk(values: Sequence[Number]) -> dict[str, Any]:
    """Shapiro-Wilk W and p (scipy) where SPSS computes them: 3 to 5,000 values.

    ``n`` is the number of values; ``w`` and ``p`` are ``None`` outside that range and for
    constant data, and ``not_computed`` says why: ``too_few`` (below 3), ``too_many`` (above
    5,000, as SPSS) or ``constant``; it is ``None`` when the test was computed.
    """
    array = _numbers(values)
    if array is None:
        data = np.asarray([_plain_number(v) for v in values], dtype=float)
    else:
        data = array.astype(np.float64)
    n = len(data)
    result: dict[str, Any] = {"w": None, "p": None, "n": n, "not_computed": None}
    if n < SHAPIRO_WILK_MIN:
        result["not_computed"] = "too_few"
    elif n > SHAPIRO_WILK_MAX:
        result["not_computed"] = "too_many"
    elif np.all(data == data[0]):
        result["not_computed"] = "constant"
    else:
        # Sorted first: scipy subtracts the value in the middle position of its input, so
        # the last bits of W and p would otherwise depend on the order of the values.
        res = stats.shapiro(counting.sort(data))
        result.update(w=float(res.statistic), p=float(res.pvalue))
    return result


def paired_t(
    pre: Sequence[Number], post: Sequence[Number], confidence: float = 0.95
) -> dict[str, Any]:
    """Paired t-test of d = post - pre (two-sided) with a CI of the mean difference.

    ``t``, ``p`` and the CI are ``None`` when fewer than two pairs or when
    every difference is the same (zero SD: the t statistic is undefined and a
    zero-width interval would claim a certainty the data cannot give).
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence!r}")
    diffs = _differences(pre, post)
    summary = describe(diffs)
    n = summary["n"]
    result: dict[str, Any] = {
        "n": n,
        "mean_difference": summary["mean"],
        "sd_difference": summary["sd"],
        "ci_low": None,
        "ci_high": None,
        "confidence": confidence,
        "t": None,
        "df": n - 1 if n >= 2 else None,
        "p": None,
    }
    sd = summary["sd"]
    if n < 2 or not sd:
        return result
    se = sd / math.sqrt(n)
    t = summary["mean"] / se
    df = n - 1
    margin = float(stats.t.ppf(1 - (1 - confidence) / 2, df)) * se
    result.update(
        t=t,
        p=min(1.0, 2.0 * float(stats.t.sf(abs(t), df))),
        ci_low=summary["mean"] - margin,
        ci_high=summary["mean"] + margin,
    )
    return result


# ---------------------------------------------------------------------------
# Adequacy against a reference value (e.g. feeds >= 8 a day)
# ---------------------------------------------------------------------------


# Up to this many discordant pairs the McNemar tail is summed exactly over integers.
MCNEMAR_EXACT_MAX = 1000


def mcnemar_exact(before: Sequence[bool], after: Sequence[bool]) -> dict[str, Any]:
    """Exact McNemar test, as SPSS ``NPAR TESTS /MCNEMAR``: two-sided binomial p on the
    discordant pairs.

    p_exact = min(1, 2 * P(X <= min(b, c))) with X ~ Bin(b + c, 1/2) (McNemar 1947; SPSS's
    "Exact Sig. (2-tailed)"), computed with integers; 1.0 when there is no discordant pair.
    Returns ``{"n", "both", "before_only", "after_only", "neither", "n_discordant",
    "p_exact", "p"}``: n the pairs, the four cells of the 2x2 table (before x after) and
    ``p`` the same number as ``p_exact`` (the key the paper's tables read).
    """
    if len(before) != len(after):
        raise ValueError(f"before and after differ in length ({len(before)} != {len(after)})")
    if _is_bool_array(before) and _is_bool_array(after):
        table = Counter(
            {
                (True, True): int(np.count_nonzero(before & after)),
                (True, False): int(np.count_nonzero(before & ~after)),
                (False, True): int(np.count_nonzero(~before & after)),
                (False, False): int(np.count_nonzero(~before & ~after)),
            }
        )
    else:
        table = Counter((bool(a), bool(b)) for a, b in zip(before, after, strict=True))
    before_only, after_only = table[(True, False)], table[(False, True)]
    discordant = before_only + after_only
    smaller = min(before_only, after_only)
    if discordant <= MCNEMAR_EXACT_MAX:
        tail = sum(math.comb(discordant, k) for k in range(smaller + 1))
        p = min(1.0, 2 * tail / 2**discordant) if discordant else 1.0
    else:
        # The same binomial tail in floating point (the regularised incomplete beta function):
        # summed over integers it grows as the square of the pairs (33 s at 20,000).
        p = min(1.0, 2.0 * float(special.bdtr(smaller, discordant, 0.5)))
    return {
        "n": sum(table.values()),
        "both": table[(True, True)],
        "before_only": before_only,
        "after_only": after_only,
        "neither": table[(False, False)],
        "n_discordant": discordant,
        "p_exact": p,
        # The name the paper's tables and the manuscript read since the first version.
        "p": p,
    }


def _is_bool_array(values: Any) -> bool:
    return isinstance(values, np.ndarray) and values.dtype == np.bool_ and values.ndim == 1


def adequacy(pre: Sequence[Number], post: Sequence[Number], threshold: Number) -> dict[str, Any]:
    """How many pairs reach ``threshold`` (value >= threshold) before and after, with McNemar."""
    if len(pre) != len(post):
        raise ValueError(f"pre and post differ in length ({len(pre)} != {len(post)})")
    pre_array, post_array = _numbers(pre), _numbers(post)
    if (
        pre_array is not None
        and post_array is not None
        and isinstance(threshold, int | float)
        and not isinstance(threshold, bool)
        and abs(threshold) < _EXACT_INT
    ):
        # Exact comparisons: the values and the threshold are exact in float64 as given.
        before, after = pre_array >= threshold, post_array >= threshold
    else:
        before = [v >= threshold for v in pre]
        after = [v >= threshold for v in post]
    n = len(before)

    def share(flags) -> dict[str, Any]:
        count = int(sum(flags)) if not isinstance(flags, np.ndarray) else int(flags.sum())
        return {"n_adequate": count, "percent": 100.0 * count / n if n else None}

    return {
        "threshold": _plain_number(threshold),
        "n": n,
        "pre": share(before),
        "post": share(after),
        "mcnemar": mcnemar_exact(before, after),
    }


# ---------------------------------------------------------------------------
# The results document (DESIGN section 4.5, without translated labels)
# ---------------------------------------------------------------------------


def _json_safe(value: Any) -> Any:
    # Last line of defence for the "never NaN" contract: whatever slipped
    # through as a numpy scalar or a non-finite float becomes plain or None.
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    value = _plain_number(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _present_column(values: Sequence[Number | None]) -> tuple[np.ndarray, np.ndarray] | None:
    """A column with ``None`` for a missing value as (values as :func:`_numbers` gives them,
    mask of the present ones), or ``None`` when the present values are not all ints or all
    floats (NaN excluded) and the caller must go value by value."""
    if isinstance(values, np.ma.MaskedArray):
        return _present_masked(values)
    if not isinstance(values, list):
        return None
    present_types = set(map(type, values)) - {type(None)}
    if not present_types:
        return None
    if all(issubclass(t, int) and not issubclass(t, bool) for t in present_types):
        kind = np.int64
    elif all(issubclass(t, float) for t in present_types):
        kind = np.float64
    else:
        return None
    try:
        as_float = np.array(values, dtype=np.float64)  # None becomes NaN
    except OverflowError:
        return None
    present = ~np.isnan(as_float)
    if int(np.count_nonzero(~present)) != values.count(None):
        return None  # a NaN value, which is not a missing one
    if kind is np.float64:
        return as_float, present
    if present.any() and np.abs(as_float[present]).max() >= _EXACT_INT:
        return None
    return np.where(present, as_float, 0).astype(np.int64), present


def _present_masked(values: np.ma.MaskedArray) -> tuple[np.ndarray, np.ndarray] | None:
    """:func:`_present_column` of a masked array (masked = not recorded): its data and the
    mask of the present values, when the data are int64 below 2**53 in magnitude or float64
    without NaN among the present values; ``None`` otherwise (the caller goes value by value
    on ``values.tolist()``, where a masked value is ``None``)."""
    present = ~np.ma.getmaskarray(values)
    data = np.ma.getdata(values)
    if data.ndim != 1 or not present.any():
        return None
    if data.dtype.kind in "iu" and data.dtype != np.uint64:
        data = data.astype(np.int64, copy=False)
        if np.abs(data[present]).max() >= _EXACT_INT:
            return None
        return data, present
    if data.dtype.kind == "f":
        data = data.astype(np.float64, copy=False)
        return None if np.isnan(data[present]).any() else (data, present)
    return None


def _as_list(values: Sequence[Number | None]) -> Sequence[Number | None]:
    """A masked array as the list of its values with ``None`` where masked; anything else
    as it is."""
    return values.tolist() if isinstance(values, np.ma.MaskedArray) else values


def _present_pairs(
    pre: Sequence[Number | None], post: Sequence[Number | None]
) -> tuple[Any, Any]:
    """The pairs where both values are present, as two arrays (or lists when the values are
    of mixed kinds, :func:`_present_column`), in the records' order."""
    before, after = _present_column(pre), _present_column(post)
    if before is not None and after is not None:
        both = before[1] & after[1]
        return before[0][both], after[0][both]
    pre, post = _as_list(pre), _as_list(post)
    pairs = [(a, b) for a, b in zip(pre, post, strict=True) if a is not None and b is not None]
    return [a for a, _ in pairs], [b for _, b in pairs]


def analyze_outcome(
    pre: Sequence[Number | None],
    post: Sequence[Number | None],
    *,
    threshold: Number | None = None,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """All statistics of one outcome over the pairs where both values are present.

    The pre and post descriptives use the same analysed pairs as the test,
    so every table speaks of the same mothers; ``n_missing`` counts the
    records left out for a missing pre or post value.  ``adequacy`` is
    ``None`` unless a threshold is given.
    """
    if len(pre) != len(post):
        raise ValueError(f"pre and post differ in length ({len(pre)} != {len(post)})")
    pre_ok, post_ok = _present_pairs(pre, post)
    diffs = _differences(pre_ok, post_ok)
    return _json_safe(
        {
            "n_missing": len(pre) - len(pre_ok),
            "pre": describe(pre_ok),
            "post": describe(post_ok),
            "difference": describe(diffs),
            "wilcoxon": wilcoxon_signed_rank(pre_ok, post_ok),
            "hodges_lehmann": hodges_lehmann(pre_ok, post_ok, confidence),
            "shapiro_wilk_differences": shapiro_wilk(diffs),
            "paired_t": paired_t(pre_ok, post_ok, confidence),
            "adequacy": adequacy(pre_ok, post_ok, threshold) if threshold is not None else None,
        }
    )


def analyze(
    records: Sequence[Mapping[str, Any]] | Mapping[str, Any],
    *,
    study_code: str,
    n_withdrawn: int = 0,
    outcomes: Sequence[str] = ("feeds", "urinations"),
    thresholds: Mapping[str, Number] | None = None,
    alpha: float = 0.05,
) -> dict[str, Any]:
    """The results document of DESIGN section 4.5, minus the translated ``label`` keys.

    ``records`` are the enrolled (not withdrawn) mothers: mappings with
    ``age_years``, ``parity``, ``education``, ``employment`` and
    ``pre_<outcome>``/``post_<outcome>`` for each outcome (absent or ``None``
    means not recorded) — or the same as columns: one mapping of those names to equally long
    lists or 1-D arrays, an outcome's column a list with ``None`` for a missing value or a
    masked array (``numpy.ma``; masked = missing), an absent outcome column all missing.
    Both give the same document.  Confidence intervals use 1 - alpha.  The result
    contains only JSON types and no NaN.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha!r}")
    if isinstance(records, Mapping):
        n = len(records["age_years"])

        def column(name: str) -> Any:
            values = records.get(name)
            return [None] * n if values is None else values

        table: Any = records
    else:
        rows = list(records)
        n = len(rows)

        def column(name: str) -> Any:
            return [r.get(name) for r in rows]

        table = rows
    limits = dict(thresholds or {})
    return _json_safe(
        {
            "study": study_code,
            "n_enrolled": n,
            "n_withdrawn": n_withdrawn,
            "alpha": alpha,
            "characteristics": characteristics(table),
            "outcomes": {
                name: analyze_outcome(
                    column(f"pre_{name}"),
                    column(f"post_{name}"),
                    threshold=limits.get(name),
                    confidence=1 - alpha,
                )
                for name in outcomes
            },
        }
    )


# ---------------------------------------------------------------------------
# SPSS-style display
# ---------------------------------------------------------------------------


def format_spss(value: Number | None, places: int, *, decimal_separator: str = ".") -> str:
    """Format like an SPSS output table: fixed decimals, no leading zero below 1.

    0.915 -> ".915", -3.434 -> "-3.434", 8.0 (2 places) -> "8.00", None -> "".

    **Rounding rule** (GNU PSPP's ``data-out.c``, ``rounder_init``; IBM does not publish
    SPSS's, and PSPP is the SPSS clone Lancar's tables are checked against): half away from
    zero, decided on the stored double, not on the shortest decimal that reads back as it.
    The double is printed with two extra decimals; when those are exactly "50" (a possible
    half) it is printed again with 16 - floor(3 * e / 10) decimals, e the binary exponent
    (``frexp``), i.e. about 17 significant digits, and the digit after the last kept one
    decides: 5 or more rounds the magnitude up.  So a half that the double holds exactly or
    from above rounds away from zero (0.125 -> ".13", 2.5 -> "3", 2.665 -> "2.67"); one whose
    double lies below the half rounds down (2.675 is stored as 2.67499999999999982...,
    so 2.675 -> "2.67", as PSPP prints it; 1.005 -> "1.00"); noise beyond the 17th digit is
    ignored (0.145, stored as 0.14499999999999999556, -> ".15").  With 0 places it is C's
    ``round``, half away from zero on the exact double.  tests/test_pspp_within.py prints the
    boundary values with PSPP and compares every one.

    A value that rounds to zero loses its sign (SPSS never prints "-.000").  NaN and
    infinities, which the analysis never produces, print as "".
    """
    if places < 0:
        raise ValueError(f"places must be >= 0, got {places!r}")
    if value is None:
        return ""
    negative = False
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        negative = value < 0
        digits = Decimal(abs(int(value)))
    else:
        number = float(value)
        if not math.isfinite(number):
            return ""
        negative = number < 0
        magnitude = abs(number)
        if places == 0:
            digits = Decimal(magnitude)
        else:
            text = f"{magnitude:.{places + 2}f}"
            if text.endswith("50"):
                binary_exponent = math.frexp(number)[1]
                # C's integer division truncates towards zero, as int() does.
                wider = 16 - int(binary_exponent * 3 / 10)
                if wider > places + 2:
                    text = f"{magnitude:.{wider}f}"
            digits = Decimal(text)
    # Enough precision for any float's integer part plus the decimals, so
    # quantize never raises InvalidOperation on large values.
    context = Context(prec=max(400, len(str(digits)) + places + 2))
    rounded = digits.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP, context=context)
    text = f"{rounded:f}"
    if places > 0 and text.startswith("0."):
        text = text[1:]
    sign = "-" if negative and rounded != 0 else ""
    return sign + text.replace(".", decimal_separator)


def format_p(p: float | None, *, decimal_separator: str = ".") -> str:
    """A p-value as SPSS prints it: 3 decimals, no leading zero.

    Like SPSS, any p < .0005 prints as ".000"; in prose it should be reported
    as "p < .001", never as p = 0.
    """
    return format_spss(p, 3, decimal_separator=decimal_separator)


# The between-arm tests and the chi-square family live beside this module (DESIGN section 7).
from studies.analysis.between import (  # noqa: E402
    MANN_WHITNEY_EXACT_MAX_N,
    independent_t,
    levene,
    mann_whitney,
    mann_whitney_exact_p,
)
from studies.analysis.crosstab import chi_square, crosstab  # noqa: E402

__all__ += [
    "MANN_WHITNEY_EXACT_MAX_N",
    "chi_square",
    "crosstab",
    "independent_t",
    "levene",
    "mann_whitney",
    "mann_whitney_exact_p",
]
