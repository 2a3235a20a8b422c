"""Tests of Normality as SPSS ``EXAMINE ... /PLOT NPPLOT`` prints them (DESIGN.md section 7).

Two tests of one sample, side by side as in SPSS's table:

* **Shapiro-Wilk** W with Royston's (1992, 1995, algorithm AS R94) p-value, for 3 to 5,000
  values.  scipy's ``stats.shapiro`` is the same Fortran algorithm as SPSS and GNU PSPP use
  (tests/test_pspp_within.py compares it with PSPP's ``EXAMINE`` at six decimals).
* **Kolmogorov-Smirnov with the Lilliefors correction**: D = max |F_n(x) - Phi((x - mean) / s)|
  with the sample mean and the sample SD (n - 1), the supremum taken on both sides of every
  step of the empirical distribution (Lilliefors 1967).  Its p-value is Dallal & Wilkinson's
  (1986) analytic approximation, the one SPSS's EXAMINE algorithm cites, valid below p = .1
  (for n > 100, D is scaled by (n / 100)^0.49 and n set to 100, as in their paper).  Between
  .1 and .2 statsmodels interpolates its table of simulated critical values
  (``lilliefors(pvalmethod="approx")``), which is not SPSS's table: there the second or third
  decimal may differ from SPSS's.  From .2 upwards SPSS prints ".200*" with the footnote "This
  is a lower bound of the true significance"; here p is 0.2 and ``p_is_lower_bound`` True.

Pure computation (no Django); numbers unrounded; undefined figures ``None``; plain types only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import special, stats
from statsmodels.stats.diagnostic import lilliefors

from studies.analysis import counting

__all__ = [
    "KOLMOGOROV_SMIRNOV_MIN",
    "LILLIEFORS_P_BOUND",
    "SHAPIRO_WILK_MAX",
    "SHAPIRO_WILK_MIN",
    "lilliefors_d",
    "tests_of_normality",
]

# SPSS's EXAMINE computes Shapiro-Wilk for 3 to 5,000 values only.
SHAPIRO_WILK_MIN = 3
SHAPIRO_WILK_MAX = 5000
# Dallal & Wilkinson's approximation and every Lilliefors table start at n = 5; below, the
# statistic has too few attainable values for a p-value to mean anything.
KOLMOGOROV_SMIRNOV_MIN = 5
# SPSS prints the Lilliefors p as ".200*" (a lower bound) from here upwards.
LILLIEFORS_P_BOUND = 0.2


def _values(values: Sequence[Any]) -> np.ndarray:
    """The non-missing values (``None`` and NaN are missing, as SPSS's system-missing), in
    ascending order: scipy's Shapiro-Wilk subtracts the value in the middle position of its
    input before sorting, so the last bits of W and p would otherwise depend on the order the
    mothers came in."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "iuf":
        data = values.astype(float).reshape(-1)  # a numeric array has no None
    else:
        data = np.asarray([float(v) for v in values if v is not None], dtype=float)
    return counting.sort(data[~np.isnan(data)])


def lilliefors_d(values: Sequence[float]) -> float:
    """Kolmogorov-Smirnov D of the values against the normal with their own mean and SD (n - 1).

    D = max over i of max(i/n - z_(i), z_(i) - (i - 1)/n), z_(i) = Phi((x_(i) - mean) / s):
    the largest gap on either side of each step of the empirical distribution.  Needs at least
    two distinct values (raises ValueError otherwise).
    """
    data = counting.sort(np.asarray(values, dtype=float))
    n = len(data)
    sd = float(np.std(data, ddof=1)) if n > 1 else 0.0
    if not sd:
        raise ValueError("the Lilliefors statistic needs at least two distinct values")
    cdf = special.ndtr((data - data.mean()) / sd)
    steps = np.arange(1, n + 1) / n
    return float(max(np.max(steps - cdf), np.max(cdf - (steps - 1 / n))))


def tests_of_normality(values: Sequence[float | int | None]) -> dict[str, Any]:
    """SPSS's "Tests of Normality" table for one sample.

    Returns ``{"n", "shapiro_wilk": {"statistic", "df", "p"} | None,
    "kolmogorov_smirnov": {"statistic", "df", "p", "p_is_lower_bound"} | None,
    "not_computed": {"shapiro_wilk": reason | None, "kolmogorov_smirnov": reason | None}}``.
    ``None`` values are missing and left out; df is the number of values tested (SPSS's df
    column).  A test that cannot be computed is ``None`` and its reason is one of
    ``too_few`` (below 3 values for Shapiro-Wilk, below 5 for Kolmogorov-Smirnov),
    ``too_many`` (above 5,000, Shapiro-Wilk only, as SPSS) or ``constant`` (every value the
    same: the SD is 0, both statistics are 0/0).

    Formulas and sources: see the module docstring.  Shapiro-Wilk is scipy's (AS R94, equal
    to SPSS's and PSPP's); the Lilliefors p is Dallal & Wilkinson (1986) up to .1, statsmodels'
    simulated table between .1 and .2 (not SPSS's table), 0.2 as a lower bound above.
    """
    data = _values(values)
    n = len(data)
    constant = n > 0 and bool(np.all(data == data[0]))
    result: dict[str, Any] = {
        "n": n,
        "shapiro_wilk": None,
        "kolmogorov_smirnov": None,
        "not_computed": {"shapiro_wilk": None, "kolmogorov_smirnov": None},
    }
    reasons = result["not_computed"]

    if n < SHAPIRO_WILK_MIN:
        reasons["shapiro_wilk"] = "too_few"
    elif n > SHAPIRO_WILK_MAX:
        reasons["shapiro_wilk"] = "too_many"
    elif constant:
        reasons["shapiro_wilk"] = "constant"
    else:
        shapiro = stats.shapiro(data)
        result["shapiro_wilk"] = {
            "statistic": float(shapiro.statistic),
            "df": n,
            "p": float(shapiro.pvalue),
        }

    if n < KOLMOGOROV_SMIRNOV_MIN:
        reasons["kolmogorov_smirnov"] = "too_few"
    elif constant:
        reasons["kolmogorov_smirnov"] = "constant"
    else:
        d = lilliefors_d(data)
        _, p = lilliefors(data, dist="norm", pvalmethod="approx")
        p = float(p)
        lower_bound = not p < LILLIEFORS_P_BOUND or not math.isfinite(p)
        result["kolmogorov_smirnov"] = {
            "statistic": d,
            "df": n,
            "p": LILLIEFORS_P_BOUND if lower_bound else p,
            "p_is_lower_bound": lower_bound,
        }
    return result
