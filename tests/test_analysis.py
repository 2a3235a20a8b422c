"""Tests of studies.analysis: the paper's tables, scipy cross-checks and edge cases.

Pure Python: no Django settings and no database are needed.
"""

from __future__ import annotations

import itertools
import json
import math
import time
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from studies.analysis import (
    adequacy,
    age_group,
    analyze,
    analyze_outcome,
    characteristics,
    describe,
    exact_p_signed_rank,
    format_p,
    format_spss,
    hodges_lehmann,
    mcnemar_exact,
    paired_t,
    parity_group,
    shapiro_wilk,
    wilcoxon_signed_rank,
)
from studies.paper_cohort import PAPER_COHORT

# ---------------------------------------------------------------------------
# The paper's Tables 1-4
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def paper_document() -> dict:
    return analyze(PAPER_COHORT, study_code="PAPER")


def _table(document: dict, field: str) -> list[tuple[str, int, str]]:
    return [
        (row["key"], row["n"], format_spss(row["percent"], 1))
        for row in document["characteristics"][field]
    ]


def test_paper_cohort_shape() -> None:
    assert len(PAPER_COHORT) == 15
    assert [r["respondent_code"] for r in PAPER_COHORT] == [f"P{i:02d}" for i in range(1, 16)]
    expected_keys = {
        "respondent_code", "age_years", "parity", "education", "employment",
        "pre_feeds", "pre_urinations", "post_feeds", "post_urinations",
    }  # fmt: skip
    assert all(set(r) == expected_keys for r in PAPER_COHORT)


def test_table_1_characteristics(paper_document: dict) -> None:
    assert paper_document["n_enrolled"] == 15
    assert _table(paper_document, "age_group") == [
        ("lt20", 2, "13.3"), ("20to35", 12, "80.0"), ("gt35", 1, "6.7"),
    ]  # fmt: skip
    assert _table(paper_document, "parity") == [("primipara", 6, "40.0"), ("multipara", 9, "60.0")]
    assert _table(paper_document, "education") == [
        ("basic", 3, "20.0"), ("secondary", 10, "66.7"), ("higher", 2, "13.3"),
    ]  # fmt: skip
    assert _table(paper_document, "employment") == [
        ("working", 8, "53.3"), ("not_working", 7, "46.7"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("outcome", "when", "mean", "sd", "minimum", "maximum"),
    [
        ("feeds", "pre", "5.47", ".915", 4, 7),  # Table 2
        ("urinations", "pre", "4.60", ".507", 4, 5),
        ("feeds", "post", "11.33", "2.526", 8, 17),  # Table 3
        ("urinations", "post", "9.40", "1.724", 7, 14),
    ],
)
def test_tables_2_and_3_descriptives(
    paper_document: dict, outcome: str, when: str, mean: str, sd: str, minimum: int, maximum: int
) -> None:
    block = paper_document["outcomes"][outcome]
    assert block["n_missing"] == 0
    summary = block[when]
    assert summary["n"] == 15
    assert format_spss(summary["mean"], 2) == mean
    assert format_spss(summary["sd"], 3) == sd
    assert (summary["min"], summary["max"]) == (minimum, maximum)


@pytest.mark.parametrize(("outcome", "z"), [("feeds", "-3.434"), ("urinations", "-3.438")])
def test_table_4_wilcoxon(paper_document: dict, outcome: str, z: str) -> None:
    w = paper_document["outcomes"][outcome]["wilcoxon"]
    negative, positive = w["negative_ranks"], w["positive_ranks"]
    assert negative["n"] == 0
    assert format_spss(negative["mean_rank"], 2) == ".00"
    assert format_spss(negative["sum_of_ranks"], 2) == ".00"
    assert positive["n"] == 15
    assert format_spss(positive["mean_rank"], 2) == "8.00"
    assert format_spss(positive["sum_of_ranks"], 2) == "120.00"
    assert (w["ties"], w["total"]) == (0, 15)
    assert format_spss(w["z"], 3) == z
    assert format_p(w["p_asymptotic"]) == ".001"
    assert w["based_on"] == "negative_ranks"
    # Only the all-positive assignment reaches S+ = 120 (and all-negative 0).
    assert w["p_exact"] == pytest.approx(2 / 2**15, rel=1e-12)
    # DESIGN 4.5 example: r = 3.434 / sqrt(15) = .887
    assert format_spss(w["effect_size_r"], 3) == (".887" if outcome == "feeds" else ".888")
    assert w["rank_biserial"] == 1.0


# ---------------------------------------------------------------------------
# A small example computed by hand
# ---------------------------------------------------------------------------


def test_hand_computed_example() -> None:
    # pre  = 3 5 4 6 5, post = 5 4 4 9 7  ->  d = 2 -1 0 3 2
    # one zero -> Ties = 1; non-zero |d| = 2 1 3 2 -> ranks 2.5 1 4 2.5
    # S+ = 2.5 + 4 + 2.5 = 9 (n+ = 3, mean rank 3), S- = 1 (n- = 1, mean rank 1)
    # n = 4: E = 4*5/4 = 5; Var = 4*5*9/24 - (2^3 - 2)/48 = 7.5 - 0.125 = 7.375
    # Z = (1 - 5) / sqrt(7.375) = -4 / 2.715695 = -1.472919; p = 2*Phi(Z) = .140773
    # exact: ranks {1, 2.5, 2.5, 4}, total 10, E = 5, |9 - 5| = 4: S+ in {0, 1, 9, 10}
    #   -> 4 of 16 assignments -> p = .25
    # r = 1.472919 / sqrt(5) = .658710; rank-biserial = (9 - 1) / 10 = .8
    # Walsh averages (15): -1 -.5 0 .5 .5 1 1 1 1.5 2 2 2 2.5 2.5 3 -> median (8th) = 1
    pre, post = [3, 5, 4, 6, 5], [5, 4, 4, 9, 7]
    w = wilcoxon_signed_rank(pre, post)
    assert w["ties"] == 1 and w["total"] == 5
    assert w["positive_ranks"] == {"n": 3, "mean_rank": 3.0, "sum_of_ranks": 9.0}
    assert w["negative_ranks"] == {"n": 1, "mean_rank": 1.0, "sum_of_ranks": 1.0}
    assert w["z"] == pytest.approx(-4 / math.sqrt(7.375), rel=1e-12)
    assert w["z"] == pytest.approx(-1.472919, abs=1e-6)
    assert w["p_asymptotic"] == pytest.approx(0.140773, abs=1e-6)
    assert w["p_exact"] == pytest.approx(0.25, rel=1e-12)
    assert w["effect_size_r"] == pytest.approx(0.658710, abs=1e-6)
    assert w["rank_biserial"] == pytest.approx(0.8)
    assert w["based_on"] == "negative_ranks"
    assert hodges_lehmann(pre, post)["estimate"] == 1.0
    # describe(pre): sorted 3 4 5 5 6; mean 4.6; SS = 2.56+.36+.16+.16+1.96 = 5.2
    # sd = sqrt(5.2/4) = 1.140175; q1 at 0.25*6 = 1.5 -> 3.5; q3 at 4.5 -> 5.5
    d = describe(pre)
    assert d["mean"] == pytest.approx(4.6)
    assert d["sd"] == pytest.approx(math.sqrt(1.3))
    assert (d["min"], d["max"], d["median"], d["q1"], d["q3"]) == (3, 6, 5.0, 3.5, 5.5)
    # paired t: mean d = 1.2; SS = .64+4.84+1.44+3.24+.64 = 10.8; sd = sqrt(2.7)
    # t = 1.2 / (sqrt(2.7)/sqrt(5)) = 1.632993
    t = paired_t(pre, post)
    assert t["mean_difference"] == pytest.approx(1.2)
    assert t["sd_difference"] == pytest.approx(math.sqrt(2.7))
    assert t["t"] == pytest.approx(1.632993, abs=1e-6)
    assert t["df"] == 4


# ---------------------------------------------------------------------------
# Cross-checks against scipy and brute force
# ---------------------------------------------------------------------------


@st.composite
def paired_counts(draw: st.DrawFn, min_size: int = 1, max_size: int = 40) -> tuple[list, list]:
    """Pre/post counts 0-40, biased towards small differences so zeros and ties abound."""
    n = draw(st.integers(min_size, max_size))
    pre = draw(st.lists(st.integers(0, 40), min_size=n, max_size=n))
    post = []
    for value in pre:
        nearby = st.integers(max(0, value - 3), min(40, value + 3))
        post.append(draw(st.one_of(nearby, st.integers(0, 40))))
    return pre, post


@settings(max_examples=300, deadline=None)
@given(paired_counts())
def test_wilcoxon_matches_scipy_asymptotic(data: tuple[list, list]) -> None:
    pre, post = data
    d = np.subtract(post, pre)
    ours = wilcoxon_signed_rank(pre, post)
    assert ours["z"] <= 0
    assert ours["ties"] == int(np.sum(d == 0))
    assert ours["positive_ranks"]["n"] == int(np.sum(d > 0))
    assert ours["negative_ranks"]["n"] == int(np.sum(d < 0))
    s_plus = ours["positive_ranks"]["sum_of_ranks"]
    s_minus = ours["negative_ranks"]["sum_of_ranks"]
    n = int(np.sum(d != 0))
    assert s_plus + s_minus == pytest.approx(n * (n + 1) / 2)
    if n == 0:
        assert (ours["z"], ours["p_asymptotic"], ours["p_exact"]) == (0.0, 1.0, 1.0)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns about small n for the approximation
        ref = stats.wilcoxon(
            d, zero_method="wilcox", correction=False, method="asymptotic",
            alternative="two-sided",
        )  # fmt: skip
    # scipy's two-sided statistic is min(S+, S-) and its z is (min - E)/se <= 0, like SPSS.
    assert ref.statistic == pytest.approx(min(s_plus, s_minus))
    assert ours["z"] == pytest.approx(float(ref.zstatistic), abs=1e-9)
    assert ours["p_asymptotic"] == pytest.approx(float(ref.pvalue), rel=1e-9, abs=1e-15)
    assert ours["effect_size_r"] == pytest.approx(abs(float(ref.zstatistic)) / math.sqrt(len(d)))


def _brute_force_p(signed_values: list[int]) -> float:
    magnitudes = np.abs(signed_values)
    ranks = stats.rankdata(magnitudes)
    observed = sum(r for r, v in zip(ranks, signed_values, strict=True) if v > 0)
    centre = ranks.sum() / 2
    hits = 0
    for signs in itertools.product((0, 1), repeat=len(ranks)):
        s = float(np.dot(signs, ranks))
        if abs(s - centre) >= abs(observed - centre) - 1e-9:
            hits += 1
    return hits / 2 ** len(ranks)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.integers(1, 4).flatmap(lambda m: st.sampled_from([m, -m])), min_size=1, max_size=12)
)
def test_exact_p_matches_enumeration_with_ties(signed: list[int]) -> None:
    pre = [10] * len(signed)
    post = [10 + v for v in signed]
    assert wilcoxon_signed_rank(pre, post)["p_exact"] == pytest.approx(
        _brute_force_p(signed), rel=1e-12
    )


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.integers(1, 60), min_size=1, max_size=25, unique=True),
    st.data(),
)
def test_exact_p_matches_scipy_exact_without_ties(
    magnitudes: list[int], data: st.DataObject
) -> None:
    size = len(magnitudes)
    signs = data.draw(st.lists(st.sampled_from([1, -1]), min_size=size, max_size=size))
    d = [m * s for m, s in zip(magnitudes, signs, strict=True)]
    ours = wilcoxon_signed_rank([0] * len(d), d)["p_exact"]
    ref = stats.wilcoxon(d, method="exact", zero_method="wilcox")
    assert ours == pytest.approx(float(ref.pvalue), rel=1e-10)


def test_exact_p_direct_call() -> None:
    # Ranks 1..3, S+ = 6: only the all-positive and all-negative assignments are
    # as extreme, 2 of 8.
    assert exact_p_signed_rank([1, 2, 3], 6) == pytest.approx(0.25)
    assert exact_p_signed_rank([], 0) == 1.0
    with pytest.raises(ValueError):
        exact_p_signed_rank([1.3, 2], 1.3)
    with pytest.raises(ValueError):
        exact_p_signed_rank([1, 2], 4)


def test_exact_p_size_limit_and_speed() -> None:
    ranks = list(range(1, 201))
    s_plus = sum(ranks[::2])  # roughly balanced: a p well inside (0, 1)
    start = time.perf_counter()
    p = exact_p_signed_rank(ranks, s_plus)
    elapsed = time.perf_counter() - start
    assert p is not None and 0 < p <= 1
    assert elapsed < 0.5
    extreme = exact_p_signed_rank(ranks, sum(ranks))
    assert extreme == pytest.approx(2 / 2**200, rel=1e-9)
    assert exact_p_signed_rank(list(range(1, 202)), 100) is None
    # Through the test itself: 201 non-zero pairs leave p_exact null, Z still computed.
    w = wilcoxon_signed_rank([0] * 201, list(range(1, 202)))
    assert w["p_exact"] is None and w["z"] < -12


@settings(max_examples=200, deadline=None)
@given(paired_counts(min_size=2))
def test_paired_t_matches_scipy(data: tuple[list, list]) -> None:
    pre, post = data
    ours = paired_t(pre, post, confidence=0.9)
    d = np.subtract(post, pre)
    if np.all(d == d[0]):
        assert ours["t"] is None and ours["p"] is None and ours["ci_low"] is None
        return
    ref = stats.ttest_rel(post, pre)
    ci = ref.confidence_interval(0.9)
    assert ours["t"] == pytest.approx(float(ref.statistic), rel=1e-9)
    assert ours["p"] == pytest.approx(float(ref.pvalue), rel=1e-9, abs=1e-15)
    assert ours["df"] == int(ref.df)
    assert ours["ci_low"] == pytest.approx(float(ci.low), rel=1e-9, abs=1e-12)
    assert ours["ci_high"] == pytest.approx(float(ci.high), rel=1e-9, abs=1e-12)


def test_shapiro_wilk_follows_spss_up_to_5000_values() -> None:
    """SPSS computes Shapiro-Wilk for 3 to 5,000 values and leaves the cell empty above; the
    document says why (issue 13 item 14)."""
    rng = np.random.default_rng(13)
    values = rng.integers(-10, 11, size=5001).tolist()
    at_limit = shapiro_wilk(values[:5000])
    reference = stats.shapiro(values[:5000])
    assert at_limit["w"] == pytest.approx(float(reference.statistic), rel=1e-12)
    assert at_limit["p"] == pytest.approx(float(reference.pvalue), rel=1e-12)
    assert (at_limit["n"], at_limit["not_computed"]) == (5000, None)
    assert shapiro_wilk(values) == {"w": None, "p": None, "n": 5001, "not_computed": "too_many"}
    out = analyze_outcome([0] * 5001, values)
    assert out["shapiro_wilk_differences"]["p"] is None
    assert out["shapiro_wilk_differences"]["not_computed"] == "too_many"
    assert out["paired_t"]["p"] is not None  # the rest of the analysis still runs


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-40, 40), min_size=0, max_size=40))
def test_shapiro_matches_scipy(values: list[int]) -> None:
    ours = shapiro_wilk(values)
    if len(values) < 3 or len(set(values)) == 1:
        assert (ours["w"], ours["p"]) == (None, None)
        assert ours["not_computed"] == ("too_few" if len(values) < 3 else "constant")
        return
    ref = stats.shapiro(values)
    assert ours["w"] == pytest.approx(float(ref.statistic), rel=1e-12)
    assert ours["p"] == pytest.approx(float(ref.pvalue), rel=1e-12)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 40), min_size=1, max_size=40))
def test_describe_matches_numpy(values: list[int]) -> None:
    ours = describe(values)
    assert ours["n"] == len(values)
    assert ours["mean"] == pytest.approx(np.mean(values))
    if len(values) > 1:
        assert ours["sd"] == pytest.approx(np.std(values, ddof=1), abs=1e-12)
    else:
        assert ours["sd"] is None
    # SPSS HAVERAGE percentiles are numpy's "weibull" method.
    q1, median, q3 = np.percentile(values, [25, 50, 75], method="weibull")
    assert (ours["q1"], ours["median"], ours["q3"]) == pytest.approx((q1, median, q3))
    assert (ours["min"], ours["max"]) == (min(values), max(values))


@settings(max_examples=100, deadline=None)
@given(paired_counts())
def test_hodges_lehmann_estimate_and_interval(data: tuple[list, list]) -> None:
    pre, post = data
    result = hodges_lehmann(pre, post)
    d = np.subtract(post, pre)
    walsh = [(d[i] + d[j]) / 2 for i in range(len(d)) for j in range(i, len(d))]
    assert result["estimate"] == pytest.approx(float(np.median(walsh)))
    if len(d) < 6:
        # 95% cannot be reached with 5 pairs (the widest interval has 93.75%).
        assert result["ci_low"] is None and result["ci_high"] is None
    else:
        assert result["ci_low"] <= result["estimate"] <= result["ci_high"]
        assert min(walsh) <= result["ci_low"] and result["ci_high"] <= max(walsh)


def test_hodges_lehmann_interval_order_statistics() -> None:
    # n = 9: n(n+1)/4 - 1.959964 * sqrt(n(n+1)(2n+1)/24) = 22.5 - 1.959964 * sqrt(71.25)
    # = 5.956 -> C = 6 (nearest integer; also the exact table value for n = 9), so
    # the CI is the 6th smallest and 6th largest of the 45 Walsh averages.
    d = [1, 2, 4, 7, 11, 16, 22, 29, 37]
    result = hodges_lehmann([0] * 9, d)
    walsh = sorted((d[i] + d[j]) / 2 for i in range(9) for j in range(i, 9))
    assert len(walsh) == 45
    assert (result["ci_low"], result["ci_high"]) == (walsh[5], walsh[-6])
    assert result["estimate"] == walsh[22]
    assert hodges_lehmann([], [])["estimate"] is None


# ---------------------------------------------------------------------------
# McNemar and adequacy
# ---------------------------------------------------------------------------


def test_mcnemar_exact() -> None:
    before = [True, True, False, False, False, False, True]
    after = [True, False, True, True, True, True, True]
    # both 2, before_only 1, after_only 4: p = 2 * P(X <= 1 | 5, .5) = 2 * 6/32 = .375
    result = mcnemar_exact(before, after)
    assert (result["both"], result["before_only"], result["after_only"], result["neither"]) == (
        2, 1, 4, 0,
    )  # fmt: skip
    assert result["p"] == pytest.approx(0.375)
    assert result["p"] == pytest.approx(stats.binomtest(1, 5, 0.5).pvalue)
    assert mcnemar_exact([True, False], [True, False])["p"] == 1.0


def test_adequacy_counts_values_at_threshold() -> None:
    result = adequacy([7, 8, 5, 9], [8, 8, 10, 7], threshold=8)
    assert result["pre"] == {"n_adequate": 2, "percent": 50.0}
    assert result["post"] == {"n_adequate": 3, "percent": 75.0}
    assert result["mcnemar"]["before_only"] == 1 and result["mcnemar"]["after_only"] == 2


# ---------------------------------------------------------------------------
# Edge cases
# ---------------------------------------------------------------------------


def test_no_records() -> None:
    doc = analyze([], study_code="EMPTY", n_withdrawn=3)
    assert (doc["n_enrolled"], doc["n_withdrawn"]) == (0, 3)
    assert all(
        row["n"] == 0 and row["percent"] is None
        for rows in doc["characteristics"].values()
        for row in rows
    )
    feeds = doc["outcomes"]["feeds"]
    assert feeds["n_missing"] == 0
    assert feeds["pre"] == {
        "n": 0, "mean": None, "sd": None, "min": None, "max": None,
        "median": None, "q1": None, "q3": None,
    }  # fmt: skip
    w = feeds["wilcoxon"]
    assert (w["total"], w["z"], w["p_asymptotic"], w["p_exact"]) == (0, None, None, None)
    assert w["effect_size_r"] is None and w["rank_biserial"] is None
    assert feeds["paired_t"]["t"] is None
    json.dumps(doc, allow_nan=False)


def test_one_pair() -> None:
    # n = 1: S+ = 1, E = .5, Var = 1*2*3/24 = .25 -> Z = (0 - .5)/.5 = -1
    w = wilcoxon_signed_rank([3], [5])
    assert w["z"] == pytest.approx(-1.0)
    assert w["p_asymptotic"] == pytest.approx(0.317310507862914)
    assert w["p_exact"] == 1.0
    assert w["effect_size_r"] == pytest.approx(1.0)
    out = analyze_outcome([3], [5])
    assert out["pre"]["sd"] is None and out["paired_t"]["t"] is None
    assert out["shapiro_wilk_differences"] == {
        "w": None, "p": None, "n": 1, "not_computed": "too_few"
    }  # fmt: skip


def test_all_differences_zero() -> None:
    w = wilcoxon_signed_rank([4, 5, 6], [4, 5, 6])
    assert (w["ties"], w["total"]) == (3, 3)
    assert (w["z"], w["p_asymptotic"], w["p_exact"]) == (0.0, 1.0, 1.0)
    assert w["effect_size_r"] == 0.0
    assert w["rank_biserial"] is None
    assert format_spss(w["z"], 3) == ".000"
    assert w["negative_ranks"]["mean_rank"] == 0.0 and w["positive_ranks"]["mean_rank"] == 0.0
    assert w["based_on"] == "negative_ranks"  # S- = S+ = 0: SPSS's footnote for S- <= S+


def test_balanced_ranks_are_based_on_negative_ranks() -> None:
    # d = 1, -1: both |d| tie at rank 1.5, S+ = S- = 1.5 -> Z = 0, p = 1
    w = wilcoxon_signed_rank([5, 5], [6, 4])
    assert w["based_on"] == "negative_ranks"
    assert (w["z"], w["p_asymptotic"], w["p_exact"], w["rank_biserial"]) == (0.0, 1.0, 1.0, 0.0)


def test_all_differences_negative_mirror_all_positive() -> None:
    pre, post = [9, 8, 10, 7, 9], [5, 6, 4, 6, 8]
    down = wilcoxon_signed_rank(pre, post)
    up = wilcoxon_signed_rank(post, pre)
    assert down["based_on"] == "positive_ranks" and up["based_on"] == "negative_ranks"
    assert down["z"] < 0 and down["z"] == pytest.approx(up["z"])
    assert down["p_asymptotic"] == pytest.approx(up["p_asymptotic"])
    assert down["negative_ranks"]["n"] == 5 and down["rank_biserial"] == -1.0


def test_missing_values_drop_the_pair() -> None:
    out = analyze_outcome([4, None, 6, 5, None], [8, 9, None, 7, None], threshold=8)
    assert out["n_missing"] == 3
    assert out["pre"]["n"] == out["post"]["n"] == out["wilcoxon"]["total"] == 2
    # Pre descriptives only over the analysed pairs: 4 and 5, not 6.
    assert out["pre"]["max"] == 5
    assert out["adequacy"]["n"] == 2


def test_outcome_without_any_complete_pair() -> None:
    records = [dict(r, pre_urinations=None) for r in PAPER_COHORT]
    doc = analyze(records, study_code="X", thresholds={"feeds": 8})
    urinations = doc["outcomes"]["urinations"]
    assert urinations["n_missing"] == 15
    assert urinations["pre"]["n"] == 0 and urinations["post"]["mean"] is None
    assert urinations["wilcoxon"]["total"] == 0 and urinations["wilcoxon"]["p_exact"] is None
    assert urinations["wilcoxon"]["z"] is None
    assert urinations["hodges_lehmann"]["estimate"] is None
    assert urinations["adequacy"] is None
    assert doc["outcomes"]["feeds"]["adequacy"]["post"]["n_adequate"] == 15
    json.dumps(doc, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(paired_counts(min_size=0, max_size=12), st.data())
def test_document_is_strict_json(data: tuple[list, list], more: st.DataObject) -> None:
    pre, post = data
    n = len(pre)
    pre = [more.draw(st.one_of(st.none(), st.just(v))) for v in pre]
    records = [
        {
            "age_years": more.draw(st.integers(15, 45)),
            "parity": more.draw(st.integers(1, 5)),
            "education": more.draw(st.sampled_from(["basic", "secondary", "higher"])),
            "employment": more.draw(st.sampled_from(["working", "not_working"])),
            "pre_feeds": pre[i],
            "post_feeds": post[i],
            "pre_urinations": post[i],
            "post_urinations": post[i],
        }
        for i in range(n)
    ]
    doc = analyze(records, study_code="S", thresholds={"feeds": 8, "urinations": 6})
    text = json.dumps(doc, allow_nan=False)
    assert json.loads(text) == doc
    assert doc["outcomes"]["feeds"]["n_missing"] == sum(v is None for v in pre)


def test_characteristics_boundaries_and_errors() -> None:
    assert [age_group(a) for a in (19, 20, 35, 36)] == ["lt20", "20to35", "20to35", "gt35"]
    assert [parity_group(p) for p in (1, 2)] == ["primipara", "multipara"]
    with pytest.raises(ValueError):
        parity_group(0)
    with pytest.raises(ValueError):
        characteristics([{"age_years": 25, "parity": 1, "education": "phd",
                          "employment": "working"}])  # fmt: skip


# ---------------------------------------------------------------------------
# SPSS display
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "places", "expected"),
    [
        (0.915, 3, ".915"),
        (-3.434, 3, "-3.434"),
        (0.00059, 3, ".001"),
        (0.0, 3, ".000"),
        (-0.0001, 3, ".000"),
        (8.0, 2, "8.00"),
        (8, 2, "8.00"),
        (120, 2, "120.00"),
        (13.333333333333334, 1, "13.3"),
        (6.666666666666667, 1, "6.7"),
        (2.675, 2, "2.67"),
        (0.9996, 3, "1.000"),
        (-0.5, 2, "-.50"),
        (0.4, 0, "0"),
        (2.5, 0, "3"),
        (None, 3, ""),
        (float("nan"), 3, ""),
    ],
)
def test_format_spss(value: float | None, places: int, expected: str) -> None:
    assert format_spss(value, places) == expected


def test_format_spss_decimal_comma_and_p() -> None:
    assert format_spss(-3.434182, 3, decimal_separator=",") == "-3,434"
    assert format_p(0.00059434) == ".001"
    assert format_p(0.0004999) == ".000"
    assert format_p(1.0) == "1.000"
    assert format_p(0.0005, decimal_separator=",") == ",001"
    assert format_p(None) == ""


# ---------------------------------------------------------------------------
# Hodges-Lehmann interval from the exact signed-rank distribution (issue 15 item 6)
# ---------------------------------------------------------------------------


def exact_interval_by_enumeration(d: list[float], confidence: float = 0.95):
    """Independent computation: all 2**n sign assignments of the ranks 1..n give T+'s exact
    distribution; C = 1 + max{c: P(T+ <= c) <= alpha/2} (Hollander & Wolfe 1999, 3.3); the
    interval is the C-th smallest and C-th largest of the listed Walsh averages."""
    n = len(d)
    sums = [
        sum(rank for rank, sign in zip(range(1, n + 1), signs, strict=True) if sign)
        for signs in itertools.product((0, 1), repeat=n)
    ]
    half_alpha = (1 - confidence) / 2
    c = 0
    while sum(1 for s in sums if s <= c) / 2**n <= half_alpha:
        c += 1
    walsh = sorted((d[i] + d[j]) / 2 for i in range(n) for j in range(i, n))
    if c == 0:
        return None
    return walsh[c - 1], walsh[-c], 1 - 2 * sum(1 for s in sums if s <= c - 1) / 2**n


def test_hodges_lehmann_exact_interval_of_one_to_seven() -> None:
    # The first check of the statistics: 1..7 gave [1.5, 6.5] from the normal approximation;
    # the exact critical value (P(T+ <= 2) = 3/128 <= .025 < P(T+ <= 3) = 5/128) gives C = 3.
    result = hodges_lehmann([0] * 7, [1, 2, 3, 4, 5, 6, 7])
    assert (result["ci_low"], result["ci_high"]) == (2.0, 6.0)
    assert result["estimate"] == 4.0
    assert result["method"] == "exact"
    assert result["achieved_confidence"] == pytest.approx(1 - 2 * 3 / 128)


@pytest.mark.parametrize(
    "d",
    [
        [1, 2, 3, 4, 5, 6, 7],
        [-3, 1, 2, 2, 4, 7, 8, 11],
        [0, 0, 1, 3, 3, 3, 5, 6, 9, -2],  # zeros and ties
        [2.5, -1.0, 4.0, 0.5, 3.5, 6.0, -0.5, 1.5, 8.0, 2.0, 5.5, 0.0],
        [1, 2, 3, 4, 5],  # 95% unreachable
    ],
)
def test_hodges_lehmann_exact_interval_against_enumeration(d: list[float]) -> None:
    result = hodges_lehmann([0] * len(d), d)
    expected = exact_interval_by_enumeration([float(v) for v in d])
    if expected is None:
        assert result["ci_low"] is None and result["ci_high"] is None
        assert result["achieved_confidence"] is None
    else:
        low, high, coverage = expected
        assert (result["ci_low"], result["ci_high"]) == (low, high)
        assert result["achieved_confidence"] == pytest.approx(coverage)
        assert result["achieved_confidence"] >= 0.95


@pytest.mark.parametrize("confidence", [0.90, 0.99, 0.875])
def test_hodges_lehmann_other_confidences(confidence: float) -> None:
    d = [-3.0, 1.0, 2.0, 2.0, 4.0, 7.0, 8.0, 11.0, 0.0, 5.0]
    result = hodges_lehmann([0] * len(d), d, confidence)
    low, high, _ = exact_interval_by_enumeration(d, confidence)
    assert (result["ci_low"], result["ci_high"]) == (low, high)


def test_hodges_lehmann_zero_differences_stay_in_the_walsh_averages() -> None:
    # Rule (Hollander & Wolfe; Bauer 1972): a zero difference is an observation like any
    # other. With d = 0, 0, 0, 5, 6, 7 the 21 Walsh averages include six zeros (the
    # averages of zeros with zeros) and 2.5, 3, 3.5 thrice, so the median is 3, where dropping
    # the zeros would give 6.
    d = [0, 0, 0, 5, 6, 7]
    walsh = sorted((d[i] + d[j]) / 2 for i in range(6) for j in range(i, 6))
    result = hodges_lehmann([0] * 6, d)
    assert result["estimate"] == walsh[10] == 3.0
    assert hodges_lehmann([0] * 3, [5, 6, 7])["estimate"] == 6.0
    # n counts the zeros too: with n = 6 the exact 95% interval exists (C = 1).
    assert (result["ci_low"], result["ci_high"]) == (walsh[0], walsh[-1]) == (0.0, 7.0)


def test_hodges_lehmann_normal_approximation_above_the_cutoff() -> None:
    from studies.analysis import HODGES_LEHMANN_EXACT_MAX, signed_rank_critical_value

    rng = np.random.default_rng(3)
    d = [float(v) for v in rng.integers(-3, 9, HODGES_LEHMANN_EXACT_MAX + 1)]
    result = hodges_lehmann([0] * len(d), d)
    assert result["method"] == "normal_approximation"
    assert result["achieved_confidence"] is None
    n = len(d)
    c = math.floor(
        n * (n + 1) / 4 - 1.959963984540054 * math.sqrt(n * (n + 1) * (2 * n + 1) / 24) + 0.5
    )
    walsh = np.sort((np.add.outer(d, d) / 2)[np.triu_indices(n)])
    assert (result["ci_low"], result["ci_high"]) == (walsh[c - 1], walsh[-c])
    # At the cutoff the exact C and the approximation differ by at most one order statistic.
    exact_c, _ = signed_rank_critical_value(HODGES_LEHMANN_EXACT_MAX, 0.95)
    m = HODGES_LEHMANN_EXACT_MAX
    approx_c = math.floor(
        m * (m + 1) / 4 - 1.959963984540054 * math.sqrt(m * (m + 1) * (2 * m + 1) / 24) + 0.5
    )
    assert abs(exact_c - approx_c) <= 1


# ---------------------------------------------------------------------------
# Display rounding at the half (PSPP's rule; tests/test_pspp_within.py runs PSPP itself)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "places", "expected"),
    [
        (0.125, 2, ".13"),  # exactly representable half: away from zero
        (-0.125, 2, "-.13"),
        (0.375, 2, ".38"),
        (2.665, 2, "2.67"),  # double 2.66500000000000003553: above the half
        (2.675, 2, "2.67"),  # double 2.67499999999999982236: below the half
        (107 / 40, 2, "2.67"),  # a mean of counts that is 2.675 on paper
        (1.005, 2, "1.00"),  # double 1.00499999999999989342
        (0.145, 2, ".15"),  # double .14499999999999999556: within the 17th digit
        (1.115, 2, "1.12"),
        (0.0005, 3, ".001"),  # p = .0005 prints as SPSS prints it
        (0.00049999999, 3, ".000"),
        (2.5, 0, "3"),
        (-2.5, 0, "-3"),
        (0.49999999999999994, 0, "0"),
        (-0.004, 2, ".00"),  # no "-.00"
    ],
)
def test_format_spss_at_the_half(value: float, places: int, expected: str) -> None:
    assert format_spss(value, places) == expected


# ---------------------------------------------------------------------------
# Columns as arrays (make bench): the same figures, bit for bit, and the same types
# ---------------------------------------------------------------------------


def _reference_describe(values: list) -> dict:
    """describe's definition value by value: fsum mean, two-pass fsum of (x - mean) ** 2,
    HAVERAGE quartiles on the sorted values."""
    n = len(values)
    ordered = sorted(values)
    mean = math.fsum(values) / n

    def haverage(p: float) -> float:
        position = p * (n + 1)
        k = math.floor(position)
        if k < 1:
            return float(ordered[0])
        if k >= n:
            return float(ordered[-1])
        return float(ordered[k - 1] + (position - k) * (ordered[k] - ordered[k - 1]))

    return {
        "n": n,
        "mean": mean,
        "sd": math.sqrt(math.fsum((x - mean) ** 2 for x in values) / (n - 1)),
        "min": ordered[0],
        "max": ordered[-1],
        "median": haverage(0.5),
        "q1": haverage(0.25),
        "q3": haverage(0.75),
    }


@pytest.mark.parametrize("kind", ["int", "float", "mixed"])
def test_describe_of_an_array_is_the_value_by_value_definition(kind: str) -> None:
    rng = np.random.default_rng(15)
    for n in (2, 3, 10, 999, 20_000):
        if kind == "int":
            values = [int(v) for v in rng.integers(-5, 40, n)]
        elif kind == "float":
            values = [float(v) for v in rng.normal(100, 37, n)]
        else:
            draws = enumerate(rng.integers(0, 9, n))
            values = [int(v) if i % 3 else float(v) + 0.5 for i, v in draws]
        expected = _reference_describe(values)
        got = describe(values)
        assert json.dumps(got) == json.dumps(expected)  # same bits, same int/float types
        if kind != "mixed":
            assert json.dumps(describe(np.asarray(values))) == json.dumps(expected)


def test_analyze_outcome_takes_the_same_pairs_with_or_without_arrays() -> None:
    rng = np.random.default_rng(3)
    pre = [None if rng.random() < 0.1 else int(v) for v in rng.integers(0, 15, 3000)]
    post = [None if rng.random() < 0.1 else int(v) for v in rng.integers(0, 18, 3000)]
    # Tuples go value by value; lists of ints (with None) as arrays.
    assert json.dumps(analyze_outcome(pre, post, threshold=8)) == json.dumps(
        analyze_outcome(tuple(pre), tuple(post), threshold=8)
    )
    floats = [None, 1.5, 2.5, 4.0, 0.5, None, 3.0]
    mixed = [2, 1.5, None, 4, 3.25, 1, 0]
    assert json.dumps(analyze_outcome(floats, mixed)) == json.dumps(
        analyze_outcome(tuple(floats), tuple(mixed))
    )


def test_mcnemar_of_boolean_arrays_is_that_of_lists() -> None:
    rng = np.random.default_rng(4)
    before, after = rng.random(500) < 0.4, rng.random(500) < 0.6
    assert mcnemar_exact(before, after) == mcnemar_exact(before.tolist(), after.tolist())


def test_characteristics_name_the_first_bad_parity_of_the_records() -> None:
    rows = [
        {"age_years": 25, "parity": p, "education": "basic", "employment": "working"}
        for p in (2, -1, 0, 1)
    ]
    with pytest.raises(ValueError, match="got -1"):
        characteristics(rows)


@pytest.mark.parametrize("seed", range(40))
def test_describe_from_the_histogram_equals_the_sum_value_by_value(seed):
    """Few distinct values (counts, scores, one-decimal volumes) are summed over their
    histogram; mean and SD equal, to the last bit, ``math.fsum`` value by value."""
    import numpy as np

    from studies.analysis import _describe_values

    rng = np.random.default_rng(seed)
    n = int(rng.integers(8, 4000))
    kind = seed % 4
    if kind == 0:
        values = rng.integers(0, 25, n)  # counts
    elif kind == 1:
        values = np.round(rng.normal(40, 12, n)).astype(np.int64) * 10**12 + 1  # large ints
    elif kind == 2:
        values = rng.choice([0.1, 0.2, 0.3, 12.5, -7.25, 1e16, 1.0], n)  # awkward floats
    else:
        values = np.round(rng.normal(35, 9, n), 1)  # millilitres with one decimal
    expected = _describe_values(values.tolist())
    got = describe(values)
    assert got == expected
    assert type(got["mean"]) is float and type(got["min"]) is type(expected["min"])


@pytest.mark.parametrize("seed", range(12))
def test_the_exact_sum_of_a_histogram_is_fsum_of_its_values(seed):
    """``_exact_sum`` (products summed per power of two in int64) equals ``math.fsum`` over the
    values each repeated its count: negative values, magnitudes from 1e-30 to 1e30, squares of
    deviations, one-decimal volumes and whole numbers, with counts up to 5,000."""
    import math

    import numpy as np

    from studies.analysis import _exact_sum

    rng = np.random.default_rng(seed)
    k = int(rng.integers(1, 60))
    kind = seed % 4
    if kind == 0:
        values = rng.integers(-(10**12), 10**12, k)
    elif kind == 1:
        values = np.array([float(f"{x / 10}") for x in rng.integers(-9999, 9999, k)])
    elif kind == 2:
        values = rng.normal(size=k) * 10.0 ** rng.integers(-30, 30, k)
    else:
        values = np.float_power(rng.normal(size=k) - 0.3, 2.0)
    counts = rng.integers(1, 5000, k)
    pairs = zip(values.tolist(), counts.tolist(), strict=True)
    repeated = [float(value) for value, count in pairs for _ in range(count)]
    assert _exact_sum(values, counts) == math.fsum(repeated)
