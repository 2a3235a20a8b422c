"""One rule set for every write path (issue 12, item 1): the rules that relate a mother's records
to one another hold for the importer exactly as for the forms and services, and each is
worded once (studies/rules.py)."""

from __future__ import annotations

import csv
import datetime
import io

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from studies import exchange, services
from studies.models import MassageSession, Observation, Respondent

HEADER = [*exchange.COHORT_COLUMNS, "pre_observed_on", "post_observed_on", "withdrawn_on"]


def cohort_file(**cells) -> bytes:
    """One mother (delivered 1 June 2026, enrolled on day 2, every session done, both sheets
    dated by the protocol) with ``cells`` changed."""
    row = {
        "respondent_code": "X01",
        "site": "Klinik A",
        "delivery_date": "2026-06-01",
        "enrolled_on": "2026-06-03",
        "age_years": "27",
        "parity": "1",
        "education": "secondary",
        "employment": "working",
        "pre_feeds": "5",
        "pre_urinations": "4",
        "post_feeds": "11",
        "post_urinations": "9",
        "sessions_completed": "6",
        "status": "completed",
        "withdrawal_reason": "",
        "pre_observed_on": "",
        "post_observed_on": "",
        "withdrawn_on": "",
    }
    row.update(cells)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerow([row[column] for column in HEADER])
    return out.getvalue().encode()


def import_errors(study, user, **cells) -> list[tuple[str, str]]:
    before = (Respondent.objects.count(), Observation.objects.count())
    report = exchange.import_cohort(study=study, data=cohort_file(**cells), user=user)
    if report.errors:
        assert (Respondent.objects.count(), Observation.objects.count()) == before
    return [(error.column, error.message) for error in report.errors]


def test_the_file_as_it_should_be_imports(study, data_manager):
    assert import_errors(study, data_manager) == []
    mother = Respondent.objects.get(code="X01")
    assert mother.sessions.filter(status="done").count() == 6
    assert dict(mother.observations.values_list("timepoint", "observed_on")) == {
        "pre": datetime.date(2026, 6, 3),
        "post": datetime.date(2026, 6, 6),
    }


def test_sheets_dated_before_delivery_are_refused(study, data_manager):
    """The example of the issue: imported until now."""
    errors = import_errors(
        study, data_manager, pre_observed_on="2026-05-20", post_observed_on="2026-05-19"
    )
    message = "An observation cannot be before the delivery date."
    assert ("pre_observed_on", message) in errors
    assert ("post_observed_on", message) in errors
    assert Respondent.objects.count() == 0


@pytest.mark.parametrize(
    ("cells", "column", "message"),
    [
        (
            {"pre_observed_on": "2026-06-07", "post_observed_on": "2026-06-06"},
            "pre_observed_on",
            "The pre-test sheet must be dated on or before the first session",
        ),
        (
            {"sessions_completed": "0", "pre_observed_on": "2026-06-07"},
            "pre_observed_on",
            "The pre-test sheet must be dated before the post-test sheet",
        ),
        (
            {"post_observed_on": "2026-06-04"},
            "post_observed_on",
            "The post-test sheet must be dated after the last session",
        ),
        (
            {"sessions_completed": "0", "post_observed_on": "2026-06-03"},
            "post_observed_on",
            "The post-test sheet must be dated after the pre-test sheet",
        ),
        ({"post_observed_on": "2099-01-01"}, "post_observed_on", "cannot be dated in the future"),
        (
            {"status": "withdrawn", "withdrawal_reason": "Pindah", "withdrawn_on": "2026-06-02"},
            "withdrawn_on",
            "Withdrawal cannot be before enrolment.",
        ),
        (
            {"status": "withdrawn", "withdrawal_reason": "Pindah", "withdrawn_on": "2099-01-01"},
            "withdrawn_on",
            "The withdrawal date cannot be in the future.",
        ),
        (
            {"status": "withdrawn", "withdrawal_reason": ""},
            "withdrawal_reason",
            "Give the reason for the withdrawal.",
        ),
        (
            {"enrolled_on": "2026-06-04"},
            "sessions_completed",
            "6 sessions done, but only 4 planned sessions fall on or after the enrolment date.",
        ),
    ],
)
def test_each_cross_record_rule_holds_for_the_importer(study, data_manager, cells, column, message):
    errors = import_errors(study, data_manager, **cells)
    assert any(c == column and message in m for c, m in errors), errors
    assert Respondent.objects.count() == 0


def test_a_sheet_dated_by_the_protocol_in_the_future_is_refused_and_says_why(study, data_manager):
    """A mother enrolled yesterday: her post-test sheet would be dated three days ahead."""
    today = timezone.localdate()
    errors = import_errors(
        study,
        data_manager,
        delivery_date=str(today - datetime.timedelta(days=3)),
        enrolled_on=str(today - datetime.timedelta(days=1)),
        sessions_completed="0",
        status="enrolled",
    )
    [(column, message)] = errors
    assert column == "post_observed_on"
    assert "cannot be dated in the future" in message
    assert "The file gives no date for this sheet; by the protocol it is" in message


def test_sessions_done_cannot_be_dated_in_the_future(study, data_manager):
    today = timezone.localdate()
    errors = import_errors(
        study,
        data_manager,
        delivery_date=str(today - datetime.timedelta(days=2)),
        enrolled_on=str(today),
        post_feeds="",
        post_urinations="",
        status="enrolled",
    )
    assert [column for column, _message in errors] == ["sessions_completed"]
    assert "would date one in the future" in errors[0][1]


def test_what_the_preview_reports_is_what_is_written(study, data_manager):
    """Enrolled on day 3, four sessions done: the report says four and four are written."""
    report = exchange.import_cohort(
        study=study,
        data=cohort_file(enrolled_on="2026-06-04", sessions_completed="4"),
        user=data_manager,
        dry_run=True,
    )
    assert report.ok and report.sessions_done == 4
    exchange.import_cohort(
        study=study,
        data=cohort_file(enrolled_on="2026-06-04", sessions_completed="4"),
        user=data_manager,
    )
    assert MassageSession.objects.filter(status="done").count() == 4


def test_the_importer_and_the_model_word_a_rule_the_same(study, data_manager, make_respondent):
    """The same values refused on both paths with the same message."""
    respondent = make_respondent("M01")
    sheet = Observation(
        respondent=respondent,
        timepoint="pre",
        observed_on=datetime.date(2026, 5, 20),
        values={"feeds": 5},
    )
    with pytest.raises(ValidationError) as caught:
        sheet.full_clean()
    [model_message] = caught.value.message_dict["observed_on"]
    errors = import_errors(study, data_manager, pre_observed_on="2026-05-20")
    assert ("pre_observed_on", model_message) in errors


def test_a_withdrawal_dated_ahead_is_refused_by_the_service(make_respondent, midwife_a):
    respondent = make_respondent()
    with pytest.raises(ValidationError) as caught:
        services.withdraw_respondent(
            respondent=respondent,
            user=midwife_a,
            reason="Pindah kota",
            on=timezone.localdate() + datetime.timedelta(days=30),
        )
    assert "The withdrawal date cannot be in the future." in caught.value.messages
    assert Respondent.objects.get(pk=respondent.pk).status == "enrolled"


# --- each rule stated once, enforced on every path ---------------------------------------------


@pytest.fixture
def withdrawn(make_respondent, midwife_a):
    respondent = make_respondent("W01")
    services.save_observation(
        respondent=respondent,
        timepoint="pre",
        user=midwife_a,
        observed_on=respondent.enrolled_on,
        values={"feeds": 5, "urinations": 4},
    )
    return services.withdraw_respondent(respondent=respondent, user=midwife_a, reason="Pindah")


def history_size() -> int:
    return sum(model.history.count() for model in (Respondent, MassageSession, Observation))


def test_a_withdrawn_mother_is_read_only_for_every_service(withdrawn, midwife_a, data_manager):
    sheet = withdrawn.observations.get()
    session = withdrawn.sessions.first()
    before = history_size()
    attempts = {
        "correct her details": lambda: services.update_respondent(
            respondent=withdrawn, user=data_manager, reason="Umur", age_years=30
        ),
        "record a sheet": lambda: services.save_observation(
            respondent=withdrawn,
            timepoint="post",
            user=midwife_a,
            observed_on=withdrawn.enrolled_on,
            values={"feeds": 9},
        ),
        "correct a sheet": lambda: services.change_record(
            instance=sheet, user=data_manager, reason="Salah hitung", values={"feeds": 6}
        ),
        "record a session": lambda: services.record_session(
            session=session,
            user=midwife_a,
            status="missed",
            started_at=None,
            duration_minutes=None,
            notes="Ibu pulang",
        ),
        "move a session": lambda: services.change_record(
            instance=session, user=data_manager, reason="Geser", notes="x"
        ),
    }
    for name, attempt in attempts.items():
        with pytest.raises(ValidationError) as caught:
            attempt()
        assert "This mother has been withdrawn" in " ".join(caught.value.messages), name
    assert history_size() == before
    assert Respondent.objects.get(pk=withdrawn.pk).age_years == 27


def test_a_withdrawn_mothers_pages_write_nothing(client, withdrawn, data_manager):
    client.force_login(data_manager)
    before = history_size()
    base = f"/studies/PIJAT/respondents/{withdrawn.code}"
    response = client.post(
        f"{base}/sheets/post/",
        {"observed_on": "2026-06-06", "value_feeds": "9", "value_urinations": "8", "version": ""},
    )
    assert response.status_code == 200
    assert "This mother has been withdrawn" in response.content.decode()
    response = client.post(
        f"{base}/sessions/2/morning/",
        {"status": "missed", "notes": "Ibu pulang", "version": "1"},
    )
    assert response.status_code == 200
    assert "This mother has been withdrawn" in response.content.decode()
    assert history_size() == before


def test_a_withdrawal_needs_a_date_and_a_reason_on_the_form(client, make_respondent, midwife_a):
    respondent = make_respondent()
    client.force_login(midwife_a)
    url = f"/studies/PIJAT/respondents/{respondent.code}/withdraw/"
    response = client.post(url, {"withdrawn_on": "", "withdrawal_reason": "  "})
    page = response.content.decode()
    assert response.status_code == 200
    assert "Enter the date of the withdrawal." in page
    assert "Give the reason for the withdrawal." in page
    assert Respondent.objects.get(pk=respondent.pk).status == "enrolled"
    with pytest.raises(ValidationError) as caught:
        services.withdraw_respondent(respondent=respondent, user=midwife_a, reason="x", on=None)
    assert caught.value.message_dict == {"withdrawn_on": ["Enter the date of the withdrawal."]}
    assert Respondent.objects.get(pk=respondent.pk).status == "enrolled"


# --- the importer's per-row check: the same validators and rules as Respondent.full_clean ------

WIDE_HEADER = [*HEADER, "consent_date", *exchange.IDENTITY_COLUMNS]


def wide_file(rows: list[dict]) -> bytes:
    """Mothers as :func:`cohort_file` writes them (with consent and identity columns), each
    with its own changed cells; codes X01, X02, … unless given."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(WIDE_HEADER)
    for number, cells in enumerate(rows, start=1):
        row = dict(
            csv.DictReader(io.StringIO(cohort_file().decode())).__next__(),
            respondent_code=f"X{number:02}",
            consent_date="",
            full_name="",
            phone="",
            medical_record_number="",
        )
        row.update(cells)
        writer.writerow([row[column] for column in WIDE_HEADER])
    return out.getvalue().encode()


def full_clean_messages(study, cells: dict) -> dict[str, list[str]]:
    """What ``Respondent.full_clean`` (the forms' and the admin's check) says of a mother with
    these values: the yardstick of the importer's own per-row check."""
    values = {
        "delivery_date": datetime.date(2026, 6, 1),
        "enrolled_on": datetime.date(2026, 6, 3),
        "age_years": 27,
        "parity": 1,
        "education": "secondary",
        "employment": "working",
        "status": "completed",
        "code": "Y01",
        **cells,
    }
    respondent = Respondent(study=study, site=study.sites.get(name="Klinik A"), **values)
    try:
        respondent.full_clean(validate_unique=False)
    except ValidationError as error:
        return error.message_dict
    return {}


IMPORT_FIELD_CASES = [
    # the fields' validators
    ({"age_years": "9"}, {"age_years": 9}, "age_years", "age_years"),
    ({"age_years": "61"}, {"age_years": 61}, "age_years", "age_years"),
    ({"parity": "0"}, {"parity": 0}, "parity", "parity"),
    ({"parity": "21"}, {"parity": 21}, "parity", "parity"),
    (
        {"status": "withdrawn", "withdrawn_on": "2026-06-05", "withdrawal_reason": "x" * 2001},
        {
            "status": "withdrawn",
            "withdrawn_on": datetime.date(2026, 6, 5),
            "withdrawal_reason": "x" * 2001,
        },
        "withdrawal_reason",
        "withdrawal_reason",
    ),
    # a check constraint
    (
        {"enrolled_on": "2026-05-31", "sessions_completed": "0"},
        {"enrolled_on": datetime.date(2026, 5, 31)},
        "enrolled_on",
        "enrolled_on",
    ),
    # Respondent.clean's rules (rules.respondent_dates, rules.withdrawal_complete)
    (
        {"consent_date": "2026-05-30"},
        {"consent_date": datetime.date(2026, 5, 30)},
        "consent_date",
        "consent_date",
    ),
    (
        {"consent_date": "2026-06-04"},
        {"consent_date": datetime.date(2026, 6, 4)},
        "consent_date",
        "consent_date",
    ),
    (
        {"status": "withdrawn", "withdrawn_on": "2026-06-05", "withdrawal_reason": ""},
        {"status": "withdrawn", "withdrawn_on": datetime.date(2026, 6, 5)},
        "withdrawal_reason",
        "withdrawal_reason",
    ),
]


@pytest.mark.parametrize(("cells", "values", "column", "field"), IMPORT_FIELD_CASES)
def test_the_importer_refuses_what_full_clean_refuses_with_its_words(
    study, data_manager, cells, values, column, field
):
    """The importer no longer calls ``full_clean`` per row (make bench): its check must still
    run every field validator, check constraint and rule of the model, worded the same. Two
    rows with the same bad value are both refused (each distinct value is checked once per
    file, and its verdict applies to every row that has it)."""
    expected = full_clean_messages(study, values)[field]
    report = exchange.import_cohort(
        study=study, data=wide_file([cells, {}, cells]), user=data_manager
    )
    found = {(error.row, error.column, error.message) for error in report.errors}
    for row in (2, 4):
        for message in expected:
            assert (row, column, message) in found, (report.errors, expected)
    assert not any(error.row == 3 for error in report.errors)
    assert Respondent.objects.count() == 0


def test_the_importer_checks_the_code_sheet_values_and_identity_per_row(study, data_manager):
    """The code's format (its RegexValidator), a sheet's values (``Outcome.check``, checked
    once per distinct sheet of the file) and the identity's fields, on every row that breaks
    them."""
    rows = [
        {"respondent_code": "X 01"},
        {"pre_feeds": "500"},
        {"pre_feeds": "500"},
        {"full_name": "n" * 201},
        {},
    ]
    report = exchange.import_cohort(study=study, data=wide_file(rows), user=data_manager)
    by_row = {}
    for error in report.errors:
        by_row.setdefault(error.row, []).append(error.column)
    assert by_row == {
        2: ["respondent_code"],
        3: ["pre_feeds"],
        4: ["pre_feeds"],
        5: ["full_name"],
    }, report.errors
    assert report.errors[0].message in full_clean_messages(study, {"code": "X 01"})["code"]
    assert Respondent.objects.count() == 0


def test_a_file_is_judged_against_one_day(study, data_manager, monkeypatch):
    """The read takes the day once: a delivery dated tomorrow is refused by the model's rule,
    worded as the model words it."""
    tomorrow = timezone.localdate() + datetime.timedelta(days=1)
    report = exchange.import_cohort(
        study=study,
        data=wide_file(
            [{"delivery_date": tomorrow.isoformat(), "enrolled_on": tomorrow.isoformat()}]
        ),
        user=data_manager,
    )
    columns = {(error.column, error.message) for error in report.errors}
    assert ("delivery_date", "The delivery date cannot be in the future.") in columns
    assert ("enrolled_on", "The enrolment date cannot be in the future.") in columns
