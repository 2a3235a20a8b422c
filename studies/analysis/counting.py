"""Sorting, ranking and tallying whole numbers by counting them (numpy only).

Most outcomes of this community are counts and scores: small whole numbers, many mothers
sharing each value.  The results document sorts, ranks and tallies the same columns several
times (quartiles, Tests of Normality, Wilcoxon's and Mann-Whitney's ranks, ties); comparing
100,000 values costs about 1.5 ms a sort, counting them (``numpy.bincount``, a counting sort:
Cormen et al., *Introduction to Algorithms*, 3rd ed., section 8.2) one pass.  Each function
here gives exactly what its comparison-based counterpart gives — the same values, the same
dtype, the same floats — and falls back to that counterpart for anything else: values that
are not all whole numbers, a range much wider than the number of values, NaN or infinities,
magnitudes of 2**53 and beyond, or a float ``-0.0`` (which counting would turn into ``0.0``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

# Counting allocates one slot per possible value: it is used when the values' range is at most
# this many times their number (or SPAN_MIN, for a few values far apart).
SPAN_PER_VALUE = 4
SPAN_MIN = 4096
# Whole numbers beyond this magnitude are not all exact in float64.
_EXACT = 2**53


def _tally(values: Any) -> tuple[np.ndarray, int, np.ndarray] | None:
    """``(whole, low, counts)``: the values as int64, the smallest, and how often each whole
    number from ``low`` to the largest occurs (``counts[k]`` for ``low + k``); ``None`` when
    counting does not apply (module docstring)."""
    if not isinstance(values, np.ndarray) or values.ndim != 1 or values.size == 0:
        return None
    kind = values.dtype.kind
    if kind not in "iuf":
        return None
    low, high = values.min(), values.max()
    if kind == "f" and not (np.isfinite(low) and np.isfinite(high)):
        return None
    if not -_EXACT < low <= high < _EXACT:
        return None
    low, high = int(low), int(high)
    if high - low > max(SPAN_MIN, SPAN_PER_VALUE * values.size):
        return None
    whole = values.astype(np.int64)
    if kind == "f":
        if not np.array_equal(whole, values):
            return None
        if low <= 0 <= high and np.signbit(values[whole == 0]).any():
            return None
    return whole, low, np.bincount(whole - low, minlength=high - low + 1)


def histogram(values: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """The distinct values of a 1-D numeric array in ascending order (the array's dtype) and
    how often each occurs (int64), counted; what ``numpy.unique(values, return_counts=True)``
    gives.  ``None`` where counting does not apply (the caller uses ``numpy.unique``)."""
    tally = _tally(values)
    if tally is None:
        return None
    _whole, low, counts = tally
    present = np.flatnonzero(counts)
    return (present + low).astype(values.dtype), counts[present].astype(np.int64)


def unique_counts(values: Any) -> tuple[np.ndarray, np.ndarray]:
    """:func:`histogram`, or ``numpy.unique(values, return_counts=True)`` where counting does
    not apply: the distinct values ascending and their counts."""
    counted = histogram(values)
    if counted is not None:
        return counted
    return np.unique(values, return_counts=True)


def sort(values: Any) -> np.ndarray:
    """``numpy.sort(values)`` of a 1-D numeric array, by counting where it applies: each
    distinct value repeated as often as it occurs."""
    counted = histogram(values)
    if counted is None:
        return np.sort(values, kind="stable")
    distinct, counts = counted
    return np.repeat(distinct, counts)


def average_ranks(values: Any) -> np.ndarray:
    """The ranks of a 1-D numeric array, tied values sharing the average of their ranks (1 to
    n), as float64 in the values' order: ``scipy.stats.rankdata(values)``.  Counted where it
    applies: the values equal to v take ranks c + 1 … c + t (c values below v, t equal to it),
    whose average c + (t + 1) / 2 is a multiple of 1/2, exact."""
    tally = _tally(values)
    if tally is None:
        return np.asarray(stats.rankdata(values), dtype=np.float64)
    whole, low, counts = tally
    through = np.cumsum(counts)
    average = through - (counts - 1) / 2.0
    return average[whole - low]
