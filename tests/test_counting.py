"""Counting sort, ranks and tallies (studies.analysis.counting) against numpy's and scipy's
comparison-based functions: the same values, dtype and floats, for whole numbers (where
counting applies) and for everything else (where it must hand over)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import stats

from studies.analysis import counting

WHOLE_FLOATS = st.integers(-40, 40).map(float)
SAMPLES = st.one_of(
    hnp.arrays(np.int64, st.integers(1, 300), elements=st.integers(-50, 50)),
    hnp.arrays(np.int32, st.integers(1, 300), elements=st.integers(0, 12)),
    hnp.arrays(np.uint8, st.integers(1, 300), elements=st.integers(0, 255)),
    hnp.arrays(np.float64, st.integers(1, 300), elements=WHOLE_FLOATS),
    hnp.arrays(
        np.float64,
        st.integers(1, 300),
        elements=st.floats(-1e6, 1e6, allow_nan=False, width=64),
    ),
    hnp.arrays(np.float64, st.integers(1, 300), elements=st.sampled_from([-2.5, 0.5, 1.0, 3.0])),
    # Volumes and weights: one to three decimals, as typed.
    *(
        hnp.arrays(
            np.float64,
            st.integers(1, 300),
            elements=st.integers(-3000, 3000).map(lambda k, d=decimals: float(f"{k / 10**d}")),
        )
        for decimals in (1, 2, 3)
    ),
    hnp.arrays(
        np.float64,
        st.integers(1, 300),
        elements=st.integers(0, 10**6).map(lambda k: float(f"{k}.{k % 10}")),
    ),
)


def _same(left: np.ndarray, right: np.ndarray) -> None:
    assert left.dtype == right.dtype
    assert left.shape == right.shape
    # Bit for bit (signed zeros included).
    assert left.tobytes() == right.tobytes()


@settings(max_examples=300, deadline=None)
@given(SAMPLES)
def test_as_numpy_and_scipy(values):
    _same(counting.sort(values), np.sort(values, kind="stable"))
    _same(counting.average_ranks(values), stats.rankdata(values).astype(np.float64))
    distinct, counts = counting.unique_counts(values)
    expected_distinct, expected_counts = np.unique(values, return_counts=True)
    _same(distinct, expected_distinct)
    assert counts.tolist() == expected_counts.tolist()


def test_counts_whole_numbers_of_a_clinic_sized_column():
    rng = np.random.default_rng(7)
    feeds = rng.integers(0, 15, 100_000)
    assert counting.histogram(feeds) is not None
    assert counting.histogram(feeds.astype(np.float64)) is not None
    _same(counting.sort(feeds), np.sort(feeds))
    _same(counting.average_ranks(feeds - 7.0), stats.rankdata(feeds - 7.0))
    volumes = np.array([float(f"{k / 10}") for k in rng.integers(0, 6000, 100_000)])
    assert counting.histogram(volumes) is not None
    _same(counting.sort(volumes), np.sort(volumes))
    _same(counting.average_ranks(volumes), stats.rankdata(volumes))
    distinct, counts = counting.unique_counts(volumes)
    _same(distinct, np.unique(volumes))


@pytest.mark.parametrize(
    "values",
    [
        np.array([0.0, -0.0, 1.0]),  # counting would print -0 as 0
        np.array([1.0, 2.0625]),  # four decimals
        np.array([0.1 + 0.2, 1.0]),  # not the float its decimal text reads as
        np.array([2.0**41 + 0.5, 2.0**41]),  # a grid too fine for the magnitude
        np.array([1.0, np.nan]),
        np.array([1.0, np.inf]),
        np.array([0, 2**60]),  # beyond float64's exact integers
        np.array([0, 10**6]),  # a range far wider than the values
        np.array([], dtype=np.int64),
        np.array([[1, 2], [3, 4]]),
        np.array(["a", "b"], dtype=object),
        [1, 2, 3],  # not an array
    ],
)
def test_hands_over_where_counting_does_not_apply(values):
    assert counting.histogram(values) is None
    numeric = isinstance(values, np.ndarray) and values.ndim == 1 and values.dtype != object
    if numeric and not np.isnan(values).any():
        _same(counting.sort(values), np.sort(values, kind="stable"))
        _same(counting.average_ranks(values), stats.rankdata(values).astype(np.float64))
