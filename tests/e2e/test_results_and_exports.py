"""The researcher's results page with its charts (English on a laptop, Indonesian on a phone)
and the data manager downloading the cohort CSV from the export page."""

from __future__ import annotations

import csv
import io

import pytest
from django.utils import timezone

from studies import exchange
from tests.conftest import PASSWORD

from .test_midwife_flow import no_horizontal_scroll, sign_in


@pytest.fixture
def paper_study(study, data_manager):
    from tests.test_exchange import paper_csv

    report = exchange.import_cohort(study=study, data=paper_csv(), user=data_manager)
    assert report.ok
    return study


@pytest.mark.django_db(transaction=True)
def test_researcher_sees_the_paper_tables_and_charts(
    live_server, browser, shoot, paper_study, researcher
):
    base = live_server.url
    for language, viewport, name in (
        ("en-GB", {"width": 1280, "height": 900}, "results-en"),
        ("id-ID", {"width": 360, "height": 740}, "results-id"),
    ):
        context = browser.new_context(viewport=viewport, locale=language)
        page = context.new_page()
        sign_in(page, base, researcher.username)
        page.goto(f"{base}/studies/{paper_study.code}/results/")
        text = page.locator("main").inner_text()
        assert "-3.434" in text.replace("−", "-") or "-3,434" in text.replace("−", "-")
        assert "-3.438" in text.replace("−", "-") or "-3,438" in text.replace("−", "-")
        assert page.locator("figure svg").count() >= 4
        assert page.locator("#conclusion").inner_text().strip()
        if language.startswith("id"):
            assert "Tabel 4" in text and "5,47" in text
            no_horizontal_scroll(page)
        else:
            assert "Table 4" in text and "5.47" in text
        shoot(page, name)
        context.close()


@pytest.mark.django_db(transaction=True)
def test_admin_downloads_the_cohort_with_indonesian_text_intact(
    live_server, browser, shoot, study, data_manager, make_respondent, midwife_a, tmp_path
):
    from studies import services

    mother = make_respondent("R-01")
    services.withdraw_respondent(
        respondent=mother, user=midwife_a, reason="Pindah ke Sukabumi — ibu menolak lanjut"
    )
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, locale="id-ID", accept_downloads=True
    )
    page = context.new_page()
    base = live_server.url
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", data_manager.username)
    page.fill("#id_password", PASSWORD)
    page.click("#main form button[type=submit]")
    page.wait_for_url(f"{base}/")
    page.goto(f"{base}/studies/{study.code}/export/")
    page.select_option("#delimiter", "semicolon")
    shoot(page, "exports")
    with page.expect_download() as download_info:
        page.click(f'button[formaction="/studies/{study.code}/export/cohort.csv"]')
    download = download_info.value
    day = timezone.localdate().isoformat()
    assert download.suggested_filename == f"{study.code}-cohort-semicolon-{day}.csv"
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel reads the BOM as UTF-8
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:3] == ["respondent_code", "site", "delivery_date"]
    assert rows[1][rows[0].index("withdrawal_reason")] == "Pindah ke Sukabumi — ibu menolak lanjut"
    context.close()
