"""Which test each outcome gets, from the design, the outcome's type and normality (DESIGN §7).

Pure: no Django, no I/O.  The Django layer translates the reason key and shows every test of
the design's row beside the chosen one (DESIGN section 7: "the document carries every test of
the row").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "BINARY",
    "DESIGNS",
    "OUTCOME_TYPES",
    "REASONS",
    "allowed_tests",
    "choose",
]

DESIGNS: tuple[str, ...] = (
    "one_group_pre_post",
    "two_group_pre_post",
    "two_group_post_only",
    "one_group_repeated",
    "two_group_repeated",
)
OUTCOME_TYPES: tuple[str, ...] = ("count", "continuous", "score", "ordinal", "binary")
BINARY = "binary"
ORDINAL = "ordinal"
# Below this expected count in a 2x2 table, Fisher's exact test replaces chi-square (Cochran's
# rule as this community's methods chapters apply it; DESIGN section 7).
MIN_EXPECTED = 5

# (within, between) candidates per design and type family: parametric, nonparametric.
_NUMERIC_TESTS: dict[str, tuple[tuple[str | None, str | None], tuple[str | None, str | None]]] = {
    "one_group_pre_post": (("paired_t", None), ("wilcoxon", None)),
    "two_group_post_only": ((None, "independent_t"), (None, "mann_whitney")),
    "two_group_pre_post": (("paired_t", "independent_t"), ("wilcoxon", "mann_whitney")),
    # Lancar computes Friedman over time points for every distribution: the repeated-measures
    # ANOVA the table allows as an alternative is not offered (it needs the sphericity check
    # and its corrections, which the thesis tables of this community do not print).
    "one_group_repeated": (("friedman", None), ("friedman", None)),
    "two_group_repeated": (("friedman", "independent_t"), ("friedman", "mann_whitney")),
}
_BINARY_WITHIN: dict[str, str | None] = {
    "one_group_pre_post": "mcnemar",
    "two_group_pre_post": "mcnemar",
    "two_group_post_only": None,
    "one_group_repeated": "cochran_q",
    # DESIGN section 7's row for two groups over 3+ time points compares the arms only.
    "two_group_repeated": None,
}

REASONS: dict[str, str] = {
    "all_normal": "every tested distribution is normal (Shapiro-Wilk p >= alpha): parametric",
    "not_normal": "a tested distribution is not normal (Shapiro-Wilk p < alpha): rank tests",
    "normality_not_computed": "Shapiro-Wilk could not be computed (too few values or constant)",
    "normality_not_tested": "no distribution was tested: rank tests",
    "repeated_rank_test": "three or more time points: Friedman's test",
    "ordinal": "ordinal outcome: rank tests whatever the distribution",
    "binary_paired": "binary outcome before and after: McNemar's exact test",
    "binary_repeated": "binary outcome over three or more time points: Cochran's Q",
    "binary_independent": "binary outcome between arms: chi-square (every expected count >= 5)",
    "binary_small_expected": "binary outcome between arms with an expected count below 5: Fisher",
    "binary_not_computed": "binary outcome between arms: chi-square, which cannot be computed "
    "(no valid case, one arm only, or one category only)",
    "override": "chosen by the researcher, with the recorded reason",
}


def _require(design: str, outcome_type: str) -> None:
    if design not in DESIGNS:
        raise ValueError(f"unknown design {design!r}; expected one of {', '.join(DESIGNS)}")
    if outcome_type not in OUTCOME_TYPES:
        raise ValueError(
            f"unknown outcome type {outcome_type!r}; expected one of {', '.join(OUTCOME_TYPES)}"
        )


def allowed_tests(design: str, outcome_type: str) -> dict[str, tuple[str, ...]]:
    """The tests of the design's row for this type: ``{"within": (...), "between": (...)}``.

    These are the names an override may choose and the tests the results document carries.
    """
    _require(design, outcome_type)
    if outcome_type == BINARY:
        within = _BINARY_WITHIN[design]
        between: tuple[str, ...] = (
            ("chi_square", "fisher_exact") if design.startswith("two_group") else ()
        )
        return {"within": (within,) if within else (), "between": between}
    parametric, nonparametric = _NUMERIC_TESTS[design]
    if outcome_type == ORDINAL:
        parametric = nonparametric
    within = tuple(dict.fromkeys(t for t in (parametric[0], nonparametric[0]) if t))
    between = tuple(dict.fromkeys(t for t in (parametric[1], nonparametric[1]) if t))
    return {"within": within, "between": between}


def _normality_verdict(
    normality_by_group: Mapping[str, Mapping[str, Any]], alpha: float
) -> tuple[bool, str, dict[str, Any]]:
    """(parametric?, reason, reason_args) from the groups' Tests of Normality."""
    if not normality_by_group:
        return False, "normality_not_tested", {"alpha": alpha}
    for group, result in normality_by_group.items():
        shapiro = result.get("shapiro_wilk")
        if shapiro is None or shapiro.get("p") is None:
            why = (result.get("not_computed") or {}).get("shapiro_wilk") or "not_computed"
            lilliefors = result.get("kolmogorov_smirnov")
            if why == "too_many" and lilliefors and lilliefors.get("p") is not None:
                # Above 5,000 values SPSS prints no Shapiro-Wilk; its table's other row decides.
                if lilliefors["p"] < alpha:
                    return False, "not_normal", {
                        "alpha": alpha, "group": group, "test": "kolmogorov_smirnov",
                        "p": lilliefors["p"],
                    }  # fmt: skip
                continue
            return False, "normality_not_computed", {"alpha": alpha, "group": group, "why": why}
        if shapiro["p"] < alpha:
            return False, "not_normal", {
                "alpha": alpha, "group": group, "test": "shapiro_wilk", "p": shapiro["p"],
            }  # fmt: skip
    return True, "all_normal", {"alpha": alpha, "groups": list(normality_by_group)}


def choose(
    design: str,
    outcome_type: str,
    normality_by_group: Mapping[str, Mapping[str, Any]],
    alpha: float,
    override: Mapping[str, Any] | None = None,
    *,
    min_expected: float | None = None,
    not_computed: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The test DESIGN section 7 chooses for one outcome, and why.

    ``normality_by_group`` maps a label of each tested distribution (e.g. ``"all/change"``,
    ``"intervention/post"``) to its :func:`~studies.analysis.normality.tests_of_normality`
    result: the paired differences in pre/post designs, each arm's values between arms.
    ``min_expected`` is the smallest expected count of the between-arms 2x2 tables (binary
    outcomes of two-group designs; ``None`` when not known, taken as >= 5).  ``not_computed``
    maps each between-arms table whose chi-square cannot be computed (time point key) to why:
    ``no_cases`` (N = 0), ``one_arm`` (every mother in one arm) or ``one_category`` (every
    mother with the same value); no expected count exists there.  ``override``,
    when given, is ``{"within": name, "between": name, "reason": text}`` (either name may be
    left out to keep the automatic one); the names must be tests of the design's row
    (:func:`allowed_tests`) and the reason a non-empty text, else ValueError.

    Returns ``{"within": name | None, "between": name | None, "reason": key,
    "reason_args": {...}}``.  Names: ``paired_t``, ``wilcoxon``, ``independent_t``,
    ``mann_whitney``, ``friedman``, ``mcnemar``, ``cochran_q``, ``chi_square``,
    ``fisher_exact``; ``None`` where the design has no such comparison.

    Rules: binary outcomes take McNemar (pre/post, per arm), Cochran's Q (one group, 3+ time
    points), chi-square between arms, or Fisher's exact when an expected count is below 5; when
    no computed table has one below 5 and a table cannot be computed, chi-square stays the test
    of the row and the reason says it cannot be computed.
    Ordinal outcomes always take the rank tests.  Count, continuous and score outcomes take the
    parametric tests when every tested distribution is normal at alpha (Shapiro-Wilk p >=
    alpha); a distribution whose Shapiro-Wilk was not computed (below 3 values, or constant)
    counts as not shown normal, so the rank tests are chosen; above 5,000 values, where SPSS
    prints no Shapiro-Wilk, the Lilliefors row decides.  Over 3+ time points the within-arm
    test is Friedman's whatever the distribution (see ``_NUMERIC_TESTS``).

    Reason keys (``reason_args`` in brackets):

    ========================== ==========================================================
    ``all_normal``             parametric [alpha, groups]
    ``not_normal``             rank tests [alpha, group, test, p]
    ``normality_not_computed`` rank tests [alpha, group, why: too_few | constant]
    ``normality_not_tested``   rank tests, no distribution given [alpha]
    ``repeated_rank_test``     one group, 3+ time points: Friedman []
    ``ordinal``                rank tests []
    ``binary_paired``          McNemar []
    ``binary_repeated``        Cochran's Q []
    ``binary_independent``     chi-square [min_expected]
    ``binary_small_expected``  Fisher's exact [min_expected]
    ``binary_not_computed``    chi-square, not computable [timepoint, why: no_cases |
                               one_arm | one_category, min_expected]
    ``override``               the researcher's choice [text, automatic: the rule's choice]
    ========================== ==========================================================
    """
    _require(design, outcome_type)
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha!r}")
    automatic = _automatic(
        design, outcome_type, normality_by_group, alpha, min_expected, not_computed or {}
    )
    if override is None:
        return automatic
    text = str(override.get("reason") or "").strip()
    if not text:
        raise ValueError("an override needs the reason it is made for")
    allowed = allowed_tests(design, outcome_type)
    chosen = {"within": automatic["within"], "between": automatic["between"]}
    for side in ("within", "between"):
        if side in override and override[side] is not None:
            if override[side] not in allowed[side]:
                raise ValueError(
                    f"{override[side]!r} is not a {side} test of this design; expected one of "
                    f"{', '.join(allowed[side]) or 'none'}"
                )
            chosen[side] = override[side]
    return {
        **chosen,
        "reason": "override",
        "reason_args": {"text": text, "automatic": automatic},
    }


def _automatic(
    design: str,
    outcome_type: str,
    normality_by_group: Mapping[str, Mapping[str, Any]],
    alpha: float,
    min_expected: float | None,
    not_computed: Mapping[str, str],
) -> dict[str, Any]:
    two_groups = design.startswith("two_group")
    if outcome_type == BINARY:
        within = _BINARY_WITHIN[design]
        if two_groups:
            small = min_expected is not None and min_expected < MIN_EXPECTED
            if not small and not_computed:
                point, why = next(iter(not_computed.items()))
                return {
                    "within": within,
                    "between": "chi_square",
                    "reason": "binary_not_computed",
                    "reason_args": {"min_expected": min_expected, "timepoint": point, "why": why},
                }
            return {
                "within": within,
                "between": "fisher_exact" if small else "chi_square",
                "reason": "binary_small_expected" if small else "binary_independent",
                "reason_args": {"min_expected": min_expected},
            }
        reason = "binary_repeated" if within == "cochran_q" else "binary_paired"
        return {"within": within, "between": None, "reason": reason, "reason_args": {}}

    parametric, nonparametric = _NUMERIC_TESTS[design]
    if outcome_type == ORDINAL:
        within, between = nonparametric
        return {"within": within, "between": between, "reason": "ordinal", "reason_args": {}}
    if design == "one_group_repeated":
        return {
            "within": "friedman", "between": None, "reason": "repeated_rank_test",
            "reason_args": {},
        }  # fmt: skip
    normal, reason, args = _normality_verdict(normality_by_group, alpha)
    within, between = parametric if normal else nonparametric
    return {"within": within, "between": between, "reason": reason, "reason_args": args}
