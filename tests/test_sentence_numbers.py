"""A number in a sentence reads as a number: "0,50" in Indonesian, "0.50" in English, where an
SPSS table prints ",50". The results page's sentences (the conclusions, each outcome's reason for
its test, the charts' descriptions, the session adherence), results.json's reason and the .docx's
conclusion all write the leading zero; the tables and their SPSS footnotes keep SPSS's format.
And a chart's description names its time points as time points ("Volume ASI menurut titik waktu
(Sebelum, Sesudah)"), not after a preposition. The cohorts come in through the importer."""

from __future__ import annotations

import html
import io
import re

import docx
import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from studies.analysis import prose

from .conftest import laktasi_definition
from .test_exchange_designs import mother
from .test_results_outputs import SITES, imported_study

# A decimal without its leading zero: ",50", "-.447" (not "12,50", "Tabel 4.1" or "A, B").
BARE = {"id": re.compile(r"(?<![\d\w]),\d"), "en": re.compile(r"(?<![\d\w])\.\d")}


def tiny_rows() -> list[dict]:
    """Two mothers per arm with less than 1 ml of milk: means and medians below 1, a Mann–Whitney
    Z of 0 before the massage, and one smooth flow in four (a smallest expected count of 0.50)."""
    rows = []
    for index, (arm, milk, lancar) in enumerate([
        ("intervention", (0.5, 0.9), 1), ("intervention", (0.9, 0.7), 0),
        ("control", (0.6, 0.4), 0), ("control", (0.8, 0.3), 0),
    ]):  # fmt: skip
        rows.append(mother(
            f"T{index}", SITES[0] if arm == "intervention" else SITES[1], arm=arm,
            pre_milk_ml=milk[0], post_milk_ml=milk[1], pre_feeds=5 + index, post_feeds=9 + index,
            post_lancar=lancar, sessions_completed=6 if arm == "intervention" else "",
        ))  # fmt: skip
    return rows


@pytest.fixture
def tiny(db, data_manager):
    return imported_study("MUNGIL", laktasi_definition("by_site", arm_by_site={
        "Klinik A": "intervention", "Klinik B": "control"}), tiny_rows(), data_manager)  # fmt: skip


def get(user, language: str, name: str, code: str):
    client = Client(headers={"accept-language": language})
    client.force_login(user)
    response = client.get(reverse(name, args=[code]))
    assert response.status_code == 200
    return response


def texts(html_text: str, pattern: str) -> list[str]:
    return [re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", block))).strip()
            for block in re.findall(pattern, html_text, flags=re.DOTALL)]  # fmt: skip


def sentences(html_text: str) -> dict[str, list[str]]:
    """The page's running text: conclusions, reasons for the tests, charts' descriptions."""
    return {
        "conclusions": texts(html_text, r'<p class="mb-1" data-outcome="[^"]*">.*?</p>'),
        "reasons": texts(html_text, r'<p class="small mb-1" data-chosen-within.*?</p>'),
        "charts": texts(html_text, r"<figcaption\b.*?</figcaption>"),
    }


@pytest.mark.parametrize(
    ("language", "smallest", "alpha", "median"),
    [("id", "(terkecil 0,50)", "α = 0,05",
      "Pijat oksitosin Sebelum: median 0,7 (kuartil 0,5–0,9, n = 2)"),
     ("en", "(smallest 0.50)", "α = 0.05",
      "Oxytocin massage Before: median 0.7 (quartiles 0.5–0.9, n = 2)")],
)  # fmt: skip
def test_the_results_pages_sentences_write_the_leading_zero(
    tiny, researcher, language, smallest, alpha, median
):
    page = get(researcher, language, "studies:results", tiny.code).content.decode()
    found = sentences(page)
    assert all(found.values()), found
    for kind, items in found.items():
        for text in items:
            assert not BARE[language].search(text), (kind, text)
    reasons = " ".join(found["reasons"])
    assert smallest in reasons
    conclusions = " ".join(found["conclusions"])
    assert alpha in conclusions
    # Before the massage both arms rank alike: the statistic is 0 and reads as one.
    assert "U = 2" in conclusions and re.search(r"Z = 0[.,]000, p = 1[.,]000", conclusions)
    assert re.search(r"\bp = 0[.,]\d{3}\b", conclusions)
    assert median in " ".join(found["charts"])
    # The tables stay as SPSS prints them: its footnote's smallest expected count too.
    footnote = {"id": "Frekuensi harapan terkecil adalah ,50.",
                "en": "The minimum expected count is .50."}[language]  # fmt: skip
    assert footnote in page


@pytest.mark.parametrize(
    ("language", "expected"),
    [("id", "Volume ASI menurut titik waktu (Sebelum, Sesudah): rerata sebagai garis penuh, "
            "median garis putus-putus. Pijat oksitosin: rerata 0,70, 0,80, median 0,70, 0,80; "
            "Kontrol: rerata 0,70, 0,35, median 0,70, 0,35."),
     ("en", "Breast-milk volume by time point (Before, After): the mean as a solid line, the "
            "median dashed. Oxytocin massage: means 0.70, 0.80, medians 0.70, 0.80; Control: "
            "means 0.70, 0.35, medians 0.70, 0.35.")],
)  # fmt: skip
def test_the_means_chart_names_its_time_points_as_time_points(
    tiny, researcher, language, expected
):
    """Not "Volume ASI pada Sebelum, Sesudah": a time point's label after a preposition."""
    page = get(researcher, language, "studies:results", tiny.code).content.decode()
    described = texts(page, r'<figcaption [^>]*id="chart-milk_ml-means-text">.*?</figcaption>')
    assert described == [expected]


@pytest.mark.parametrize(("language", "smallest"), [("id", "terkecil 0,50"),
                                                    ("en", "smallest 0.50")])  # fmt: skip
def test_results_json_reason_writes_the_leading_zero(tiny, researcher, language, smallest):
    document = get(researcher, language, "studies:results_json", tiny.code).json()
    chosen = document["outcomes"]["lancar"]["chosen"]
    assert chosen["reason"] == "binary_small_expected"
    assert chosen["reason_args"]["min_expected"] == pytest.approx(0.5)
    assert smallest in chosen["reason_text"]


def test_the_docx_conclusion_writes_the_leading_zero(tiny, researcher):
    response = get(researcher, "id", "studies:results_tables_docx", tiny.code)
    word = docx.Document(io.BytesIO(b"".join(response.streaming_content)))
    paragraphs = [p.text for p in word.paragraphs]
    start = paragraphs.index("Kesimpulan")
    conclusion = " ".join(paragraphs[start + 1:])
    assert "α = 0,05" in conclusion and "terkecil 0,50" in conclusion
    assert not BARE["id"].search(conclusion), conclusion
    # The tables' cells keep SPSS's ",50" where it prints one.
    cells = [cell.text for table in word.tables for row in table.rows for cell in row.cells]
    assert any(BARE["id"].fullmatch(text[:2]) for text in cells if text.startswith(","))


def test_session_adherence_below_one_percent_reads_as_a_number(db, data_manager, researcher):
    """One session done of 120 planned: "(0,8%)", not "(,8%)"."""
    rows = [mother(f"S{index:02d}", SITES[index % 2], pre_feeds=5, pre_urinations=4,
                   post_feeds=9, post_urinations=8, sessions_completed=1 if index == 0 else 0)
            for index in range(20)]  # fmt: skip
    study = imported_study("SEDIKIT", None, rows, data_manager)
    for language, expected in (("id", "1 dari 120"), ("en", "1 of 120")):
        page = get(researcher, language, "studies:results", study.code).content.decode()
        figure = texts(page, r'<dd [^>]*data-figure="adherence">.*?</dd>')[0]
        assert expected in figure and figure.endswith(
            "(0,8%)" if language == "id" else "(0.8%)"), figure
    out = io.StringIO()
    call_command("analyze", study.code, stdout=out, no_color=True)
    assert "sessions done 1 of 120 (0.8%)" in out.getvalue()


@pytest.mark.parametrize(
    ("value", "places", "separator", "expected"),
    [(0.5, 2, ",", "0,50"), (-0.4471, 3, ".", "−0.447"), (12.5, 2, ",", "12,50"),
     (0.0004, 3, ".", "0.000"), (-0.0004, 3, ".", "0.000"), (3, 0, ".", "3"), (None, 2, ".", "")],
)  # fmt: skip
def test_format_in_text_rounds_as_the_table_and_keeps_the_zero(value, places, separator, expected):
    assert prose.format_in_text(value, places, decimal_separator=separator) == expected
