"""Test choice as DESIGN section 7's table says, from the design, the type and normality."""

from __future__ import annotations

import math

import pytest

from studies.analysis import choose
from studies.analysis import tests_of_normality as normality_table  # "test*" is collected
from studies.analysis.choice import DESIGNS, OUTCOME_TYPES, REASONS, allowed_tests

NORMAL = normality_table([4.1, 5.0, 5.2, 5.5, 5.9, 6.0, 6.3, 6.8, 7.1, 7.9])
SKEWED = normality_table([1, 1, 1, 1, 2, 2, 3, 9, 10, 30, 2, 3])
TWO_VALUES = normality_table([3, 4])
CONSTANT = normality_table([5, 5, 5, 5, 5, 5])


def test_fixtures_are_what_they_claim() -> None:
    assert NORMAL["shapiro_wilk"]["p"] >= 0.05 > SKEWED["shapiro_wilk"]["p"]
    assert TWO_VALUES["shapiro_wilk"] is None and CONSTANT["shapiro_wilk"] is None


@pytest.mark.parametrize(
    ("design", "normal", "nonparametric"),
    [
        ("one_group_pre_post", ("paired_t", None), ("wilcoxon", None)),
        ("two_group_post_only", (None, "independent_t"), (None, "mann_whitney")),
        ("two_group_pre_post", ("paired_t", "independent_t"), ("wilcoxon", "mann_whitney")),
        ("two_group_repeated", ("friedman", "independent_t"), ("friedman", "mann_whitney")),
    ],
)
@pytest.mark.parametrize("outcome_type", ["count", "continuous", "score"])
def test_numeric_outcomes_follow_normality(design, normal, nonparametric, outcome_type) -> None:
    chosen = choose(design, outcome_type, {"a/change": NORMAL, "b/change": NORMAL}, 0.05, None)
    assert (chosen["within"], chosen["between"]) == normal
    assert chosen["reason"] == "all_normal"
    assert chosen["reason_args"] == {"alpha": 0.05, "groups": ["a/change", "b/change"]}

    one_skewed = {"a/change": NORMAL, "b/change": SKEWED}
    chosen = choose(design, outcome_type, one_skewed, 0.05, None)
    assert (chosen["within"], chosen["between"]) == nonparametric
    assert chosen["reason"] == "not_normal"
    assert chosen["reason_args"]["group"] == "b/change"
    assert chosen["reason_args"]["p"] == SKEWED["shapiro_wilk"]["p"]


def test_alpha_decides_at_the_boundary() -> None:
    p = NORMAL["shapiro_wilk"]["p"]
    assert choose("one_group_pre_post", "count", {"all": NORMAL}, p, None)["within"] == "paired_t"
    above = math.nextafter(p, 1.0)  # the next double: p < alpha by the smallest step
    assert choose("one_group_pre_post", "count", {"all": NORMAL}, above, None)["within"] == (
        "wilcoxon"
    )


@pytest.mark.parametrize(("normality", "why"), [(TWO_VALUES, "too_few"), (CONSTANT, "constant")])
def test_no_shapiro_wilk_means_rank_tests(normality, why) -> None:
    chosen = choose("one_group_pre_post", "continuous", {"all/change": normality}, 0.05, None)
    assert chosen["within"] == "wilcoxon"
    assert chosen["reason"] == "normality_not_computed"
    assert chosen["reason_args"] == {"alpha": 0.05, "group": "all/change", "why": why}
    assert choose("two_group_post_only", "score", {}, 0.05, None)["reason"] == (
        "normality_not_tested"
    )


def test_above_5000_values_the_lilliefors_row_decides() -> None:
    big = {
        "shapiro_wilk": None,
        "kolmogorov_smirnov": {"statistic": 0.01, "df": 6000, "p": 0.2, "p_is_lower_bound": True},
        "not_computed": {"shapiro_wilk": "too_many", "kolmogorov_smirnov": None},
    }
    assert choose("two_group_post_only", "count", {"a": big}, 0.05, None)["between"] == (
        "independent_t"
    )
    big["kolmogorov_smirnov"]["p"] = 0.001
    chosen = choose("two_group_post_only", "count", {"a": big}, 0.05, None)
    assert chosen["between"] == "mann_whitney"
    assert chosen["reason_args"]["test"] == "kolmogorov_smirnov"


@pytest.mark.parametrize("design", DESIGNS)
def test_ordinal_is_always_rank_tests(design) -> None:
    chosen = choose(design, "ordinal", {"a": NORMAL}, 0.05, None)
    assert chosen["within"] in (None, "wilcoxon", "friedman")
    assert chosen["between"] in (None, "mann_whitney")
    assert chosen["reason"] == "ordinal"


def test_one_group_repeated_takes_friedman_whatever_the_distribution() -> None:
    for normality in ({"t1": NORMAL}, {"t1": SKEWED}):
        chosen = choose("one_group_repeated", "continuous", normality, 0.05, None)
        assert (chosen["within"], chosen["between"], chosen["reason"]) == (
            "friedman", None, "repeated_rank_test",
        )  # fmt: skip


@pytest.mark.parametrize(
    ("design", "min_expected", "within", "between", "reason"),
    [
        ("one_group_pre_post", None, "mcnemar", None, "binary_paired"),
        ("one_group_repeated", None, "cochran_q", None, "binary_repeated"),
        ("two_group_post_only", 5.0, None, "chi_square", "binary_independent"),
        ("two_group_post_only", 4.99, None, "fisher_exact", "binary_small_expected"),
        ("two_group_pre_post", 12.5, "mcnemar", "chi_square", "binary_independent"),
        ("two_group_pre_post", 1.5, "mcnemar", "fisher_exact", "binary_small_expected"),
        ("two_group_repeated", 3.0, None, "fisher_exact", "binary_small_expected"),
        ("two_group_repeated", None, None, "chi_square", "binary_independent"),
    ],
)
def test_binary_outcomes(design, min_expected, within, between, reason) -> None:
    chosen = choose(design, "binary", {"a": SKEWED}, 0.05, None, min_expected=min_expected)
    assert (chosen["within"], chosen["between"], chosen["reason"]) == (within, between, reason)


def test_override_is_recorded_with_the_automatic_choice() -> None:
    chosen = choose(
        "two_group_pre_post", "count", {"a": SKEWED}, 0.05,
        {"between": "independent_t", "reason": "  Pre-registered in the protocol  "},
    )  # fmt: skip
    assert (chosen["within"], chosen["between"]) == ("wilcoxon", "independent_t")
    assert chosen["reason"] == "override"
    assert chosen["reason_args"]["text"] == "Pre-registered in the protocol"
    assert chosen["reason_args"]["automatic"]["between"] == "mann_whitney"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"within": "paired_t", "reason": ""}, "reason"),
        ({"within": "paired_t"}, "reason"),
        ({"within": "mann_whitney", "reason": "x"}, "not a within test"),
        ({"between": "chi_square", "reason": "x"}, "expected one of none"),
    ],
)
def test_override_refused(override, message) -> None:
    with pytest.raises(ValueError, match=message):
        choose("one_group_pre_post", "count", {"a": NORMAL}, 0.05, override)


def test_unknown_design_type_or_alpha_refused() -> None:
    with pytest.raises(ValueError, match="unknown design"):
        choose("crossover", "count", {}, 0.05, None)
    with pytest.raises(ValueError, match="unknown outcome type"):
        choose("one_group_pre_post", "nominal", {}, 0.05, None)
    with pytest.raises(ValueError, match="alpha"):
        choose("one_group_pre_post", "count", {}, 1.5, None)


@pytest.mark.parametrize("design", DESIGNS)
@pytest.mark.parametrize("outcome_type", OUTCOME_TYPES)
def test_every_choice_is_a_test_of_the_row_with_a_known_reason(design, outcome_type) -> None:
    allowed = allowed_tests(design, outcome_type)
    for normality in ({"a": NORMAL}, {"a": SKEWED}, {}):
        for min_expected in (None, 2.0, 10.0):
            chosen = choose(design, outcome_type, normality, 0.05, None, min_expected=min_expected)
            assert chosen["reason"] in REASONS
            for side in ("within", "between"):
                assert chosen[side] is None or chosen[side] in allowed[side]
