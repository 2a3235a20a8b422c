"""Every test of one outcome for the study's design, in DESIGN.md section 7's document shape.

:func:`analyze_outcome` takes one outcome's values as arrays (one per arm: mothers x the
outcome's time points) and returns the section 7 keys of that outcome: ``n_missing``,
``descriptives``, ``normality``, ``within``, ``between`` and ``chosen``.  It computes every
test of the design's row (DESIGN section 7: "the document carries every test of the row") and
names the chosen one with :func:`studies.analysis.choice.choose`; the tests themselves are the
package's (``__init__``: Wilcoxon, paired t, McNemar, describe; ``between``; ``crosstab``;
``normality``; ``repeated``), so their formulas and sources are documented there.

Which comparisons a design makes (k = the outcome's time points, first and last in order):

============================ ====================================== ===========================
design                       within each arm                        between the arms
============================ ====================================== ===========================
``one_group_pre_post``       first vs last (k = 2)                  none
``two_group_pre_post``       first vs last (k = 2)                  at first, at last, change
``two_group_post_only``      none                                   at each time point
``one_group_repeated``       over the k time points (k >= 2)        none
``two_group_repeated``       over the k time points (numeric only)  at each time point
============================ ====================================== ===========================

An outcome measured at one time point only (e.g. a yes/no at the post-test of a pre/post
study) has no within comparison and is compared between arms at that time point.  ``change``
is last minus first per mother, compared between arms for numeric outcomes of two-group
pre/post designs.

Pure computation: no Django, no I/O.  Numbers unrounded, undefined figures ``None``, plain
JSON types only (no NaN, no numpy scalars).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from studies.analysis import (
    _json_safe,
    describe,
    mcnemar_exact,
    paired_t,
    wilcoxon_signed_rank,
)
from studies.analysis.between import independent_t, mann_whitney
from studies.analysis.choice import BINARY, ORDINAL, _require, allowed_tests, choose
from studies.analysis.crosstab import chi_square, crosstab
from studies.analysis.normality import tests_of_normality
from studies.analysis.repeated import cochran_q, friedman

__all__ = ["CHANGE", "analyze_outcome", "comparisons"]

# The key of the per-mother change (last time point minus first) in ``normality``/``between``.
CHANGE = "change"
PRE_POST = ("one_group_pre_post", "two_group_pre_post")
REPEATED = ("one_group_repeated", "two_group_repeated")


def comparisons(design: str, outcome_type: str, timepoints: Sequence[str]) -> dict[str, Any]:
    """What :func:`analyze_outcome` compares for this design, type and outcome time points.

    Returns ``{"within": "paired" | "repeated" | None, "between": [time point keys, plus
    "change" for numeric two-group pre/post outcomes], "normality": {"change": bool,
    "points": [time point keys]}}``.  ``normality`` lists the distributions the choice rests
    on: the paired differences (pre/post) and each arm's values compared between arms; none
    for binary and ordinal outcomes (their tests do not depend on it) nor for
    ``one_group_repeated`` (Friedman's test whatever the distribution).
    """
    _require(design, outcome_type)
    points = list(timepoints)
    if not points:
        raise ValueError("an outcome needs at least one time point")
    two_groups = design.startswith("two_group")
    binary = outcome_type == BINARY
    within = None
    if design in PRE_POST and len(points) >= 2:
        within = "paired"
    elif design in REPEATED and len(points) >= 2 and not (binary and two_groups):
        # DESIGN section 7: a binary outcome of two groups over 3+ time points compares the
        # arms at each time point only (choice._BINARY_WITHIN).
        within = "repeated"
    between: list[str] = []
    if two_groups:
        if design == "two_group_pre_post" and len(points) >= 2:
            between = [points[0], points[-1]] + ([] if binary else [CHANGE])
        else:
            between = points
    parametric_possible = outcome_type not in (BINARY, ORDINAL)
    tested_change = parametric_possible and within == "paired"
    tested_points = [p for p in between if p != CHANGE] if parametric_possible else []
    return {
        "within": within,
        "between": between,
        "normality": {"change": tested_change, "points": tested_points},
    }


def _as_numbers(column: np.ndarray) -> np.ndarray:
    """The column for the tests, as one array: int64 when every value is whole (the paper's
    counts stay 4, not 4.0, in the document), else float64.  ``tolist()`` gives the plain
    ``int``/``float`` values the tests that go value by value read."""
    if column.size and np.all(column == np.round(column)) and np.all(np.abs(column) < 2**53):
        return column.astype(np.int64)
    return column.astype(np.float64)


def _paired_t_row(pre: list, post: list, confidence: float) -> dict[str, Any]:
    """SPSS's Paired Samples Test row of d = last - first (``T-TEST PAIRS=last WITH first``)."""
    result = paired_t(pre, post, confidence)
    sd, n = result["sd_difference"], result["n"]
    return {
        "n": n,
        "mean_difference": result["mean_difference"],
        "sd": sd,
        "se": sd / n**0.5 if sd is not None and n else None,
        "ci_lower": result["ci_low"],
        "ci_upper": result["ci_high"],
        "t": result["t"],
        "df": result["df"],
        "p": result["p"],
    }


def _why_not_computed(table: Mapping[str, Any]) -> str:
    """Why a chi-square table (``crosstab.chi_square``) has no statistic: ``no_cases`` (N = 0),
    ``one_arm`` (a single arm has mothers) or ``one_category`` (every mother has one value)."""
    if not table["n_valid"]:
        return "no_cases"
    counts = np.array([list(row.values()) for row in table["table"].values()])
    if np.count_nonzero(counts.sum(axis=1)) < 2:
        return "one_arm"
    return "one_category"


def _checked_values(
    arms: Sequence[str], timepoints: Sequence[str], values: Mapping[str, Any], binary: bool
) -> dict[str, np.ndarray]:
    if not arms:
        raise ValueError("at least one arm is needed")
    if set(values) != set(arms):
        raise ValueError(
            f"values must be given for exactly the arms {list(arms)}, got {list(values)}"
        )
    checked = {}
    for arm in arms:
        data = np.asarray(values[arm], dtype=float)
        if data.size == 0:
            data = data.reshape(0, len(timepoints))
        if data.ndim != 2 or data.shape[1] != len(timepoints):
            raise ValueError(
                f"arm {arm!r}: values must be mothers x {len(timepoints)} time points, "
                f"got shape {data.shape}"
            )
        if np.isinf(data).any():
            raise ValueError(f"arm {arm!r}: values must be finite (NaN for a missing value)")
        present = data[~np.isnan(data)]
        if binary and not np.isin(present, (0.0, 1.0)).all():
            raise ValueError(f"arm {arm!r}: a binary outcome takes the values 0 and 1 only")
        checked[arm] = data
    return checked


def analyze_outcome(
    design: str,
    outcome_type: str,
    arms: Sequence[str],
    timepoints: Sequence[str],
    values: Mapping[str, Any],
    alpha: float,
    override: Mapping[str, Any] | None = None,
    *,
    categories: Sequence[int] | None = None,
) -> dict[str, Any]:
    """The DESIGN section 7 keys of one outcome.

    ``arms`` are the arm keys in the definition's order (``("all",)`` in a one-group study;
    the first arm is SPSS's group 1); ``timepoints`` the outcome's time point keys in order;
    ``values`` maps each arm to a 2-D float array, mothers x time points, NaN for a missing
    value.  A mother is analysed when she has a value at every one of the outcome's time
    points; ``n_missing`` counts the others.  ``alpha`` (0 < alpha < 1) decides the normality
    verdict and gives the confidence 1 - alpha of the intervals.  ``override`` is
    ``{"within": name, "between": name, "reason": text}`` (see
    :func:`~studies.analysis.choice.choose`; ValueError when a name is not a test of the
    design's row or the reason is empty).  ``categories`` are the category values of an
    ordinal or binary outcome (default: 0 and 1 for binary, the values present for ordinal).

    Returns (only the keys the design uses, :func:`comparisons`):

    * ``n_missing``; ``descriptives`` ``{arm: {time point: describe()}}`` of the analysed mothers;
    * ``normality`` ``{arm: {time point | "change": tests_of_normality()}}``;
    * ``within`` ``{arm: {...}}``: ``wilcoxon`` (section 4.5's shape) and ``paired_t``
      (``n, mean_difference, sd, se, ci_lower, ci_upper, t, df, p`` of last - first) for a
      numeric outcome before and after; ``mcnemar`` (``n, p_exact`` and the 2 x 2 cells) for a
      binary one; ``friedman`` (``n, mean_ranks {time point: r}, chi_square, df, p``) or
      ``cochran_q`` (``n, frequencies {time point: {"0", "1"}}, q, df, p``) over 3+ time points;
    * ``between`` ``{time point | "change": {...}}``: ``mann_whitney`` and ``independent_t``
      for numeric outcomes, ``chi_square`` (with ``fisher_exact`` for 2 x 2) for binary ones;
    * ``chosen`` ``{"within", "between", "reason", "reason_args", "overridden",
      "override_reason", "allowed"}``: the test of each comparison (``None`` where there is
      none), the reason key of :data:`~studies.analysis.choice.REASONS` and the tests an
      override may choose per comparison (``[]`` where the outcome makes no such comparison).

    Errors: ValueError for an unknown design or type, alpha outside (0, 1), values that do not
    match the arms and time points, infinite values, a binary value other than 0/1, or a bad
    override.
    """
    _require(design, outcome_type)
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha!r}")
    binary = outcome_type == BINARY
    points = list(timepoints)
    plan = comparisons(design, outcome_type, points)
    data = _checked_values(arms, points, values, binary)
    complete = {arm: data[arm][~np.isnan(data[arm]).any(axis=1)] for arm in arms}
    confidence = 1 - alpha

    result: dict[str, Any] = {
        "n_missing": int(sum(len(data[arm]) - len(complete[arm]) for arm in arms)),
        "descriptives": {
            arm: {
                point: describe(_as_numbers(complete[arm][:, j])) for j, point in enumerate(points)
            }
            for arm in arms
        },
    }

    def column(arm: str, point: str) -> np.ndarray:
        if point == CHANGE:
            return complete[arm][:, -1] - complete[arm][:, 0]
        return complete[arm][:, points.index(point)]

    tested = plan["normality"]
    if tested["change"] or tested["points"]:
        keys = tested["points"] + ([CHANGE] if tested["change"] else [])
        result["normality"] = {
            arm: {key: tests_of_normality(column(arm, key)) for key in keys} for arm in arms
        }

    if plan["within"] == "paired":
        result["within"] = {}
        for arm in arms:
            first = _as_numbers(complete[arm][:, 0])
            last = _as_numbers(complete[arm][:, -1])
            if binary:
                tests = {"mcnemar": mcnemar_exact(first == 1, last == 1)}
            else:
                tests = {
                    "wilcoxon": wilcoxon_signed_rank(first, last),
                    "paired_t": _paired_t_row(first, last, confidence),
                }
            result["within"][arm] = tests
    elif plan["within"] == "repeated":
        result["within"] = {}
        for arm in arms:
            if binary:
                q = cochran_q(complete[arm])
                if q["frequencies"] is not None:
                    q["frequencies"] = dict(zip(points, q["frequencies"], strict=True))
                result["within"][arm] = {"cochran_q": q}
            else:
                test = friedman(complete[arm])
                if test["mean_ranks"] is not None:
                    test["mean_ranks"] = dict(zip(points, test["mean_ranks"], strict=True))
                result["within"][arm] = {"friedman": test}

    min_expected = None
    not_computed: dict[str, str] = {}
    if plan["between"]:
        if binary or outcome_type == ORDINAL:
            levels = list(categories) if categories is not None else None
            if levels is None:
                present = np.concatenate([complete[arm].ravel() for arm in arms])
                levels = [0, 1] if binary else sorted({int(v) for v in present})
        result["between"] = {}
        for key in plan["between"]:
            groups = {arm: _as_numbers(column(arm, key)) for arm in arms}
            if binary:
                table = chi_square(crosstab(groups, levels))
                if table["min_expected"] is None and key not in not_computed:
                    not_computed[key] = _why_not_computed(table)
                if table["fisher_exact"] is not None and table["min_expected"] is not None:
                    smallest = table["min_expected"]
                    min_expected = smallest if min_expected is None else min(min_expected, smallest)
                result["between"][key] = {"chi_square": table}
            else:
                result["between"][key] = {
                    "mann_whitney": mann_whitney(groups),
                    "independent_t": independent_t(groups, confidence),
                }

    groups_tested = {
        f"{arm}/{key}": tests
        for arm, by_key in result.get("normality", {}).items()
        for key, tests in by_key.items()
    }
    chosen = choose(
        design, outcome_type, groups_tested, alpha, override, min_expected=min_expected,
        not_computed=not_computed,
    )
    override_reason = chosen["reason_args"].get("text") if chosen["reason"] == "override" else None
    row = allowed_tests(design, outcome_type)
    result["chosen"] = {
        "within": chosen["within"] if plan["within"] else None,
        "between": chosen["between"] if plan["between"] else None,
        "reason": chosen["reason"],
        "reason_args": chosen["reason_args"],
        "overridden": override_reason is not None,
        "override_reason": override_reason,
        "allowed": {side: list(row[side]) if plan[side] else [] for side in ("within", "between")},
    }
    return _json_safe(result)
