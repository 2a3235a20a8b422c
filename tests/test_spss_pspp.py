"""The SPSS syntax (``cohort.sps``) run by GNU PSPP on the cohort export reproduces the results
page number by number (issue 13 items 12 and 13). PSPP reads syntax as SPSS does; CI installs
it (.ci/run) and sets LANCAR_REQUIRE_PSPP, so there a missing PSPP fails instead of skipping."""

from __future__ import annotations

import csv
import datetime
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.urls import reverse

from studies import services
from studies.analysis import format_p, format_spss
from studies.models import Respondent
from studies.paper_cohort import PAPER_COHORT

PSPP = shutil.which("pspp") or "/usr/bin/pspp"


@pytest.fixture
def pspp():
    if not Path(PSPP).exists():
        if os.environ.get("LANCAR_REQUIRE_PSPP"):
            pytest.fail(f"{PSPP} is missing: apt-get install pspp")
        pytest.skip("GNU PSPP is not installed (apt-get install pspp)")
    return PSPP


def downloaded_name(response) -> str:
    """The file name a browser saves a download under (the .sps reads the CSV by that name)."""
    return re.search(r'filename="([^"]+)"', response["Content-Disposition"])[1]


def sheet(respondent, phase, user, feeds, urinations, day):
    services.record_observation(
        respondent=respondent,
        timepoint=phase,
        user=user,
        observed_on=respondent.delivery_date + datetime.timedelta(days=day),
        values={"feeds": feeds, "urinations": urinations},
    )


@pytest.fixture
def cohort_with_gaps(study, make_respondent, midwife_a):
    """Ten of the paper's mothers, one without her post-test urinations, one without a
    post-test sheet and one withdrawn: feeds are analysed over 11 mothers, urinations over 10,
    while every value of each variable would give 12 and 13."""
    for row in PAPER_COHORT[:10]:
        mother = make_respondent(row["respondent_code"], age_years=row["age_years"])
        sheet(mother, "pre", midwife_a, row["pre_feeds"], row["pre_urinations"], 2)
        sheet(
            mother, "post", midwife_a, row["post_feeds"], row["post_urinations"], 5
        )
    m01 = make_respondent("M01")
    sheet(m01, "pre", midwife_a, 5, 4, 2)
    sheet(m01, "post", midwife_a, 9, None, 5)
    m02 = make_respondent("M02")
    sheet(m02, "pre", midwife_a, 7, 6, 2)
    gone = make_respondent("W01")
    sheet(gone, "pre", midwife_a, 4, 4, 2)
    services.withdraw_respondent(
        respondent=gone, user=midwife_a, reason="Moved away", on=datetime.date(2026, 6, 4)
    )
    return study


def run_pspp(pspp, client, study, folder: Path) -> list[list[str]]:
    """Download the cohort CSV and the .sps as the data manager would, run the syntax with
    PSPP next to the CSV, and return PSPP's output as CSV rows."""
    export = client.get(reverse("studies:export_csv", args=[study.code, "cohort"]))
    assert export.status_code == 200
    (folder / downloaded_name(export)).write_bytes(b"".join(export.streaming_content))
    syntax = client.get(reverse("studies:export_spss", args=[study.code]))
    assert syntax.status_code == 200
    (folder / "cohort.sps").write_bytes(syntax.content)
    done = subprocess.run(
        [pspp, "-O", "format=csv", "-o", "out.csv", "cohort.sps"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return list(csv.reader((folder / "out.csv").read_text().splitlines()))


def tables(rows: list[list[str]], title: str) -> list[list[list[str]]]:
    """Every table of PSPP's CSV output whose title line is ``Table: <title>``."""
    found, current = [], None
    for row in rows:
        if row and row[0].startswith("Table: "):
            current = [] if row[0] == f"Table: {title}" else None
            if current is not None:
                found.append(current)
        elif not row:
            current = None
        elif current is not None:
            current.append(row)
    return found


def number(text: str) -> float:
    return float(text.replace(",", "."))


def test_the_sps_reproduces_the_results_page(
    pspp, client, cohort_with_gaps, data_manager, tmp_path
):
    """Issue 13 item 12: SPSS's tables speak of the same mothers as the page (N 11, not 12),
    compared number by number at the precision PSPP prints."""
    client.force_login(data_manager)
    output = run_pspp(pspp, client, cohort_with_gaps, tmp_path)
    document = json.loads(client.get(reverse("studies:results_json", args=["PIJAT"])).content)
    descriptives = tables(output, "Descriptive Statistics")
    statistics = tables(output, "Test Statistics")
    assert len(descriptives) == len(statistics) == 2
    for index, name in enumerate(("feeds", "urinations")):
        outcome = document["outcomes"][name]
        rows = descriptives[index]
        for row, phase in zip(rows[1:3], ("pre", "post"), strict=True):
            expected = outcome[phase]
            assert int(row[1]) == expected["n"] == outcome["wilcoxon"]["total"]
            assert number(row[2]) == pytest.approx(expected["mean"], abs=0.005)
            assert number(row[3]) == pytest.approx(expected["sd"], abs=0.005)
            assert (number(row[4]), number(row[5])) == (expected["min"], expected["max"])
        z_row, p_row = statistics[index][1], statistics[index][2]
        assert z_row[0] == "Z" and p_row[0].startswith("Asymp. Sig.")
        assert number(z_row[1]) == pytest.approx(outcome["wilcoxon"]["z"], abs=0.005)
        assert p_row[1] == format_p(outcome["wilcoxon"]["p_asymptotic"])
    # The page's own N: 11 feeds pairs and 10 urinations pairs, the withdrawn mother out.
    assert [document["outcomes"][n]["pre"]["n"] for n in ("feeds", "urinations")] == [11, 10]
    assert format_spss(document["outcomes"]["feeds"]["pre"]["mean"], 2) == "5.36"
    assert Respondent.objects.filter(status=Respondent.Status.WITHDRAWN).count() == 1


def test_the_sps_reads_a_withdrawal_reason_of_2000_characters_whole(
    pspp, client, study, make_respondent, midwife_a, data_manager, tmp_path
):
    """Issue 13 item 13: text columns are declared as wide as the model allows (2,000
    characters, in UTF-8 bytes), so PSPP keeps the whole reason, accents included."""
    reason = ("Pindah ke rumah orang tua di Sukabumi é " * 60)[:1999] + "."
    gone = make_respondent("W01")
    services.withdraw_respondent(
        respondent=gone, user=midwife_a, reason=reason, on=datetime.date(2026, 6, 4)
    )
    client.force_login(data_manager)
    syntax = client.get(reverse("studies:export_spss", args=[study.code])).content.decode()
    listing = "EXECUTE.\nLIST withdrawal_reason.\n\nFREQUENCIES"
    syntax = syntax.replace("EXECUTE.\n\nFREQUENCIES", listing, 1)
    syntax = syntax.replace("SELECT IF (status <> 'withdrawn').", "")
    folder = tmp_path
    export = client.get(reverse("studies:export_csv", args=[study.code, "cohort"]))
    (folder / downloaded_name(export)).write_bytes(b"".join(export.streaming_content))
    (folder / "cohort.sps").write_text(syntax)
    done = subprocess.run(
        [pspp, "-O", "format=csv", "-o", "out.csv", "cohort.sps"],
        cwd=folder, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    listed = tables(list(csv.reader((folder / "out.csv").read_text().splitlines())), "Data List")
    assert listed[0][1:] == [[reason]]
    assert Respondent.objects.get(code="W01").withdrawal_reason == reason


def test_the_sps_reads_a_reason_written_over_several_lines_as_one_case(
    pspp, client, study, make_respondent, midwife_a, data_manager, tmp_path
):
    """Issue 13 item 13: PSPP (like SPSS) ends a case at a line break even inside quotes, so
    the cohort export writes each text on one line: three mothers stay three cases."""
    make_respondent("A01")
    gone = make_respondent("W01")
    services.withdraw_respondent(
        respondent=gone,
        user=midwife_a,
        reason="Pindah kota.\r\nSuami bekerja di Batam.\nKontak terputus.",
        on=datetime.date(2026, 6, 4),
    )
    make_respondent("Z01")
    client.force_login(data_manager)
    syntax = client.get(reverse("studies:export_spss", args=[study.code])).content.decode()
    listing = "EXECUTE.\nLIST respondent_code withdrawal_reason.\n\nFREQUENCIES"
    syntax = syntax.replace("EXECUTE.\n\nFREQUENCIES", listing, 1)
    syntax = syntax.replace("SELECT IF (status <> 'withdrawn').", "")
    export = client.get(reverse("studies:export_csv", args=[study.code, "cohort"]))
    (tmp_path / downloaded_name(export)).write_bytes(b"".join(export.streaming_content))
    (tmp_path / "cohort.sps").write_text(syntax)
    done = subprocess.run(
        [pspp, "-O", "format=csv", "-o", "out.csv", "cohort.sps"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    listed = tables(list(csv.reader((tmp_path / "out.csv").read_text().splitlines())), "Data List")
    assert listed[0] == [
        ["respondent_code", "withdrawal_reason"],
        ["A01", ""],
        ["W01", "Pindah kota. Suami bekerja di Batam. Kontak terputus."],
        ["Z01", ""],
    ]
