"""Exports and the cohort import: the round trip, every bad-file case, formula injection,
access, and streaming."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone

from studies import exchange, services
from studies.cohort import load_cohort, results_document
from studies.exchange.cells import one_line
from studies.models import (
    AuditEvent,
    ImportJob,
    MassageSession,
    Observation,
    Respondent,
    RespondentIdentity,
    Study,
)
from studies.paper_cohort import PAPER_COHORT

HEADER = list(exchange.COHORT_COLUMNS)


def today() -> str:
    return timezone.localdate().isoformat()


TODAY = r"\d{4}-\d\d-\d\d"  # the day of the download, in a file name


def paper_csv(delimiter: str = ",", bom: bool = False, rows=PAPER_COHORT, **overrides) -> bytes:
    """The paper's 15 mothers as a DESIGN.md 4.4 cohort file (delivered 1 June, enrolled on
    day 2, every session done, both sheets)."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(HEADER)
    for index, mother in enumerate(rows):
        row = {
            **mother,
            "site": "Klinik A" if index % 2 == 0 else "Klinik B",
            "delivery_date": "2026-06-01",
            "enrolled_on": "2026-06-03",
            "sessions_completed": 6,
            "status": "completed",
            "withdrawal_reason": "",
        }
        row.update(overrides)
        writer.writerow([row[column] for column in HEADER])
    return (("\ufeff" if bom else "") + out.getvalue()).encode()


def counts() -> tuple[int, ...]:
    return tuple(
        model.objects.count()
        for model in (Respondent, MassageSession, Observation, RespondentIdentity)
    ) + (Respondent.history.count(),)


def document_without_code(study: Study) -> dict:
    document = json.loads(json.dumps(results_document(load_cohort(study))))
    document.pop("study")
    return document


def export_text(study, kind="cohort", **kwargs) -> str:
    rows = exchange.EXPORTS[kind](study, **kwargs)
    return "".join(exchange.stream_csv(rows, bom=False))


# --- the import --------------------------------------------------------------------------------


def test_importing_the_paper_cohort_reproduces_the_paper(study, data_manager):
    report = exchange.import_cohort(study=study, data=paper_csv(), user=data_manager)
    assert report.ok and report.created == 15
    assert MassageSession.objects.filter(status="done").count() == 90
    assert Observation.objects.count() == 30
    document = results_document(load_cohort(study))
    feeds = document["outcomes"]["feeds"]
    assert feeds["pre"]["mean"] == pytest.approx(82 / 15)
    assert round(feeds["wilcoxon"]["z"], 3) == -3.434
    assert round(document["outcomes"]["urinations"]["wilcoxon"]["z"], 3) == -3.438
    mother = Respondent.objects.get(code="P01")
    assert mother.history.get().history_user == data_manager
    assert mother.history.get().history_change_reason == "Imported from CSV"
    session = mother.sessions.get(postpartum_day=2, slot="morning")
    assert session.source == "imported" and session.duration_minutes is None
    assert AuditEvent.objects.get().action == "import"


def test_round_trip_export_import_gives_the_same_analysis(study, data_manager, midwife_a):
    exchange.import_cohort(study=study, data=paper_csv(), user=data_manager)
    withdrawn = services.enrol_respondent(
        study=study,
        site=study.sites.first(),
        user=midwife_a,
        code="W01",
        delivery_date=PAPER_DELIVERY,
        enrolled_on=PAPER_ENROLMENT,
        age_years=40,
        parity=5,
        education="basic",
        employment="working",
        eligibility_confirmed=True,
        consent_date=PAPER_ENROLMENT,
    )
    services.withdraw_respondent(respondent=withdrawn, user=midwife_a, reason="Pindah; =kota")
    exported = export_text(study).encode()

    copy = services.create_study(code="SALINAN", title="copy", site_names=["Klinik A", "Klinik B"])
    report = exchange.import_cohort(study=copy, data=exported, user=data_manager)
    assert report.ok, report.errors
    assert document_without_code(copy) == document_without_code(study)
    again = Respondent.objects.get(study=copy, code="W01")
    assert (again.status, again.withdrawal_reason) == ("withdrawn", "Pindah; =kota")
    assert again.withdrawn_on == withdrawn.withdrawn_on
    assert export_text(copy) == export_text(study)


PAPER_DELIVERY = __import__("datetime").date(2026, 6, 1)
PAPER_ENROLMENT = __import__("datetime").date(2026, 6, 3)


def test_semicolon_and_bom_are_detected(study, data_manager):
    report = exchange.import_cohort(
        study=study, data=paper_csv(delimiter=";", bom=True), user=data_manager
    )
    assert report.ok and report.delimiter == ";"
    assert Respondent.objects.filter(code="P01").exists()


def test_dry_run_saves_nothing(study, data_manager):
    before = counts()
    report = exchange.import_cohort(study=study, data=paper_csv(), user=data_manager, dry_run=True)
    assert report.ok and report.rows == 15 and report.sheets == 30
    assert counts() == before


def replace_cell(data: bytes, row: int, column: str, value: str) -> bytes:
    lines = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    lines[row - 1][lines[0].index(column)] = value
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(lines)
    return out.getvalue().encode()


@pytest.mark.parametrize(
    ("row", "column", "value", "message"),
    [
        (3, "age_years", "9", "Age must be at least 10 years."),
        (4, "age_years", "dua puluh", "is not a whole number"),
        (5, "parity", "0", "Parity counts this child"),
        (6, "education", "university", "is not one of: Basic, SD, SMP, SLTP … (basic) / "),
        (7, "employment", "", "This value is required."),
        (8, "enrolled_on", "2026-05-30", "Enrolment cannot be before the delivery date."),
        (9, "delivery_date", "01/06/26", "is not a date: write it as DD/MM/YYYY or YYYY-MM-DD"),
        (10, "pre_feeds", "41", "Enter a value between 0 and 40 times/24 h."),
        (11, "post_urinations", "-2", "Enter a value between 0 and 40 times/24 h."),
        (12, "site", "Klinik Z", "is not a site of this study"),
        (13, "respondent_code", "P01", "already on row 2 of this file"),
        (14, "status", "withdrawn", "Give the reason for the withdrawal."),  # on reason
        (15, "sessions_completed", "7", "Must be between 0 and 6"),
        (16, "respondent_code", "", "This value is required."),
    ],
)
def test_a_bad_value_names_its_row_and_column_and_saves_nothing(
    study, data_manager, row, column, value, message
):
    data = replace_cell(paper_csv(), row, column, value)
    before = counts()
    report = exchange.import_cohort(study=study, data=data, user=data_manager)
    assert not report.ok
    expected_column = "withdrawal_reason" if column == "status" else column
    assert [(error.row, error.column) for error in report.errors] == [(row, expected_column)], (
        report.errors
    )
    assert message in report.errors[0].message
    assert str(report.errors[0]).startswith(f"row {row}, column {expected_column}: ")
    assert counts() == before


def test_a_code_already_in_the_study_is_refused(study, data_manager, make_respondent):
    make_respondent("P07")
    before = counts()
    report = exchange.import_cohort(study=study, data=paper_csv(), user=data_manager)
    assert [str(error) for error in report.errors] == [
        "row 8, column respondent_code: This respondent code is already used in this study."
    ]
    assert counts() == before


def test_unknown_and_missing_columns_are_listed(study, data_manager):
    data = paper_csv().decode().replace("age_years", "umur").replace(",parity,", ",paritas,")
    report = exchange.import_cohort(study=study, data=data.encode(), user=data_manager)
    assert len(report.errors) == 1
    message = str(report.errors[0])
    assert message.startswith("row 1: ")
    assert "Unknown column(s): umur, paritas." in message
    assert "Missing column(s): age_years, parity." in message
    assert not Respondent.objects.exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty."),
        (b"\xef\xbb\xbf  \n", "The file is empty."),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "This is not a text (CSV) file."),
        (
            "respondent_code;umur\nP01;Ibu Siti\n".encode("cp1252").replace(b"Siti", b"S\xeeti"),
            "The file is not UTF-8 text",
        ),
        (",".join(HEADER).encode() + b"\n", "The file has a header but no rows."),
    ],
)
def test_a_file_that_cannot_be_read_is_refused(study, data_manager, data, message):
    with pytest.raises(exchange.ImportFileError, match=re.escape(message)):
        exchange.import_cohort(study=study, data=data, user=data_manager)
    assert not Respondent.objects.exists()


def test_an_oversized_file_is_refused(study, data_manager):
    with pytest.raises(exchange.ImportFileError, match="larger than the limit of 1.0"):
        exchange.import_cohort(study=study, data=paper_csv(), user=data_manager, limit=1024)
    assert not Respondent.objects.exists()


def test_site_may_be_omitted_when_the_study_has_one_site(data_manager):
    solo = services.create_study(code="SOLO", title="one site", site_names=["Bidan Praktik"])
    data = paper_csv().decode().replace("Klinik A", "").replace("Klinik B", "")
    report = exchange.import_cohort(study=solo, data=data.encode(), user=data_manager)
    assert report.ok
    assert set(Respondent.objects.values_list("site__name", flat=True)) == {"Bidan Praktik"}


# --- formula injection -------------------------------------------------------------------------

PAYLOADS = ["=1+2", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\tTAB", "\rCR", "'quoted", "ok"]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_formula_cells_are_neutralised_and_read_back_unchanged(
    study, data_manager, midwife_a, payload
):
    mother = services.enrol_respondent(
        study=study,
        site=study.sites.get(name="Klinik A"),
        user=midwife_a,
        identity={"full_name": payload, "phone": "", "medical_record_number": payload},
        code="R01",
        delivery_date=PAPER_DELIVERY,
        enrolled_on=PAPER_ENROLMENT,
        age_years=25,
        parity=1,
        education="basic",
        employment="working",
        eligibility_confirmed=True,
        consent_date=PAPER_ENROLMENT,
    )
    services.withdraw_respondent(respondent=mother, user=midwife_a, reason=payload)
    exported = export_text(study, identified=True)
    cells = list(csv.reader(io.StringIO(exported)))
    for row in cells[1:]:
        for value in row:
            assert not value.startswith(("=", "+", "@", "\t", "\r")), value
            assert not (value.startswith("-") and not value.lstrip("-").isdigit()), value
    mother.refresh_from_db()
    stored = mother.withdrawal_reason  # the service strips surrounding whitespace
    reason_cell = cells[1][HEADER.index("withdrawal_reason")]
    assert reason_cell == ("'" + stored if stored.startswith(exchange.FORMULA_TRIGGERS) else stored)

    copy = services.create_study(code="SALINAN", title="copy", site_names=["Klinik A"])
    report = exchange.import_cohort(study=copy, data=exported.encode(), user=data_manager)
    assert report.ok, report.errors
    again = Respondent.objects.get(study=copy, code="R01")
    assert again.withdrawal_reason == stored
    # Unchanged, but for a line break, which the cohort table writes as a space (SPSS and PSPP
    # end a case at a line break, even inside quotes).
    assert again.identity.full_name == one_line(mother.identity.full_name)


def test_the_prepared_cohort_rows_are_written_as_every_other_export(study, data_manager, midwife_a):
    """The cohort export prepares its own cells (the large export's shortcut); the CSV is the
    same as the general path (cell() on every value) makes of the database's rows."""
    exchange.import_cohort(study=study, data=paper_csv(), user=data_manager)
    for code, payload in (("P01", "=HYPERLINK(1)"), ("P02", "-minus"), ("P03", "'quoted")):
        mother = Respondent.objects.get(study=study, code=code)
        services.withdraw_respondent(respondent=mother, user=midwife_a, reason=payload)
        RespondentIdentity.objects.filter(respondent=mother).update(full_name="@" + payload)
    for identified in (False, True):
        general = "".join(
            exchange.stream_csv(exchange.cohort_values(study, identified=identified), bom=False)
        )
        prepared = export_text(study, identified=identified)
        assert prepared == general
        assert "'=HYPERLINK(1)" in prepared and ",1," in prepared


# --- the web pages -----------------------------------------------------------------------------


def export_url(study, kind):
    return reverse("studies:export_csv", args=[study.code, kind])


def read_stream(response) -> str:
    return b"".join(response.streaming_content).decode("utf-8")


@pytest.mark.parametrize("kind", ["cohort", "observations", "sessions", "audit", "dictionary"])
def test_admin_downloads_each_export_as_a_stream(client, study, data_manager, kind):
    exchange.import_cohort(study=study, data=paper_csv(), user=data_manager)
    client.force_login(data_manager)
    response = client.get(export_url(study, kind))
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert re.search(
        rf'filename="PIJAT-{kind}-comma-{TODAY}\.csv"', response["Content-Disposition"]
    )
    text = read_stream(response)
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    expected = exchange.export_counts(study)[kind]
    assert len(rows) - 1 == expected
    if kind == "cohort":
        assert rows[0][: len(HEADER)] == HEADER
        assert "full_name" not in rows[0]
    if kind == "dictionary":
        assert ["age_years", "usia", "age", "integer", "10–60", "years"] in rows


def test_semicolon_without_bom(client, study, data_manager):
    exchange.import_cohort(study=study, data=paper_csv(), user=data_manager)
    client.force_login(data_manager)
    text = read_stream(
        client.get(export_url(study, "cohort"), {"delimiter": "semicolon", "bom": "0"})
    )
    assert text.startswith('"respondent_code";"site";"delivery_date";')


def test_export_page_lists_row_counts(client, study, data_manager):
    exchange.import_cohort(study=study, data=paper_csv(), user=data_manager)
    client.force_login(data_manager)
    page = client.get(reverse("studies:export_index", args=[study.code])).content.decode()
    assert "<code>cohort</code></td>\n      <td>15</td>" in page
    assert "<code>sessions</code></td>\n      <td>90</td>" in page


def test_identified_export_needs_confirmation_and_is_audited(
    client, study, data_manager, make_respondent
):
    make_respondent("R01", identity={"full_name": "Siti Aminah", "phone": "0812 345 678"})
    client.force_login(data_manager)
    assert "Siti Aminah" not in read_stream(client.get(export_url(study, "cohort")))
    refused = client.post(export_url(study, "cohort"), {"delimiter": "comma", "bom": "1"})
    assert refused.status_code == 302
    assert not AuditEvent.objects.exists()
    response = client.post(
        export_url(study, "cohort"), {"confirm": "on", "delimiter": "comma", "bom": "1"}
    )
    text = read_stream(response)
    assert "Siti Aminah" in text and "0812 345 678" in text
    assert "identified" in response["Content-Disposition"]
    event = AuditEvent.objects.get()
    assert (event.user, event.action) == (data_manager, "identified_export")
    audit = read_stream(client.get(export_url(study, "audit")))
    assert "identified_export" in audit and "pengelola" in audit


def test_spss_syntax_reads_the_cohort_and_runs_the_wilcoxon(client, study, data_manager):
    client.force_login(data_manager)
    response = client.get(reverse("studies:export_spss", args=[study.code]))
    syntax = response.content.decode()
    assert response.status_code == 200
    assert f"/FILE='PIJAT-cohort-comma-{today()}.csv'" in syntax
    assert response["Content-Disposition"] == (
        f'attachment; filename="PIJAT-cohort-comma-{today()}.sps"'
    )
    assert "/DELIMITERS=','" in syntax
    assert "RECODE education ('basic'=1) ('secondary'=2) ('higher'=3) INTO education_n." in syntax
    assert "VARIABLE LEVEL education_n (ORDINAL)." in syntax
    assert "VALUE LABELS employment_n 1 'Working' 2 'Not working'." in syntax
    assert "/WILCOXON=pre_feeds WITH post_feeds (PAIRED)" in syntax
    for column in exchange.COHORT_COLUMNS:
        assert f"    {column} " in syntax


@pytest.mark.parametrize("user_fixture", ["midwife_a", "researcher", None])
def test_non_admins_are_refused_every_export_and_the_import(client, request, study, user_fixture):
    if user_fixture:
        client.force_login(request.getfixturevalue(user_fixture))
    urls = [export_url(study, kind) for kind in exchange.EXPORTS] + [
        reverse("studies:export_index", args=[study.code]),
        reverse("studies:export_spss", args=[study.code]),
        reverse("studies:import_upload", args=[study.code]),
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == (403 if user_fixture else 302), url
    response = client.post(
        reverse("studies:import_upload", args=[study.code]),
        {"file": io.BytesIO(paper_csv())},
    )
    assert response.status_code == (403 if user_fixture else 302)
    assert not Respondent.objects.exists()


def upload(name: str, data: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type="text/csv")


def test_import_page_previews_then_imports_on_confirmation(client, study, data_manager):
    client.force_login(data_manager)
    url = reverse("studies:import_upload", args=[study.code])
    response = client.post(url, {"file": upload("kohort.csv", paper_csv(delimiter=";"))})
    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("studies:import_job", args=[study.code, job.pk])
    page = client.get(response["Location"]).content.decode()
    assert "15 mothers to create, with 30 observation sheets and 90 sessions done." in page
    assert not Respondent.objects.exists()
    confirm = reverse("studies:import_confirm", args=[study.code, job.pk])
    response = client.post(confirm, {"confirm": "1"})
    assert response.status_code == 302
    assert Respondent.objects.filter(study=study).count() == 15
    assert Respondent.objects.get(code="P01").history.get().history_change_reason == (
        "Imported from kohort.csv"
    )
    again = client.post(confirm, {"confirm": "1"}, follow=True)
    assert "This file was already confirmed; it is imported once." in again.content.decode()
    assert "15 mothers imported with their sheets and planned sessions." in again.content.decode()
    assert Respondent.objects.count() == 15


def test_import_page_shows_errors_by_row_and_column(client, study, data_manager):
    client.force_login(data_manager)
    url = reverse("studies:import_upload", args=[study.code])
    data = replace_cell(paper_csv(), 4, "age_years", "9")
    page = client.post(url, {"file": upload("kohort.csv", data)}, follow=True).content.decode()
    assert "1 problem found; nothing was imported." in page
    assert "<td>4</td><td>age_years</td><td>Age must be at least 10 years.</td>" in page
    assert "Import these mothers" not in page
    page = client.post(
        url, {"file": upload("foto.png", b"\x89PNG\x00\x00")}, follow=True
    ).content.decode()
    assert "This is not a text (CSV) file." in page
    assert not Respondent.objects.exists()


def test_import_page_refuses_an_oversized_upload(client, study, data_manager, settings):
    settings.LANCAR_IMPORT_MAX_BYTES = 1024
    client.force_login(data_manager)
    url = reverse("studies:import_upload", args=[study.code])
    page = client.post(url, {"file": upload("big.csv", paper_csv())}).content.decode()
    assert "The file is larger than the limit of 1.0" in page
    assert not Respondent.objects.exists()
    assert not ImportJob.objects.exists()


# --- the command -------------------------------------------------------------------------------


def test_import_command_dry_run_and_import(study, tmp_path, capsys):
    path = tmp_path / "kohort.csv"
    path.write_bytes(paper_csv())
    call_command("import_cohort", "PIJAT", str(path), "--dry-run")
    assert "Dry run: 15 mothers" in capsys.readouterr().out
    assert not Respondent.objects.exists()
    call_command("import_cohort", "PIJAT", str(path))
    assert "Imported 15 mothers into PIJAT" in capsys.readouterr().out
    assert Respondent.objects.count() == 15


def test_import_command_prints_every_error_and_fails(study, tmp_path, capsys):
    path = tmp_path / "kohort.csv"
    data = replace_cell(replace_cell(paper_csv(), 3, "age_years", "9"), 5, "parity", "x")
    path.write_bytes(data)
    with pytest.raises(CommandError, match="2 error"):
        call_command("import_cohort", "PIJAT", str(path))
    err = capsys.readouterr().err
    assert "row 3, column age_years: Age must be at least 10 years." in err
    assert "row 5, column parity: “x” is not a whole number." in err
    assert not Respondent.objects.exists()


def test_the_cohort_export_is_one_query_whatever_the_number_of_mothers(
    study, data_manager, monkeypatch
):
    """Mothers and their sheets' values in one query, fetched a batch at a time: with batches
    of two, 3 mothers and 15 cost the same statements (before, one more per batch for the
    sheets), and the rows are those of one batch."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from studies.exchange import exports

    def export() -> list[list[str]]:
        header, *batches = exchange.cohort_rows(Study.objects.get(pk=study.pk))
        return [header, *(list(row) for batch in batches for row in batch)]

    counts = []
    for rows in (PAPER_COHORT[:3], PAPER_COHORT[3:]):
        report = exchange.import_cohort(study=study, data=paper_csv(rows=rows), user=None)
        assert report.ok, report.errors
        monkeypatch.setattr(exports, "COHORT_CHUNK", 2)
        with CaptureQueriesContext(connection) as queries:
            batched = export()
        counts.append(len(queries))
        monkeypatch.setattr(exports, "COHORT_CHUNK", 2000)
        assert batched == export()
    assert len(batched) == 1 + len(PAPER_COHORT) == 16
    # the study, then the one query
    assert counts == [2, 2], counts
