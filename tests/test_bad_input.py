"""A catalogue of bad input run against every form and the importer: each value gets a clear
message or is stored exactly (and then shown escaped), never a server error, and a refused value
leaves the database as it was."""

from __future__ import annotations

import csv
import html
import io

import pytest
import time_machine
from django.urls import reverse

from studies import exchange
from studies.models import MassageSession, Observation, Respondent, RespondentIdentity

from .test_workflow import NOW, enrolment, first_session, session_url, sheet_url

NUMBERS = [
    "-1",
    "-0",
    "41",
    "99999999999999999999999",
    "1e3",
    "3.5",
    "0x10",
    "NaN",
    "Infinity",
    "dua",
    " ",
    "",
    "١٢",  # Arabic-Indic digits
    "1; DROP TABLE studies_respondent",
]
TEXTS = [
    "x" * 10_000,
    "مرحبا بالعالم",
    "\u202etxt.exe",
    "שלום עולם",
    "Ibu 👶🏽 sehat",
    "<script>alert('x')</script>",
    '"><img src=x onerror=alert(1)>',
    "'; DROP TABLE studies_respondent; --",
    "' OR '1'='1",
    '=HYPERLINK("http://evil","klik")',
    "nul\x00byte",
    "\t\r\n",
]
DATES = [
    "0001-01-01",
    "1900-01-01",
    "9999-12-31",
    "2026-02-30",
    "31/12/2026",
    "2026-13-01",
    "kemarin",
    "",
    "2026-06-05",  # tomorrow (the tests run on 4 June 2026)
    "2026-05-01",  # a month before delivery
]
TRIED = {"count": 0}


def database_state():
    return (
        list(Respondent.objects.order_by("pk").values_list(*FIELDS_RESPONDENT)),
        list(MassageSession.objects.order_by("pk").values()),
        list(Observation.objects.order_by("pk").values()),
        list(RespondentIdentity.objects.order_by("pk").values()),
    )


FIELDS_RESPONDENT = [
    "code",
    "delivery_date",
    "enrolled_on",
    "age_years",
    "parity",
    "status",
    "withdrawal_reason",
    "version",
]


def post_and_check(client, url, data, *, field, value, page_of=None):
    """Post one bad value. A refusal (200) must name the field and change nothing; an accepted
    value (302) must be stored as typed and shown escaped."""
    TRIED["count"] += 1
    before = database_state()
    response = client.post(url, data)
    assert response.status_code in (200, 302, 400), (field, value, response.status_code)
    if response.status_code == 400:  # text the database cannot store, refused before the view
        assert "\x00" in value, (field, value)
        assert "cannot be saved" in response.content.decode(), (field, value)
        assert database_state() == before, (field, value)
    elif response.status_code == 200:
        form = response.context["form"]
        assert form.errors, (field, value)
        assert database_state() == before, (field, value)
        page = response.content.decode()
        if "<script>" in value or "onerror" in value:
            assert value not in page and html.escape(value) in page or value not in page
    elif page_of is not None and value.strip() and "<" in value:
        page = client.get(page_of).content.decode()
        assert value not in page
        assert html.escape(value, quote=True) in page or html.escape(value, quote=False) in page
    return response


@pytest.fixture
def on_fixed_day():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def mother(on_fixed_day, make_respondent):
    return make_respondent("R01", identity={"full_name": "Dewi"})


@pytest.mark.parametrize(
    ("field", "values"),
    [
        ("age_years", NUMBERS),
        ("parity", NUMBERS),
        ("code", TEXTS),
        ("full_name", TEXTS),
        ("phone", TEXTS),
        ("delivery_date", DATES),
        ("enrolled_on", DATES),
        ("consent_date", DATES),
        ("education", ["doctorate", "", "<b>x</b>"]),
        ("site", ["999999", "abc", "-1", ""]),
    ],
)
def test_enrolment_form(on_fixed_day, client, study, site_a, midwife_a, field, values):
    client.force_login(midwife_a)
    url = reverse("studies:respondent_enrol", args=[study.code])
    for value in values:
        data = {**enrolment(site_a), field: value}
        response = post_and_check(client, url, data, field=field, value=value)
        if response.status_code == 302:  # an acceptable value, stored as typed
            mother = Respondent.objects.get(code=enrolment(site_a)["code"])
            if field == "full_name":
                assert mother.identity.full_name == value.strip()
                page = client.get(response["Location"]).content.decode()
                assert "<script>" not in page and "<img src=x" not in page
            # the next value needs the code free again
            Respondent.objects.filter(pk=mother.pk).update(code=f"OLD{TRIED['count']}")
            Respondent.history.filter(id=mother.pk).update(code=f"OLD{TRIED['count']}")


@pytest.mark.parametrize(
    ("field", "values"),
    [
        ("duration_minutes", NUMBERS),
        ("notes", TEXTS),
        ("started_on", DATES),
        ("started_time", ["25:00", "08:61", "pagi", "", "8", "-1:00"]),
        ("status", ["planned", "deleted", "", "<x>"]),
    ],
)
def test_session_form(mother, client, midwife_a, field, values):
    client.force_login(midwife_a)
    session = first_session(mother)
    url = session_url(session)
    base = {
        "status": "missed",
        "started_on": "2026-06-03",
        "started_time": "08:15",
        "duration_minutes": "15",
        "notes": "valid reason",
        "version": str(session.version),
    }
    for value in values:
        session.refresh_from_db()
        data = {**base, field: value, "version": str(session.version)}
        if session.status != "planned":
            data["reason"] = "re-check"
        post_and_check(
            client,
            url,
            data,
            field=field,
            value=value,
            page_of=reverse("studies:respondent_detail", args=[mother.study.code, mother.code]),
        )


@pytest.mark.parametrize(
    ("field", "values"),
    [
        ("value_feeds", NUMBERS),
        ("value_urinations", NUMBERS),
        ("observed_on", DATES),
        ("notes", TEXTS),
    ],
)
def test_observation_form(mother, client, midwife_a, field, values):
    client.force_login(midwife_a)
    url = sheet_url(mother, "pre")
    base = {"observed_on": "2026-06-03", "value_feeds": "5", "value_urinations": "4", "notes": ""}
    for value in values:
        sheet = Observation.objects.filter(respondent=mother, timepoint="pre").first()
        data = {**base, field: value, "version": str(sheet.version) if sheet else ""}
        if sheet:
            data["reason"] = "re-check"
        post_and_check(
            client,
            url,
            data,
            field=field,
            value=value,
            page_of=reverse("studies:respondent_detail", args=[mother.study.code, mother.code]),
        )


@pytest.mark.parametrize(
    ("field", "values"), [("withdrawal_reason", TEXTS), ("withdrawn_on", DATES)]
)
def test_withdrawal_form(on_fixed_day, client, make_respondent, midwife_a, field, values):
    client.force_login(midwife_a)
    for index, value in enumerate(values):
        mother = make_respondent(f"W{index:02d}")
        url = reverse("studies:respondent_withdraw", args=[mother.study.code, mother.code])
        data = {"withdrawn_on": "2026-06-04", "withdrawal_reason": "Pindah", field: value}
        post_and_check(
            client,
            url,
            data,
            field=field,
            value=value,
            page_of=reverse("studies:respondent_detail", args=[mother.study.code, mother.code]),
        )


# What only Python's int() reads (issue 13, item 17): the importer takes ASCII digits only.
IMPORT_NUMBERS = [*NUMBERS, "1_0", "２９", "٥", "۵", "5.000", "+-5"]
COLUMNS = {
    "age_years": IMPORT_NUMBERS,
    "parity": IMPORT_NUMBERS,
    "pre_feeds": IMPORT_NUMBERS,
    "post_urinations": IMPORT_NUMBERS,
    "sessions_completed": IMPORT_NUMBERS,
    "respondent_code": TEXTS,
    "site": TEXTS,
    "withdrawal_reason": TEXTS,
    "education": ["doctorate", "<b>", "BASIC"],
    "status": ["deleted", "<x>", "Completed"],
    "delivery_date": DATES,
    "enrolled_on": DATES,
}


@pytest.mark.parametrize("column", COLUMNS)
def test_importer(study, data_manager, column):
    from studies import services

    from .test_exchange import paper_csv

    for index, value in enumerate(COLUMNS[column]):
        TRIED["count"] += 1
        target = services.create_study(
            code=f"BAD{index}", title="bad input", site_names=["Klinik A", "Klinik B"]
        )
        lines = list(csv.reader(io.StringIO(paper_csv().decode())))
        lines[3][lines[0].index(column)] = value
        if column == "withdrawal_reason":
            lines[3][lines[0].index("status")] = "withdrawn"
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(lines)
        before = database_state()
        try:
            report = exchange.import_cohort(
                study=target, data=out.getvalue().encode(), user=data_manager
            )
        except exchange.ImportFileError as error:
            assert str(error)
            assert database_state() == before
            continue
        if report.errors:
            assert all(error.row == 4 for error in report.errors), report.errors
            assert all(error.column for error in report.errors), report.errors
            assert database_state() == before
        else:  # an acceptable value: stored as written
            if COLUMNS[column] is IMPORT_NUMBERS:
                assert value.isascii(), f"{value!r} was accepted"
            mother = Respondent.objects.get(study=target, code=lines[3][0].strip())
            if column == "withdrawal_reason":
                # a leading apostrophe is the spreadsheet's text marker, as in Excel
                assert mother.withdrawal_reason == exchange.restore(value.strip())
