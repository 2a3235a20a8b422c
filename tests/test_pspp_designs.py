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
