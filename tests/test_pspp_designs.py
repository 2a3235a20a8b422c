"""GNU PSPP runs the downloaded cohort.csv with the downloaded cohort.sps for three designs, and
every number it prints of the design's tests equals results.json at PSPP's printed decimals
(issue 15, items 4 and 5): the paper's one group before/after, two groups before/after (ties,
zero differences, missing values, unequal arms, a withdrawn mother, a yes/no outcome with small
cells) and one group over three time points. The cohorts are written through the importer (the
services' rules). PSPP's known defects are left out, as in tests/test_pspp_between.py and
tests/test_pspp_within.py: no exact Mann-Whitney p, Fisher's two-sided p, Shapiro-Wilk below 6
values. Skips without PSPP unless LANCAR_REQUIRE_PSPP (CI) is set."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from django.urls import reverse

from studies import exchange, services
from studies.analysis import format_spss
from studies.paper_cohort import PAPER_COHORT

from .conftest import laktasi_definition

PSPP = shutil.which("pspp") or "/usr/bin/pspp"
SITES = ["Klinik A", "Klinik B"]
COMPARED: Counter[str] = Counter()


@pytest.fixture
def pspp():
    if not Path(PSPP).exists():
        if os.environ.get("LANCAR_REQUIRE_PSPP"):
            pytest.fail(f"{PSPP} is missing: apt-get install pspp")
        pytest.skip("GNU PSPP is not installed (apt-get install pspp)")
    return PSPP


@pytest.fixture(scope="module", autouse=True)
def report_counts():
    yield
    if COMPARED:
        print(f"\nnumbers compared with PSPP: {dict(COMPARED)}, total {sum(COMPARED.values())}")


def mother(code: str, index: int, **values) -> dict:
    return {
        "respondent_code": code,
        "site": SITES[index % 2],
        "delivery_date": "2026-06-01",
        "enrolled_on": "2026-06-03",
        "age_years": 18 + (index * 7) % 22,
        "parity": 1 + index % 3,
        "education": ("basic", "secondary", "higher")[index % 3],
        "employment": ("working", "not_working")[index % 2],
        "status": "completed",
        **values,
    }


def import_study(code: str, definition: dict, rows: list[dict], user):
    study = services.create_study(code=code, title=code, site_names=SITES, definition=definition)
    header = list(exchange.cohort_columns(study.protocol))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([row.get(column, "") for column in header])
    report = exchange.import_cohort(study=study, data=out.getvalue().encode(), user=user)
    assert report.ok, [str(error) for error in report.errors]
    return study


def run_pspp(pspp, client, study, folder: Path) -> tuple[list[tuple[str, list]], dict]:
    """Download cohort.csv and cohort.sps over HTTP, run PSPP next to them, and return its
    tables as (title, rows) in output order, with the results document."""
    export = client.get(reverse("studies:export_csv", args=[study.code, "cohort"]))
    assert export.status_code == 200
    name = re.search(r'filename="([^"]+)"', export["Content-Disposition"])[1]
    (folder / name).write_bytes(b"".join(export.streaming_content))
    syntax = client.get(reverse("studies:export_spss", args=[study.code]))
    assert syntax.status_code == 200
    # Six decimals for every statistic, as tests/test_pspp_within.py: more digits compared.
    (folder / "cohort.sps").write_bytes(b"SET FORMAT=F12.6.\n" + syntax.content)
    done = subprocess.run(
        [pspp, "-O", "format=csv", "-o", "out.csv", "cohort.sps"],
        cwd=folder, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    rows = list(csv.reader((folder / "out.csv").read_text().splitlines()))
    assert not any(row and row[0].startswith(("error", "warning")) for row in rows), [
        row for row in rows if row and row[0].startswith(("error", "warning"))
    ]
    tables, current = [], None
    for row in rows:
        if row and row[0].startswith("Table: "):
            current = (row[0][len("Table: ") :], [])
            tables.append(current)
        elif not row:
            current = None
        elif current is not None:
            current[1].append(row)
    response = client.get(reverse("studies:results_json", args=[study.code]))
    assert response.status_code == 200
    return tables, json.loads(response.content)


def named(tables, title: str) -> list[list[list[str]]]:
    return [rows for found, rows in tables if found == title]


def same(kind: str, printed: str, value) -> None:
    """PSPP's printed figure equals Lancar's unrounded one at PSPP's decimals."""
    printed = printed.strip()
    decimals = len(printed.split(".")[1]) if "." in printed else 0
    assert value is not None, f"{kind}: PSPP prints {printed!r} where Lancar has None"
    ours = format_spss(value, decimals)
    # PSPP writes 0 < |x| < 1 with a leading zero in SET FORMAT=F12.6 output ("0.123456").
    assert ours == printed or ours == printed.replace("0.", ".", 1), (kind, printed, value)
    COMPARED[kind] += 1


def check_wilcoxon(rows, statistics, wilcoxon) -> None:
    """SPSS's Ranks table (negative, positive, ties, total) and Test Statistics (Z, p). PSPP
    1.6 labels the pair "first - second" and ranks first minus second, where SPSS (and Lancar,
    DESIGN §5) rank second minus first: its negative row is Lancar's positive row. An empty
    row's mean rank is NaN in PSPP, .00 in SPSS: not compared."""
    rows_by_label = {next(c for c in r if c.endswith(("Ranks", "Ties", "Total"))): r for r in rows}
    for key, label in (("negative_ranks", "Positive Ranks"), ("positive_ranks", "Negative Ranks")):
        row = rows_by_label[label]
        at = row.index(label)
        same("wilcoxon N", row[at + 1], wilcoxon[key]["n"])
        if wilcoxon[key]["n"]:
            same("wilcoxon mean rank", row[at + 2], wilcoxon[key]["mean_rank"])
            same("wilcoxon sum of ranks", row[at + 3], wilcoxon[key]["sum_of_ranks"])
    for label, key in (("Ties", "ties"), ("Total", "total")):
        row = rows_by_label[label]
        same(f"wilcoxon {key}", row[row.index(label) + 1], wilcoxon[key])
    z = next(r for r in statistics if r[0] == "Z")
    p = next(r for r in statistics if r[0].startswith("Asymp. Sig."))
    same("wilcoxon z", z[1], wilcoxon["z"])
    same("wilcoxon p", p[1], wilcoxon["p_asymptotic"])


def check_paired_t(rows, paired) -> None:
    """Paired Samples Test: mean, SD, SE, CI, t, df, p of last - first."""
    row = rows[-1]
    numbers = [cell for cell in row if re.fullmatch(r"-?\d*\.?\d+", cell.strip() or "x")]
    mean, sd, se, low, high, t, df, p = numbers[-8:]
    same("paired t mean", mean, paired["mean_difference"])
    same("paired t sd", sd, paired["sd"])
    same("paired t se", se, paired["se"])
    same("paired t ci", low, paired["ci_lower"])
    same("paired t ci", high, paired["ci_upper"])
    same("paired t t", t, paired["t"])
    same("paired t df", df, paired["df"])
    same("paired t p", p, paired["p"])


def numbers_of(row: list[str]) -> list[str]:
    return [cell for cell in row if re.fullmatch(r"-?\d*\.?\d+", cell.strip() or "x")]


def test_the_paper_design(pspp, client, study, make_respondent, data_manager, tmp_path) -> None:
    rows = []
    for index, row in enumerate(PAPER_COHORT[:12]):
        rows.append(
            mother(
                row["respondent_code"], index, pre_feeds=row["pre_feeds"],
                pre_urinations=row["pre_urinations"], post_feeds=row["post_feeds"],
                post_urinations="" if index == 3 else row["post_urinations"],
                sessions_completed=6,
            )
        )  # fmt: skip
    paper = import_study("PAPER2", {**study.definition, "code": "PAPER2"}, rows, data_manager)
    client.force_login(data_manager)
    tables, document = run_pspp(pspp, client, paper, tmp_path)
    ranks, statistics = named(tables, "Ranks"), named(tables, "Test Statistics")
    paired = named(tables, "Paired Samples Test")
    assert len(ranks) == len(statistics) == len(paired) == 2
    for index, name in enumerate(("feeds", "urinations")):
        outcome = document["outcomes"][name]
        within = outcome["within"]["all"]
        assert within["wilcoxon"] == outcome["wilcoxon"]  # the §4.5 key and the §7 key agree
        check_wilcoxon(ranks[index], statistics[index], within["wilcoxon"])
        check_paired_t(paired[index], within["paired_t"])
    assert document["outcomes"]["urinations"]["n_missing"] == 1
    normality = named(tables, "Tests of Normality")
    assert len(normality) == 2
    for index, name in enumerate(("feeds", "urinations")):
        shapiro = document["outcomes"][name]["normality"]["all"]["change"]["shapiro_wilk"]
        statistic, df, p = numbers_of(normality[index][-1])[-3:]
        same("shapiro-wilk W", statistic, shapiro["statistic"])
        same("shapiro-wilk df", df, shapiro["df"])
        same("shapiro-wilk p", p, shapiro["p"])


def two_group_rows() -> list[dict]:
    """Nine intervention and seven control mothers (one withdrawn, two with a value missing):
    tied volumes, a zero change in each arm, "lancar" yes/no before and after with small
    cells."""
    intervention = [
        (300.0, 420.0, 5, 9, 0, 1),
        (310.0, 410.5, 6, 9, 0, 1),
        (280.0, 380.0, 5, 8, 0, 1),
        (300.0, 300.0, 7, 7, 1, 1),
        (295.0, 450.0, 4, 11, 0, 1),
        (320.0, None, 6, 10, 0, 1),
        (305.0, 415.0, 5, 9, 0, 0),
        (290.0, 390.0, 6, 12, 1, 1),
        (310.0, 410.5, 5, 9, 0, 1),
    ]
    control = [
        (300.0, 310.0, 5, 6, 0, 0), (305.0, 300.0, 6, 6, 0, 1), (None, 330.0, 5, 7, 0, 0),
        (290.0, 290.0, 6, 5, 1, 0), (310.0, 320.0, 5, 6, 0, 0), (298.0, 305.0, 7, 8, 0, 1),
        (302.0, 318.0, 4, 6, 1, 1),
    ]  # fmt: skip
    rows = []
    for arm, values in (("intervention", intervention), ("control", control)):
        for pre_ml, post_ml, pre_feeds, post_feeds, pre_lancar, post_lancar in values:
            index = len(rows)
            rows.append(
                mother(
                    f"L{index:02d}", index, arm=arm, pre_milk_ml=pre_ml or "",
                    post_milk_ml=post_ml or "", pre_feeds=pre_feeds, post_feeds=post_feeds,
                    pre_lancar=pre_lancar, post_lancar=post_lancar,
                    sessions_completed=6 if arm == "intervention" else "",
                )
            )  # fmt: skip
    rows.append(
        mother("L99", 3, arm="control", status="withdrawn", withdrawal_reason="Pindah",
               pre_milk_ml=100.0, pre_feeds=2, pre_lancar=0)
    )  # fmt: skip
    return rows


def test_two_groups_before_and_after(pspp, client, make_laktasi, data_manager, tmp_path) -> None:
    definition = laktasi_definition("chosen")
    definition["outcomes"][2]["timepoints"] = ["pre", "post"]
    study = import_study("DUA", definition, two_group_rows(), data_manager)
    client.force_login(data_manager)
    tables, document = run_pspp(pspp, client, study, tmp_path)
    arms = ("intervention", "control")
    numeric = ("milk_ml", "feeds")
    outcomes = document["outcomes"]
    assert outcomes["milk_ml"]["n_missing"] == 2 and outcomes["feeds"]["n_missing"] == 0

    # Tests of Normality by arm (EXAMINE ... BY arm_n): before, after, change per outcome.
    by_arm = [rows for rows in named(tables, "Tests of Normality") if rows[0][1] == "arm"]
    assert len(by_arm) == 2
    for rows, name in zip(by_arm, numeric, strict=True):
        data = rows[2:]
        expected = [(key, arm) for key in ("pre", "post", "change") for arm in arms]
        assert len(data) == len(expected)
        for row, (key, arm) in zip(data, expected, strict=True):
            shapiro = outcomes[name]["normality"][arm][key]["shapiro_wilk"]
            statistic, df, p = row[2:5]
            same("shapiro-wilk df", df, shapiro["df"])
            if shapiro["df"] >= 6:  # PSPP 1.6's Shapiro-Wilk is wrong below 6 values
                same("shapiro-wilk W", statistic, shapiro["statistic"])
                same("shapiro-wilk p", p, shapiro["p"])

    # Within each arm: Wilcoxon (SPLIT FILE by arm) and the paired t, in the arms' order.
    paired_ranks = [
        (index, rows)
        for index, (title, rows) in enumerate(tables)
        if title == "Ranks" and " - " in rows[1][0]
    ]
    assert len(paired_ranks) == 4
    paired_t_tables = named(tables, "Paired Samples Test")
    within = [(name, arm) for name in numeric for arm in arms]
    for (index, rows), t_rows, (name, arm) in zip(
        paired_ranks, paired_t_tables, within, strict=True
    ):
        statistics = tables[index + 1][1]
        check_wilcoxon(rows, statistics, outcomes[name]["within"][arm]["wilcoxon"])
        check_paired_t(t_rows, outcomes[name]["within"][arm]["paired_t"])

    # Between the arms: T-TEST GROUPS and M-W at baseline, at the post-test and on the change.
    between = [(name, key) for name in numeric for key in ("pre", "post", "change")]
    independent = named(tables, "Independent Samples Test")
    mann_whitney = [
        rows for rows in named(tables, "Test Statistics") if rows[0][1:2] == ["Mann-Whitney U"]
    ]
    assert len(independent) == len(mann_whitney) == len(between)
    for t_rows, mw_rows, (name, key) in zip(independent, mann_whitney, between, strict=True):
        t_test = outcomes[name]["between"][key]["independent_t"]
        equal, unequal = t_rows[3], t_rows[4]
        same("levene F", equal[2], t_test["levene_f"])
        same("levene p", equal[3], t_test["levene_p"])
        for row, which in ((equal, "equal_variances"), (unequal, "unequal_variances")):
            figures = t_test[which]
            for printed, field in zip(
                row[4:11],
                ("t", "df", "p", "mean_difference", "se_difference", "ci_lower", "ci_upper"),
                strict=True,
            ):
                same(f"independent t {field}", printed, figures[field])
        test = outcomes[name]["between"][key]["mann_whitney"]
        u, w, z, p = mw_rows[1][1:5]
        same("mann-whitney U", u, test["u"])
        same("mann-whitney W", w, test["w"])
        same("mann-whitney Z", z, test["z"])
        same("mann-whitney p", p, test["p_asymptotic"])

    # The yes/no outcome: McNemar per arm, chi-square between arms at each time point.
    mcnemar = [
        rows for rows in named(tables, "Test Statistics") if "Exact Sig. (2-tailed)" in rows[0]
    ]
    assert len(mcnemar) == 2
    for rows, arm in zip(mcnemar, arms, strict=True):
        test = outcomes["lancar"]["within"][arm]["mcnemar"]
        same("mcnemar N", rows[1][1], test["n"])
        same("mcnemar p", rows[1][2], test["p_exact"])
    chi_square_tables = named(tables, "Chi-Square Tests")
    characteristics = ("age_group", "parity", "education", "employment")
    assert len(chi_square_tables) == len(characteristics) + 2
    expected_tests = [document["characteristics_by_arm"][c]["test"] for c in characteristics]
    expected_tests += [outcomes["lancar"]["between"][key]["chi_square"] for key in ("pre", "post")]
    for rows, test in zip(chi_square_tables, expected_tests, strict=True):
        check_chi_square(rows, test)
    assert outcomes["lancar"]["chosen"]["between"] == "fisher_exact"


def check_chi_square(rows, test) -> None:
    """PSPP's Chi-Square Tests against the document's chi_square. PSPP 1.6's two-sided Fisher
    p is defective (tests/test_pspp_between.py): only the one-sided one is compared."""
    by_name = {row[0]: row for row in rows[1:]}
    for label, key in (
        ("Pearson Chi-Square", "pearson"),
        ("Likelihood Ratio", "likelihood_ratio"),
        ("Continuity Correction", "continuity_correction"),
        ("Linear-by-Linear Association", "linear_by_linear"),
    ):
        if label not in by_name:
            assert test[key] is None or key == "linear_by_linear", label
            continue
        value, df, p = by_name[label][1:4]
        same(f"chi-square {key}", value, test[key]["value"])
        same(f"chi-square {key} df", df, test[key]["df"])
        same(f"chi-square {key} p", p, test[key]["p"])
    if "Fisher's Exact Test" in by_name:
        same(
            "fisher one-sided p",
            by_name["Fisher's Exact Test"][5],
            test["fisher_exact"]["p_one_sided"],
        )
    same("chi-square N", by_name["N of Valid Cases"][1], test["n_valid"])


REPEATED = {
    "design": "one_group_repeated",
    "alpha": 0.05,
    "arms": [],
    "allocation": "chosen",
    "sessions": {
        "all": {"first_day": 2, "days": 3, "per_day": 2, "minutes": [15, 20],
                "label": {"id": "Pijat", "en": "Massage"}},
    },
    "timepoints": [
        {"key": "pre", "day": 2, "label": {"id": "Sebelum", "en": "Before"}},
        {"key": "mid", "day": 4, "label": {"id": "Tengah", "en": "Midway"}},
        {"key": "post", "day": 5, "label": {"id": "Sesudah", "en": "After"}},
    ],
    "outcomes": [
        {"key": "score", "label": {"id": "Skor", "en": "Score"}, "type": "score",
         "min": 0, "max": 10, "decimals": 1},
        {"key": "flow", "label": {"id": "Aliran ASI", "en": "Milk flow"}, "type": "ordinal",
         "categories": [{"value": v, "label": {"id": str(v), "en": str(v)}} for v in (1, 2, 3)]},
        {"key": "lancar", "label": {"id": "ASI lancar", "en": "Smooth"}, "type": "binary",
         "categories": [{"value": 0, "label": {"id": "Tidak", "en": "No"}},
                        {"value": 1, "label": {"id": "Ya", "en": "Yes"}}]},
    ],
}  # fmt: skip
# pre, mid, post of each outcome per mother: ties within rows, a missing value in two rows.
REPEATED_ROWS = [
    ((2.0, 3.5, 3.5), (1, 2, 3), (0, 1, 1)), ((1.5, 1.5, 4.0), (1, 1, 2), (0, 0, 1)),
    ((3.0, 4.0, 5.5), (2, 2, 3), (0, 1, 1)), ((2.5, 2.0, 3.0), (2, 3, 3), (1, 1, 1)),
    ((1.0, 3.0, 2.0), (1, 3, 2), (0, 0, 0)), ((2.0, None, 4.5), (1, 2, None), (0, 1, 0)),
    ((4.0, 4.0, 4.0), (3, 3, 3), (1, 0, 1)), ((0.5, 2.5, 6.0), (1, 2, 3), (0, 1, 1)),
    ((3.5, 5.0, 4.5), (2, 3, 3), (0, 0, 1)), ((2.0, 3.0, 3.0), (2, 2, 2), (1, 1, 1)),
]  # fmt: skip


def test_one_group_over_three_time_points(pspp, client, study, data_manager, tmp_path) -> None:
    rows = []
    for index, values in enumerate(REPEATED_ROWS):
        cells = {}
        for key, triple in zip(("score", "flow", "lancar"), values, strict=True):
            for point, value in zip(("pre", "mid", "post"), triple, strict=True):
                cells[f"{point}_{key}"] = "" if value is None else value
        rows.append(mother(f"U{index:02d}", index, sessions_completed=6, **cells))
    repeated = import_study("ULANG", REPEATED, rows, data_manager)
    client.force_login(data_manager)
    tables, document = run_pspp(pspp, client, repeated, tmp_path)
    outcomes = document["outcomes"]
    assert [outcomes[k]["n_missing"] for k in ("score", "flow", "lancar")] == [1, 1, 0]
    statistics = named(tables, "Test Statistics")
    friedman_rows = [rows for rows in statistics if rows[1][0] == "Chi-Square"]
    friedman_ranks = named(tables, "Ranks")
    assert len(friedman_rows) == len(friedman_ranks) == 2
    for rows, ranks, name in zip(friedman_rows, friedman_ranks, ("score", "flow"), strict=True):
        test = outcomes[name]["within"]["all"]["friedman"]
        by_label = {row[0]: row[1] for row in rows}
        same("friedman N", by_label["N"], test["n"])
        same("friedman chi-square", by_label["Chi-Square"], test["chi_square"])
        same("friedman df", by_label["df"], test["df"])
        same("friedman p", by_label["Asymp. Sig."], test["p"])
        for row, point in zip(ranks[1:], ("pre", "mid", "post"), strict=True):
            same("friedman mean rank", row[1], test["mean_ranks"][point])
    (cochran,) = [rows for rows in statistics if rows[2][0] == "Cochran's Q"]
    test = outcomes["lancar"]["within"]["all"]["cochran_q"]
    by_label = {row[0]: row[1] for row in cochran[1:]}
    same("cochran N", by_label["N"], test["n"])
    same("cochran Q", by_label["Cochran's Q"], test["q"])
    same("cochran df", by_label["df"], test["df"])
    same("cochran p", by_label["Asymp. Sig."], test["p"])
    assert outcomes["score"]["chosen"]["within"] == "friedman"
    assert outcomes["lancar"]["chosen"]["within"] == "cochran_q"
