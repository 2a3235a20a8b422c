"""Issue 13, items 1–5 and 7, as a midwife meets them on a 360 px phone in Indonesian: the
worklist's "missed" and "done late" shortcuts, no error carried between forms, nothing typed
lost over an expired session or a language switch, a session recorded ahead of its day and
taken back to planned, and the error summary with the focus on the field in error."""

from __future__ import annotations

import datetime
import re

import pytest
import time_machine

from studies import services
from studies.models import MassageSession
from tests.e2e.test_midwife_flow import START, indonesian, no_horizontal_scroll, sign_in


def session_link(code: str, day: int, slot: str) -> str:
    return f'a[href*="/respondents/{code}/sessions/{day}/{slot}/"]'


@pytest.mark.django_db(transaction=True)
def test_ward_shortcuts_and_kept_entries_on_a_phone(
    live_server, phone, shoot, make_user, study, site_a
):
    base = live_server.url
    page = phone
    midwife = make_user("bidan_a", "midwife", [site_a])
    with time_machine.travel(START, tick=True):
        today = START.date()
        # Postpartum day 3 today: yesterday's two sessions are overdue, tomorrow's are ahead.
        mother = services.enrol_respondent(
            study=study,
            site=site_a,
            user=midwife,
            code="D17",
            delivery_date=today - datetime.timedelta(days=3),
            enrolled_on=today - datetime.timedelta(days=1),
            age_years=29,
            parity=2,
            education="secondary",
            employment="working",
            eligibility_confirmed=True,
            consent_date=today - datetime.timedelta(days=1),
        )
        sessions = {(s.postpartum_day, s.slot): s for s in mother.sessions.all()}
        sign_in(page, base, "bidan_a")

        # Item 1: "Terlewat" from the worklist saves at the first attempt.
        page.click("#overdue " + session_link("D17", 2, "morning") + "[href*='status=missed']")
        assert page.is_checked("input[name=status][value=missed]")
        page.fill("#id_notes", "Ibu tidur")
        page.click("#main form button[type=submit]")
        page.wait_for_url(f"{base}/")
        missed = MassageSession.objects.get(pk=sessions[(2, "morning")].pk)
        assert missed.status == "missed" and missed.notes == "Ibu tidur"
        assert "D17" in page.locator("#main .alert-success").inner_text()

        # Item 5: "Selesai terlambat" proposes the planned day at the slot's hour.
        page.click("#overdue " + session_link("D17", 2, "afternoon") + ":not([href*=status])")
        yesterday = (today - datetime.timedelta(days=1)).isoformat()
        assert page.input_value("#id_started_on") == yesterday
        assert page.input_value("#id_started_time") == "15:00"

        # Item 7: a failed save (no duration) shows the summary and focuses the field.
        page.click("#main form button[type=submit]")
        summary = page.locator("#error-summary")
        assert summary.is_visible()
        assert indonesian("Not saved yet. Please correct:") in summary.inner_text()
        box = summary.bounding_box()
        assert box is not None and box["y"] < 740  # on the first screen
        page.wait_for_function("document.activeElement && document.activeElement.id")
        assert page.evaluate("document.activeElement.id") == "id_duration_minutes"
        no_horizontal_scroll(page)
        shoot(page, "ward-01-error-summary")

        # Item 2: the error stays on this form; a fresh form of another page is not red.
        page.goto(f"{base}/studies/{study.code}/enrol/")
        assert page.locator(".is-invalid").count() == 0

        # Item 3: switching language mid-form keeps what was typed.
        page.goto(f"{base}/studies/{study.code}/respondents/D17/sessions/2/afternoon/?next=/")
        page.fill("#id_duration_minutes", "16")
        page.fill("#id_notes", "Sesudah mandi")
        page.select_option("#language-select", "en")
        page.click("#language-form button[type=submit]")
        page.wait_for_selector("#kept-note")
        assert page.locator("html").get_attribute("lang") == "en"
        assert page.input_value("#id_duration_minutes") == "16"
        assert page.input_value("#id_notes") == "Sesudah mandi"
        assert page.input_value("#id_started_time") == "15:00"
        no_horizontal_scroll(page)
        page.select_option("#language-select", "id")
        page.click("#language-form button[type=submit]")
        page.wait_for_selector("#kept-note")
        assert page.locator("html").get_attribute("lang") == "id"
        assert page.input_value("#id_duration_minutes") == "16"

        # Item 3: the 30-minute idle timeout passes; the save goes to the sign-in page and the
        # entry comes back, filled in, after signing in (not saved on her behalf).
        page.context.clear_cookies(name="sessionid")
        page.click("#main form button[type=submit]")
        page.wait_for_url(re.compile(r"/accounts/login/\?next="))
        assert MassageSession.objects.get(pk=sessions[(2, "afternoon")].pk).status == "planned"
        page.fill("#id_username", "bidan_a")
        page.fill("#id_password", "lancar-test-Password-1")
        page.click("#main form button[type=submit]")
        page.wait_for_url(re.compile(r"/sessions/2/afternoon/"))
        assert (
            indonesian(
                "Your entry was kept while you signed in again. It is not saved yet: check it and "
                "save."
            )
            in page.locator("#main").inner_text()
        )
        assert page.input_value("#id_duration_minutes") == "16"
        assert page.input_value("#id_notes") == "Sesudah mandi"
        shoot(page, "ward-02-entry-kept")
        page.click("#main form button[type=submit]")
        page.wait_for_url(f"{base}/")
        late = MassageSession.objects.get(pk=sessions[(2, "afternoon")].pk)
        assert late.status == "done" and late.duration_minutes == 16
        assert late.notes == "Sesudah mandi"
        assert late.started_at.astimezone(START.tzinfo).time() == datetime.time(15, 0)

        # Item 4: tomorrow's session recorded today needs a note (a protocol deviation) ...
        page.goto(f"{base}/studies/{study.code}/respondents/D17/sessions/4/morning/")
        page.fill("#id_duration_minutes", "15")
        page.click("#main form button[type=submit]")
        page.wait_for_selector("#id_deviation_reason")
        assert MassageSession.objects.get(pk=sessions[(4, "morning")].pk).status == "planned"
        page.fill("#id_deviation_reason", "Ibu pulang besok pagi")
        page.click("#main form button[type=submit]")
        page.wait_for_url(re.compile(r"/respondents/D17/$"))
        assert MassageSession.objects.get(pk=sessions[(4, "morning")].pk).status == "done"
        # ... and a correction takes it back to planned, with a reason.
        page.goto(f"{base}/studies/{study.code}/respondents/D17/sessions/4/morning/")
        page.check("input[name=status][value=planned]")
        page.fill("#id_reason", "Dicatat terlalu awal")
        page.click("#main form button[type=submit]")
        page.wait_for_url(re.compile(r"/respondents/D17/$"))
        back = MassageSession.objects.get(pk=sessions[(4, "morning")].pk)
        assert back.status == "planned" and back.started_at is None
        assert "Dicatat terlalu awal" in page.locator("#history").inner_text()
        no_horizontal_scroll(page)
        shoot(page, "ward-03-back-to-planned")
