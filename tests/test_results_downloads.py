"""Every results table of every design downloads as CSV and .xlsx, and every table is in the
.docx, in both languages: the paper's one-group pre/post study, a two-group pre/post study with
a yes/no outcome (LAKTASI) and a one-group study with three time points. The cohorts come in
through the importer, as a researcher would bring them."""

from __future__ import annotations

import csv
import io

import docx
import openpyxl
import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation

from studies import cohort, exchange, manuscript, services
from studies.paper_cohort import PAPER_COHORT

from .conftest import laktasi_definition
from .test_exchange_designs import REPEATED

SITES = ["Klinik A", "Klinik B"]


def mother(code: str, site: str, **values) -> dict:
    return {
        "respondent_code": code,
        "site": site,
        "delivery_date": "2026-06-01",
        "enrolled_on": "2026-06-03",
        "age_years": 27,
        "parity": 2,
        "education": "secondary",
        "employment": "working",
        "status": "completed",
        **values,
    }


def imported_study(code: str, definition: dict | None, rows: list[dict], user):
    """A study of ``definition`` (the paper's when None) holding ``rows`` through the
    importer."""
    study = services.create_study(code=code, title=code, site_names=SITES, definition=definition)
    header = exchange.cohort_columns(study.protocol)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([row.get(column, "") for column in header])
    report = exchange.import_cohort(study=study, data=out.getvalue().encode(), user=user)
    assert report.ok, [str(error) for error in report.errors]
    return study


def paper_rows() -> list[dict]:
    return [
        mother(
            row["respondent_code"],
            SITES[index % 2],
            age_years=row["age_years"],
            parity=row["parity"],
            education=row["education"],
            employment=row["employment"],
            pre_feeds=row["pre_feeds"],
            pre_urinations=row["pre_urinations"],
            post_feeds=row["post_feeds"],
            post_urinations=row["post_urinations"],
            sessions_completed=6,
        )
        for index, row in enumerate(PAPER_COHORT)
    ]


def laktasi_rows(count: int = 10) -> list[dict]:
    rows = []
    for index in range(count):
        arm = "intervention" if index % 2 == 0 else "control"
        rows.append(mother(
            f"L{index:02d}", SITES[index % 2], arm=arm,
            parity=1 + index % 3, age_years=18 + 2 * index,
            pre_milk_ml=f"{20 + index * 2.5:.1f}", pre_feeds=5 + index % 3,
            post_milk_ml=f"{(55 if arm == 'intervention' else 30) + index * 1.5:.1f}",
            post_feeds=(10 if arm == "intervention" else 7) + index % 2,
            post_lancar=1 if arm == "intervention" and index != 4 else index % 3 % 2,
            sessions_completed=6 if arm == "intervention" else "",
        ))  # fmt: skip
    return rows


def repeated_rows() -> list[dict]:
    return [
        mother(
            f"U{index}",
            SITES[index % 2],
            pre_score=f"{7 + index / 8:.2f}",
            pre_flow=1 + index % 2,
            mid_score=f"{5 + index % 3 / 2:.2f}",
            mid_flow=2,
            post_score=f"{2 + index / 4:.2f}",
            post_flow=3 - index % 2,
            sessions_completed=6,
        )
        for index in range(8)
    ]


@pytest.fixture
def studies(db, data_manager):
    return [
        imported_study("PAPER", None, paper_rows(), data_manager),
        imported_study("LAKTASI", laktasi_definition("by_site", arm_by_site={
            "Klinik A": "intervention", "Klinik B": "control"}), laktasi_rows(), data_manager),
        imported_study("ULANG", REPEATED, repeated_rows(), data_manager),
    ]  # fmt: skip


def table_count(study, language: str) -> int:
    with translation.override(language):
        document = cohort.results_document(cohort.load_cohort(study))
        return len(manuscript.tables(document, manuscript.Formatter(".")))


@pytest.mark.parametrize("language", ["en", "id"])
def test_every_table_of_every_design_downloads_as_csv_xlsx_and_docx(
    studies, researcher, language
):
    client = Client(headers={"accept-language": language})
    client.force_login(researcher)
    for study in studies:
        count = table_count(study, language)
        assert count >= 4, study.code
        for number in range(1, count + 1):
            for view in ("studies:results_table_csv", "studies:results_table_xlsx"):
                response = client.get(reverse(view, args=[study.code, number]))
                assert response.status_code == 200, (study.code, number, view)
                body = b"".join(response.streaming_content) if response.streaming else (
                    response.content)  # fmt: skip
                if view.endswith("csv"):
                    text = body.decode("utf-8-sig")
                    assert text.count("\r\n") >= 3, (study.code, number)
                else:
                    sheet = openpyxl.load_workbook(io.BytesIO(body)).active
                    assert sheet.max_row >= 3, (study.code, number)
                    # Every text cell is a string, never a lazy object's repr.
                    for row in sheet.iter_rows(values_only=True):
                        for value in row:
                            assert "__proxy__" not in str(value)
        response = client.get(reverse("studies:results_table_csv", args=[study.code, count + 1]))
        assert response.status_code == 404
        response = client.get(reverse("studies:results_tables_docx", args=[study.code]))
        assert response.status_code == 200
        word = docx.Document(io.BytesIO(b"".join(response.streaming_content)))
        captions = [p.text for p in word.paragraphs if p.style.name == "Caption"]
        assert len(captions) >= count, study.code


def test_table_rows_hold_plain_strings_never_lazy_translations(studies):
    """The crash of LAKTASI's Table 1: a lazy translation reached a cell."""
    for study in studies:
        for language in ("en", "id"):
            with translation.override(language):
                document = cohort.results_document(cohort.load_cohort(study))
                for table in manuscript.tables(document, manuscript.Formatter(",")):
                    for row in exchange.table_rows(table, decimal_separator=","):
                        for value in row:
                            assert value is None or type(value) in (str, exchange.Number), (
                                study.code, table.title, type(value), value)  # fmt: skip
