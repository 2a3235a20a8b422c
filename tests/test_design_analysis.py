"""analysis.design.analyze_outcome: DESIGN §7's keys for every design, each figure checked
against an independent computation (scipy / numpy written here), not against the product's
own test functions."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from studies.analysis.design import analyze_outcome, comparisons

NAN = math.nan
# Two arms, pre and post: ties, zero differences, a missing value in each arm, unequal arms.
INTERVENTION = np.array(
    [[300, 420], [310, 410.5], [280, 380], [300, 300], [295, 450], [320, NAN], [305, 415],
     [290, 390], [310, 410.5], [285, 401]],
    dtype=float,
)  # fmt: skip
CONTROL = np.array(
    [[300, 310], [305, 300], [NAN, 330], [290, 290], [310, 320], [298, 305], [302, 318]],
    dtype=float,
)  # fmt: skip


def complete(rows: np.ndarray) -> np.ndarray:
    return rows[~np.isnan(rows).any(axis=1)]


def two_group(design="two_group_pre_post", outcome_type="continuous", **kwargs):
    return analyze_outcome(
        design, outcome_type, ["intervention", "control"], ["pre", "post"],
        {"intervention": INTERVENTION, "control": CONTROL}, 0.05, **kwargs,
    )  # fmt: skip


def test_two_group_pre_post_has_every_test_of_its_row() -> None:
    doc = two_group()
    json.dumps(doc, allow_nan=False)
    assert doc["n_missing"] == 2
    assert set(doc) == {"n_missing", "descriptives", "normality", "within", "between", "chosen"}
    assert set(doc["within"]) == {"intervention", "control"}
    assert set(doc["within"]["intervention"]) == {"wilcoxon", "paired_t"}
    assert set(doc["between"]) == {"pre", "post", "change"}
    assert set(doc["between"]["change"]) == {"mann_whitney", "independent_t"}
    assert set(doc["normality"]["control"]) == {"pre", "post", "change"}

    a, b = complete(INTERVENTION), complete(CONTROL)
    pre = doc["descriptives"]["intervention"]["pre"]
    assert pre["n"] == 9 and pre["mean"] == pytest.approx(a[:, 0].mean())
    assert pre["sd"] == pytest.approx(a[:, 0].std(ddof=1))
    assert doc["descriptives"]["control"]["post"]["median"] == pytest.approx(np.median(b[:, 1]))

    # Paired t of post - pre against scipy.
    t = stats.ttest_rel(a[:, 1], a[:, 0])
    row = doc["within"]["intervention"]["paired_t"]
    assert row["t"] == pytest.approx(t.statistic) and row["p"] == pytest.approx(t.pvalue)
    diffs = a[:, 1] - a[:, 0]
    assert row["mean_difference"] == pytest.approx(diffs.mean())
    assert row["se"] == pytest.approx(diffs.std(ddof=1) / math.sqrt(len(diffs)))
    assert row["df"] == 8
    margin = stats.t.ppf(0.975, 8) * row["se"]
    assert (row["ci_lower"], row["ci_upper"]) == pytest.approx(
        (diffs.mean() - margin, diffs.mean() + margin)
    )

    # Wilcoxon: one zero difference is the Ties row; Z as SPSS (scipy, no correction, zsplit off).
    wilcoxon = doc["within"]["intervention"]["wilcoxon"]
    assert wilcoxon["ties"] == 1 and wilcoxon["total"] == 9
    reference = stats.wilcoxon(diffs, zero_method="wilcox", correction=False, method="approx")
    assert wilcoxon["p_asymptotic"] == pytest.approx(reference.pvalue)

    # Between arms on the change and at the post-test, against scipy.
    change_a, change_b = a[:, 1] - a[:, 0], b[:, 1] - b[:, 0]
    welch = stats.ttest_ind(change_a, change_b, equal_var=False)
    pooled = stats.ttest_ind(change_a, change_b, equal_var=True)
    independent = doc["between"]["change"]["independent_t"]
    assert independent["unequal_variances"]["t"] == pytest.approx(welch.statistic)
    assert independent["equal_variances"]["p"] == pytest.approx(pooled.pvalue)
    assert independent["levene_p"] == pytest.approx(
        stats.levene(change_a, change_b, center="mean").pvalue
    )
    mw = doc["between"]["post"]["mann_whitney"]
    scipy_mw = stats.mannwhitneyu(a[:, 1], b[:, 1], use_continuity=False, method="asymptotic")
    assert mw["p_asymptotic"] == pytest.approx(scipy_mw.pvalue)
    assert mw["u"] == min(scipy_mw.statistic, len(a) * len(b) - scipy_mw.statistic)
    assert mw["ranks"]["intervention"]["n"] == 9 and mw["ranks"]["control"]["n"] == 6

    shapiro = doc["normality"]["intervention"]["change"]["shapiro_wilk"]
    assert shapiro["p"] == pytest.approx(stats.shapiro(change_a).pvalue)
    assert shapiro["df"] == 9


def test_the_choice_follows_normality_and_says_why() -> None:
    doc = two_group()
    normality = doc["normality"]
    all_normal = all(
        tests["shapiro_wilk"]["p"] >= 0.05 for arm in normality.values() for tests in arm.values()
    )
    assert not all_normal
    assert doc["chosen"]["within"] == "wilcoxon" and doc["chosen"]["between"] == "mann_whitney"
    assert doc["chosen"]["reason"] == "not_normal"
    assert doc["chosen"]["overridden"] is False and doc["chosen"]["override_reason"] is None

    # Normal-looking data choose the parametric tests.
    rng = np.random.default_rng(7)
    normal = {arm: rng.normal([50, 60], 5, size=(30, 2)) for arm in ("a", "b")}
    doc = analyze_outcome("two_group_pre_post", "score", ["a", "b"], ["pre", "post"], normal, 0.05)
    assert doc["chosen"]["reason"] == "all_normal"
    assert (doc["chosen"]["within"], doc["chosen"]["between"]) == ("paired_t", "independent_t")


def test_override_keeps_every_test_and_records_the_reason() -> None:
    override = {"within": "paired_t", "reason": "Protocol named the paired t-test"}
    doc = two_group(override=override)
    assert doc["chosen"]["within"] == "paired_t" and doc["chosen"]["between"] == "mann_whitney"
    assert doc["chosen"]["overridden"] is True
    assert doc["chosen"]["override_reason"] == "Protocol named the paired t-test"
    assert doc["chosen"]["reason_args"]["automatic"]["within"] == "wilcoxon"
    assert set(doc["within"]["control"]) == {"wilcoxon", "paired_t"}
    with pytest.raises(ValueError, match="not a within test"):
        two_group(override={"within": "friedman", "reason": "x"})
    with pytest.raises(ValueError, match="reason"):
        two_group(override={"within": "paired_t", "reason": "  "})


def test_one_group_pre_post_compares_within_only() -> None:
    pre = np.array([5, 6, 5, 7, 4, 6, 5, 6, 6, 5], dtype=float)
    post = np.array([11, 12, 9, 14, 8, 12, 10, 13, 11, 5], dtype=float)
    doc = analyze_outcome(
        "one_group_pre_post", "count", ["all"], ["pre", "post"],
        {"all": np.column_stack([pre, post])}, 0.05,
    )  # fmt: skip
    assert set(doc) == {"n_missing", "descriptives", "normality", "within", "chosen"}
    assert set(doc["normality"]["all"]) == {"change"}
    assert doc["descriptives"]["all"]["pre"]["min"] == 4 and isinstance(
        doc["descriptives"]["all"]["pre"]["min"], int
    )
    assert doc["chosen"]["between"] is None
    reference = stats.wilcoxon(post - pre, zero_method="wilcox", correction=False, method="approx")
    assert doc["within"]["all"]["wilcoxon"]["p_asymptotic"] == pytest.approx(reference.pvalue)


def test_post_only_compares_the_arms_at_the_one_time_point() -> None:
    a = np.array([[3], [4], [4], [5], [7], [NAN]], dtype=float)
    b = np.array([[1], [2], [2], [3], [3], [4], [4]], dtype=float)
    doc = analyze_outcome(
        "two_group_post_only", "count", ["a", "b"], ["post"], {"a": a, "b": b}, 0.05
    )
    assert set(doc) == {"n_missing", "descriptives", "normality", "between", "chosen"}
    assert doc["n_missing"] == 1 and set(doc["between"]) == {"post"}
    assert doc["chosen"]["within"] is None
    mw = doc["between"]["post"]["mann_whitney"]
    reference = stats.mannwhitneyu(a[:5, 0], b[:, 0], use_continuity=False, method="asymptotic")
    assert mw["p_asymptotic"] == pytest.approx(reference.pvalue)


def test_binary_two_groups_mcnemar_per_arm_and_fisher_for_small_cells() -> None:
    a = np.array([[0, 1], [0, 1], [0, 1], [1, 1], [0, 0], [0, 1], [NAN, 1]], dtype=float)
    b = np.array([[0, 0], [0, 1], [1, 1], [0, 0], [0, 0]], dtype=float)
    doc = analyze_outcome(
        "two_group_pre_post", "binary", ["a", "b"], ["pre", "post"], {"a": a, "b": b}, 0.05
    )
    assert "normality" not in doc
    assert set(doc["between"]) == {"pre", "post"}
    mcnemar = doc["within"]["a"]["mcnemar"]
    # 4 discordant pairs all one way: p = 2 * (1/2)^4.
    assert mcnemar["n"] == 6 and mcnemar["p_exact"] == pytest.approx(2 / 16)
    post = doc["between"]["post"]["chi_square"]
    assert post["table"] == {"a": {"0": 1, "1": 5}, "b": {"0": 3, "1": 2}}
    observed = [[1, 5], [3, 2]]
    assert post["fisher_exact"]["p_two_sided"] == pytest.approx(stats.fisher_exact(observed).pvalue)
    chi2, p, _, expected = stats.chi2_contingency(observed, correction=False)
    assert post["pearson"]["value"] == pytest.approx(chi2)
    assert post["min_expected"] == pytest.approx(expected.min())
    assert doc["chosen"]["between"] == "fisher_exact"
    assert doc["chosen"]["reason"] == "binary_small_expected"


def test_binary_at_one_time_point_of_a_pre_post_study_is_compared_between_arms_only() -> None:
    a = np.array([[1], [1], [0], [1]], dtype=float)
    b = np.array([[0], [0], [1]], dtype=float)
    doc = analyze_outcome(
        "two_group_pre_post", "binary", ["a", "b"], ["post"], {"a": a, "b": b}, 0.05
    )
    assert "within" not in doc and set(doc["between"]) == {"post"}
    assert doc["chosen"]["within"] is None


def test_one_group_repeated_friedman_and_cochran() -> None:
    rows = np.array(
        [[1, 3, 2], [2, 3, 3], [1, 2, 3], [2, 2, 2], [1, 3, 4], [2, 4, 4], [NAN, 1, 2]], dtype=float
    )
    doc = analyze_outcome(
        "one_group_repeated", "score", ["all"], ["d3", "d7", "d14"], {"all": rows}, 0.05
    )
    assert set(doc) == {"n_missing", "descriptives", "within", "chosen"}
    friedman = doc["within"]["all"]["friedman"]
    reference = stats.friedmanchisquare(*complete(rows).T)
    assert friedman["chi_square"] == pytest.approx(reference.statistic)
    assert friedman["p"] == pytest.approx(reference.pvalue)
    assert list(friedman["mean_ranks"]) == ["d3", "d7", "d14"]
    assert friedman["mean_ranks"]["d3"] == pytest.approx(
        stats.rankdata(complete(rows), axis=1)[:, 0].mean()
    )
    assert doc["chosen"] == {
        "within": "friedman", "between": None, "reason": "repeated_rank_test", "reason_args": {},
        "overridden": False, "override_reason": None,
        "allowed": {"within": ["friedman"], "between": []},
    }  # fmt: skip

    yes_no = np.array([[0, 1, 1], [0, 0, 1], [0, 1, 1], [1, 1, 1], [0, 0, 0], [0, 1, 0]], float)
    doc = analyze_outcome(
        "one_group_repeated", "binary", ["all"], ["d3", "d7", "d14"], {"all": yes_no}, 0.05
    )
    q = doc["within"]["all"]["cochran_q"]
    # Cochran's Q by hand: k = 3, column totals C, row totals R, N.
    c, r = yes_no.sum(axis=0), yes_no.sum(axis=1)
    expected = 2 * (3 * (c**2).sum() - c.sum() ** 2) / (3 * c.sum() - (r**2).sum())
    assert q["q"] == pytest.approx(expected) and q["frequencies"]["d7"] == {"0": 2, "1": 4}
    assert doc["chosen"]["within"] == "cochran_q"


def test_two_group_repeated_friedman_per_arm_and_arms_at_each_time_point() -> None:
    rng = np.random.default_rng(3)
    values = {
        "a": rng.integers(0, 10, (8, 3)).astype(float),
        "b": rng.integers(0, 10, (6, 3)).astype(float),
    }
    doc = analyze_outcome(
        "two_group_repeated", "count", ["a", "b"], ["t1", "t2", "t3"], values, 0.05
    )
    assert set(doc["between"]) == {"t1", "t2", "t3"}
    assert set(doc["within"]["b"]) == {"friedman"}
    assert set(doc["normality"]["a"]) == {"t1", "t2", "t3"}
    binary = {arm: (v > 4).astype(float) for arm, v in values.items()}
    doc = analyze_outcome(
        "two_group_repeated", "binary", ["a", "b"], ["t1", "t2", "t3"], binary, 0.05
    )
    assert "within" not in doc and set(doc["between"]) == {"t1", "t2", "t3"}


def test_bad_input_is_refused_clearly() -> None:
    with pytest.raises(ValueError, match="unknown design"):
        analyze_outcome("crossover", "count", ["all"], ["pre"], {"all": np.zeros((2, 1))}, 0.05)
    with pytest.raises(ValueError, match="time points"):
        analyze_outcome(
            "one_group_pre_post", "count", ["all"], ["pre", "post"], {"all": np.zeros((2, 3))}, 0.05
        )
    with pytest.raises(ValueError, match="0 and 1"):
        analyze_outcome(
            "one_group_pre_post", "binary", ["all"], ["pre", "post"], {"all": np.full((2, 2), 2.0)},
            0.05,
        )  # fmt: skip
    with pytest.raises(ValueError, match="arms"):
        analyze_outcome("two_group_post_only", "count", ["a", "b"], ["post"], {"a": [[1]]}, 0.05)
    with pytest.raises(ValueError, match="alpha"):
        two_group_args = ("two_group_post_only", "count", ["a", "b"], ["post"])
        analyze_outcome(*two_group_args, {"a": [[1]], "b": [[2]]}, 1.5)


def test_empty_arms_give_nulls_not_errors() -> None:
    doc = analyze_outcome(
        "two_group_pre_post", "count", ["a", "b"], ["pre", "post"],
        {"a": np.empty((0, 2)), "b": [[NAN, 3.0]]}, 0.05,
    )  # fmt: skip
    json.dumps(doc, allow_nan=False)
    assert doc["n_missing"] == 1
    assert doc["between"]["post"]["mann_whitney"]["z"] is None
    assert doc["within"]["a"]["wilcoxon"]["z"] is None


def test_comparisons_plan() -> None:
    assert comparisons("two_group_pre_post", "ordinal", ["pre", "post"]) == {
        "within": "paired", "between": ["pre", "post", "change"],
        "normality": {"change": False, "points": []},
    }  # fmt: skip
    assert comparisons("one_group_repeated", "count", ["a", "b", "c"])["normality"] == {
        "change": False, "points": [],
    }  # fmt: skip
