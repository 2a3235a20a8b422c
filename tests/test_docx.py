"""The manuscript's tables as a Word document (issue 15 item 4): ``results/tables.docx`` holds
every table of the results page, numbered as a thesis's results chapter prints them ("Tabel 4.1
…"), in the user's language, cell for cell as the page shows it, in thesis style, with the
conclusion after the tables; researchers and the data manager only, under the page's filters.

The document is opened with python-docx (and, where LibreOffice is installed, converted to text
by it), and every figure is compared with the results page's own tables (``manuscript``)."""

from __future__ import annotations

import datetime
import io
import os
import re
import shutil
import subprocess
from pathlib import Path

import docx
import pytest
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.formats import get_format
from docx.oxml.ns import qn

from studies import cohort, manuscript, services
from studies.paper_cohort import PAPER_COHORT

SOFFICE = "/usr/bin/soffice"
# LibreOffice's Writer module: without it soffice cannot open a .docx (Debian's
# libreoffice-writer-nogui; libreoffice-calc-nogui alone does not bring it).
WRITER = Path("/usr/lib/libreoffice/program/libswlo.so")
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def record_sheet(respondent, phase, user, feeds, urinations, day):
    services.record_observation(
        respondent=respondent,
        timepoint=phase,
        user=user,
        observed_on=respondent.delivery_date + datetime.timedelta(days=day),
        values={"feeds": feeds, "urinations": urinations},
    )


@pytest.fixture
def paper_study(study, site_a, site_b, make_user, make_respondent, midwife_a):
    """The paper's 15 mothers (Tables 1–4 of the paper): odd rows at Klinik A, even rows at
    Klinik B."""
    midwife_b = make_user("bidan_b", "midwife", [site_b])
    for index, row in enumerate(PAPER_COHORT):
        site, user = (site_a, midwife_a) if index % 2 == 0 else (site_b, midwife_b)
        mother = make_respondent(
            row["respondent_code"],
            site=site,
            user=user,
            age_years=row["age_years"],
            parity=row["parity"],
            education=row["education"],
            employment=row["employment"],
        )
        record_sheet(
            mother, "pre", user, row["pre_feeds"], row["pre_urinations"], 2
        )
        record_sheet(
            mother, "post", user, row["post_feeds"], row["post_urinations"], 5
        )
    return study


def page_tables(study, language: str, **filters) -> tuple[list[manuscript.Table], list[str]]:
    """What the results page shows in ``language``: its tables (the paper's and the further
    analyses) and its conclusion sentences, built here from the page's own builders."""
    with translation.override(language):
        data = cohort.load_cohort(study, cohort.CohortFilters(**filters))
        document = cohort.results_document(data)
        fmt = manuscript.Formatter(get_format("DECIMAL_SEPARATOR"))
        tables = manuscript.tables(document, fmt) + [manuscript.extra_table(document, fmt)]
        sentences = manuscript.conclusions(document, fmt)
    return tables, sentences


def download(client, study, **query):
    response = client.get(reverse("studies:results_tables_docx", args=[study.code]), query)
    assert response.status_code == 200, response
    assert response["Content-Type"] == DOCX_TYPE
    return response, docx.Document(io.BytesIO(b"".join(response.streaming_content)))


def captions(word) -> list[str]:
    return [p.text for p in word.paragraphs if p.style.name == "Caption"]


def element_text(element) -> str:
    """The text of a body element (a paragraph or a table) as Word shows it."""
    return "".join(node.text or "" for node in element.iter(qn("w:t")))


def grid(table) -> list[list[str]]:
    return [[cell.text for cell in row.cells] for row in table.rows]


def expected_grids(tables: list[manuscript.Table]) -> list[list[list[str]]]:
    return [
        [[cell.plain() for cell in row] for row in [part.header, *part.rows]]
        for table in tables
        for part in table.parts
    ]


@pytest.mark.parametrize(
    ("language", "client_fixture", "first_caption", "filename_word"),
    [
        (
            "en",
            "client",
            "Table 4.1 Frequency distribution of the respondents' characteristics (N = 15)",
            "tables",
        ),
        (
            "id",
            "client_id",
            "Tabel 4.1 Distribusi frekuensi karakteristik responden (N = 15)",
            "tabel",
        ),
    ],
)
def test_every_table_of_the_page_cell_for_cell_in_the_users_language(
    request, paper_study, researcher, language, client_fixture, first_caption, filename_word
):
    client = request.getfixturevalue(client_fixture)
    client.force_login(researcher)
    response, word = download(client, paper_study)
    tables, sentences = page_tables(paper_study, language)

    day = timezone.localdate().isoformat()
    assert response["Content-Disposition"] == (
        f'attachment; filename="PIJAT-{filename_word}-{day}.docx"'
    )
    assert "no-store" in response["Cache-Control"]
    # The paper's Tables 1–4 first (Table 4 in two parts), then the other tests of its design
    # (Tests of Normality, the paired t tests) and the further analyses: a Word table a part.
    assert [t.number for t in tables[:4]] == [1, 2, 3, 4]
    assert [len(t.parts) for t in tables[:4]] == [1, 1, 1, 2]
    assert len(tables) == 8
    assert len(word.tables) == sum(len(t.parts) for t in tables) == 11
    label = "Tabel" if language == "id" else "Table"
    assert captions(word) == [
        f"{label} 4.{index} {table.title}" for index, table in enumerate(tables, start=1)
    ]
    assert captions(word)[0] == first_caption
    assert [grid(table) for table in word.tables] == expected_grids(tables)
    text = "\n".join(p.text for p in word.paragraphs)
    for sentence in sentences:
        assert sentence in text
    # The conclusion comes after the last table.
    body = [child.tag for child in word.element.body]
    last_table = max(i for i, tag in enumerate(body) if tag == qn("w:tbl"))
    conclusion_at = next(
        i for i, p in enumerate(word.element.body) if sentences[0] in element_text(p)
    )
    assert conclusion_at > last_table
    assert word.core_properties.language == {"en": "en-US", "id": "id-ID"}[language]


def test_the_papers_figures_print_with_spss_decimals_in_each_language(
    paper_study, researcher, client, client_id
):
    """Tables 2–4 of the paper as SPSS prints them: a point in English, a comma in Indonesian,
    no leading zero before an SD or a p."""
    for http, sep in ((client, "."), (client_id, ",")):
        http.force_login(researcher)
        _response, word = download(http, paper_study)
        pre, post, ranks, statistics = (grid(t) for t in word.tables[1:5])
        assert pre[1][3:] == [f"5{sep}47", f"{sep}915", "4", "7"]
        assert pre[2][3:] == [f"4{sep}60", f"{sep}507", "4", "5"]
        assert post[1][3:] == [f"11{sep}33", f"2{sep}526", "8", "17"]
        assert post[2][3:] == [f"9{sep}40", f"1{sep}724", "7", "14"]
        assert ranks[2][2:] == ["15b", f"8{sep}00", f"120{sep}00"]
        assert statistics[1][1:] == [f"-3{sep}434b", f"-3{sep}438b"]
        assert statistics[2][1:] == [f"{sep}001", f"{sep}001"]


def test_thesis_layout_rules_header_and_font(paper_study, researcher, client):
    """Lines above and below each table and under its header row, none between columns; the
    header bold; Times New Roman 12 with single spacing in the cells; footnotes under their
    table; the caption keeps with its table."""
    client.force_login(researcher)
    _response, word = download(client, paper_study)
    for table in word.tables:
        borders = table._tbl.tblPr.find(qn("w:tblBorders"))
        edges = {edge.tag.split("}")[1]: edge.get(qn("w:val")) for edge in borders}
        assert edges == {
            "top": "single",
            "bottom": "single",
            "left": "nil",
            "right": "nil",
            "insideH": "nil",
            "insideV": "nil",
        }
        header, *rows = table.rows
        for cell in header.cells:
            bottom = cell._tc.tcPr.find(qn("w:tcBorders")).find(qn("w:bottom"))
            assert bottom.get(qn("w:val")) == "single"
            assert all(run.bold for p in cell.paragraphs for run in p.runs)
        assert header._tr.trPr.find(qn("w:tblHeader")) is not None
        for row in rows:
            assert row._tr.trPr is None or row._tr.trPr.find(qn("w:tblHeader")) is None
            for cell in row.cells:
                assert cell._tc.tcPr.find(qn("w:tcBorders")) is None
                for paragraph in cell.paragraphs:
                    assert paragraph.paragraph_format.line_spacing == 1.0
                    for run in paragraph.runs:
                        assert not run.bold
                        assert (run.font.name, run.font.size.pt) == ("Times New Roman", 12)
    # Table 4's Ranks part: its footnotes right under it, the superscript letters in the cells.
    ranks = word.tables[3]._tbl
    after = ranks.getnext()
    assert element_text(after) == "a. post-test < pre-test"
    superscripts = [
        run.text
        for cell in word.tables[3].column_cells(2)
        for p in cell.paragraphs
        for run in p.runs
        if run.font.superscript
    ]
    assert superscripts == ["a", "b", "c"] * 2  # feeds, then urinations
    normal = word.styles["Normal"]
    assert (normal.font.name, normal.font.size.pt) == ("Times New Roman", 12)
    assert word.styles["Caption"].paragraph_format.keep_with_next
    section = word.sections[0]
    assert (round(section.page_width.cm, 1), round(section.left_margin.cm, 1)) == (21.0, 4.0)


def test_the_results_pages_filters_apply(paper_study, site_a, researcher, client):
    client.force_login(researcher)
    _response, word = download(client, paper_study, site=site_a.pk, per_protocol="")
    tables, _sentences = page_tables(paper_study, "en", site=site_a)
    assert captions(word)[0].endswith("(N = 8)")
    assert [grid(table) for table in word.tables] == expected_grids(tables)
    assert "Filters: Site: Klinik A." in "\n".join(p.text for p in word.paragraphs)
    # A filter that names nothing is refused, as on the page, rather than ignored.
    refused = client.get(
        reverse("studies:results_tables_docx", args=[paper_study.code]), {"site": "Nowhere"}
    )
    assert refused.status_code == 400
    assert "Nowhere" in refused.content.decode()


def test_an_empty_study_still_gives_every_table(study, data_manager, client):
    """No mother yet: the tables print with empty figures rather than failing."""
    client.force_login(data_manager)
    _response, word = download(client, study)
    tables, _sentences = page_tables(study, "en")
    assert [t.number for t in tables[:4]] == [1, 2, 3, 4]
    assert len(word.tables) == sum(len(t.parts) for t in tables) >= 5
    assert captions(word)[0].endswith("(N = 0)")
    assert "no mother has both a pre-test and a post-test value" in "\n".join(
        p.text for p in word.paragraphs
    )


def test_access_researchers_and_admins_only(study, midwife_a, researcher, data_manager, client):
    url = reverse("studies:results_tables_docx", args=[study.code])
    anonymous = client.get(url)
    assert anonymous.status_code == 302
    assert anonymous["Location"] == f"/accounts/login/?next={url}"
    client.force_login(midwife_a)
    refused = client.get(url)
    assert refused.status_code == 403
    assert refused["Content-Type"].startswith("text/html")
    for user in (researcher, data_manager):
        client.force_login(user)
        assert client.get(url).status_code == 200
    assert client.post(url).status_code == 405
    assert client.get(reverse("studies:results_tables_docx", args=["NOPE"])).status_code == 404


@pytest.mark.parametrize(
    ("client_fixture", "button"),
    [("client", "All tables (Word .docx)"), ("client_id", "Semua tabel (Word .docx)")],
)
def test_the_results_page_has_the_download_button(
    request, paper_study, site_a, researcher, client_fixture, button
):
    client = request.getfixturevalue(client_fixture)
    client.force_login(researcher)
    page = client.get(reverse("studies:results", args=[paper_study.code]), {"site": site_a.pk})
    html = page.content.decode()
    link = re.search(r'<a [^>]*href="([^"]*tables\.docx[^"]*)"[^>]*>([^<]*)<', html)
    assert link, html
    assert link[1] == f"/studies/PIJAT/results/tables.docx?site={site_a.pk}"
    assert link[2].strip() == button


def test_libreoffice_reads_the_numbers(paper_study, researcher, client, tmp_path):
    """An independent reader: LibreOffice converts the .docx to plain text and finds the
    captions and the paper's figures. (CI installs LibreOffice; a machine without it skips.)"""
    if not (Path(SOFFICE).exists() and WRITER.exists()):
        if os.environ.get("LANCAR_REQUIRE_LIBREOFFICE"):
            pytest.fail("LibreOffice is missing: apt-get install libreoffice-writer-nogui")
        pytest.skip("LibreOffice is not installed (apt-get install libreoffice-writer-nogui)")
    client.force_login(researcher)
    response = client.get(reverse("studies:results_tables_docx", args=[paper_study.code]))
    source = tmp_path / "tables.docx"
    source.write_bytes(b"".join(response.streaming_content))
    done = subprocess.run(
        [
            shutil.which("soffice") or SOFFICE,
            f"-env:UserInstallation=file://{tmp_path}/profile",
            "--headless",
            "--convert-to",
            "txt:Text (encoded):UTF8",
            "--outdir",
            str(tmp_path),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    text = (tmp_path / "tables.txt").read_text(encoding="utf-8-sig")
    tables, sentences = page_tables(paper_study, "en")
    for index, table in enumerate(tables, start=1):
        assert f"Table 4.{index} {table.title}" in text
    lines = [line.strip() for line in text.splitlines()]
    # One cell a line; a footnote letter follows its figure, as a superscript did.
    figures = ("5.47", ".915", "11.33", "2.526", "9.40", "1.724", "15b", "120.00", "-3.434b")
    for figure in (*figures, "-3.438b", ".001"):
        assert figure in lines, figure
    assert sentences[0] in text
