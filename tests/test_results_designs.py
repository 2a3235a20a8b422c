"""SPSS's tables, conclusions and charts for every design of DESIGN.md §7.

The documents here are built in the §7 shape by ``section7_document`` from the statistics of
``studies.analysis`` (the same functions the results document calls), so every cell can be
checked against the document's own number at SPSS's decimals, in Indonesian and English. The
builders under test read only §7 keys."""

from __future__ import annotations

import math

import numpy as np
import pytest
from django.urls import reverse
from django.utils import translation

from studies import analysis, charts, cohort, manuscript, services
from studies.analysis import (
    chi_square,
    choose,
    cochran_q,
    crosstab,
    describe,
    format_p,
    format_spss,
    friedman,
    independent_t,
    mann_whitney,
    mcnemar_exact,
    paired_t,
    wilcoxon_signed_rank,
)
from studies.analysis import normality as normality_tests
from studies.definition import paper_definition
from studies.models import Study
from studies.paper_cohort import PAPER_COHORT

# ---------------------------------------------------------------------------
# A results document in DESIGN.md §7's shape, from the analysis package
# ---------------------------------------------------------------------------

PRE_POST = ("one_group_pre_post", "two_group_pre_post")


def _normality(values) -> dict:
    result = normality_tests.tests_of_normality(values)
    return {
        "shapiro_wilk": result["shapiro_wilk"],
        "kolmogorov_smirnov": result["kolmogorov_smirnov"],
        "not_computed": result["not_computed"],
    }


def _paired_t(first, last, alpha) -> dict:
    """§7's paired_t keys (d = last − first, as the project's paired tests)."""
    t = paired_t(first, last, 1 - alpha)
    se = t["sd_difference"] / math.sqrt(t["n"]) if t["sd_difference"] is not None else None
    return {"mean_difference": t["mean_difference"], "sd": t["sd_difference"], "se": se,
            "ci_lower": t["ci_low"], "ci_upper": t["ci_high"], "t": t["t"], "df": t["df"],
            "p": t["p"]}  # fmt: skip


def _friedman(matrix, points) -> dict:
    result = friedman(matrix)
    result["mean_ranks"] = dict(zip(points, result["mean_ranks"] or [], strict=False))
    return result


def analyse(design, outcome_type, points, values, alpha=0.05) -> dict:
    """One outcome's §7 entry. ``values`` = {arm: [[value per time point] per mother]}."""
    arms = list(values)
    matrix = {arm: np.asarray(rows, dtype=float) for arm, rows in values.items()}
    columns = {arm: {p: m[:, i].tolist() for i, p in enumerate(points)}
               for arm, m in matrix.items()}  # fmt: skip
    entry: dict = {
        "type": outcome_type,
        "timepoints": list(points),
        "n_missing": 0,
        "descriptives": {arm: {p: describe(columns[arm][p]) for p in points} for arm in arms},
        "normality": {},
        "within": {},
        "between": {},
    }
    first, last = points[0], points[-1]
    two = design.startswith("two_group")
    normality_by_group = {}
    min_expected = None
    if outcome_type == "binary":
        if design in PRE_POST and len(points) == 2:
            for arm in arms:
                m = mcnemar_exact([v == 1 for v in columns[arm][first]],
                                  [v == 1 for v in columns[arm][last]])  # fmt: skip
                entry["within"][arm] = {"mcnemar": {"n": m["n"], "p_exact": m["p_exact"]}}
        if design == "one_group_repeated":
            entry["within"]["all"] = {"cochran_q": cochran_q(matrix["all"])}
        if two:
            for p in points:
                test = chi_square(crosstab({a: columns[a][p] for a in arms}, [0, 1]))
                entry["between"][p] = {"chi_square": test}
                if test["min_expected"] is not None:
                    low = test["min_expected"]
                    min_expected = low if min_expected is None else min(min_expected, low)
    else:
        if design in PRE_POST:
            for arm in arms:
                change = [b - a for a, b in zip(columns[arm][first], columns[arm][last],
                                                strict=True)]  # fmt: skip
                entry["within"][arm] = {
                    "wilcoxon": wilcoxon_signed_rank(columns[arm][first], columns[arm][last]),
                    "paired_t": _paired_t(columns[arm][first], columns[arm][last], alpha),
                }
                entry["normality"].setdefault(arm, {})["change"] = _normality(change)
                normality_by_group[f"{arm}/change"] = entry["normality"][arm]["change"]
        if design.endswith("repeated"):
            for arm in arms:
                entry["within"][arm] = {"friedman": _friedman(matrix[arm], points)}
        if two:
            compared = {
                "two_group_pre_post": [first, last, "change"],
                "two_group_post_only": list(points),
                "two_group_repeated": list(points),
            }[design]
            for p in compared:
                groups = {a: ([b - c for c, b in zip(columns[a][first], columns[a][last],
                                                     strict=True)]
                              if p == "change" else columns[a][p]) for a in arms}  # fmt: skip
                entry["between"][p] = {
                    "mann_whitney": mann_whitney(groups),
                    "independent_t": independent_t(groups, 1 - alpha),
                }
                if p != "change":
                    for arm in arms:
                        entry["normality"].setdefault(arm, {})[p] = _normality(groups[arm])
                        if design == "two_group_post_only":
                            normality_by_group[f"{arm}/{p}"] = entry["normality"][arm][p]
    chosen = choose(design, outcome_type, normality_by_group, alpha, min_expected=min_expected)
    chosen["reason_text"] = chosen["reason"].replace("_", " ")
    entry["chosen"] = chosen
    entry = analysis._json_safe(entry)
    return {key: value for key, value in entry.items() if value != {}}


ARM_LABELS = {"intervention": "Pijat oksitosin", "control": "Kontrol", "all": ""}


def _labelled(characteristics: dict) -> dict:
    """Category labels in the active language, as cohort.results_document adds them."""
    labels = cohort.characteristic_labels()
    for name, rows in characteristics.items():
        for row in rows:
            row["label"] = str(labels[name][1][row["key"]])
    return characteristics


def section7_document(design, points, outcomes, alpha=0.05, records=None) -> dict:
    """``outcomes`` = {key: (label, type, unit, outcome points or None, {arm: rows})}."""
    first_values = next(iter(outcomes.values()))[4]
    arms = list(first_values)
    n = {arm: len(rows) for arm, rows in first_values.items()}
    document = {
        "study": "DESIGN",
        "design": design,
        "alpha": alpha,
        "n_enrolled": sum(n.values()),
        "n_withdrawn": 0,
        "arms": [{"key": a, "label": ARM_LABELS[a], "n_enrolled": n[a]} for a in arms],
        "timepoints": [{"key": p, "label": p.capitalize()} for p in points],
        "characteristics": _labelled(analysis.characteristics(sum(records.values(), []))),
        "outcomes": {},
        "left_out": [],
        "progress": {},
    }
    labels = {}
    for key, (label, kind, unit, where, values) in outcomes.items():
        document["outcomes"][key] = {
            "label": label, "unit": unit,
            **analyse(design, kind, where or points, values, alpha),
        }  # fmt: skip
        labels[key] = label
    if records and len(arms) > 1:
        by_arm = {arm: analysis.characteristics(rows) for arm, rows in records.items()}
        document["characteristics_by_arm"] = {
            name: {
                **{arm: by_arm[arm][name] for arm in arms},
                "test": chi_square(
                    {arm: {row["key"]: row["n"] for row in by_arm[arm][name]} for arm in arms}
                ),
            }
            for name in by_arm[arms[0]]
        }
    return document


def mothers(count: int, offset: int = 0) -> list[dict]:
    return [
        {"age_years": 18 + 3 * ((i + offset) % 7), "parity": 1 + (i + offset) % 3,
         "education": ("basic", "secondary", "higher")[(i + offset) % 3],
         "employment": ("working", "not_working")[(i + offset) % 2]}
        for i in range(count)
    ]  # fmt: skip


# Two arms of unequal size, ties, a zero difference, small cells in the binary outcome.
MILK = {
    "intervention": [[20.0, 55.5], [22.5, 50.0], [25.0, 61.0], [27.5, 58.0], [30.0, 30.0],
                     [21.0, 49.5], [24.0, 66.0], [26.0, 52.5]],
    "control": [[21.0, 29.0], [23.0, 30.5], [25.5, 28.0], [28.0, 36.0], [24.0, 24.0],
                [22.0, 35.5]],
}  # fmt: skip
FEEDS = {
    "intervention": [[5, 9], [6, 10], [7, 11], [5, 9], [6, 6], [7, 12], [5, 10], [6, 9]],
    "control": [[5, 7], [6, 7], [7, 7], [5, 6], [6, 8], [7, 7]],
}
LANCAR = {"intervention": [[1]] * 7 + [[0]], "control": [[0], [1], [0], [1], [0], [0]]}


def two_group_pre_post() -> dict:
    return section7_document(
        "two_group_pre_post",
        ["pre", "post"],
        {
            "milk_ml": ("Breast-milk volume", "continuous", "ml", None, MILK),
            "feeds": ("Feeds", "count", "times/24 h", None, FEEDS),
            "lancar": ("Milk flows smoothly", "binary", "", ["post"], LANCAR),
        },
        records={"intervention": mothers(8), "control": mothers(6, 1)},
    )


def post_only() -> dict:
    return section7_document(
        "two_group_post_only",
        ["post"],
        {
            "milk_ml": ("Breast-milk volume", "continuous", "ml", None,
                        {arm: [[row[1]] for row in rows] for arm, rows in MILK.items()}),
            "lancar": ("Milk flows smoothly", "binary", "", None, LANCAR),
        },  # fmt: skip
        records={"intervention": mothers(8), "control": mothers(6, 1)},
    )


SCORES = {"all": [[3, 5, 8], [4, 6, 9], [2, 5, 7], [3, 7, 7], [5, 5, 6], [4, 8, 9], [3, 4, 8]]}


def one_group_repeated() -> dict:
    return section7_document(
        "one_group_repeated",
        ["day2", "day4", "day6"],
        {"score": ("Comfort score", "score", "points", None, SCORES)},
        records={"all": mothers(7)},
    )


def two_group_repeated() -> dict:
    values = {
        "intervention": SCORES["all"],
        "control": [[3, 4, 4], [4, 4, 5], [2, 3, 3], [5, 4, 6], [3, 3, 4], [4, 5, 4]],
    }
    return section7_document(
        "two_group_repeated",
        ["day2", "day4", "day6"],
        {"score": ("Comfort score", "score", "points", None, values)},
        records={"intervention": mothers(7), "control": mothers(6, 2)},
    )


# ---------------------------------------------------------------------------
# Helpers to read the tables
# ---------------------------------------------------------------------------


def built(document, language="en", sep="."):
    with translation.override(language):
        return manuscript.tables(document, manuscript.Formatter(sep))


def find(tables, *words) -> manuscript.Table:
    matches = [t for t in tables if all(word in t.title for word in words)]
    assert len(matches) == 1, [t.title for t in tables]
    return matches[0]


def grid(part) -> list[list[str]]:
    return [[cell.plain() for cell in row] for row in part.rows]


def by_label(part) -> dict[str, list[str]]:
    return {row[0]: row[1:] for row in grid(part)}


def f(value, places, sep="."):
    return format_spss(value, places, decimal_separator=sep)


def p(value, sep="."):
    return format_p(value, decimal_separator=sep)


# ---------------------------------------------------------------------------
# Two groups, pre/post: continuous + count + binary at post
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(("language", "sep"), [("en", "."), ("id", ",")])
def test_two_group_pre_post_mann_whitney_cells(language, sep):
    document = two_group_pre_post()
    tables = built(document, language, sep)
    milk = document["outcomes"]["milk_ml"]
    with translation.override(language):
        table = find(tables, milk["label"], "Mann")
        ranks, statistics = table.parts
        assert statistics.caption == translation.gettext("Test Statistics")
        change = translation.gettext("Change (%(last)s − %(first)s)") % {"last": "Post",
                                                                         "first": "Pre"}
    assert [c.text for c in statistics.header[1:]] == ["Pre", "Post", change]
    assert change == {"en": "Change (Post − Pre)", "id": "Perubahan (Post − Pre)"}[language]
    rows = grid(statistics)
    for column, point in enumerate(["pre", "post", "change"], start=1):
        test = milk["between"][point]["mann_whitney"]
        assert rows[0][column] == f(test["u"], 3, sep)
        assert rows[1][column] == f(test["w"], 3, sep)
        assert rows[2][column] == f(test["z"], 3, sep)
        assert rows[3][column] == p(test["p_asymptotic"], sep)
        assert rows[4][column] == p(test["p_exact"], sep)
    # By hand: at post only the unchanged treated mother (30.0) is below three control mothers.
    assert rows[0][2] == f(3.0, 3, sep)
    assert statistics.rows[4][0].note == "b"
    # Ranks: each arm's N, mean rank and sum of ranks, then the total.
    post_rows = grid(ranks)[3:6]
    ranked = milk["between"]["post"]["mann_whitney"]["ranks"]
    assert post_rows[0][1:] == ["Pijat oksitosin", "8", f(ranked["intervention"]["mean_rank"], 2,
                                                          sep),
                                f(ranked["intervention"]["sum_of_ranks"], 2, sep)]  # fmt: skip
    assert post_rows[1][1:3] == ["Kontrol", "6"]
    assert post_rows[2][2] == "14"


@pytest.mark.parametrize(("language", "sep"), [("en", "."), ("id", ",")])
def test_two_group_pre_post_independent_t_cells(language, sep):
    document = two_group_pre_post()
    milk = document["outcomes"]["milk_ml"]
    with translation.override(language):
        title = translation.gettext("%(outcome)s: independent-samples t test between the arms")
    table = find(built(document, language, sep), title % {"outcome": milk["label"]})
    groups, test = table.parts
    rows = grid(test)
    for index, point in enumerate(["pre", "post", "change"]):
        t = milk["between"][point]["independent_t"]
        equal, welch = rows[2 * index], rows[2 * index + 1]
        assert equal[2:] == [
            f(t["levene_f"], 3, sep), p(t["levene_p"], sep),
            f(t["equal_variances"]["t"], 3, sep), str(t["equal_variances"]["df"]),
            p(t["equal_variances"]["p"], sep), f(t["equal_variances"]["mean_difference"], 2, sep),
            f(t["equal_variances"]["se_difference"], 3, sep),
            f(t["equal_variances"]["ci_lower"], 2, sep),
            f(t["equal_variances"]["ci_upper"], 2, sep),
        ]  # fmt: skip
        assert welch[2:4] == ["", ""]
        assert welch[4:7] == [f(t["unequal_variances"]["t"], 3, sep),
                              f(t["unequal_variances"]["df"], 3, sep),
                              p(t["unequal_variances"]["p"], sep)]  # fmt: skip
    # Group Statistics of the change are the paired differences, last − first.
    change_rows = grid(groups)[4:6]
    treated = [b - a for a, b in MILK["intervention"]]
    assert change_rows[0][1:] == ["Pijat oksitosin", "8", f(np.mean(treated), 2, sep),
                                  f(np.std(treated, ddof=1), 3, sep),
                                  f(np.std(treated, ddof=1) / math.sqrt(8), 3, sep)]  # fmt: skip
    pre_rows = grid(groups)[0:2]
    control = milk["descriptives"]["control"]["pre"]
    assert pre_rows[1][1:4] == ["Kontrol", "6", f(control["mean"], 2, sep)]


def test_two_group_pre_post_within_each_arm():
    document = two_group_pre_post()
    feeds = document["outcomes"]["feeds"]
    tables = built(document)
    wilcoxon = find(tables, "Feeds", "Wilcoxon")
    ranks, statistics = wilcoxon.parts
    assert [c.text for c in statistics.header] == [
        "", "Pijat oksitosin: Post − Pre", "Kontrol: Post − Pre"]
    rows = by_label(statistics)
    for column, arm in enumerate(["intervention", "control"]):
        w = feeds["within"][arm]["wilcoxon"]
        assert rows["Z"][column].rstrip("bcd") == f(w["z"], 3)
        assert rows["Asymp. Sig. (2-tailed)"][column] == p(w["p_asymptotic"])
        assert rows["Exact Sig. (2-tailed)"][column] == p(w["p_exact"])
    ranks_rows = grid(ranks)
    treated = feeds["within"]["intervention"]["wilcoxon"]
    assert ranks_rows[1][2:] == ["Positive Ranks", f"{treated['positive_ranks']['n']}b",
                                 f(treated["positive_ranks"]["mean_rank"], 2),
                                 f(treated["positive_ranks"]["sum_of_ranks"], 2)]  # fmt: skip
    assert ranks_rows[2][3] == "1c"  # the mother whose feeds did not change
    paired = find(tables, "Feeds", "paired-samples")
    statistics_part, test_part = paired.parts
    t = feeds["within"]["control"]["paired_t"]
    assert grid(test_part)[1] == ["Kontrol", "Post − Pre", f(t["mean_difference"], 2),
                                  f(t["sd"], 3), f(t["se"], 3), f(t["ci_lower"], 2),
                                  f(t["ci_upper"], 2), f(t["t"], 3), str(t["df"]),
                                  p(t["p"])]  # fmt: skip
    stats = feeds["descriptives"]["intervention"]["post"]
    assert grid(statistics_part)[1] == ["", "Post", f(stats["mean"], 2), "8", f(stats["sd"], 3),
                                        f(stats["sd"] / math.sqrt(8), 3)]  # fmt: skip
    assert [c.text for c in test_part.header][5:7] == [
        "95% CI of the Difference: Lower", "95% CI of the Difference: Upper"]


@pytest.mark.parametrize(("language", "sep"), [("en", "."), ("id", ",")])
def test_binary_crosstabulation_and_chi_square_tests(language, sep):
    document = two_group_pre_post()
    lancar = document["outcomes"]["lancar"]
    test = lancar["between"]["post"]["chi_square"]
    with translation.override(language):
        table = find(built(document, language, sep), lancar["label"], "chi")
        crosstab_part, tests = table.parts
        assert tests.caption == translation.gettext("Chi-Square Tests")
        labels = [translation.gettext(text) for text in (
            "Pearson Chi-Square", "Continuity Correction", "Likelihood Ratio",
            "Fisher's Exact Test", "Linear-by-Linear Association", "N of Valid Cases")]  # fmt: skip
    assert grid(crosstab_part) == [["Pijat oksitosin", "1", "7", "8"], ["Kontrol", "4", "2", "6"],
                                   [crosstab_part.rows[2][0].text, "5", "9", "14"]]  # fmt: skip
    rows = grid(tests)
    assert [row[0].rstrip("ab") for row in rows] == labels
    for row, key in zip(rows, ["pearson", "continuity_correction", "likelihood_ratio"],
                        strict=False):  # fmt: skip
        assert row[1:4] == [f(test[key]["value"], 3, sep), str(test[key]["df"]),
                            p(test[key]["p"], sep)]  # fmt: skip
    assert rows[3][4:] == [p(test["fisher_exact"]["p_two_sided"], sep),
                           p(test["fisher_exact"]["p_one_sided"], sep)]  # fmt: skip
    assert rows[4][1:4] == [f(test["linear_by_linear"]["value"], 3, sep), "1",
                            p(test["linear_by_linear"]["p"], sep)]  # fmt: skip
    assert rows[5][1] == "14"
    # SPSS's footnote: expected 8·5/14, 8·9/14, 6·5/14, 6·9/14: 3 cells (75.0%) below 5, the
    # smallest 30/14 = 2.14.
    note = tests.footnotes[0]
    if language == "en":
        assert note == ("a. 3 cells (75.0%) have expected count less than 5. The minimum "
                        "expected count is 2.14.")  # fmt: skip
    else:
        assert note.startswith("a. 3 ") and "2,14" in note and "75,0%" in note
    # Fisher's exact test is the chosen one (an expected count below 5), and the table says so.
    assert lancar["chosen"]["between"] == "fisher_exact"
    assert table.chosen


def test_table_1_by_arm_with_the_baseline_comparison():
    document = two_group_pre_post()
    table = built(document)[0]
    assert table.number == 1 and table.label == "Table 1"
    part = table.parts[0]
    assert [c.text for c in part.header] == [
        "Characteristic", "Category", "Pijat oksitosin: N", "Pijat oksitosin: %", "Kontrol: N",
        "Kontrol: %", "p"]  # fmt: skip
    rows = grid(part)
    education = [row for row in rows if row[1].startswith("Secondary")][0]
    by_arm = document["characteristics_by_arm"]["education"]
    treated = next(r for r in by_arm["intervention"] if r["key"] == "secondary")
    control = next(r for r in by_arm["control"] if r["key"] == "secondary")
    assert education[2:6] == [str(treated["n"]), f(treated["percent"], 1), str(control["n"]),
                              f(control["percent"], 1)]  # fmt: skip
    test = document["characteristics_by_arm"]["parity"]["test"]
    expected = test["fisher_exact"]["p_two_sided"] if test["min_expected"] < 5 else test[
        "pearson"]["p"]  # fmt: skip
    cell = next(row for row in part.rows if row[0].text == "Parity")[6]
    assert cell.text == p(expected)
    # Its notes: Fisher's exact test where it replaces chi-square, and SPSS's footnote on
    # the expected counts below 5 with their number and the smallest.
    notes = {n.split(". ", 1)[0]: n.split(". ", 1)[1] for n in part.footnotes[1:]}
    texts = [notes[letter] for letter in cell.note.split(",") if letter]
    if test["expected_below_5"]:
        assert manuscript.expected_count_note(test, manuscript.Formatter(".")) in texts
    if test["fisher_exact"] and test["min_expected"] < 5:
        assert "Fisher's exact test (2-sided): an expected count is below 5." in texts


def test_tests_of_normality_with_the_lower_bound_footnote():
    document = two_group_pre_post()
    table = find(built(document), "Tests of Normality")
    part = table.parts[0]
    rows = grid(part)
    milk_change = [r for r in rows if r[0].startswith("Breast-milk") and r[2].startswith("Change")]
    assert [r[1] for r in milk_change] == ["Pijat oksitosin", "Kontrol"]
    result = document["outcomes"]["milk_ml"]["normality"]["control"]["change"]
    ks, sw = result["kolmogorov_smirnov"], result["shapiro_wilk"]
    assert milk_change[1][3:] == [f(ks["statistic"], 3), str(ks["df"]),
                                  p(ks["p"]) + ("*" if ks["p_is_lower_bound"] else ""),
                                  f(sw["statistic"], 3), str(sw["df"]), p(sw["p"])]  # fmt: skip
    bounded = [r for r in rows if r[5] == ".200*"]
    assert bounded, rows
    assert part.footnotes == ["*. This is a lower bound of the true significance.",
                              "a. Lilliefors Significance Correction"]  # fmt: skip


def test_every_table_is_numbered_in_order_and_the_chosen_ones_are_marked():
    document = two_group_pre_post()
    tables = built(document)
    assert [t.number for t in tables] == list(range(1, len(tables) + 1))
    assert [t.label for t in tables][:3] == ["Table 1", "Table 2", "Table 3"]
    titles = [t.title for t in tables]
    # Each outcome's tests of the row: both within (paired t, Wilcoxon) and both between.
    for name in ("Breast-milk volume", "Feeds"):
        for test in ("paired-samples t test", "Wilcoxon", "independent-samples t", "Mann–Whitney"):
            assert any(name in t and test in t for t in titles), (name, test)
    chosen = {(t.outcome, t.title) for t in tables if t.chosen}
    for name, outcome in document["outcomes"].items():
        marked = {title for key, title in chosen if key == name}
        assert marked, name
        assert len(marked) <= 2 + len(outcome.get("between", {}))
    # manuscript_table serves the same tables one at a time (CSV, xlsx).
    fmt = manuscript.Formatter(".")
    with translation.override("en"):
        assert manuscript.manuscript_table(document, fmt, 5).title == tables[4].title
        assert manuscript.manuscript_table(document, fmt, len(tables) + 1) is None


# ---------------------------------------------------------------------------
# Post-only, one group repeated, two groups repeated
# ---------------------------------------------------------------------------


def test_post_only_compares_the_arms_only():
    document = post_only()
    tables = built(document)
    titles = [t.title for t in tables]
    assert not any("within each arm" in t for t in titles)
    milk = document["outcomes"]["milk_ml"]
    mw = find(tables, "Breast-milk", "Mann")
    assert [c.text for c in mw.parts[1].header] == ["", "Post"]
    assert by_label(mw.parts[1])["Mann-Whitney U"] == [
        f(milk["between"]["post"]["mann_whitney"]["u"], 3)]
    assert find(tables, "Milk flows", "chi").parts[1].rows[-1][1].text == "14"
    normality = find(tables, "Tests of Normality")
    assert {row[2] for row in grid(normality.parts[0])} == {"Post"}


@pytest.mark.parametrize(("language", "sep"), [("en", "."), ("id", ",")])
def test_one_group_repeated_friedman(language, sep):
    document = one_group_repeated()
    score = document["outcomes"]["score"]
    table = find(built(document, language, sep), "Friedman")
    ranks, statistics = table.parts
    fr = score["within"]["all"]["friedman"]
    # One group: no arm column to leave empty.
    assert grid(ranks) == [[point, f(fr["mean_ranks"][point.lower()], 2, sep)]
                           for point in ("Day2", "Day4", "Day6")]  # fmt: skip
    assert [row[1] for row in grid(statistics)] == [
        "7", f(fr["chi_square"], 3, sep), "2", p(fr["p"], sep)]
    assert table.chosen


def test_two_group_repeated_friedman_per_arm_and_the_arms_at_each_time_point():
    document = two_group_repeated()
    score = document["outcomes"]["score"]
    tables = built(document)
    fr = find(tables, "Friedman")
    assert [c.text for c in fr.parts[1].header] == ["", "Pijat oksitosin", "Kontrol"]
    assert by_label(fr.parts[1])["Chi-Square"] == [
        f(score["within"][arm]["friedman"]["chi_square"], 3) for arm in ("intervention",
                                                                           "control")]  # fmt: skip
    mw = find(tables, "Mann")
    assert [c.text for c in mw.parts[1].header] == ["", "Day2", "Day4", "Day6"]
    assert by_label(mw.parts[1])["Z"] == [
        f(score["between"][point]["mann_whitney"]["z"], 3) for point in ("day2", "day4", "day6")]


# ---------------------------------------------------------------------------
# The paper's design keeps its tables
# ---------------------------------------------------------------------------


SECTION_7_KEYS = ("normality", "within", "between", "chosen")


def paper_document() -> dict:
    study = Study(code="PAPER", title="Paper", definition=paper_definition())
    data = cohort.Cohort(study=study, filters=cohort.CohortFilters(),
                         records=[dict(row) for row in PAPER_COHORT], n_withdrawn=0,
                         n_not_per_protocol=0)  # fmt: skip
    return cohort.results_document(data)


def test_the_papers_design_keeps_tables_1_to_4_and_adds_the_rest_after():
    document = paper_document()
    plain = dict(document, outcomes={
        name: {k: v for k, v in outcome.items() if k not in SECTION_7_KEYS}
        for name, outcome in document["outcomes"].items()
    })  # fmt: skip
    assert [t.number for t in built(plain)] == [1, 2, 3, 4]
    with_section7 = dict(document, outcomes={
        name: {**analyse("one_group_pre_post", "count", ["pre", "post"],
                         {"all": [[r[f"pre_{name}"], r[f"post_{name}"]] for r in PAPER_COHORT]}),
               **outcome}
        for name, outcome in document["outcomes"].items()
    })  # fmt: skip
    tables = built(with_section7)
    assert [t.heading for t in tables[:4]] == [t.heading for t in built(plain)]
    cells = [[c.plain() for row in part.rows for c in row] for t in tables[:4] for part in t.parts]
    assert cells == [
        [c.plain() for row in part.rows for c in row] for t in built(plain) for part in t.parts
    ]
    assert cells[4][cells[4].index("Z") + 1] == "-3.434b"  # the paper's Table 4, unchanged
    later = [t.title for t in tables[4:]]
    assert later[0] == "Tests of Normality"
    assert not any("Wilcoxon" in title for title in later)  # Table 4 is the Wilcoxon test
    assert any("paired-samples t test" in title for title in later)


# ---------------------------------------------------------------------------
# Conclusions
# ---------------------------------------------------------------------------


def test_conclusions_name_the_test_the_groups_the_direction_and_p():
    document = two_group_pre_post()
    fmt = manuscript.Formatter(".")
    milk = document["outcomes"]["milk_ml"]
    assert milk["chosen"]["between"] in ("mann_whitney", "independent_t")
    sentences = manuscript.outcome_conclusions(document, "milk_ml", fmt)
    within = milk["chosen"]["within"]
    assert len(sentences) == 2 + 3 + 1  # each arm, pre/post/change between the arms, the choice
    treated = sentences[0]
    assert treated.startswith("Breast-milk volume in the Pijat oksitosin arm rose significantly "
                              "from Pre to Post (")  # fmt: skip
    if within == "wilcoxon":
        w = milk["within"]["intervention"]["wilcoxon"]
        assert f"Z = {fmt.number(w['z'], 3)}, {fmt.p_in_prose(w['p_asymptotic'])}" in treated
        assert "Z = −" in treated  # the minus sign of a sentence, not the table's hyphen
    else:
        t = milk["within"]["intervention"]["paired_t"]
        assert f"t(7) = {fmt.number(t['t'], 3)}, {fmt.p_in_prose(t['p'])}" in treated
    at_post = sentences[3]
    assert at_post.startswith("At the Post measurement, Breast-milk volume was significantly "
                              "higher in Pijat oksitosin than in Kontrol (")  # fmt: skip
    at_pre = sentences[2]
    assert "did not differ significantly between Pijat oksitosin and Kontrol" in at_pre
    assert sentences[-1] == (
        f"Breast-milk volume: test chosen: {manuscript.TEST_NAMES[within]} and "
        f"{manuscript.TEST_NAMES[milk['chosen']['between']]}; why: "
        f"{milk['chosen']['reason_text']}."
    )


def test_conclusion_of_a_binary_outcome_and_fishers_exact_test():
    document = two_group_pre_post()
    fmt = manuscript.Formatter(".")
    sentences = manuscript.outcome_conclusions(document, "lancar", fmt)
    fisher = document["outcomes"]["lancar"]["chosen"]
    test = document["outcomes"]["lancar"]["between"]["post"]["chi_square"]
    assert fisher["between"] == "fisher_exact"
    expected_p = fmt.p_in_prose(test["fisher_exact"]["p_two_sided"])
    significant = test["fisher_exact"]["p_two_sided"] < 0.05
    assert not significant
    # Fisher's exact test has no statistic to name beside it.
    assert sentences[0] == (
        "At the Post measurement, the share of Milk flows smoothly did not differ significantly "
        f"between Pijat oksitosin (87.5%) and Kontrol (33.3%) (Fisher's exact test, {expected_p}, "
        "not below α = 0.05)."
    )


def test_conclusion_says_when_the_exact_p_disagrees_with_the_asymptotic_one():
    document = two_group_pre_post()
    milk = document["outcomes"]["milk_ml"]
    milk["chosen"] = {**milk["chosen"], "between": "mann_whitney"}
    test = milk["between"]["pre"]["mann_whitney"]
    test["p_asymptotic"], test["p_exact"] = 0.049, 0.062  # on either side of α
    sentence = manuscript.outcome_conclusions(document, "milk_ml", manuscript.Formatter("."))[2]
    # 16 mothers: the exact p is the one to report, and the sentence decides on it.
    assert "did not differ significantly" in sentence
    assert sentence.endswith("exact p = 0.062, not below α = 0.05). Report the exact p: with fewer "
                             "than 25 mothers the asymptotic p (p = 0.049) is only an "
                             "approximation, and it falls on the other side of α.")  # fmt: skip
    assert "But" not in sentence and "However" not in sentence
    with translation.override("id"):
        sentence = manuscript.outcome_conclusions(document, "milk_ml",
                                                  manuscript.Formatter(","))[2]  # fmt: skip
    assert "p eksak = 0,062" in sentence and "p = 0,049" in sentence
    assert "Laporkan p eksak" in sentence


def test_conclusion_of_repeated_designs_and_an_override():
    document = one_group_repeated()
    fmt = manuscript.Formatter(".")
    friedman_result = document["outcomes"]["score"]["within"]["all"]["friedman"]
    sentences = manuscript.outcome_conclusions(document, "score", fmt)
    assert sentences[0] == (
        f"Comfort score differed significantly between the time points (Friedman test, "
        f"χ²(2) = {f(friedman_result['chi_square'], 3)}, {fmt.p_in_prose(friedman_result['p'])}, "
        "below α = 0.05)."
    )
    document["outcomes"]["score"]["chosen"].update(overridden=True,
                                                   override_reason="Protocol said so.")  # fmt: skip
    assert manuscript.outcome_conclusions(document, "score", fmt)[-1] == (
        "Comfort score: the researcher chose the Friedman test; reason given: Protocol said so."
    )


# ---------------------------------------------------------------------------
# Charts that fit the design
# ---------------------------------------------------------------------------


def records_of(values: dict, name: str, points: list[str]) -> list[dict]:
    return [{"arm": arm, **{f"{p}_{name}": v for p, v in zip(points, row, strict=True)}}
            for arm, rows in values.items() for row in rows]  # fmt: skip


def test_charts_of_a_two_group_pre_post_outcome():
    document = two_group_pre_post()
    found = charts.design_charts(document, "milk_ml", records_of(MILK, "milk_ml", ["pre", "post"]))
    assert [chart.slug for chart in found] == ["chart-milk_ml-means", "chart-milk_ml-arms"]
    means, boxes = found
    assert means.svg.startswith("<svg") and 'role="img"' in means.svg and "style=" not in means.svg
    treated = document["outcomes"]["milk_ml"]["descriptives"]["intervention"]
    assert (f"Pijat oksitosin: means {f(treated['pre']['mean'], 2)}, "
            f"{f(treated['post']['mean'], 2)}") in means.description  # fmt: skip
    assert "Pijat oksitosin Post: median 54.0" in boxes.description
    assert "Kontrol" in means.svg and "Pijat oksitosin" in means.svg  # the legend names the arms
    assert charts.design_charts(document, "lancar", []) == []


def test_charts_of_post_only_and_repeated_designs():
    post = post_only()
    found = charts.design_charts(post, "milk_ml", records_of(
        {arm: [[row[1]] for row in rows] for arm, rows in MILK.items()}, "milk_ml", ["post"]))
    assert [chart.slug for chart in found] == ["chart-milk_ml-arms"]  # boxes by arm, no line
    repeated = one_group_repeated()
    found = charts.design_charts(repeated, "score",
                                 records_of(SCORES, "score", ["day2", "day4", "day6"]))  # fmt: skip
    assert found[0].slug == "chart-score-means"
    assert "Day2, Day4, Day6" in found[0].description


# ---------------------------------------------------------------------------
# The page over HTTP, for a LAKTASI-like two-group study
# ---------------------------------------------------------------------------


@pytest.fixture
def laktasi(make_laktasi, make_respondent, site_a, site_b, midwife_a, midwife_b):
    """Eight mothers: the intervention at Klinik A, the control at Klinik B (by site), with the
    milk volume and feeds before and after and "lancar" after."""
    import datetime

    from studies import services

    study = make_laktasi("by_site")
    rows = [("intervention", 20.0, 55.5, 5, 9, 1), ("intervention", 22.5, 50.0, 6, 10, 1),
            ("intervention", 25.0, 61.0, 7, 11, 1), ("intervention", 27.5, 30.0, 5, 6, 0),
            ("control", 21.0, 29.0, 5, 7, 0), ("control", 23.0, 30.5, 6, 7, 1),
            ("control", 25.5, 28.0, 7, 7, 0), ("control", 28.0, 36.0, 5, 6, 0)]  # fmt: skip
    for index, (arm, milk_pre, milk_post, feeds_pre, feeds_post, lancar) in enumerate(rows):
        treated = arm == "intervention"
        user = midwife_a if treated else midwife_b
        mother = make_respondent(f"L{index:02d}", study=study, site=site_a if treated else site_b,
                                 user=user)  # fmt: skip
        services.record_observation(respondent=mother, timepoint="pre", user=user,
                                    observed_on=datetime.date(2026, 6, 3),
                                    values={"milk_ml": milk_pre, "feeds": feeds_pre})  # fmt: skip
        services.record_observation(respondent=mother, timepoint="post", user=user,
                                    observed_on=datetime.date(2026, 6, 6),
                                    values={"milk_ml": milk_post, "feeds": feeds_post,
                                            "lancar": lancar})  # fmt: skip
    return study


def page_text(response) -> str:
    import html
    import re

    text = re.sub(r"<[^>]+>", " ", response.content.decode())
    return html.unescape(re.sub(r"\s+", " ", text)).strip()


@pytest.mark.parametrize(("client_fixture", "sep"), [("client", "."), ("client_id", ",")])
def test_the_results_page_of_a_two_group_study(
    request, laktasi, researcher, client_fixture, sep
):
    from django.urls import reverse

    client = request.getfixturevalue(client_fixture)
    client.force_login(researcher)
    response = client.get(reverse("studies:results", args=[laktasi.code]))
    assert response.status_code == 200
    document = response.context["document"]
    html = response.content.decode()
    text = page_text(response)
    language = "en" if client_fixture == "client" else "id"
    with translation.override(language):
        tables = manuscript.tables(document, manuscript.Formatter(sep))
        # Every table of the design is on the page under its number, the chosen ones marked.
        for table in tables:
            assert f'id="table-{table.number}"' in html
            assert f"{table.label}. {table.title}" in text
        for title in ("Mann", "t test between", "Wilcoxon", "paired-samples"):
            assert any(title in t.title for t in tables) or language == "id"
        assert html.count("data-chosen=") == sum(t.chosen for t in tables) > 0
        assert translation.gettext("Chosen test") in text
        # The conclusion and the charts.
        for name in document["outcomes"]:
            for sentence in manuscript.outcome_conclusions(document, name,
                                                           manuscript.Formatter(sep)):  # fmt: skip
                assert sentence in text
    assert 'id="chart-milk_ml-means-text"' in html and 'id="chart-feeds-arms-text"' in html
    milk = document["outcomes"]["milk_ml"]["between"]["post"]["mann_whitney"]
    # By hand: only the treated mother at 30.0 ml is below two control mothers (30.5, 36.0).
    assert f(milk["u"], 3, sep) == f(2.0, 3, sep)
    assert f">{f(milk['u'], 3, sep)}<" in html.replace("</td>", "<")
    # The per-table downloads follow the numbering.
    last = tables[-1]
    response = client.get(reverse("studies:results_table_csv", args=[laktasi.code, last.number]))
    assert response.status_code == 200
    assert last.title in response.content.decode("utf-8-sig")
    missing = client.get(reverse("studies:results_table_csv",
                                 args=[laktasi.code, last.number + 1]))  # fmt: skip
    assert missing.status_code == 404


def test_analyze_prints_the_same_tables_and_the_conclusion(laktasi):
    import io

    from django.core.management import call_command

    out = io.StringIO()
    call_command("analyze", laktasi.code, stdout=out, no_color=True)
    text = out.getvalue()
    with translation.override("en"):
        document = cohort.results_document(cohort.load_cohort(laktasi))
        tables = manuscript.tables(document, manuscript.Formatter("."))
        for table in tables:
            assert manuscript.table_text(table) in text
        assert text.count("(the test chosen for this comparison)") == sum(t.chosen for t in tables)
        for sentence in manuscript.conclusions(document, manuscript.Formatter(".")):
            assert f"  {sentence}" in text


def test_tables_docx_numbers_every_table_of_the_design(client_id, laktasi, researcher):
    import io

    import docx
    from django.urls import reverse

    client_id.force_login(researcher)
    response = client_id.get(reverse("studies:results_tables_docx", args=[laktasi.code]))
    assert response.status_code == 200
    word = docx.Document(io.BytesIO(b"".join(response.streaming_content)))
    captions = [p.text for p in word.paragraphs if p.style.name == "Caption"]
    with translation.override("id"):
        document = cohort.results_document(cohort.load_cohort(laktasi))
        tables = manuscript.tables(document, manuscript.Formatter(","))
        sentences = manuscript.conclusions(document, manuscript.Formatter(","))
    assert captions == [f"Tabel 4.{index} {t.title}" for index, t in enumerate(tables, start=1)]
    assert len(tables) >= 10  # Table 1, descriptives, normality and every test of the row
    body = [p.text for p in word.paragraphs]
    for sentence in sentences:
        assert sentence in body


def test_the_results_page_offers_the_choice_per_outcome(client, laktasi, researcher):
    """The page itself carries the override form of every outcome, the chosen test under the
    outcome's name, and the binary outcome's crosstab by its categories' labels."""
    client.force_login(researcher)
    services.override_test_choice(
        study=laktasi, outcome="milk_ml", comparison="between", test="independent_t",
        reason="Planned in the protocol", user=researcher,
    )  # fmt: skip
    page = client.get(reverse("studies:results", args=[laktasi.code])).content.decode()
    for name in ("milk_ml", "feeds", "lancar"):
        assert f'id="choice-{name}"' in page
    action = reverse("studies:results_test_choice", args=[laktasi.code])
    assert page.count(f'action="{action}"') == 3
    assert 'data-chosen-between="independent_t"' in page
    assert "Chosen by the researcher" in page
    assert "Crosstabulation" in page and "Smooth" in page


def test_two_group_columns_give_the_document_of_the_records(laktasi, make_respondent, site_b,
                                                            midwife_b):  # fmt: skip
    """The two-group cohort read as columns (milk volume a float64 masked array, a mother
    without her post-test sheet masked there) gives the document of the same mothers as
    records."""
    import datetime

    import numpy as np

    from studies import services

    late = make_respondent("L99", study=laktasi, site=site_b, user=midwife_b)
    services.record_observation(respondent=late, timepoint="pre", user=midwife_b,
                                observed_on=datetime.date(2026, 6, 3),
                                values={"milk_ml": 24.5, "feeds": 6})  # fmt: skip
    data = cohort.load_cohort(laktasi)
    milk = data.columns["post_milk_ml"]
    assert milk.dtype == np.float64 and int(np.ma.count_masked(milk)) == 1
    records = [dict(r) for r in data.records]
    by_records = cohort.Cohort(laktasi, data.filters, records, data.n_withdrawn,
                               data.n_not_per_protocol, data.progress)  # fmt: skip
    with translation.override("en"):
        document = cohort.results_document(data)
        assert document == cohort.results_document(by_records)
        # The page's box charts, drawn from the columns, are those of the records.
        from_columns = charts.design_charts(document, "milk_ml", data.columns)
        assert [c.description for c in from_columns] == [
            c.description for c in charts.design_charts(document, "milk_ml", records)
        ]
        assert "n = 4" in from_columns[-1].description


def test_the_document_does_not_depend_on_the_order_the_mothers_come_in(laktasi):
    """The cohort is read in no particular order: every figure (numpy's sums of decimals
    included, to the last bit) must be the same whatever order the mothers come in."""
    import random

    rng = random.Random(7)
    records = [
        {"code": f"M{index:04d}", "arm": rng.choice(["intervention", "control"]),
         "site": "Klinik A", "status": "enrolled", "age_years": rng.randint(18, 40),
         "parity": rng.randint(1, 4), "education": rng.choice(["basic", "secondary", "higher"]),
         "employment": rng.choice(["working", "not_working"]), "sessions_planned": 0,
         "sessions_done": 0,
         "pre_milk_ml": round(rng.uniform(5, 60), 1), "post_milk_ml": round(rng.uniform(5, 90), 1),
         "pre_feeds": rng.randint(2, 14), "post_feeds": rng.randint(2, 16),
         "post_lancar": rng.randint(0, 1)}
        for index in range(600)
    ]  # fmt: skip
    shuffled = records[:]
    rng.shuffle(shuffled)
    filters = cohort.CohortFilters()
    with translation.override("en"):
        first = cohort.results_document(cohort.Cohort(laktasi, filters, records))
        second = cohort.results_document(cohort.Cohort(laktasi, filters, shuffled))
    assert first == second
    assert first["outcomes"]["milk_ml"]["between"]["post"]["independent_t"]["levene_f"]
