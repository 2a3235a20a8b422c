"""Sorting, ranking and tallying whole numbers by counting them (numpy only).

Most outcomes of this community are counts and scores: small whole numbers, many mothers
sharing each value.  The results document sorts, ranks and tallies the same columns several
times (quartiles, Tests of Normality, Wilcoxon's and Mann-Whitney's ranks, ties); comparing
100,000 values costs about 1.5 ms a sort, counting them (``numpy.bincount``, a counting sort:
Cormen et al., *Introduction to Algorithms*, 3rd ed., section 8.2) one pass.  Each function
here gives exactly what its comparison-based counterpart gives — the same values, the same
dtype, the same floats — and falls back to that counterpart for anything else: values that
are neither whole numbers nor on a grid of up to three decimals, a range much wider than the
number of values, NaN or infinities, magnitudes of 2**50 and beyond, or a float ``-0.0`` (which
counting would turn into ``0.0``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

# Counting allocates one slot per possible value: it is used when the values' range is at most
# this many times their number (or SPAN_MIN, for a few values far apart).
SPAN_PER_VALUE = 4
SPAN_MIN = 4096
# Values recorded with up to this many decimals (a volume of 12.5 ml) are counted on their grid:
# x = k / 10**d for a whole k, each float exactly the one its decimal text reads as.
MAX_DECIMALS = 3
# Whole numbers beyond this magnitude are not all distinct floats; on a grid of decimals, k / 10**d
# for |k| below _GRID_EXACT are distinct floats, each one ulp-spaced well apart.
_EXACT = 2**50
_GRID_EXACT = 2**40


def _tally(values: Any) -> tuple[np.ndarray, int, np.ndarray, int] | None:
    """``(whole, low, counts, scale)``: each value times ``scale`` (1, 10, 100 or 1000, the
    first that makes every value whole: ``whole / scale`` is the value itself, bit for bit) as
    int64, the smallest of those, and how often each whole number from ``low`` to the largest
    occurs (``counts[k]`` for ``low + k``); ``None`` when counting does not apply (module
    docstring)."""
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
    limit = max(SPAN_MIN, SPAN_PER_VALUE * values.size)
    if kind in "iu":
        low, high, scale = int(low), int(high), 1
        whole = values.astype(np.int64)
    else:
        for decimals in range(MAX_DECIMALS + 1):
            scale = 10**decimals
            if (float(high) - float(low)) * scale > limit:
                return None
            if scale > 1 and max(-float(low), float(high)) * scale >= _GRID_EXACT:
                return None
            whole = np.rint(values * scale).astype(np.int64)
            back = whole / scale if scale > 1 else whole
            if np.array_equal(back, values):
                break
        else:
            return None
        if low <= 0 <= high and np.signbit(values[whole == 0]).any():
            return None
        low, high = int(whole.min()), int(whole.max())
    if high - low > limit:
        return None
    return whole, low, np.bincount(whole - low, minlength=high - low + 1), scale


def _values_of(whole: np.ndarray, scale: int, dtype: np.dtype) -> np.ndarray:
    """The values of whole numbers on the grid of ``scale`` (:func:`_tally`), in ``dtype``."""
    if scale == 1:
        return whole.astype(dtype)
    return (whole / scale).astype(dtype)


def histogram(values: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """The distinct values of a 1-D numeric array in ascending order (the array's dtype) and
    how often each occurs (int64), counted; what ``numpy.unique(values, return_counts=True)``
    gives.  ``None`` where counting does not apply (the caller uses ``numpy.unique``)."""
    tally = _tally(values)
    if tally is None:
        return None
    _whole, low, counts, scale = tally
    present = np.flatnonzero(counts)
    return _values_of(present + low, scale, values.dtype), counts[present].astype(np.int64)


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
    whole, low, counts, _scale = tally
    through = np.cumsum(counts)
    average = through - (counts - 1) / 2.0
    return average[whole - low]
