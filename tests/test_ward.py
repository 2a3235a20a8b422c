"""Issue 13, items 1–10: what a midwife on the ward hit. Each test went through real requests
and the real database, and failed on the code before the fix."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import formats, translation

from studies import services
from studies.models import Respondent

from .conftest import PASSWORD

JAKARTA = datetime.timezone(datetime.timedelta(hours=7))
NOW = datetime.datetime(2026, 6, 4, 12, 4, tzinfo=JAKARTA)


@pytest.fixture
def on_fixed_day():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def mother(make_respondent, midwife_a):
    """Delivered on 1 June, enrolled on day 2 (3 June); today is day 3 (4 June)."""
    return make_respondent("D17", identity={"full_name": "Dewi Lestari"})


def session_url(session, query=""):
    respondent = session.respondent
    url = reverse(
        "studies:session_record",
        args=[respondent.study.code, respondent.code, session.postpartum_day, session.slot],
    )
    return url + query


def detail_url(respondent):
    return reverse("studies:respondent_detail", args=[respondent.study.code, respondent.code])


def form_data(response) -> dict:
    """What a browser sends back for the form as the page shows it."""
    form = response.context["form"]
    data = {}
    for name in form.fields:
        value = form[name].value()
        if isinstance(value, bool):
            if value:
                data[name] = "on"
        elif value is not None:
            data[name] = str(value)
    return data


def indonesian(text: str) -> str:
    with translation.override("id"):
        return translation.gettext(text)


# --- item 1: the "missed" shortcut ----------------------------------------------------------


def test_missed_shortcut_saves_at_the_first_attempt(on_fixed_day, client, mother, midwife_a):
    client.force_login(midwife_a)
    session = mother.sessions.get(postpartum_day=2, slot="morning")
    page = client.get(session_url(session, "?status=missed&next=/"))
    assert page.status_code == 200
    data = form_data(page)
    assert data["status"] == "missed" and data["version"] == str(session.version)
    data["notes"] = "Ibu tidur"
    response = client.post(session_url(session, "?next=/"), data)
    assert response.status_code == 302 and response["Location"] == "/"
    session.refresh_from_db()
    assert session.status == "missed" and session.notes == "Ibu tidur"


# --- item 2: no widget shared between forms -------------------------------------------------


def test_a_date_error_does_not_mark_the_next_users_form(
    on_fixed_day, client, mother, study, site_a, midwife_a, midwife_b
):
    """One enrolment with a bad date used to leave every later form's date fields red (a
    widget shared by all forms kept crispy's ``is-invalid``)."""
    client.force_login(midwife_a)
    url = reverse("studies:respondent_enrol", args=[study.code])
    response = client.post(url, {"code": "X1", "delivery_date": "31/31/2026"})
    assert response.status_code == 200
    assert response.context["form"].errors["delivery_date"]
    assert "is-invalid" in response.content.decode()
    # Afresh, for another midwife: the enrolment, a correction, a withdrawal, an observation.
    other = Client(headers={"accept-language": "en"})
    other.force_login(midwife_b)
    assert "is-invalid" not in other.get(url).content.decode()
    for page_url in (
        url,
        reverse("studies:respondent_edit", args=[study.code, mother.code]),
        reverse("studies:respondent_withdraw", args=[study.code, mother.code]),
        reverse("studies:observation_record", args=[study.code, mother.code, "pre"]),
    ):
        page = client.get(page_url).content.decode()
        assert "is-invalid" not in page, page_url
    assert list(Respondent.objects.values_list("code", flat=True)) == ["D17"]


def test_forms_build_their_own_widgets():
    from studies import forms

    assert forms.date_input() is not forms.date_input()
    assert forms.time_input() is not forms.time_input()
    assert not hasattr(forms, "DATE_INPUT") and not hasattr(forms, "TIME_INPUT")


# --- item 3: nothing typed is lost over an expired session ---------------------------------


def test_an_entry_sent_after_the_timeout_comes_back_after_signing_in(
    on_fixed_day, mother, midwife_a
):
    browser = Client(headers={"accept-language": "en"}, enforce_csrf_checks=True)
    browser.force_login(midwife_a)
    session = mother.sessions.get(postpartum_day=3, slot="morning")
    url = session_url(session, "?next=/")
    page = browser.get(url)
    data = form_data(page)
    data.update(duration_minutes="18", notes="Ibu nyaman", started_time="11:40")
    data["csrfmiddlewaretoken"] = page.context["csrf_token"]
    browser.session.flush()  # the 30-minute idle timeout: the session is gone
    browser.cookies.pop("sessionid", None)
    response = browser.post(url, data)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login") + "?next=")
    session.refresh_from_db()
    assert session.status == "planned"  # nothing saved while signed out
    login = browser.get(response["Location"])
    response = browser.post(
        response["Location"],
        {
            "username": "bidan_a",
            "password": PASSWORD,
            "csrfmiddlewaretoken": login.context["csrf_token"],
            "next": url,
        },
    )
    assert response.status_code == 302 and response["Location"] == url
    page = browser.get(url)
    text = page.content.decode()
    assert "Your entry was kept while you signed in again" in text
    kept = form_data(page)
    assert kept["duration_minutes"] == "18" and kept["notes"] == "Ibu nyaman"
    assert kept["started_time"] == "11:40" and kept["version"] == str(session.version)
    session.refresh_from_db()
    assert session.status == "planned"  # shown again, not saved on her behalf
    kept["csrfmiddlewaretoken"] = page.context["csrf_token"]
    response = browser.post(url, kept)
    assert response.status_code == 302
    session.refresh_from_db()
    assert session.status == "done" and session.duration_minutes == 18
    assert session.notes == "Ibu nyaman"
    # Shown once: the page opened again is the plain form.
    assert "Your entry was kept" not in browser.get(url).content.decode()


# --- item 4: a correction returns a session to planned --------------------------------------


def test_a_correction_returns_a_session_to_planned_with_a_reason(
    on_fixed_day, client, mother, midwife_a
):
    client.force_login(midwife_a)
    session = mother.sessions.get(postpartum_day=3, slot="morning")
    services.record_session(
        session=session,
        user=midwife_a,
        status="done",
        started_at=NOW - datetime.timedelta(minutes=20),
        duration_minutes=15,
    )
    session.refresh_from_db()
    page = client.get(session_url(session))
    assert "Not done yet: back to planned" in page.content.decode()
    data = {**form_data(page), "status": "planned"}
    data.pop("reason", None)
    response = client.post(session_url(session), data)
    assert response.status_code == 200 and response.context["form"].errors["reason"]
    session.refresh_from_db()
    assert session.status == "done"
    response = client.post(session_url(session), {**data, "reason": "Salah ibu"})
    assert response.status_code == 302
    session.refresh_from_db()
    assert session.status == "planned"
    assert session.started_at is None and session.duration_minutes is None
    assert session.performed_by is None
    assert session.history.first().history_change_reason == "Salah ibu"
    assert session.history.count() == 3  # planned, done, back to planned: all kept
    # Due again on the worklist.
    assert session.pk in [item.pk for item in client.get("/").context["due_today"]]


def test_a_new_session_cannot_be_recorded_as_planned(on_fixed_day, mother, midwife_a):
    session = mother.sessions.get(postpartum_day=3, slot="morning")
    with pytest.raises(services.ValidationError):
        services.record_session(
            session=session,
            user=midwife_a,
            status="planned",
            started_at=None,
            duration_minutes=None,
        )


def test_recording_ahead_of_the_day_asks_for_a_note_in_indonesian(
    on_fixed_day, client_id, mother, midwife_a
):
    """The first save of a session planned for tomorrow is refused with the question, in
    Indonesian, and the field for the note appears; with the note it is saved as a deviation."""
    client_id.force_login(midwife_a)
    session = mother.sessions.get(postpartum_day=4, slot="morning")
    data = form_data(client_id.get(session_url(session)))
    data["duration_minutes"] = "15"
    response = client_id.post(session_url(session), data)
    text = response.content.decode()
    assert response.status_code == 200
    assert indonesian("Reason for the protocol deviation") in text
    assert 'id="error-summary"' in text
    session.refresh_from_db()
    assert session.status == "planned"
    response = client_id.post(
        session_url(session), {**data, "deviation_reason": "Ibu pulang besok pagi"}
    )
    assert response.status_code == 302
    session.refresh_from_db()
    assert session.status == "done"
    assert mother.deviations.get().reason == "Ibu pulang besok pagi"


# --- item 6: the withdrawal corrected; a day before delivery; messages raised in code -------


def withdrawn(mother, midwife_a):
    services.withdraw_respondent(
        respondent=mother, user=midwife_a, reason="Pindah kota", on=datetime.date(2026, 6, 4)
    )
    mother.refresh_from_db()
    return mother


def correction_url(respondent):
    return reverse("studies:withdrawal_correct", args=[respondent.study.code, respondent.code])


def test_a_withdrawal_can_be_corrected_with_a_reason(on_fixed_day, client, mother, midwife_a):
    mother = withdrawn(mother, midwife_a)
    client.force_login(midwife_a)
    assert correction_url(mother) in client.get(detail_url(mother)).content.decode()
    data = form_data(client.get(correction_url(mother)))
    assert data["withdrawn_on"] == "2026-06-04"
    data.update(withdrawn_on="2026-06-03", withdrawal_reason="Pindah ke Surabaya")
    response = client.post(correction_url(mother), data)
    assert response.status_code == 200 and response.context["form"].errors["reason"]
    response = client.post(correction_url(mother), {**data, "reason": "Tanggal salah"})
    assert response.status_code == 302
    mother.refresh_from_db()
    assert mother.status == "withdrawn"
    assert mother.withdrawn_on == datetime.date(2026, 6, 3)
    assert mother.withdrawal_reason == "Pindah ke Surabaya"
    latest = mother.history.first()
    assert latest.history_change_reason == "Tanggal salah" and latest.history_user == midwife_a
    page = client.get(detail_url(mother)).content.decode()
    assert "Tanggal salah" in page and "Pindah kota" in page  # the old reason in the history


def test_a_corrected_withdrawal_date_follows_the_rules(on_fixed_day, client, mother, midwife_a):
    mother = withdrawn(mother, midwife_a)
    client.force_login(midwife_a)
    data = form_data(client.get(correction_url(mother)))
    for day, message in (
        ("2026-07-04", "The withdrawal date cannot be in the future."),
        ("2026-06-01", "Withdrawal cannot be before enrolment."),
    ):
        response = client.post(correction_url(mother), {**data, "withdrawn_on": day, "reason": "x"})
        assert response.status_code == 200
        assert message in response.content.decode()
    mother.refresh_from_db()
    assert mother.withdrawn_on == datetime.date(2026, 6, 4)
    # Only the withdrawal: her sessions stay closed to writes.
    with pytest.raises(services.ValidationError):
        services.record_session(
            session=mother.sessions.first(),
            user=midwife_a,
            status="missed",
            started_at=None,
            duration_minutes=None,
            notes="x",
        )


def test_no_withdrawal_to_correct_for_a_mother_in_the_protocol(client, mother, midwife_a):
    client.force_login(midwife_a)
    assert client.get(correction_url(mother)).status_code == 404
    with pytest.raises(services.ValidationError):
        services.correct_withdrawal(
            respondent=mother,
            user=midwife_a,
            withdrawn_on=datetime.date(2026, 6, 3),
            withdrawal_reason="x",
            reason="y",
        )
    mother.refresh_from_db()
    assert mother.status == Respondent.Status.ENROLLED


def test_a_delivery_after_enrolment_shows_no_negative_postpartum_day(
    on_fixed_day, client_id, study, site_a, midwife_a
):
    client_id.force_login(midwife_a)
    url = reverse("studies:respondent_enrol", args=[study.code])
    data = form_data(client_id.get(url))
    data.update(
        code="D18",
        site=str(site_a.pk),
        delivery_date="2026-06-06",
        enrolled_on="2026-06-04",
        consent_date="2026-06-04",
        age_years="24",
        parity="1",
        education="secondary",
        employment="working",
        on_start_day="on",
        breastfeeding="on",
        consent_obtained="on",
    )
    response = client_id.post(url, data)
    text = response.content.decode()
    assert response.status_code == 200
    assert "ke--" not in text and "day -2" not in text
    assert indonesian("Enrolment cannot be before the delivery date.") in text or (
        "delivery_date" in response.context["form"].errors
        or "enrolled_on" in response.context["form"].errors
    )
    assert not Respondent.objects.filter(code="D18").exists()


# --- item 7: the error summary --------------------------------------------------------------


def test_a_failed_save_lists_its_errors_at_the_top(on_fixed_day, client, mother, midwife_a):
    client.force_login(midwife_a)
    session = mother.sessions.get(postpartum_day=3, slot="morning")
    data = {**form_data(client.get(session_url(session))), "duration_minutes": ""}
    response = client.post(session_url(session), data)
    text = response.content.decode()
    assert response.status_code == 200
    summary = text[text.index('id="error-summary"') :]
    assert text.index('id="error-summary"') < text.index('<form method="post" novalidate')
    assert 'href="#id_duration_minutes"' in summary[: summary.index("</div>")]
    assert "js/lancar.js" in text
    session.refresh_from_db()
    assert session.status == "planned"
    # A page without errors has no summary.
    assert 'id="error-summary"' not in client.get(session_url(session)).content.decode()


# --- item 8: which study ---------------------------------------------------------------------


def test_the_worklist_names_the_study_when_a_site_runs_two(
    on_fixed_day, client, make_respondent, study, site_a, midwife_a
):
    second = services.create_study(code="SUSU", title="Kedua", site_names=["Klinik A"])
    make_respondent("D17")
    make_respondent("E01", study=second)
    client.force_login(midwife_a)
    page = client.get("/").content.decode()
    due = page[page.index('id="due-today"') : page.index('id="sheets-heading"')]
    assert 'study-code">PIJAT</span>' in due and 'study-code">SUSU</span>' in due
    # One study only: nothing added.
    second.sites.clear()
    page = client.get("/").content.decode()
    assert "study-code" not in page


# --- item 9: the history ---------------------------------------------------------------------


def test_history_names_people_in_local_time_and_the_readers_language(
    on_fixed_day, client_id, make_user, site_a, mother, midwife_a
):
    midwife_a.first_name, midwife_a.last_name = "Sri", "Wahyuni"
    midwife_a.save()
    session = mother.sessions.get(postpartum_day=3, slot="morning")
    services.record_session(
        session=session,
        user=midwife_a,
        status="done",
        started_at=datetime.datetime(2026, 6, 4, 11, 45, tzinfo=JAKARTA),
        duration_minutes=15,
    )
    services.record_observation(
        respondent=mother,
        timepoint="pre",
        user=midwife_a,
        observed_on=datetime.date(2026, 6, 3),
        values={"feeds": 5, "urinations": 4},
    )
    later = datetime.datetime(2026, 6, 6, 9, 0, tzinfo=JAKARTA)
    with time_machine.travel(later, tick=False), translation.override("id"):
        # A midwife saved it with her page in Indonesian.
        services.record_observation(
            respondent=mother,
            timepoint="post",
            user=midwife_a,
            observed_on=later.date(),
            values={"feeds": 9, "urinations": 7},
        )
    client_id.force_login(midwife_a)
    page = client_id.get(detail_url(mother)).content.decode()
    history = page[page.index('id="history-heading"') :]
    assert "→ <ins>Sri Wahyuni</ins>" in history
    assert "<ins>1</ins>" not in history
    started = datetime.datetime(2026, 6, 4, 11, 45)
    with translation.override("id"):  # WIB, not UTC (04:45)
        local = formats.date_format(started, "SHORT_DATETIME_FORMAT")
        utc = formats.date_format(started - datetime.timedelta(hours=7), "SHORT_DATETIME_FORMAT")
    assert f"<ins>{local}</ins>" in history and utc not in history
    assert indonesian("Post-test sheet recorded.") in history
    assert "Post-test sheet recorded." not in history
    # Stored in English: an English reader reads it in English.
    english = Client(headers={"accept-language": "en"})
    english.force_login(midwife_a)
    page = english.get(detail_url(mother)).content.decode()
    assert "Post-test sheet recorded." in page[page.index('id="history-heading"') :]
    assert mother.history.first().history_change_reason == "Post-test sheet recorded."


# --- item 10: wording -----------------------------------------------------------------------


def test_login_says_kata_sandi_and_no_doubled_user_name(client_id, midwife_a):
    page = client_id.get(reverse("login")).content.decode()
    assert "Kata sandi" in page
    response = client_id.post(reverse("login"), {"username": "bidan_a", "password": "salah"})
    text = response.content.decode()
    assert response.status_code == 200
    assert "nama pengguna nama pengguna" not in text.lower()
    assert (
        indonesian(
            "Please enter a correct username and password. Note that both fields may be "
            "case-sensitive."
        )
        in text
    )


def test_success_messages_name_the_mother_and_the_session(
    on_fixed_day, client_id, mother, midwife_a
):
    client_id.force_login(midwife_a)
    session = mother.sessions.get(postpartum_day=3, slot="morning")
    data = {**form_data(client_id.get(session_url(session))), "duration_minutes": "15"}
    response = client_id.post(session_url(session), data, follow=True)
    assert response.status_code == 200
    assert "Sesi pagi hari ke-3 untuk D17 tersimpan" in response.content.decode()
    session.refresh_from_db()
    assert session.status == "done"
