"""The exports as a spreadsheet user opens them (issue 13, items 19-23): row counts as written,
the Indonesian defaults, .xlsx files with typed cells (read back with openpyxl), quoted CSV
text, results tables whose numbers stay numbers, names in the audit, and file names by
variant."""

from __future__ import annotations

import csv
import datetime
import io
import re

import pytest
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from studies import exchange, services
from studies.models import AuditEvent, MassageSession

from .test_exchange import paper_csv

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
KINDS = ["cohort", "observations", "sessions", "audit", "dictionary"]


def read_stream(response) -> str:
    return b"".join(response.streaming_content).decode("utf-8").lstrip("\ufeff")


def read_xlsx(response) -> list[tuple]:
    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    return list(book.active.iter_rows())


def values(rows) -> list[list]:
    return [[cell.value for cell in row] for row in rows]


@pytest.fixture
def corrected(study, data_manager, midwife_a, site_b):
    """The paper's mothers; then a session corrected in two fields and a mother in two (one
    history row each, two audit rows each), and a correction that changed nothing."""
    exchange.import_cohort(study=study, data=paper_csv(), user=data_manager)
    mother = study.respondents.get(code="P01")
    session = mother.sessions.filter(status=MassageSession.Status.DONE).first()
    services.change_record(
        instance=session,
        user=data_manager,
        reason="koreksi",
        performed_by=midwife_a,
        duration_minutes=18,
    )
    services.change_record(
        instance=mother, user=data_manager, reason="salah klinik", site=site_b, age_years=31
    )
    services.change_record(instance=mother, user=data_manager, reason="tidak ada perubahan")
    return mother


# --- item 19: the counts are the rows of the files; Indonesian defaults ------------------------


def test_the_page_counts_the_rows_each_file_has(client, study, data_manager, corrected):
    client.force_login(data_manager)
    page = client.get(reverse("studies:export_index", args=[study.code])).content.decode()
    for kind in KINDS:
        shown = int(re.search(rf'data-kind="{kind}">\s*<td>.*?</td>\s*<td>(\d+)</td>', page)[1])
        text = read_stream(client.get(reverse("studies:export_csv", args=[study.code, kind])))
        written = len(list(csv.reader(io.StringIO(text)))) - 1
        sheet = read_xlsx(client.get(reverse("studies:export_xlsx", args=[study.code, kind])))
        assert shown == written == len(sheet) - 1 == exchange.export_counts(study)[kind], kind
    # Two fields changed twice: four rows, from two history rows; the empty change adds none.
    audit = list(
        csv.DictReader(
            io.StringIO(
                read_stream(client.get(reverse("studies:export_csv", args=[study.code, "audit"])))
            )
        )
    )
    changed = [row for row in audit if row["action"] == "changed" and row["record"][:3] == "P01"]
    assert sorted(row["field"] for row in changed) == [
        "age_years",
        "duration_minutes",
        "performed_by",
        "site",
    ]


def test_the_indonesian_page_defaults_to_the_semicolon_and_the_bom(
    client, client_id, study, data_manager, make_respondent
):
    make_respondent("R01")
    url = reverse("studies:export_index", args=[study.code])
    client_id.force_login(data_manager)
    page = client_id.get(url).content.decode()
    assert '<option value="semicolon" selected>' in page
    assert '<option value="1">' in page  # the BOM, first and so chosen
    text = b"".join(
        client_id.get(reverse("studies:export_csv", args=[study.code, "cohort"])).streaming_content
    ).decode()
    assert text.startswith('\ufeff"respondent_code";"site";')
    client.force_login(data_manager)
    assert '<option value="comma" selected>' in client.get(url).content.decode()


# --- item 20: .xlsx with typed cells; CSV text quoted -----------------------------------------


def test_the_xlsx_cohort_keeps_codes_and_phones_as_text_and_types_dates_and_counts(
    client, study, data_manager, make_respondent, midwife_a
):
    mother = make_respondent(
        "0016",
        identity={"full_name": "=1+1", "phone": "081234567890", "medical_record_number": "007"},
    )
    services.withdraw_respondent(respondent=mother, user=midwife_a, reason="=HYPERLINK(1)")
    client.force_login(data_manager)
    response = client.post(
        reverse("studies:export_xlsx", args=[study.code, "cohort"]),
        {"confirm": "on", "delimiter": "comma", "bom": "1"},
    )
    assert response.status_code == 200
    assert response["Content-Type"] == XLSX
    header, row = read_xlsx(response)
    cells = {name.value: cell for name, cell in zip(header, row, strict=True)}
    for name, text in (("respondent_code", "0016"), ("phone", "081234567890")):
        assert (cells[name].value, cells[name].data_type) == (text, "s"), name
    # A formula is impossible: the text stays text (marked as typed with an apostrophe).
    for name, text in (("full_name", "=1+1"), ("withdrawal_reason", "=HYPERLINK(1)")):
        assert (cells[name].value, cells[name].data_type) == (text, "s"), name
        assert cells[name].quotePrefix
    assert cells["delivery_date"].is_date
    assert cells["delivery_date"].value == datetime.datetime(2026, 6, 1)
    assert (cells["age_years"].value, cells["age_years"].data_type) == (27, "n")
    assert cells["eligibility_confirmed"].value == 1
    assert AuditEvent.objects.filter(action="identified_export").count() == 1


def test_the_xlsx_sessions_have_times_and_numbers(client, study, data_manager):
    exchange.import_cohort(study=study, data=paper_csv(), user=data_manager)
    client.force_login(data_manager)
    header, *rows = read_xlsx(
        client.get(reverse("studies:export_xlsx", args=[study.code, "sessions"]))
    )
    names = [cell.value for cell in header]
    first = dict(zip(names, rows[0], strict=True))
    assert first["started_at"].is_date and isinstance(first["started_at"].value, datetime.datetime)
    assert first["duration_minutes"].data_type == "n"
    assert len(rows) == MassageSession.objects.count()


def test_every_text_field_of_a_csv_is_quoted(client, study, data_manager, make_respondent):
    make_respondent("0016", site=None)
    mother = study.respondents.get()
    services.change_record(
        instance=mother, user=data_manager, reason="x", withdrawal_reason="pusing, mual; lelah"
    )
    client.force_login(data_manager)
    text = read_stream(
        client.get(
            reverse("studies:export_csv", args=[study.code, "cohort"]), {"delimiter": "semicolon"}
        )
    )
    line = text.splitlines()[1]
    assert line.startswith('"0016";"Klinik A";2026-06-01;2026-06-03;27;1;"secondary";"working";')
    assert '"pusing, mual; lelah"' in line


# --- item 21: the results tables ------------------------------------------------------------


def table_url(study, number, extension="csv", **query):
    name = "studies:results_table_" + extension
    return reverse(name, args=[study.code, number]) + (
        "?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else ""
    )


@pytest.fixture
def paper(study, data_manager):
    exchange.import_cohort(study=study, data=paper_csv(), user=data_manager)
    return study


@pytest.mark.parametrize("delimiter,sep", [("comma", "."), ("semicolon", ",")])
def test_table_cells_are_numbers_in_either_separator(client_id, paper, researcher, delimiter, sep):
    client_id.force_login(researcher)
    response = client_id.get(table_url(paper, 4, delimiter=delimiter))
    assert response.status_code == 200
    rows = list(
        csv.reader(
            io.StringIO(response.content.decode().lstrip("\ufeff")),
            delimiter=";,"[delimiter == "comma"],
        )
    )
    z = next(row for row in rows if row and row[0] == "Z")
    assert z[1:] == [f"-3{sep}434", "b", f"-3{sep}438", "b"]
    for row in rows:
        for value in row:
            assert not re.fullmatch(r"-?[\d.,]+[a-d]", value), value  # no letter in a number
    # Numbers are bare (a spreadsheet reads them as numbers), text is quoted.
    assert f'"Z"{";,"[delimiter == "comma"]}-3{sep}434' in response.content.decode()


def test_the_xlsx_table_has_numbers_shown_as_spss_prints_them(client_id, paper, researcher):
    client_id.force_login(researcher)
    response = client_id.get(table_url(paper, 4, "xlsx"))
    assert response.status_code == 200
    rows = values(read_xlsx(response))
    assert rows[0][0].startswith("Tabel 4.")
    z = next(row for row in rows if row[0] == "Z")
    assert z[1:5] == [-3.434, "b", -3.438, "b"]
    book = load_workbook(io.BytesIO(b"".join(client_id.get(table_url(paper, 2, "xlsx")))))
    feeds = next(row for row in book.active.iter_rows() if row[0].value == "Frekuensi menyusu")
    assert [cell.value for cell in feeds[1:]] == [15, 100.0, 5.47, 0.915, 4, 7]
    assert [cell.number_format for cell in feeds[2:5]] == ["0.0", "0.00", ".000"]


# --- item 22: names in the audit --------------------------------------------------------------


def test_the_audit_names_people_sites_and_records(client, study, data_manager, corrected):
    client.force_login(data_manager)
    audit = list(
        csv.DictReader(
            io.StringIO(
                read_stream(client.get(reverse("studies:export_csv", args=[study.code, "audit"])))
            )
        )
    )
    by_field = {row["field"]: row for row in audit if row["action"] == "changed"}
    assert "performed_by_id" not in by_field and "site_id" not in by_field
    performer = by_field["performed_by"]
    assert (performer["old"], performer["new"], performer["who"]) == (
        "",  # the import recorded the sessions without a performer
        "bidan_a",
        "pengelola",
    )
    assert performer["record"].startswith("P01 · ")
    assert (by_field["site"]["old"], by_field["site"]["new"]) == ("Klinik A", "Klinik B")


# --- item 23: one file name per variant -------------------------------------------------------


def test_every_variant_downloads_under_its_own_name(client, study, data_manager, make_respondent):
    make_respondent("R01")
    client.force_login(data_manager)
    day = timezone.localdate().isoformat()

    def name(response) -> str:
        assert response.status_code == 200
        return re.fullmatch(r'attachment; filename="(.+)"', response["Content-Disposition"])[1]

    csv_url = reverse("studies:export_csv", args=[study.code, "cohort"])
    names = {
        name(client.get(csv_url, {"delimiter": "comma"})),
        name(client.get(csv_url, {"delimiter": "semicolon"})),
        name(client.get(csv_url, {"delimiter": "semicolon", "bom": "0"})),
        name(client.post(csv_url, {"confirm": "on", "delimiter": "semicolon", "bom": "1"})),
        name(client.get(reverse("studies:export_xlsx", args=[study.code, "cohort"]))),
    }
    assert names == {
        f"PIJAT-cohort-comma-{day}.csv",
        f"PIJAT-cohort-semicolon-{day}.csv",
        f"PIJAT-cohort-semicolon-no-bom-{day}.csv",
        f"PIJAT-cohort-identified-semicolon-{day}.csv",
        f"PIJAT-cohort-{day}.xlsx",
    }
    # The syntax reads the file by the name the same options give it.
    sps = client.get(reverse("studies:export_spss", args=[study.code]), {"delimiter": "semicolon"})
    assert name(sps) == f"PIJAT-cohort-semicolon-{day}.sps"
    assert f"/FILE='PIJAT-cohort-semicolon-{day}.csv'" in sps.content.decode()
    assert "/DELIMITERS=';'" in sps.content.decode()


SOFFICE = "/usr/bin/soffice"


def test_libreoffice_opens_the_semicolon_csv_with_codes_and_commas_intact(
    client, study, data_manager, make_respondent, tmp_path
):
    """Issue 13 item 20, in LibreOffice Calc as a double-click opens a CSV: comma, semicolon and
    tab ticked together as separators. Quoted text keeps its commas and a code its leading
    zeros. (CI installs LibreOffice; a machine without it skips.)"""
    import os
    import shutil
    import subprocess

    import openpyxl

    if not os.path.exists(SOFFICE):
        if os.environ.get("LANCAR_REQUIRE_LIBREOFFICE"):
            pytest.fail("LibreOffice is missing: apt-get install libreoffice-calc-nogui")
        pytest.skip("LibreOffice is not installed (apt-get install libreoffice-calc-nogui)")
    make_respondent("0016", site=None)
    mother = study.respondents.get()
    services.change_record(
        instance=mother, user=data_manager, reason="x", withdrawal_reason="pusing, mual; lelah"
    )
    client.force_login(data_manager)
    text = read_stream(
        client.get(
            reverse("studies:export_csv", args=[study.code, "cohort"]),
            {"delimiter": "semicolon", "bom": "1"},
        )
    )
    source = tmp_path / "cohort.csv"
    source.write_text(text, encoding="utf-8")
    # Separators , ; and tab; text in double quotes; UTF-8; from line 1; English locale;
    # quoted fields as text (what Calc's dialog offers by default for a quoted cell).
    options = "44/59/9,34,76,1,,1033,true,true"
    done = subprocess.run(
        [
            shutil.which("soffice") or SOFFICE,
            f"-env:UserInstallation=file://{tmp_path}/profile",
            "--headless",
            "--infilter=CSV:" + options,
            "--convert-to",
            "xlsx",
            "--outdir",
            str(tmp_path),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    sheet = openpyxl.load_workbook(tmp_path / "cohort.xlsx").active
    header = [cell.value for cell in sheet[1]]
    row = [cell.value for cell in sheet[2]]
    assert header[:3] == ["respondent_code", "site", "delivery_date"]
    assert row[0] == "0016"
    assert row[header.index("withdrawal_reason")] == "pusing, mual; lelah"
    assert len(row) == len(header)
