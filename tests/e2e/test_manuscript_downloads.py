"""On a 360 px phone in Indonesian: the researcher downloads every results table as a Word
document from the results page, and the data manager the cohort as an SPSS .sav from the export
page. Each button is on screen without scrolling sideways, and the file opens."""

from __future__ import annotations

import docx
import pyreadstat
import pytest
from django.utils import timezone

from studies import exchange

from .test_midwife_flow import no_horizontal_scroll, sign_in


@pytest.fixture
def paper_study(study, data_manager):
    from tests.test_exchange import paper_csv

    report = exchange.import_cohort(study=study, data=paper_csv(), user=data_manager)
    assert report.ok
    return study


def on_screen(page, locator) -> None:
    """The element is visible and lies within the 360 px width once scrolled to vertically."""
    locator.scroll_into_view_if_needed()
    box = locator.bounding_box()
    assert box is not None and box["width"] > 0
    assert box["x"] >= 0 and box["x"] + box["width"] <= 360, box
    no_horizontal_scroll(page)


@pytest.mark.django_db(transaction=True)
def test_researcher_downloads_the_word_tables_on_a_phone(
    live_server, phone, shoot, paper_study, researcher, tmp_path
):
    base = live_server.url
    sign_in(phone, base, researcher.username)
    phone.goto(f"{base}/studies/{paper_study.code}/results/")
    button = phone.get_by_role("link", name="Semua tabel (Word .docx)")
    on_screen(phone, button)
    shoot(phone, "results-docx-button-id")
    with phone.expect_download() as download_info:
        button.click()
    download = download_info.value
    day = timezone.localdate().isoformat()
    assert download.suggested_filename == f"{paper_study.code}-tabel-{day}.docx"
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    word = docx.Document(str(path))
    captions = [p.text for p in word.paragraphs if p.style.name == "Caption"]
    assert captions[0] == "Tabel 4.1 Distribusi frekuensi karakteristik responden (N = 15)"
    assert [cell.text for cell in word.tables[1].rows[1].cells][3:] == ["5,47", ",915", "4", "7"]


@pytest.mark.django_db(transaction=True)
def test_data_manager_downloads_the_sav_on_a_phone(
    live_server, phone, shoot, paper_study, data_manager, tmp_path
):
    base = live_server.url
    sign_in(phone, base, data_manager.username)
    phone.goto(f"{base}/studies/{paper_study.code}/export/")
    button = phone.locator(f'a[href="/studies/{paper_study.code}/export/cohort.sav"]')
    on_screen(phone, button)
    with phone.expect_download() as download_info:
        button.click()
    download = download_info.value
    day = timezone.localdate().isoformat()
    assert download.suggested_filename == f"{paper_study.code}-cohort-{day}.sav"
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    frame, meta = pyreadstat.read_sav(str(path))
    assert len(frame) == 15
    assert meta.variable_value_labels["employment_n"] == {1.0: "Bekerja", 2.0: "Tidak bekerja"}
    identified = phone.get_by_role("button", name="sebagai berkas SPSS (.sav)")
    on_screen(phone, identified)
    shoot(phone, "exports-sav-id")
