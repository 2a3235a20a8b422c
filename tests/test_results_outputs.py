"""What the results page, its downloads and the .docx print, for every design and in both
languages: every table downloads as CSV and .xlsx and is in the .docx (the paper's one-group
pre/post study, a two-group pre/post study with a yes/no outcome and a one-group study with three
time points); the Indonesian decimal comma in every sentence and footnote; an empty figure's
footnote; the wording of the conclusions. The cohorts come in through the importer, as a
researcher would bring them."""

from __future__ import annotations

import csv
import html
import io
import re

import docx
import openpyxl
import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation

from studies import charts, cohort, exchange, manuscript, services
from studies.paper_cohort import PAPER_COHORT

from .conftest import laktasi_definition
from .test_exchange_designs import mother

SITES = ["Klinik A", "Klinik B"]
# One group, three time points: a score (Friedman) and an ordinal outcome.
REPEATED = {
    "design": "one_group_repeated",
    "arms": [],
    "allocation": "chosen",
    "sessions": {"all": {"first_day": 2, "days": 3, "per_day": 2, "minutes": [15, 20],
                         "label": {"id": "Pijat", "en": "Massage"}}},
    "timepoints": [
        {"key": "pre", "day": 2, "label": {"id": "Sebelum", "en": "Before"}},
        {"key": "mid", "day": 4, "label": {"id": "Tengah", "en": "Midway"}},
        {"key": "post", "day": 5, "label": {"id": "Sesudah", "en": "After"}},
    ],
    "outcomes": [
        {"key": "score", "label": {"id": "Skor nyeri", "en": "Pain score"}, "type": "score",
         "min": 0, "max": 10, "decimals": 2},
        {"key": "flow", "label": {"id": "Aliran ASI", "en": "Milk flow"}, "type": "ordinal",
         "categories": [{"value": 1, "label": {"id": "Sedikit", "en": "Little"}},
                        {"value": 2, "label": {"id": "Cukup", "en": "Enough"}},
                        {"value": 3, "label": {"id": "Banyak", "en": "Plenty"}}]},
    ],
}  # fmt: skip


def imported_study(code: str, definition: dict | None, rows: list[dict], user):
    """A study of ``definition`` (the paper's when None) holding ``rows`` through the
    importer."""
    study = services.create_study(code=code, title=code, site_names=SITES, definition=definition)
    header = exchange.cohort_columns(study.protocol)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([row.get(column, "") for column in header])
    report = exchange.import_cohort(study=study, data=out.getvalue().encode(), user=user)
    assert report.ok, [str(error) for error in report.errors]
    return study


def paper_rows() -> list[dict]:
    return [
        mother(
            row["respondent_code"],
            SITES[index % 2],
            age_years=row["age_years"],
            parity=row["parity"],
            education=row["education"],
            employment=row["employment"],
            pre_feeds=row["pre_feeds"],
            pre_urinations=row["pre_urinations"],
            post_feeds=row["post_feeds"],
            post_urinations=row["post_urinations"],
            sessions_completed=6,
        )
        for index, row in enumerate(PAPER_COHORT)
    ]


def laktasi_rows(count: int = 10) -> list[dict]:
    rows = []
    for index in range(count):
        arm = "intervention" if index % 2 == 0 else "control"
        rows.append(mother(
            f"L{index:02d}", SITES[index % 2], arm=arm,
            parity=1 + index % 3, age_years=18 + 2 * index,
            pre_milk_ml=f"{20 + index * 2.5:.1f}", pre_feeds=5 + index % 3,
            post_milk_ml=f"{(55 if arm == 'intervention' else 30) + index * 1.5:.1f}",
            post_feeds=(10 if arm == "intervention" else 7) + index % 2,
            post_lancar=1 if arm == "intervention" and index != 4 else index % 3 % 2,
            sessions_completed=6 if arm == "intervention" else "",
        ))  # fmt: skip
    return rows


def repeated_rows() -> list[dict]:
    return [
        mother(
            f"U{index}",
            SITES[index % 2],
            pre_score=f"{7 + index / 8:.2f}",
            pre_flow=1 + index % 2,
            mid_score=f"{5 + index % 3 / 2:.2f}",
            mid_flow=2,
            post_score=f"{2 + index / 4:.2f}",
            post_flow=3 - index % 2,
            sessions_completed=6,
        )
        for index in range(8)
    ]


@pytest.fixture
def studies(db, data_manager):
    return [
        imported_study("PAPER", None, paper_rows(), data_manager),
        imported_study("LAKTASI", laktasi_definition("by_site", arm_by_site={
            "Klinik A": "intervention", "Klinik B": "control"}), laktasi_rows(), data_manager),
        imported_study("ULANG", REPEATED, repeated_rows(), data_manager),
    ]  # fmt: skip


def table_count(study, language: str) -> int:
    with translation.override(language):
        document = cohort.results_document(cohort.load_cohort(study))
        return len(manuscript.tables(document, manuscript.Formatter(".")))


@pytest.mark.parametrize("language", ["en", "id"])
def test_every_table_of_every_design_downloads_as_csv_xlsx_and_docx(
    studies, researcher, language
):
    client = Client(headers={"accept-language": language})
    client.force_login(researcher)
    for study in studies:
        count = table_count(study, language)
        assert count >= 4, study.code
        for number in range(1, count + 1):
            for view in ("studies:results_table_csv", "studies:results_table_xlsx"):
                response = client.get(reverse(view, args=[study.code, number]))
                assert response.status_code == 200, (study.code, number, view)
                body = b"".join(response.streaming_content) if response.streaming else (
                    response.content)  # fmt: skip
                if view.endswith("csv"):
                    text = body.decode("utf-8-sig")
                    assert text.count("\r\n") >= 3, (study.code, number)
                else:
                    sheet = openpyxl.load_workbook(io.BytesIO(body)).active
                    assert sheet.max_row >= 3, (study.code, number)
                    # Every text cell is a string, never a lazy object's repr.
                    for row in sheet.iter_rows(values_only=True):
                        for value in row:
                            assert "__proxy__" not in str(value)
        response = client.get(reverse("studies:results_table_csv", args=[study.code, count + 1]))
        assert response.status_code == 404
        response = client.get(reverse("studies:results_tables_docx", args=[study.code]))
        assert response.status_code == 200
        word = docx.Document(io.BytesIO(b"".join(response.streaming_content)))
        captions = [p.text for p in word.paragraphs if p.style.name == "Caption"]
        assert len(captions) >= count, study.code


def test_table_rows_hold_plain_strings_never_lazy_translations(studies):
    """The crash of LAKTASI's Table 1: a lazy translation reached a cell."""
    for study in studies:
        for language in ("en", "id"):
            with translation.override(language):
                document = cohort.results_document(cohort.load_cohort(study))
                for table in manuscript.tables(document, manuscript.Formatter(",")):
                    for row in exchange.table_rows(table, decimal_separator=","):
                        for value in row:
                            assert value is None or type(value) in (str, exchange.Number), (
                                study.code, table.title, type(value), value)  # fmt: skip


# ---------------------------------------------------------------------------
# The words around the figures
# ---------------------------------------------------------------------------

# A decimal written with a point: "p ≥ .05", "1.00", "(12.5)". Not a date or "Tabel 4.1".
POINT_DECIMAL = re.compile(r"(?<![\w.])\.\d|\d\.\d")


def small_laktasi_rows() -> list[dict]:
    """Two mothers per arm: too few for Shapiro–Wilk; the control arm's feeds rise by 2 in
    both (no variation in the differences) and no control mother's milk flows (0.0%)."""
    rows = []
    for index, (arm, milk, feeds, lancar) in enumerate([
        ("intervention", (20.0, 55.5), (5, 9), 1), ("intervention", (22.5, 50.5), (6, 11), 1),
        ("control", (21.0, 29.5), (5, 7), 0), ("control", (23.5, 30.5), (6, 8), 0),
    ]):  # fmt: skip
        rows.append(mother(
            f"K{index}", SITES[0] if arm == "intervention" else SITES[1], arm=arm,
            pre_milk_ml=milk[0], post_milk_ml=milk[1], pre_feeds=feeds[0], post_feeds=feeds[1],
            post_lancar=lancar, sessions_completed=6 if arm == "intervention" else "",
        ))  # fmt: skip
    return rows


@pytest.fixture
def small_laktasi(db, data_manager):
    return imported_study("KECIL", laktasi_definition("by_site", arm_by_site={
        "Klinik A": "intervention", "Klinik B": "control"}), small_laktasi_rows(), data_manager)


def page(study, user, language: str) -> str:
    client = Client(headers={"accept-language": language})
    client.force_login(user)
    response = client.get(reverse("studies:results", args=[study.code]))
    assert response.status_code == 200
    return response.content.decode()


def words(html_text: str) -> list[str]:
    """The page's sentences and footnotes: the conclusion, each table's footnotes and each
    outcome's reason for its test."""
    found = []
    for pattern in (r'<section class="mb-4" aria-labelledby="conclusion-heading".*?</section>',
                    r'<ul class="list-unstyled small text-muted mb-3">.*?</ul>',
                    r"<p class=\"small mb-1\" data-chosen-within.*?</p>"):  # fmt: skip
        for block in re.findall(pattern, html_text, flags=re.DOTALL):
            text = html.unescape(re.sub(r"<[^>]+>", " ", block))
            found.append(re.sub(r"\s+", " ", text).strip())
    return found


def test_indonesian_sentences_and_footnotes_write_the_decimal_comma(
    studies, small_laktasi, researcher
):
    """"p ≥ 0,05", "terkecil 0,50", "(0,0%)": no decimal point in any Indonesian sentence of any
    design (the tables themselves are checked by the designs' own tests)."""
    services.override_test_choice(study=small_laktasi, outcome="milk_ml", comparison="between",
                                  test="independent_t", reason="Direncanakan di protokol",
                                  user=researcher)  # fmt: skip
    for study in [*studies, small_laktasi]:
        texts = words(page(study, researcher, "id"))
        assert texts, study.code
        for text in texts:
            assert not POINT_DECIMAL.search(text), (study.code, text)
        english = " ".join(words(page(study, researcher, "en")))
        assert not re.search(r"\d,\d", english), study.code
    paper = " ".join(words(page(studies[0], researcher, "id")))
    assert "Shapiro–Wilk p ≥ 0,05" in paper
    small = " ".join(words(page(small_laktasi, researcher, "id")))
    assert "(0,0%)" in small and "(,0%)" not in small
    # The .docx prints the same sentences.
    client = Client(headers={"accept-language": "id"})
    client.force_login(researcher)
    response = client.get(reverse("studies:results_tables_docx", args=[small_laktasi.code]))
    word = docx.Document(io.BytesIO(b"".join(response.streaming_content)))
    body = [p.text for p in word.paragraphs]
    assert any("(0,0%)" in text for text in body)
    assert not [text for text in body if POINT_DECIMAL.sub("", text.replace("Tabel 4.", "")) !=
                text.replace("Tabel 4.", "")]  # fmt: skip


def test_reason_text_takes_the_decimal_separator(small_laktasi):
    chosen = {"reason": "binary_small_expected", "reason_args": {"min_expected": 1.0}}
    with translation.override("id"):
        assert "terkecil 1,00" in cohort.reason_text(small_laktasi, chosen)
        assert "1.00" in cohort.reason_text(small_laktasi, chosen, decimal_separator=".")
    # A time point is named as a measurement, so the sentence reads with any label.
    skewed = {"reason": "not_normal", "reason_args": {"group": "intervention/pre", "alpha": 0.05,
                                                      "test": "shapiro_wilk", "p": 0.012}}
    with translation.override("id"):
        assert cohort.reason_text(small_laktasi, skewed) == (
            "Pijat oksitosin, pengukuran Sebelum tidak berdistribusi normal (Shapiro–Wilk "
            "p = 0,012 < 0,05): uji peringkat (nonparametrik)."
        )
    with translation.override("en"):
        assert cohort.reason_text(small_laktasi, skewed).startswith(
            "Oxytocin massage, the Before measurement is not normally distributed (Shapiro–Wilk "
            "p = 0.012 < 0.05)"
        )
    normal = {"reason": "all_normal", "reason_args": {"alpha": 0.05}}
    with translation.override("en"):
        assert "p ≥ 0.05" in cohort.reason_text(small_laktasi, normal)
    # As in the conclusions: never "p = 0", and α as the study defines it (not ",03").
    far = {"reason": "not_normal", "reason_args": {"group": "intervention/pre", "alpha": 0.025,
                                                   "test": "shapiro_wilk", "p": 0.0001}}
    with translation.override("id"):
        assert "(Shapiro–Wilk p < 0,001 < 0,025)" in cohort.reason_text(small_laktasi, far)


def test_chart_ticks_write_the_decimal_comma():
    document = {
        "arms": [{"key": "all", "label": ""}],
        "timepoints": [{"key": "pre", "label": "Pre"}, {"key": "post", "label": "Post"}],
        "outcomes": {"milk": {"label": "Milk", "unit": "ml", "timepoints": ["pre", "post"],
                              "type": "continuous", "descriptives": {"all": {
                                  "pre": {"n": 3, "mean": 1.1, "median": 1.05},
                                  "post": {"n": 3, "mean": 1.45, "median": 1.4}}}}},
    }  # fmt: skip
    ticks = re.compile(r">(−?\d[\d.,]*)</text>")
    comma = charts.means_chart(document, "milk", sep=",")
    point = charts.means_chart(document, "milk", sep=".")
    assert any("," in tick for tick in ticks.findall(comma.svg))
    assert not any("." in tick for tick in ticks.findall(comma.svg))
    assert any("." in tick for tick in ticks.findall(point.svg))


def test_the_researchers_choice_is_said_once(small_laktasi, researcher):
    services.override_test_choice(study=small_laktasi, outcome="milk_ml", comparison="between",
                                  test="independent_t", reason="Planned in the protocol",
                                  user=researcher)  # fmt: skip
    for language, said in (("en", "Chosen by the researcher"), ("id", "Dipilih oleh peneliti")):
        text = page(small_laktasi, researcher, language)
        choice = re.search(r'<section class="mb-3" id="choice-milk_ml".*?</section>', text,
                           flags=re.DOTALL).group(0)  # fmt: skip
        assert choice.count(said) == 1, language
        assert "Planned in the protocol" in choice


def test_an_empty_figure_says_why_in_a_footnote(small_laktasi):
    for language, too_few, constant in (
        ("en", "Shapiro–Wilk is not computed from fewer than 3 values.",
         "no variation in the differences"),
        ("id", "Shapiro–Wilk tidak dihitung dari kurang dari 3 nilai.", "selisih tidak bervariasi"),
    ):  # fmt: skip
        with translation.override(language):
            document = cohort.results_document(cohort.load_cohort(small_laktasi))
            tables = manuscript.tables(document, manuscript.Formatter("."))
        normality = next(t for t in tables if "Normality" in t.title or "normalitas" in t.title)
        part = normality.parts[0]
        letter = next(note[0] for note in part.footnotes if too_few in note)
        # Every row's Shapiro–Wilk statistic is empty and carries that letter.
        assert all(row[6].text == "" and row[6].note == letter for row in part.rows)
        feeds = next(t for t in tables if t.outcome == "feeds" and "t" in t.title
                     and len(t.parts) == 2 and t.parts[1].caption.startswith(
                         ("Paired Samples Test", "Uji sampel berpasangan")))  # fmt: skip
        test_part = feeds.parts[1]
        control = test_part.rows[-1]
        t_cell = control[7]
        assert t_cell.text == "" and t_cell.note
        assert any(note.startswith(f"{t_cell.note}. ") and constant in note
                   for note in test_part.footnotes)  # fmt: skip
        # The footnotes reach the CSV too.
        rows = exchange.table_rows(feeds, decimal_separator=".")
        assert [f"{t_cell.note}. " in str(row[0]) for row in rows if row].count(True) == 1


def test_time_points_read_after_a_preposition_and_one_group_has_no_arm_column(
    studies, small_laktasi, researcher
):
    laktasi_id = page(small_laktasi, researcher, "id")
    conclusion = " ".join(words(laktasi_id)[:1])
    assert "Pada pengukuran Sesudah," in conclusion and "Pada Sesudah" not in conclusion
    assert "pada pengukuran Sesudah: uji chi-square" in laktasi_id
    english = " ".join(words(page(small_laktasi, researcher, "en"))[:1])
    assert "At the After measurement," in english
    # The yes/no outcome: a share per arm, 0.0% written in full.
    assert ("the share of Milk flows smoothly “Smooth” did not differ significantly between "
            "Oxytocin massage (100.0%) and Control (0.0%)") in english  # fmt: skip
    assert "proporsi ASI lancar “Lancar”" in conclusion and "(0,0%)" in conclusion
    # The paper's one group: no empty arm column and no "within each arm".
    for language in ("en", "id"):
        with translation.override(language):
            document = cohort.results_document(cohort.load_cohort(studies[0]))
            tables = manuscript.tables(document, manuscript.Formatter("."))
        arm = translation.gettext("Arm") if language == "en" else "Kelompok"
        for table in tables:
            assert "within each arm" not in table.title and "setiap kelompok" not in table.title
            for part in table.parts:
                assert arm not in [cell.text for cell in part.header], (language, table.title)


def test_the_papers_conclusion_puts_the_chosen_test_first(studies, researcher):
    paper = studies[0]
    for language, chosen, other in (
        ("en", "Chosen test: ", "For comparison only, not the chosen test: "),
        ("id", "Uji yang dipilih: ", "Sebagai pembanding saja, bukan uji yang dipilih: "),
    ):
        with translation.override(language):
            document = cohort.results_document(cohort.load_cohort(paper))
            for name, outcome in document["outcomes"].items():
                sentences = manuscript.outcome_conclusions(document, name,
                                                           manuscript.Formatter("."))  # fmt: skip
                test = outcome["chosen"]["within"]
                shown = str(manuscript.TEST_NAMES[test]) if test == "paired_t" else "Wilcoxon"
                assert sentences[0].startswith(chosen) and shown in sentences[0], sentences
                assert sentences[1].startswith(other), sentences
                assert len(sentences) == 3  # and then which test and why
        text = " ".join(words(page(paper, researcher, language)))
        assert text.count(chosen) == len(document["outcomes"])
