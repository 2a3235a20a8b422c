"""The midwife's workflow through real requests: enrol, record sessions and sheets, correct,
and the worklist on a fixed date. Each form is tried by the allowed user and the refused ones,
and the database is checked afterwards."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.urls import reverse

from studies import services
from studies.models import (
    MassageSession,
    Observation,
    Respondent,
    RespondentIdentity,
)

JAKARTA = datetime.timezone(datetime.timedelta(hours=7))
TODAY = datetime.date(2026, 6, 4)
NOW = datetime.datetime(2026, 6, 4, 10, 30, tzinfo=JAKARTA)


@pytest.fixture
def on_fixed_day():
    with time_machine.travel(NOW, tick=False):
        yield


def enrol_url(study):
    return reverse("studies:respondent_enrol", args=[study.code])


def detail_url(respondent):
    return reverse("studies:respondent_detail", args=[respondent.study.code, respondent.code])


def session_url(session):
    respondent = session.respondent
    return reverse(
        "studies:session_record",
        args=[respondent.study.code, respondent.code, session.postpartum_day, session.slot],
    )


def sheet_url(respondent, phase):
    return reverse(
        "studies:observation_record", args=[respondent.study.code, respondent.code, phase]
    )


def enrolment(site, **overrides):
    data = {
        "code": "P-016",
        "site": site.pk,
        "delivery_date": "2026-06-02",
        "enrolled_on": "2026-06-04",
        "age_years": "24",
        "parity": "1",
        "education": "secondary",
        "employment": "not_working",
        "consent_date": "2026-06-04",
        "full_name": "Siti Aminah",
        "phone": "+62 812 3456 7890",
        "medical_record_number": "RM-0042",
        "on_start_day": "on",
        "breastfeeding": "on",
        "consent_obtained": "on",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def errors_of(response, field):
    return [str(error) for error in response.context["form"].errors.get(field, [])]


# --- enrolment -------------------------------------------------------------------------------


def test_enrol_form_shows_the_checklist_and_only_her_sites(client, midwife_a, on_fixed_day):
    client.force_login(midwife_a)
    response = client.get(enrol_url(midwife_a.sites.get().studies.get()))
    page = response.content.decode()
    assert response.status_code == 200
    assert '<h1 class="h3">Enrol a mother</h1>' in page
    assert "On the enrolment date the mother is on postpartum day 2." in page
    assert "The mother is breastfeeding her baby." in page
    assert "Klinik A" in page and "Klinik B" not in page
    assert 'for="id_code"' in page and 'id="id_code"' in page


def test_enrolment_saves_the_mother_her_identity_and_six_planned_sessions(
    client, study, site_a, midwife_a, on_fixed_day
):
    client.force_login(midwife_a)
    response = client.post(enrol_url(study), enrolment(site_a))
    mother = Respondent.objects.get(study=study, code="P-016")
    assert response.status_code == 302
    assert response["Location"] == detail_url(mother)
    assert (mother.site, mother.age_years, mother.parity) == (site_a, 24, 1)
    assert mother.eligibility_confirmed is True
    assert mother.consent_taken_by == midwife_a
    assert mother.status == Respondent.Status.ENROLLED
    identity = RespondentIdentity.objects.get(respondent=mother)
    assert (identity.full_name, identity.phone) == ("Siti Aminah", "+62 812 3456 7890")
    planned = list(
        mother.sessions.order_by("postpartum_day", "slot").values_list(
            "postpartum_day", "slot", "planned_date", "status"
        )
    )
    assert len(planned) == 6
    assert planned[0] == (2, "afternoon", datetime.date(2026, 6, 4), "planned")
    assert {row[2] for row in planned} == {datetime.date(2026, 6, d) for d in (4, 5, 6)}
    assert mother.history.get().history_user == midwife_a
    follow = client.get(response["Location"])
    assert "P-016 is enrolled; 6 sessions are planned." in follow.content.decode()


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"code": "R01"}, "code", "This respondent code is already used in this study."),
        ({"breastfeeding": None}, "breastfeeding", "This criterion must be met"),
        ({"consent_obtained": None}, "consent_obtained", "This criterion must be met"),
        (
            {"enrolled_on": "2026-06-05"},
            "enrolled_on",
            "On this date the mother is on postpartum day 3; this study enrols on day 2.",
        ),
        ({"age_years": "9"}, "age_years", "Age must be at least 10 years."),
        ({"parity": "0"}, "parity", "Parity counts this child, so it is at least 1."),
        ({"age_years": "dua puluh"}, "age_years", "Enter a whole number."),
        ({"code": "Siti <b>"}, "code", "Use letters, digits"),
        ({"phone": "call me"}, "phone", "Enter a phone number of digits"),
        ({"consent_date": ""}, "consent_date", "This field is required."),
    ],
)
def test_enrolment_refuses_bad_input_beside_the_field_and_saves_nothing(
    client, study, site_a, midwife_a, make_respondent, on_fixed_day, overrides, field, message
):
    make_respondent("R01")
    client.force_login(midwife_a)
    before = (Respondent.objects.count(), MassageSession.objects.count())
    response = client.post(enrol_url(study), enrolment(site_a, **overrides))
    assert response.status_code == 200
    assert any(message in error for error in errors_of(response, field)), response.context[
        "form"
    ].errors
    assert (Respondent.objects.count(), MassageSession.objects.count()) == before
    assert 'value="Siti Aminah"' in response.content.decode()  # what was typed is kept


def test_enrolment_in_a_site_outside_hers_is_refused(
    client, study, site_b, midwife_a, on_fixed_day
):
    client.force_login(midwife_a)
    response = client.post(enrol_url(study), enrolment(site_b))
    assert errors_of(response, "site") == ["Choose one of your sites in this study."]
    assert not Respondent.objects.exists()


def test_exclusion_criteria_of_the_study_are_part_of_the_checklist(
    client, study, site_a, midwife_a, on_fixed_day
):
    study.exclusion_criteria = "Breast infection (mastitis)\nBaby in the NICU"
    study.save()
    client.force_login(midwife_a)
    assert "Does not apply: Baby in the NICU" in client.get(enrol_url(study)).content.decode()
    response = client.post(enrol_url(study), enrolment(site_a, exclusion_0="on"))
    assert errors_of(response, "exclusion_1") == ["This criterion must be met to enrol the mother."]
    assert not Respondent.objects.exists()
    response = client.post(enrol_url(study), enrolment(site_a, exclusion_0="on", exclusion_1="on"))
    assert response.status_code == 302
    assert Respondent.objects.get().code == "P-016"


def test_enrolment_errors_speak_indonesian(client_id, study, site_a, midwife_a, on_fixed_day):
    from django.utils import translation

    client_id.force_login(midwife_a)
    response = client_id.post(enrol_url(study), enrolment(site_a, age_years="9"))
    with translation.override("id"):
        expected = translation.gettext("Age must be at least %(limit_value)s years.") % {
            "limit_value": 10
        }
    assert expected != "Age must be at least 10 years."
    assert expected in response.content.decode()
    assert not Respondent.objects.exists()


@pytest.mark.parametrize(
    ("user_fixture", "expected"), [("researcher", 403), ("midwife_b", 200), (None, 302)]
)
def test_enrolment_refused_for_other_roles(
    client, request, study, site_a, user_fixture, expected, on_fixed_day
):
    if user_fixture:
        client.force_login(request.getfixturevalue(user_fixture))
    response = client.post(enrol_url(study), enrolment(site_a))
    assert response.status_code == expected
    if expected == 302:
        assert response["Location"].startswith(reverse("login"))
    if user_fixture == "midwife_b":  # her own study, but site A is not hers
        assert errors_of(response, "site") == ["Choose one of your sites in this study."]
    assert not Respondent.objects.exists()


# --- sessions --------------------------------------------------------------------------------


@pytest.fixture
def mother(make_respondent, midwife_a):
    """Delivered on 1 June, enrolled on day 2 (3 June) with her pre sheet."""
    respondent = make_respondent("R01", identity={"full_name": "Dewi Lestari"})
    services.record_observation(
        respondent=respondent,
        timepoint="pre",
        user=midwife_a,
        observed_on=respondent.enrolled_on,
        values={"feeds": 5, "urinations": 4},
    )
    return respondent


def first_session(respondent):
    return respondent.sessions.get(postpartum_day=2, slot="morning")


def test_session_form_opens_prefilled_for_one_tap(on_fixed_day, client, mother, midwife_a):
    """Due today (day 3, 4 June, at 10:30): today, started the protocol's 15 minutes ago (the
    form is opened when the massage has ended)."""
    client.force_login(midwife_a)
    response = client.get(session_url(mother.sessions.get(postpartum_day=3, slot="morning")))
    page = response.content.decode()
    assert response.status_code == 200
    assert "postpartum day 3 · Morning" in page
    assert 'value="2026-06-04"' in page and 'value="10:15"' in page
    assert 'value="done" checked' in page or "checked" in page.split('value="done"')[1][:40]


def test_a_late_session_opens_on_its_planned_day_at_the_slots_hour(
    on_fixed_day, client, mother, midwife_a
):
    """Issue 13 item 5: done late is one tap more than done now. The day-2 morning session
    (3 June) opened on 4 June proposes 3 June at 08:00, not today at the time the form opened;
    typing the duration and saving records it."""
    client.force_login(midwife_a)
    session = first_session(mother)
    page = client.get(session_url(session)).content.decode()
    assert 'value="2026-06-03"' in page and 'value="08:00"' in page
    assert 'value="2026-06-04"' not in page
    form = client.get(session_url(session)).context["form"]
    data = {name: form[name].value() or "" for name in form.fields}
    data["duration_minutes"] = "17"
    response = client.post(session_url(session), data)
    assert response.status_code == 302
    session.refresh_from_db()
    assert session.status == "done" and session.duration_minutes == 17
    assert session.started_at == datetime.datetime(2026, 6, 3, 8, 0, tzinfo=JAKARTA)
    assert not mother.deviations.exists()


def test_recording_a_session_done(on_fixed_day, client, mother, midwife_a):
    client.force_login(midwife_a)
    session = first_session(mother)
    response = client.post(
        session_url(session),
        {
            "status": "done",
            "started_on": "2026-06-03",
            "started_time": "08:15",
            "duration_minutes": "18",
            "notes": "",
        },
    )
    assert response.status_code == 302 and response["Location"] == detail_url(mother)
    session.refresh_from_db()
    assert session.status == "done"
    assert session.started_at == datetime.datetime(2026, 6, 3, 8, 15, tzinfo=JAKARTA)
    assert session.duration_minutes == 18
    assert session.performed_by == midwife_a
    page = client.get(detail_url(mother)).content.decode()
    assert "1 of 6 sessions done" in page
    assert "08:15" in page


def test_recording_from_the_worklist_returns_to_it(on_fixed_day, client, mother, midwife_a):
    client.force_login(midwife_a)
    response = client.post(
        session_url(first_session(mother)),
        {
            "status": "done",
            "started_on": "2026-06-03",
            "started_time": "08:15",
            "duration_minutes": "15",
            "next": reverse("studies:home"),
        },
    )
    assert response["Location"] == reverse("studies:home")
    response = client.post(
        session_url(mother.sessions.get(postpartum_day=2, slot="afternoon")),
        {
            "status": "done",
            "started_on": "2026-06-03",
            "started_time": "15:00",
            "duration_minutes": "15",
            "next": "https://evil.example/",
        },
    )
    assert response["Location"] == detail_url(mother)


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"duration_minutes": "25"}, "notes", "The protocol asks for 15–20 minutes"),
        ({"duration_minutes": "10"}, "notes", "add a note explaining the difference"),
        ({"duration_minutes": ""}, "duration_minutes", "Enter how many minutes"),
        ({"duration_minutes": "-5"}, "duration_minutes", "at least one minute"),
        ({"duration_minutes": "999"}, "duration_minutes", "At most 240 minutes"),
        ({"started_on": "2026-06-02"}, "started_on", "before the mother's enrolment"),
        ({"started_on": "2026-06-05"}, "started_on", "cannot be recorded in the future"),
        ({"started_on": "2026-06-04", "started_time": "23:00"}, "started_on", "in the future"),
        ({"started_on": ""}, "started_on", "Enter when the session started."),
        ({"started_time": ""}, "started_time", "Enter when the session started."),
        ({"started_time": "pagi"}, "started_time", "Enter a valid time."),
        ({"status": "missed"}, "notes", "Give the reason the session did not take place."),
        ({"status": "planned"}, "status", "Select a valid choice."),
    ],
)
def test_session_bad_input_is_refused_beside_the_field(
    client, mother, midwife_a, on_fixed_day, data, field, message
):
    client.force_login(midwife_a)
    session = first_session(mother)
    post = {
        "status": "done",
        "started_on": "2026-06-03",
        "started_time": "08:15",
        "duration_minutes": "15",
        "notes": "",
    }
    post.update(data)
    response = client.post(session_url(session), post)
    assert response.status_code == 200
    assert any(message in error for error in errors_of(response, field)), response.context[
        "form"
    ].errors
    session.refresh_from_db()
    assert session.status == "planned" and session.started_at is None
    assert session.history.count() == 1


def test_a_duration_outside_the_protocol_is_saved_with_a_note(
    on_fixed_day, client, mother, midwife_a
):
    client.force_login(midwife_a)
    session = first_session(mother)
    response = client.post(
        session_url(session),
        {
            "status": "done",
            "started_on": "2026-06-03",
            "started_time": "08:15",
            "duration_minutes": "25",
            "notes": "Ibu minta lebih lama",
        },
    )
    assert response.status_code == 302
    session.refresh_from_db()
    assert (session.duration_minutes, session.notes) == (25, "Ibu minta lebih lama")


def test_overdue_session_recorded_as_missed_with_a_reason(on_fixed_day, client, mother, midwife_a):
    client.force_login(midwife_a)
    session = first_session(mother)
    page = client.get(session_url(session) + "?status=missed").content.decode()
    assert "checked" in page.split('value="missed"')[1][:40]
    response = client.post(
        session_url(session), {"status": "missed", "notes": "Ibu pulang lebih awal"}
    )
    assert response.status_code == 302
    session.refresh_from_db()
    assert (session.status, session.notes, session.duration_minutes) == (
        "missed",
        "Ibu pulang lebih awal",
        None,
    )
    assert session.performed_by is None


def test_correcting_a_session_needs_a_reason_and_lands_in_the_history(
    on_fixed_day, client, mother, midwife_a
):
    client.force_login(midwife_a)
    session = first_session(mother)
    done = {
        "status": "done",
        "started_on": "2026-06-03",
        "started_time": "08:15",
        "duration_minutes": "15",
    }
    client.post(session_url(session), done)
    page = client.get(session_url(session)).content.decode()
    assert "Correct a session" in page and 'value="15"' in page
    response = client.post(session_url(session), {**done, "duration_minutes": "17"})
    assert errors_of(response, "reason") == ["This field is required."]
    session.refresh_from_db()
    assert session.duration_minutes == 15
    response = client.post(
        session_url(session), {**done, "duration_minutes": "17", "reason": "Salah ketik"}
    )
    assert response.status_code == 302
    session.refresh_from_db()
    assert session.duration_minutes == 17
    latest = session.history.first()
    assert latest.history_change_reason == "Salah ketik"
    assert latest.history_user == midwife_a
    page = client.get(detail_url(mother)).content.decode()
    history = page[page.index('id="history-heading"') :]
    assert '<span class="history-field">duration</span>: <del>15</del> → <ins>17</ins>' in history
    assert '<em class="history-reason">Salah ketik</em>' in history


@pytest.mark.parametrize(
    ("user_fixture", "expected"), [("midwife_b", 404), ("researcher", 403), (None, 302)]
)
def test_session_form_refused_for_others(
    client, request, mother, user_fixture, expected, on_fixed_day
):
    if user_fixture:
        client.force_login(request.getfixturevalue(user_fixture))
    session = first_session(mother)
    for response in (
        client.get(session_url(session)),
        client.post(
            session_url(session),
            {
                "status": "done",
                "started_on": "2026-06-03",
                "started_time": "08:00",
                "duration_minutes": "15",
            },
        ),
    ):
        assert response.status_code == expected
    session.refresh_from_db()
    assert session.status == "planned"


def test_unknown_session_or_sheet_is_404(client, mother, midwife_a):
    client.force_login(midwife_a)
    code = mother.study.code
    assert (
        client.get(
            reverse("studies:session_record", args=[code, mother.code, 9, "morning"])
        ).status_code
        == 404
    )
    assert (
        client.get(
            reverse("studies:observation_record", args=[code, mother.code, "mid"])
        ).status_code
        == 404
    )


def test_nothing_can_be_recorded_for_a_withdrawn_mother(on_fixed_day, client, mother, midwife_a):
    services.withdraw_respondent(respondent=mother, user=midwife_a, reason="Pindah kota")
    client.force_login(midwife_a)
    session = first_session(mother)
    response = client.post(
        session_url(session),
        {
            "status": "done",
            "started_on": "2026-06-03",
            "started_time": "08:00",
            "duration_minutes": "15",
        },
    )
    assert "This mother has been withdrawn" in response.content.decode()
    session.refresh_from_db()
    assert session.status == "planned"
    assert "Withdraw this mother" not in client.get(detail_url(mother)).content.decode()


# --- observation sheets ----------------------------------------------------------------------


def do_all_sessions(respondent, user):
    for session in respondent.sessions.all():
        started = datetime.datetime.combine(
            session.planned_date,
            datetime.time(8 if session.slot == "morning" else 15),
            tzinfo=JAKARTA,
        )
        services.record_session(
            session=session, user=user, status="done", started_at=started, duration_minutes=15
        )


def test_pre_sheet_through_the_form(client, make_respondent, midwife_a, on_fixed_day):
    respondent = make_respondent("R02")
    client.force_login(midwife_a)
    page = client.get(sheet_url(respondent, "pre")).content.decode()
    assert 'data-tally="1"' in page and "js/tally" in page
    response = client.post(
        sheet_url(respondent, "pre"),
        {"observed_on": "2026-06-03", "value_feeds": "6", "value_urinations": ""},
    )
    assert response.status_code == 302
    sheet = Observation.objects.get(respondent=respondent, timepoint="pre")
    assert (sheet.values, sheet.observed_by) == ({"feeds": 6}, midwife_a)


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"value_feeds": "41"}, "value_feeds", "Enter a value between 0 and 40 times/24 h."),
        ({"value_urinations": "-1"}, "value_urinations", "between 0 and 40 times/24 h."),
        ({"value_feeds": "", "value_urinations": ""}, "value_feeds", "Enter at least one value"),
        ({"value_feeds": "lima"}, "value_feeds", "Enter a number."),
        ({"value_feeds": "6,5"}, "value_feeds", "Enter a whole number."),
        ({"observed_on": "2026-05-30"}, "observed_on", "before the delivery date"),
        ({"observed_on": "2026-06-05"}, "observed_on", "dated in the future"),
        ({"observed_on": "03/06/2026x"}, "observed_on", "Enter a valid date."),
    ],
)
def test_sheet_bad_input_is_refused(
    client, make_respondent, midwife_a, on_fixed_day, data, field, message
):
    respondent = make_respondent("R02")
    client.force_login(midwife_a)
    post = {"observed_on": "2026-06-03", "value_feeds": "6", "value_urinations": "4"}
    post.update(data)
    response = client.post(sheet_url(respondent, "pre"), post)
    assert response.status_code == 200
    assert any(message in error for error in errors_of(response, field)), response.context[
        "form"
    ].errors
    assert not Observation.objects.exists()


def test_post_sheet_must_come_after_the_last_session_and_completes_the_mother(
    client, mother, midwife_a
):
    with time_machine.travel(datetime.datetime(2026, 6, 6, 18, 0, tzinfo=JAKARTA), tick=False):
        do_all_sessions(mother, midwife_a)
    with time_machine.travel(datetime.datetime(2026, 6, 7, 9, 0, tzinfo=JAKARTA), tick=False):
        client.force_login(midwife_a)
        response = client.post(
            sheet_url(mother, "post"),
            {"observed_on": "2026-06-05", "value_feeds": "11", "value_urinations": "9"},
        )
        assert errors_of(response, "observed_on") == [
            "The post-test sheet must be dated after the last session (June 5, 2026)."
        ]
        assert not mother.observations.filter(timepoint="post").exists()
        response = client.post(
            sheet_url(mother, "post"),
            {"observed_on": "2026-06-06", "value_feeds": "11", "value_urinations": "9"},
        )
        assert response.status_code == 302
    mother.refresh_from_db()
    assert mother.status == Respondent.Status.COMPLETED
    assert mother.observations.get(timepoint="post").values["feeds"] == 11


def test_pre_sheet_cannot_be_dated_after_the_first_massage(client, make_respondent, midwife_a):
    respondent = make_respondent("R03")
    with time_machine.travel(datetime.datetime(2026, 6, 4, 18, 0, tzinfo=JAKARTA), tick=False):
        session = first_session(respondent)
        services.record_session(
            session=session,
            user=midwife_a,
            status="done",
            started_at=datetime.datetime(2026, 6, 3, 8, 0, tzinfo=JAKARTA),
            duration_minutes=15,
        )
        client.force_login(midwife_a)
        response = client.post(
            sheet_url(respondent, "pre"),
            {"observed_on": "2026-06-04", "value_feeds": "6", "value_urinations": "4"},
        )
    assert errors_of(response, "observed_on") == [
        "The pre-test sheet must be dated on or before the first session (June 3, 2026)."
    ]
    assert not Observation.objects.exists()


def test_correcting_a_sheet_needs_a_reason(on_fixed_day, client, mother, midwife_a):
    client.force_login(midwife_a)
    url = sheet_url(mother, "pre")
    assert 'value="5"' in client.get(url).content.decode()
    response = client.post(
        url, {"observed_on": "2026-06-03", "value_feeds": "6", "value_urinations": "4"}
    )
    assert errors_of(response, "reason") == ["This field is required."]
    assert mother.observations.get(timepoint="pre").values["feeds"] == 5
    response = client.post(
        url,
        {
            "observed_on": "2026-06-03",
            "value_feeds": "6",
            "value_urinations": "4",
            "reason": "Hitungan ulang",
        },
    )
    assert response.status_code == 302
    sheet = mother.observations.get(timepoint="pre")
    assert sheet.values["feeds"] == 6
    assert sheet.history.first().history_change_reason == "Hitungan ulang"
    assert Observation.objects.count() == 1


@pytest.mark.parametrize(
    ("user_fixture", "expected"), [("midwife_b", 404), ("researcher", 403), (None, 302)]
)
def test_sheet_form_refused_for_others(client, request, mother, user_fixture, expected):
    if user_fixture:
        client.force_login(request.getfixturevalue(user_fixture))
    url = sheet_url(mother, "post")
    assert client.get(url).status_code == expected
    assert client.post(url, {"observed_on": "2026-06-06", "value_feeds": "9"}).status_code == (
        expected
    )
    assert not mother.observations.filter(timepoint="post").exists()


# --- corrections of the enrolment ---------------------------------------------------------


def test_correcting_the_delivery_date_moves_the_planned_sessions(client, mother, midwife_a):
    client.force_login(midwife_a)
    url = reverse("studies:respondent_edit", args=[mother.study.code, mother.code])
    page = client.get(url).content.decode()
    assert 'value="Dewi Lestari"' in page and "Reason for the change" in page
    data = {
        "code": "R01",
        "site": mother.site.pk,
        "delivery_date": "2026-05-31",
        "enrolled_on": "2026-06-03",
        "age_years": "28",
        "parity": "2",
        "education": "higher",
        "employment": "working",
        "consent_date": "2026-06-03",
        "full_name": "Dewi Lestari",
        "phone": "",
        "medical_record_number": "",
    }
    response = client.post(url, data)
    assert errors_of(response, "reason") == ["This field is required."]
    # Her enrolment is now on postpartum day 3: kept only as a protocol deviation with a reason.
    response = client.post(url, {**data, "reason": "Tanggal persalinan salah"})
    assert response.status_code == 200
    [refused] = errors_of(response, "deviation_reason")
    assert refused.startswith("This moves the mother outside the protocol")
    assert mother.history.count() == 1
    response = client.post(
        url,
        {**data, "reason": "Tanggal persalinan salah", "deviation_reason": "Datang hari ke-3"},
    )
    assert response.status_code == 302
    mother.refresh_from_db()
    assert (mother.delivery_date, mother.age_years, mother.parity) == (
        datetime.date(2026, 5, 31),
        28,
        2,
    )
    assert first_session(mother).planned_date == datetime.date(2026, 6, 2)
    assert mother.history.first().history_change_reason == "Tanggal persalinan salah"


def test_researcher_cannot_open_the_correction_form(client, mother, researcher):
    client.force_login(researcher)
    url = reverse("studies:respondent_edit", args=[mother.study.code, mother.code])
    assert client.get(url).status_code == 403


# --- the worklist on a fixed date ------------------------------------------------------------


@pytest.fixture
def ward(make_respondent, midwife_a, midwife_b, site_b):
    """Mothers in every state on 4 June 2026 (10:30 in Jakarta)."""
    with time_machine.travel(NOW, tick=False):
        new = make_respondent(
            "NEW",
            delivery_date=datetime.date(2026, 6, 2),
            enrolled_on=TODAY,
            consent_date=TODAY,
        )
        mid = make_respondent("MID")  # delivered 1 June, enrolled 3 June
        services.record_observation(
            respondent=mid,
            timepoint="pre",
            user=midwife_a,
            observed_on=mid.enrolled_on,
            values={"feeds": 5, "urinations": 4},
        )
        services.record_session(
            session=first_session(mid),
            user=midwife_a,
            status="done",
            started_at=datetime.datetime(2026, 6, 3, 8, 0, tzinfo=JAKARTA),
            duration_minutes=15,
        )
        late = make_respondent(
            "POST",
            delivery_date=datetime.date(2026, 5, 30),
            enrolled_on=datetime.date(2026, 6, 1),
            consent_date=datetime.date(2026, 6, 1),
        )
        services.record_observation(
            respondent=late,
            timepoint="pre",
            user=midwife_a,
            observed_on=late.enrolled_on,
            values={"feeds": 5, "urinations": 4},
        )
        do_all_sessions(late, midwife_a)
        make_respondent("OTHER", site=site_b, user=midwife_b)
        gone = make_respondent("GONE")
        services.withdraw_respondent(respondent=gone, user=midwife_a, reason="Pindah")
    return {"new": new, "mid": mid, "late": late}


def section(page, element_id):
    start = page.index(f'id="{element_id}"')
    return page[start : page.index("</ul>", start)]


def test_worklist_on_a_fixed_date(client, ward, midwife_a):
    client.force_login(midwife_a)
    with time_machine.travel(NOW, tick=False):
        page = client.get(reverse("studies:home")).content.decode()
    due = section(page, "due-today")
    # Due today: NEW's day-2 pair and MID's day-3 pair, morning before afternoon.
    assert due.count("<li") == 4
    assert due.index("MID") < due.index("NEW")
    assert "Morning" in due and "Afternoon" in due
    sheets = section(page, "sheets-today")
    assert "NEW" in sheets and "Pre-test" in sheets
    assert "POST" in sheets and "Post-test" in sheets
    overdue = section(page, "overdue")
    assert overdue.count("<li") == 1  # MID's day-2 afternoon session
    assert "MID" in overdue and "Done late" in overdue and "Missed" in overdue
    for hidden in ("OTHER", "GONE"):
        assert hidden not in page
    assert 'id="count-sessions">4<' in page
    assert 'id="count-sheets">2<' in page
    assert 'id="count-overdue">1<' in page
    assert 'id="count-active">3<' in page
    record_link = session_url(ward["new"].sessions.get(postpartum_day=2, slot="morning"))
    assert f'href="{record_link}?next=/"' in due


def test_worklist_the_next_day_shows_yesterdays_gaps_as_overdue(client, ward, midwife_a):
    client.force_login(midwife_a)
    with time_machine.travel(NOW + datetime.timedelta(days=1), tick=False):
        page = client.get(reverse("studies:home")).content.decode()
    overdue = section(page, "overdue")
    assert overdue.count("<strong>NEW</strong>") == 3  # two sessions and the pre sheet
    assert "POST" in overdue  # the post sheet of 4 June


def test_researcher_has_no_worklist(client, ward, researcher):
    client.force_login(researcher)
    page = client.get(reverse("studies:home")).content.decode()
    assert 'id="due-today"' not in page


# --- respondent page and list ----------------------------------------------------------------


def test_respondent_page_timeline_for_midwife_and_researcher(
    client, mother, midwife_a, researcher, on_fixed_day
):
    client.force_login(midwife_a)
    page = client.get(detail_url(mother)).content.decode()
    timeline = page[page.index('id="timeline"') : page.index("</ol>")]
    assert timeline.index("Enrolment") < timeline.index("Pre-test sheet")
    assert timeline.index("Pre-test sheet") < timeline.index("Day 2, Morning")
    assert timeline.index("Day 2, Morning") < timeline.index("Day 2, Afternoon")
    assert timeline.index("Day 4, Afternoon") < timeline.index("Post-test sheet")
    assert "0 of 6 sessions done" in page
    assert session_url(first_session(mother)) in timeline
    assert "Dewi Lestari" in page
    client.force_login(researcher)
    page = client.get(detail_url(mother)).content.decode()
    assert "Dewi Lestari" not in page
    assert session_url(first_session(mother)) not in page
    assert "Withdraw this mother" not in page


def test_respondent_page_dates_in_indonesian(client_id, mother, midwife_a):
    client_id.force_login(midwife_a)
    page = client_id.get(detail_url(mother)).content.decode()
    assert "3 Juni 2026" in page


def test_respondent_list_search_filters_and_pagination(
    client, study, site_b, make_respondent, data_manager, midwife_b
):
    for number in range(1, 56):
        make_respondent(f"A{number:03d}")
    make_respondent("B001", site=site_b, user=midwife_b)
    client.force_login(data_manager)
    url = reverse("studies:respondent_list", args=[study.code])
    first = client.get(url).content.decode()
    assert "56 respondents" in first and "1 / 2" in first
    assert "A050" in first and "A051" not in first
    second = client.get(url, {"page": 2}).content.decode()
    assert "A051" in second and "B001" in second
    filtered = client.get(url, {"site": site_b.pk}).content.decode()
    assert "B001" in filtered and "A001" not in filtered and "1 respondent<" in filtered
    searched = client.get(url, {"q": "a05"}).content.decode()
    assert "A050" in searched and "A055" in searched and "A049" not in searched
    services.withdraw_respondent(
        respondent=Respondent.objects.get(code="A007"), user=data_manager, reason="Pindah"
    )
    withdrawn = client.get(url, {"status": "withdrawn"}).content.decode()
    assert "A007" in withdrawn and "A008" not in withdrawn
    assert "0/6" in withdrawn
    client.force_login(midwife_b)
    own = client.get(url).content.decode()
    assert "B001" in own and "A001" not in own and "1 respondent<" in own
