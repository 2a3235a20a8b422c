"""The files clinics produce (issue 13, items 16-18), written with the bytes Excel writes: its
"Unicode Text" (UTF-16LE with its mark, tabs, CRLF), "CSV UTF-8" from an Indonesian Windows
(semicolons, CRLF), a ``sep=;`` first line, the empty columns at the end, day-first dates,
``5,0``, and the Indonesian labels of the choices. What Excel writes is read; what only Python
would read (``1_0``, ``２９``, ``٥``) is refused; an encoding it cannot read is named."""

from __future__ import annotations

import codecs
import datetime

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import translation

from studies import exchange
from studies.exchange.columns import choice_key, choice_words
from studies.models import ImportJob, MassageSession, Observation, Respondent

HEADER = list(exchange.COHORT_COLUMNS)
JAKARTA = datetime.timezone(datetime.timedelta(hours=7))


@pytest.fixture(autouse=True)
def end_of_november():
    """The files speak of November 2026 (and June): today is after every date in them."""
    with time_machine.travel(datetime.datetime(2026, 11, 30, 10, 0, tzinfo=JAKARTA), tick=False):
        yield


def mother(code="R01", **cells) -> dict[str, str]:
    """One mother as a bidan types her row into Excel: day-first dates, Indonesian words."""
    row = {
        "respondent_code": code,
        "site": "Klinik A",
        "delivery_date": "13/11/2026",
        "enrolled_on": "15/11/2026",
        "age_years": "27",
        "parity": "1",
        "education": "SMA",
        "employment": "Bekerja",
        "pre_feeds": "5",
        "pre_urinations": "4",
        "post_feeds": "11",
        "post_urinations": "9",
        "sessions_completed": "6",
        "status": "Selesai",
        "withdrawal_reason": "",
    }
    row.update(cells)
    return row


def table(rows, *, delimiter=";", trailing=0, header=HEADER) -> str:
    """The text of a sheet saved by Excel: CRLF line ends, ``trailing`` empty columns after
    the last named one (cells once formatted), no quoting where none is needed."""
    lines = [delimiter.join(header + [""] * trailing)]
    for row in rows:
        lines.append(delimiter.join([row[column] for column in header] + [""] * trailing))
    return "\r\n".join(lines) + "\r\n"


def unicode_text(rows, **kwargs) -> bytes:
    """Excel's "Unicode Text (*.txt)": UTF-16 little-endian with its byte-order mark, tabs."""
    return codecs.BOM_UTF16_LE + table(rows, delimiter="\t", **kwargs).encode("utf-16-le")


def csv_utf8(rows, **kwargs) -> bytes:
    """Excel's "CSV UTF-8" on an Indonesian Windows: the byte-order mark, semicolons."""
    return codecs.BOM_UTF8 + table(rows, **kwargs).encode()


def imported(study, data_manager, data, **kwargs):
    return exchange.import_cohort(study=study, data=data, user=data_manager, **kwargs)


def nothing_saved() -> bool:
    return not (Respondent.objects.exists() or Observation.objects.exists())


# --- item 16: what Excel in Indonesia writes is read ------------------------------------------


def test_excel_unicode_text_is_read(study, data_manager):
    data = unicode_text([mother("R01"), mother("R02", site="Klinik B")])
    assert data.startswith(b"\xff\xfer\x00e\x00s\x00")
    report = imported(study, data_manager, data)
    assert report.ok, report.errors
    assert (report.created, report.delimiter) == (2, "\t")
    first = Respondent.objects.get(code="R01")
    assert first.delivery_date == datetime.date(2026, 11, 13)
    assert first.enrolled_on == datetime.date(2026, 11, 15)
    assert (first.education, first.employment, first.status) == (
        "secondary",
        "working",
        "completed",
    )
    assert Respondent.objects.get(code="R02").site.name == "Klinik B"
    assert MassageSession.objects.filter(status="done").count() == 12
    assert sorted(
        sheet["feeds"] for sheet in Observation.objects.values_list("values", flat=True)
    ) == [
        5,
        5,
        11,
        11,
    ]


def test_excel_separator_line_and_crlf_are_read_and_rows_count_from_the_header(study, data_manager):
    rows = [mother("R01"), mother("R02", age_years="9")]
    data = ("sep=;\r\n" + table(rows)).encode()
    report = imported(study, data_manager, data)
    # Excel hides the sep= line: the header is row 1 and the second mother row 3, as seen.
    assert [str(error) for error in report.errors] == [
        "row 3, column age_years: Age must be at least 10 years."
    ]
    assert nothing_saved()
    report = imported(study, data_manager, ("sep=;\r\n" + table(rows[:1])).encode())
    assert report.ok and report.delimiter == ";" and report.created == 1
    assert Respondent.objects.get().code == "R01"


def test_empty_columns_at_the_end_are_no_columns(study, data_manager):
    data = csv_utf8([mother("R01"), mother("R02")], trailing=3)
    report = imported(study, data_manager, data)
    assert report.ok, report.errors
    assert set(Respondent.objects.values_list("code", flat=True)) == {"R01", "R02"}


def test_a_column_without_a_name_between_named_ones_is_named_by_its_number(study, data_manager):
    header = [*HEADER[:4], "", *HEADER[4:]]
    rows = [{**mother("R01"), "": "x"}]
    report = imported(study, data_manager, table(rows, header=header).encode())
    assert [str(error) for error in report.errors] == [
        "row 1: Column(s) without a name in the header: 5."
    ]
    assert nothing_saved()


def test_a_cell_past_the_last_column_is_still_refused(study, data_manager):
    data = table([mother("R01")]).encode().replace(b";\r\n", b";;catatan\r\n")
    report = imported(study, data_manager, data)
    assert [str(error) for error in report.errors] == [
        "row 2: This row has more cells than the header has columns."
    ]
    assert nothing_saved()


def test_whole_numbers_with_decimals_and_spaces_around_values(study, data_manager):
    rows = [
        mother(
            "R01",
            age_years="27,0",
            parity=" 2 ",
            pre_feeds="5.0",
            pre_urinations="4,00",
            post_feeds=" 11,0 ",
            sessions_completed="6,0",
            education="  sma ",
            site=" Klinik A ",
        )
    ]
    report = imported(study, data_manager, csv_utf8(rows))
    assert report.ok, report.errors
    saved = Respondent.objects.get(code="R01")
    assert (saved.age_years, saved.parity, saved.education) == (27, 2, "secondary")
    pre = saved.observations.get(timepoint="pre")
    assert pre.values == {"feeds": 5, "urinations": 4}
    assert saved.observations.get(timepoint="post").values["feeds"] == 11
    assert saved.sessions.filter(status="done").count() == 6


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("13/11/2026", datetime.date(2026, 11, 13)),
        ("13-11-2026", datetime.date(2026, 11, 13)),
        ("13.11.2026", datetime.date(2026, 11, 13)),
        ("3/11/2026", datetime.date(2026, 11, 3)),
        ("2026-11-13", datetime.date(2026, 11, 13)),
        ("2026/11/13", datetime.date(2026, 11, 13)),
    ],
)
def test_day_first_and_iso_dates(study, data_manager, written, expected):
    enrolled = (expected + datetime.timedelta(days=2)).isoformat()
    rows = [mother("R01", delivery_date=written, enrolled_on=enrolled)]
    report = imported(study, data_manager, csv_utf8(rows))
    assert report.ok, report.errors
    assert Respondent.objects.get().delivery_date == expected


@pytest.mark.parametrize(("language", "words"), [("en", "5 June 2026"), ("id", "5 Juni 2026")])
def test_an_ambiguous_date_is_read_day_first_in_every_language_and_said_in_words(
    study, data_manager, language, words
):
    rows = [
        mother("R01", delivery_date="05/06/2026", enrolled_on="07/06/2026"),
        mother("R02", delivery_date="02/06/2026", enrolled_on="04/06/2026"),
    ]
    with translation.override(language):
        report = imported(study, data_manager, csv_utf8(rows), dry_run=True)
        notes = [str(note) for note in report.notes]
    assert report.ok, report.errors
    assert nothing_saved()
    row_word = "baris" if language == "id" else "row"
    # One sample per date column, the first such date of the file.
    assert len(notes) == 2
    assert notes[0].startswith(f"{row_word} 2")
    assert "“05/06/2026”" in notes[0] and words in notes[0]
    with translation.override(language):
        imported(study, data_manager, csv_utf8(rows))
    assert Respondent.objects.get(code="R01").delivery_date == datetime.date(2026, 6, 5)
    assert Respondent.objects.get(code="R02").enrolled_on == datetime.date(2026, 6, 4)


def test_an_unambiguous_or_iso_date_gives_no_note(study, data_manager):
    rows = [mother("R01", delivery_date="13/11/2026", enrolled_on="2026-11-15")]
    report = imported(study, data_manager, csv_utf8(rows), dry_run=True)
    assert report.ok and report.notes == []


@pytest.mark.parametrize(
    ("column", "written", "stored"),
    [
        ("education", "SMA", "secondary"),
        ("education", "sd", "basic"),
        ("education", "SMP", "basic"),
        ("education", "Dasar (SD atau SMP)", "basic"),
        ("education", "Menengah", "secondary"),
        ("education", "S1", "higher"),
        ("education", "Tinggi", "higher"),
        ("education", "Higher (diploma or university)", "higher"),
        ("education", "SECONDARY", "secondary"),
        ("employment", "Bekerja", "working"),
        ("employment", "TIDAK BEKERJA", "not_working"),
        ("employment", "tidak  bekerja", "not_working"),
        ("employment", "Not working", "not_working"),
        ("employment", "not_working", "not_working"),
        ("status", "Terdaftar", "enrolled"),
        ("status", "selesai", "completed"),
    ],
)
def test_choices_by_their_indonesian_and_english_labels(
    study, data_manager, column, written, stored
):
    report = imported(study, data_manager, csv_utf8([mother("R01", **{column: written})]))
    assert report.ok, report.errors
    assert getattr(Respondent.objects.get(), column) == stored


def test_each_word_names_one_choice_and_the_data_dictionary_lists_them(study):
    for choices in (Respondent.Education, Respondent.Employment, Respondent.Status):
        keys = [choice_key(word) for words in choice_words(choices).values() for word in words]
        assert len(keys) == len(set(keys)), choices
    rows = {row[0]: row for row in exchange.dictionary_rows()}
    assert "secondary (Menengah (SMA/sederajat), Menengah, " in rows["education"][4]
    assert "SMA" in rows["education"][4] and "SD" in rows["education"][4]
    assert rows["employment"][4].startswith("working (Bekerja, PNS, Swasta, ")
    assert " / not_working (Tidak bekerja, Ibu rumah tangga, IRT, " in rows["employment"][4]


def test_an_unknown_choice_is_still_refused(study, data_manager):
    report = imported(study, data_manager, csv_utf8([mother("R01", education="Kuliah S")]))
    assert [str(error) for error in report.errors] == [
        "row 2, column education: “Kuliah S” is not one of: Basic, SD, SMP, SLTP … (basic) / "
        "Secondary, SMA, SMK, SLTA … (secondary) / Higher, D3, S1, Perguruan tinggi … (higher)."
    ]
    assert nothing_saved()


# --- item 16: what cannot be read is named ----------------------------------------------------


def test_excel_csv_in_windows_1252_is_named(study, data_manager):
    rows = [mother("R01", withdrawal_reason="Ibu pindah ke Bogor — rumah orang tua")]
    data = table(rows).encode("cp1252")
    with pytest.raises(exchange.ImportFileError) as raised:
        imported(study, data_manager, data)
    assert "Windows-1252" in str(raised.value)
    assert "“CSV UTF-8”" in str(raised.value)
    assert nothing_saved()


def test_utf16_without_its_mark_is_named(study, data_manager):
    data = table([mother("R01")], delimiter="\t").encode("utf-16-le")
    with pytest.raises(exchange.ImportFileError, match="UTF-16 text without its byte-order mark"):
        imported(study, data_manager, data)
    assert nothing_saved()


def test_a_nul_in_unicode_text_is_still_refused(study, data_manager):
    data = unicode_text([mother("R01", withdrawal_reason="a\x00b")])
    with pytest.raises(exchange.ImportFileError, match="This is not a text"):
        imported(study, data_manager, data)
    assert nothing_saved()


# --- item 17: only what a spreadsheet writes -------------------------------------------------


@pytest.mark.parametrize(
    ("column", "written"),
    [
        ("age_years", "1_0"),
        ("age_years", "２９"),  # full-width
        ("pre_feeds", "٥"),  # Arabic-Indic
        ("pre_feeds", "۵"),  # Extended Arabic-Indic
        ("parity", "١"),
        ("age_years", "2_9"),
        ("pre_feeds", "5.000"),  # five thousand in Indonesian, not five
        ("pre_feeds", "5.5"),  # the definition's message (Outcome.check)
        ("pre_feeds", "5,1"),
        ("sessions_completed", "６"),
    ],
)
def test_digits_only_python_reads_are_refused(study, data_manager, column, written):
    report = imported(study, data_manager, csv_utf8([mother("R01", **{column: written})]))
    assert [(error.row, error.column) for error in report.errors] == [(2, column)]
    expected = (
        "Enter a whole number."  # a number, but not a count: the definition's own check
        if written in ("5.5", "5,1")
        else f"“{written}” is not a whole number."
    )
    assert expected in report.errors[0].message
    assert nothing_saved()


@pytest.mark.parametrize(
    "written",
    [
        "２０２６-１１-１３",
        "2026-١١-13",
        "١٣/١١/٢٠٢٦",
        "20261113",
        "2026-W46-5",
        "13/11/26",
        "31/02/2026",
    ],
)
def test_dates_only_python_reads_are_refused(study, data_manager, written):
    report = imported(study, data_manager, csv_utf8([mother("R01", delivery_date=written)]))
    assert [(error.row, error.column) for error in report.errors] == [(2, "delivery_date")]
    assert "is not a date: write it as DD/MM/YYYY or YYYY-MM-DD." in report.errors[0].message
    assert nothing_saved()


# --- item 18: what the import says is what it writes ------------------------------------------


def test_six_sessions_for_a_mother_enrolled_on_day_3_are_refused_with_the_reason(
    study, data_manager
):
    """The issue's example: enrolled on day 3, the row says 6 sessions; 4 are in her plan."""
    rows = [mother("R01", delivery_date="10/11/2026", enrolled_on="13/11/2026")]
    report = imported(study, data_manager, csv_utf8(rows), dry_run=True)
    assert [str(error) for error in report.errors] == [
        "row 2, column sessions_completed: 6 sessions done, but only 4 planned sessions fall "
        "on or after the enrolment date."
    ]
    assert report.sessions_done == 0
    report = imported(study, data_manager, csv_utf8(rows))
    assert not report.ok and nothing_saved()
    assert not MassageSession.objects.exists()


def test_four_sessions_for_a_mother_enrolled_on_day_3_are_written_as_said(study, data_manager):
    rows = [
        mother("R01", delivery_date="10/11/2026", enrolled_on="13/11/2026", sessions_completed="4")
    ]
    preview = imported(study, data_manager, csv_utf8(rows), dry_run=True)
    assert preview.ok and preview.sessions_done == 4
    report = imported(study, data_manager, csv_utf8(rows))
    assert report.ok and report.sessions_done == 4
    done = MassageSession.objects.filter(respondent__code="R01", status="done")
    assert done.count() == 4
    assert min(session.postpartum_day for session in done) == 3


# --- the command and the page ----------------------------------------------------------------


def test_the_command_imports_excel_unicode_text_and_prints_the_notes(study, tmp_path, capsys):
    path = tmp_path / "kohort.txt"
    path.write_bytes(
        unicode_text([mother("R01", delivery_date="05/06/2026", enrolled_on="2026-06-07")])
    )
    call_command("import_cohort", "PIJAT", str(path), "--dry-run")
    out = capsys.readouterr().out
    assert "row 2, column delivery_date: “05/06/2026” read day first, as 5 June 2026." in out
    assert "Dry run: 1 mothers" in out
    assert nothing_saved()
    call_command("import_cohort", "PIJAT", str(path))
    out = capsys.readouterr().out
    assert "Imported 1 mothers into PIJAT" in out and "separator 'tab'" in out
    assert Respondent.objects.get().delivery_date == datetime.date(2026, 6, 5)


def test_the_command_names_an_encoding_it_cannot_read(study, tmp_path):
    path = tmp_path / "kohort.csv"
    path.write_bytes(table([mother("R01", withdrawal_reason="Pindah — Bogor")]).encode("cp1252"))
    with pytest.raises(CommandError, match="Windows-1252"):
        call_command("import_cohort", "PIJAT", str(path))
    assert nothing_saved()


def test_the_preview_page_shows_how_dates_were_read(client, study, data_manager):
    """The preview lists the report's notes (studies/tasks.py puts them in the job's report)."""
    job = ImportJob.objects.create(
        study=study,
        user=data_manager,
        filename="kohort.csv",
        state=ImportJob.State.READY,
        report={
            "rows": 1,
            "sheets": 2,
            "sessions_done": 6,
            "notes": ["row 2, column delivery_date: “05/06/2026” read day first, as 5 June 2026."],
        },
    )
    client.force_login(data_manager)
    response = client.get(reverse("studies:import_job", args=[study.code, job.pk]))
    page = response.content.decode()
    assert response.status_code == 200
    assert 'id="import-notes"' in page
    assert "How the file was read" in page
    assert "“05/06/2026” read day first, as 5 June 2026." in page
    assert not Respondent.objects.exists()
