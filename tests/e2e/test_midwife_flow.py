"""A midwife on a 360 px phone, in Indonesian: enrol a mother, see her on the worklist, record
the six sessions and both sheets over four days, correct an entry and see it in the history,
and withdraw another mother."""

from __future__ import annotations

import datetime
import re

import pytest
import time_machine
from django.utils import translation

from studies import services
from studies.models import MassageSession, Observation, Respondent
from tests.conftest import PASSWORD

JAKARTA = datetime.timezone(datetime.timedelta(hours=7))
# A day after the real clock, so the browser keeps the cookies the travelled server sets.
START = datetime.datetime.now(JAKARTA).replace(hour=8, minute=0, second=0, microsecond=0)
START += datetime.timedelta(days=30)


def indonesian(text: str) -> str:
    with translation.override("id"):
        return translation.gettext(text)


def no_horizontal_scroll(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= 360, page.url


def sign_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("#main form button[type=submit]")
    page.wait_for_url(f"{base}/")


@pytest.mark.django_db(transaction=True)
def test_midwife_flow_on_a_phone_in_indonesian(live_server, phone, shoot, make_user, study, site_a):
    base = live_server.url
    page = phone
    midwife = make_user("bidan_a", "midwife", [site_a])
    with time_machine.travel(START, tick=True) as clock:
        today = START.date()
        leaving = services.enrol_respondent(
            study=study,
            site=site_a,
            user=midwife,
            code="LAMA-01",
            delivery_date=today - datetime.timedelta(days=3),
            enrolled_on=today - datetime.timedelta(days=1),
            age_years=31,
            parity=2,
            education="basic",
            employment="working",
            eligibility_confirmed=True,
            consent_date=today - datetime.timedelta(days=1),
        )

        page.goto(f"{base}/accounts/login/")
        assert page.locator("html").get_attribute("lang") == "id"
        no_horizontal_scroll(page)
        shoot(page, "01-login")
        sign_in(page, base, "bidan_a")
        assert page.locator("h1").inner_text() == indonesian("Today's worklist")
        no_horizontal_scroll(page)

        # Enrol a mother: the form is prefilled with today and a delivery two days ago.
        page.click(f'a[href="/studies/{study.code}/enrol/"]')
        page.fill("#id_code", "P-101")
        page.fill("#id_full_name", "Siti Aminah")
        page.fill("#id_age_years", "24")
        page.fill("#id_parity", "1")
        page.select_option("#id_education", "secondary")
        page.select_option("#id_employment", "not_working")
        for box in ("#id_on_start_day", "#id_breastfeeding", "#id_consent_obtained"):
            page.check(box)
        no_horizontal_scroll(page)
        shoot(page, "02-enrol")
        page.click("#main form button[type=submit]")
        page.wait_for_url(re.compile(r"/respondents/P-101/$"))
        mother = Respondent.objects.get(code="P-101")
        assert mother.sessions.count() == 6
        assert "P-101" in page.locator(".alert").inner_text()

        # The worklist now shows her pre sheet and today's two sessions.
        page.goto(f"{base}/")
        assert "P-101" in page.locator("#due-today").inner_text()
        assert "P-101" in page.locator("#sheets-today").inner_text()
        shoot(page, "03-worklist")

        # The pre sheet, counted with the tally buttons.
        page.click('#sheets-today a[href*="/P-101/sheets/pre/"]')
        for _tap in range(5):
            page.click("#id_value_feeds ~ .tally .btn-success")
        for _tap in range(4):
            page.click("#id_value_urinations ~ .tally .btn-success")
        assert page.input_value("#id_value_feeds") == "5"
        no_horizontal_scroll(page)
        shoot(page, "04-sheet")
        page.click("#main form button[type=submit]")
        page.wait_for_url(f"{base}/")

        # Six sessions over three days, each from the worklist: Record, duration, Save.
        for day in range(3):
            if day:
                clock.move_to(START + datetime.timedelta(days=day))
                sign_in(page, base, "bidan_a")  # the 30-minute idle session expired overnight
            for slot in ("morning", "afternoon"):
                postpartum_day = 2 + day
                link = f'#due-today a[href*="/P-101/sessions/{postpartum_day}/{slot}/"]'
                page.click(link)
                page.fill("#id_duration_minutes", "15")
                if day == 0 and slot == "morning":
                    no_horizontal_scroll(page)
                    shoot(page, "05-session")
                page.click("#main form button[type=submit]")
                page.wait_for_url(f"{base}/")
        done = MassageSession.objects.filter(respondent=mother, status="done")
        assert done.count() == 6
        assert set(done.values_list("performed_by", flat=True)) == {midwife.pk}

        # Day 5: the post sheet.
        clock.move_to(START + datetime.timedelta(days=3))
        sign_in(page, base, "bidan_a")
        page.click('#sheets-today a[href*="/P-101/sheets/post/"]')
        page.fill("#id_value_feeds", "11")
        page.fill("#id_value_urinations", "9")
        page.click("#main form button[type=submit]")
        page.wait_for_url(f"{base}/")
        mother.refresh_from_db()
        assert mother.status == Respondent.Status.COMPLETED
        assert Observation.objects.filter(respondent=mother).count() == 2

        # Correct the first session's duration; the change shows in the history.
        page.goto(f"{base}/studies/{study.code}/respondents/P-101/")
        page.click('#timeline a[href$="/P-101/sessions/2/morning/"]')
        page.fill("#id_duration_minutes", "17")
        page.click("#main form button[type=submit]")
        assert page.locator("#id_reason").get_attribute("class").count("is-invalid") == 1
        page.fill("#id_reason", "Salah ketik durasi")
        page.click("#main form button[type=submit]")
        page.wait_for_url(re.compile(r"/respondents/P-101/$"))
        history = page.locator("#history").inner_text()
        assert "Salah ketik durasi" in history and "15" in history and "17" in history
        assert indonesian("6 of 6 sessions done") in page.locator("#progress").inner_text() or (
            page.locator("#progress").inner_text().startswith("6")
        )
        no_horizontal_scroll(page)
        shoot(page, "06-respondent")

        # Withdraw another mother, with a reason.
        page.goto(f"{base}/studies/{study.code}/respondents/LAMA-01/withdraw/")
        page.fill("#id_withdrawal_reason", "Pindah ke luar kota")
        page.click("#main form [type=submit]")
        shoot(page, "debug")
        page.wait_for_url(re.compile(r"/respondents/LAMA-01/$"))
        leaving.refresh_from_db()
        assert leaving.status == Respondent.Status.WITHDRAWN
        assert leaving.withdrawal_reason == "Pindah ke luar kota"
        shoot(page, "07-withdrawn")
