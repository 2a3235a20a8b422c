"""Concurrent edits: the second of two saves over the same version is refused with a message
saying what changed, and nothing is lost; a double-submitted enrolment makes one mother. The
thread tests use real concurrent database connections and run on PostgreSQL (CI's second pass)."""

from __future__ import annotations

import datetime
import threading

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from studies import services
from studies.models import MassageSession, Observation, Respondent

from .test_workflow import JAKARTA, enrolment, first_session, session_url, sheet_url

on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="real concurrent writers need PostgreSQL (the CI's second pass runs this)",
)


@pytest.fixture
def mother(make_respondent, midwife_a):
    respondent = make_respondent("R01")
    services.record_observation(
        respondent=respondent,
        timepoint="pre",
        user=midwife_a,
        observed_on=respondent.enrolled_on,
        values={"feeds": 5, "urinations": 4},
    )
    return respondent


def done(minutes: str, **extra) -> dict:
    return {
        "status": "done",
        "started_on": "2026-06-03",
        "started_time": "08:15",
        "duration_minutes": minutes,
        **extra,
    }


def test_second_save_of_a_session_is_refused_with_what_changed(
    client, mother, midwife_a, make_user, site_a
):
    colleague = make_user("bidan_c", "midwife", [site_a])
    other = Client(headers={"accept-language": "en"})
    client.force_login(midwife_a)
    other.force_login(colleague)
    session = first_session(mother)
    url = session_url(session)
    first_form = client.get(url).content.decode()
    second_form = other.get(url).content.decode()
    assert 'name="version" value="1"' in first_form and 'name="version" value="1"' in second_form

    assert client.post(url, done("15", version="1")).status_code == 302
    response = other.post(url, done("18", version="1", notes="versi saya"))
    page = response.content.decode()
    assert response.status_code == 200
    assert "bidan_a saved this record at" in page
    assert "status: Planned → Done" in page and "duration: — → 15" in page
    assert "Your entry was not saved." in page
    assert 'value="18"' in page and "versi saya" in page  # what she typed is kept
    assert 'name="version" value="2"' in page
    session.refresh_from_db()
    assert (session.duration_minutes, session.performed_by, session.version) == (15, midwife_a, 2)
    assert session.history.count() == 2

    # Saving again on purpose (now a correction, with a reason) keeps her entry.
    response = other.post(url, done("18", version="2", notes="versi saya", reason="Durasi benar"))
    assert response.status_code == 302
    session.refresh_from_db()
    assert (session.duration_minutes, session.version) == (18, 3)


def test_second_correction_of_a_sheet_is_refused(client, mother, midwife_a, make_user, site_a):
    colleague = make_user("bidan_c", "midwife", [site_a])
    other = Client(headers={"accept-language": "en"})
    client.force_login(midwife_a)
    other.force_login(colleague)
    url = sheet_url(mother, "pre")
    sheet = {"observed_on": "2026-06-03", "value_urinations": "4", "version": "1"}
    assert (
        client.post(url, {**sheet, "value_feeds": "6", "reason": "Hitung ulang"}).status_code == 302
    )
    response = other.post(url, {**sheet, "value_feeds": "7", "reason": "Salah tulis"})
    page = response.content.decode()
    assert "Feeds: 5 → 6" in page and "Your entry was not saved." in page
    assert Observation.objects.get(respondent=mother, timepoint="pre").values["feeds"] == 6


def test_a_sheet_recorded_meanwhile_is_not_overwritten(client, make_respondent, midwife_a):
    respondent = make_respondent("R02")
    client.force_login(midwife_a)
    url = sheet_url(respondent, "pre")
    assert 'name="version"' in client.get(url).content.decode()
    services.record_observation(
        respondent=respondent,
        timepoint="pre",
        user=midwife_a,
        observed_on=respondent.enrolled_on,
        values={"feeds": 5},
    )
    response = client.post(url, {"observed_on": "2026-06-03", "value_feeds": "9", "version": ""})
    assert "Your entry was not saved." in response.content.decode()
    assert Observation.objects.get(respondent=respondent).values["feeds"] == 5


def run_together(*jobs):
    """Start the jobs at the same moment, each in its own thread (its own connection)."""
    barrier = threading.Barrier(len(jobs))
    results: list = [None] * len(jobs)

    def runner(index, job):
        try:
            barrier.wait()
            results[index] = job()
        except Exception as error:  # noqa: BLE001 - the test inspects what each thread got
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=runner, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_two_connections_saving_the_same_session_one_wins(
    make_respondent, midwife_a, make_user, site_a
):
    colleague = make_user("bidan_c", "midwife", [site_a])
    respondent = make_respondent("R01")
    session = first_session(respondent)
    started = datetime.datetime(2026, 6, 3, 8, 15, tzinfo=JAKARTA)

    def save(user, minutes):
        return lambda: services.record_session(
            session=MassageSession.objects.get(pk=session.pk),
            user=user,
            status="done",
            started_at=started,
            duration_minutes=minutes,
            expected_version=1,
        )

    for _attempt in range(5):
        session.refresh_from_db()
        results = run_together(save(midwife_a, 15), save(colleague, 18))
        stale = [r for r in results if isinstance(r, services.StaleRecordError)]
        saved = [r for r in results if isinstance(r, MassageSession)]
        assert len(saved) == 1 and len(stale) == 1, results
        session.refresh_from_db()
        assert session.duration_minutes == saved[0].duration_minutes
        assert session.version == 2
        assert session.history.count() == 2
        # reset for the next attempt
        MassageSession.objects.filter(pk=session.pk).update(
            status="planned", started_at=None, duration_minutes=None, version=1
        )
        session.history.filter(version=2).delete()


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_double_submitted_enrolment_creates_one_mother(study, site_a, midwife_a):
    import time_machine

    def submit():
        browser = Client(headers={"accept-language": "en"})
        browser.force_login(midwife_a)
        return browser.post(
            reverse("studies:respondent_enrol", args=[study.code]), enrolment(site_a)
        )

    with time_machine.travel(datetime.datetime(2026, 6, 4, 10, 30, tzinfo=JAKARTA)):
        responses = run_together(submit, submit, submit)
    assert all(not isinstance(r, Exception) for r in responses), responses
    assert [r.status_code for r in responses] == [302, 302, 302]
    mother = Respondent.objects.get(code="P-016")
    assert {r["Location"] for r in responses} == {
        reverse("studies:respondent_detail", args=[study.code, mother.code])
    }
    assert Respondent.objects.count() == 1
    assert MassageSession.objects.count() == 6
    assert Respondent.history.filter(history_type="+").count() == 1
