"""What the results page says where a figure cannot be computed, and how its running text
reads: the reason for a yes/no outcome's test when no expected count exists, SPSS's
expected-count footnote (Table 1 by arm, the Chi-Square Tests), Levene's test's reason, the
left-out list in the study's own time-point names, and the sentences' percentages, minus
signs and labels. Through the real page, downloads and the analysis package."""

from __future__ import annotations

import datetime
import html
import io
import re

import numpy as np
import pytest
from django.urls import reverse
from django.utils import translation
from docx import Document

from studies import cohort, manuscript, services
from studies.analysis import design as analysis_design
from studies.analysis.crosstab import chi_square, crosstab
from studies.exchange.spss import spss_syntax


def page_text(response) -> str:
    text = re.sub(r"<[^>]+>", " ", response.content.decode())
    return html.unescape(re.sub(r"\s+", " ", text)).strip()


def spss_note(test: dict, fmt: manuscript.Formatter) -> str:
    """SPSS's footnote of a Chi-Square Tests table, in the active language."""
    return translation.gettext(
        "%(n)s cells (%(percent)s%%) have expected count less than 5. The minimum expected count "
        "is %(min)s."
    ) % {"n": test["expected_below_5"], "percent": fmt.percent(test["expected_below_5_percent"]),
         "min": fmt.fixed(test["min_expected"], 2)}  # fmt: skip


def record(mother, user, pre=None, post=None) -> None:
    if pre is not None:
        services.record_observation(respondent=mother, timepoint="pre", user=user,
                                    observed_on=datetime.date(2026, 6, 3), values=pre)  # fmt: skip
    if post is not None:
        services.record_observation(respondent=mother, timepoint="post", user=user,
                                    observed_on=datetime.date(2026, 6, 6), values=post)  # fmt: skip


@pytest.fixture
def all_lancar(make_laktasi, make_respondent, site_a, site_b, midwife_a, midwife_b):
    """Six mothers, three per arm, every one "Lancar" after: no expected count exists."""
    study = make_laktasi("by_site")
    for index in range(6):
        treated = index < 3
        user = midwife_a if treated else midwife_b
        mother = make_respondent(f"A{index:02d}", study=study, site=site_a if treated else site_b,
                                 user=user)  # fmt: skip
        record(mother, user, {"milk_ml": 20.0 + index, "feeds": 5},
               {"milk_ml": 30.0 + 3 * index, "feeds": 6 + index, "lancar": 1})  # fmt: skip
    return study


# ---------------------------------------------------------------------------
# 1. A yes/no outcome whose chi-square cannot be computed
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "why"),
    [
        ({"a": np.empty((0, 1)), "b": np.empty((0, 1))}, "no_cases"),
        ({"a": [[1.0]], "b": np.empty((0, 1))}, "one_arm"),
        ({"a": [[1.0]] * 3, "b": [[1.0]] * 3}, "one_category"),
    ],
)
def test_the_choice_says_a_chi_square_that_cannot_be_computed(values, why):
    result = analysis_design.analyze_outcome(
        "two_group_post_only", "binary", ["a", "b"], ["post"], values, 0.05
    )
    assert result["between"]["post"]["chi_square"]["min_expected"] is None
    chosen = result["chosen"]
    assert chosen["reason"] == "binary_not_computed"
    assert chosen["reason_args"] == {"min_expected": None, "timepoint": "post", "why": why}
    assert chosen["between"] == "chi_square"


def test_a_computed_table_keeps_its_reason():
    """Chi-square at every expected count >= 5, Fisher's below: as before."""
    big = {"a": [[1.0]] * 6 + [[0.0]] * 6, "b": [[1.0]] * 6 + [[0.0]] * 6}
    chosen = analysis_design.analyze_outcome(
        "two_group_post_only", "binary", ["a", "b"], ["post"], big, 0.05
    )["chosen"]
    assert chosen["reason"] == "binary_independent"
    small = {"a": [[1.0], [0.0]], "b": [[1.0], [1.0]]}
    chosen = analysis_design.analyze_outcome(
        "two_group_post_only", "binary", ["a", "b"], ["post"], small, 0.05
    )["chosen"]
    assert chosen["reason"] == "binary_small_expected"


@pytest.mark.parametrize(
    ("client_fixture", "language", "reason", "wrong"),
    [
        ("client", "en",
         "A yes/no outcome between arms: the chi-square test, which cannot be computed at the "
         "After measurement (every mother has the same value), so no expected count can be "
         "judged.",
         "every expected count at least 5"),
        ("client_id", "id",
         "Variabel ya/tidak antar kelompok: uji chi-square, yang tidak dapat dihitung pada "
         "pengukuran Sesudah (semua ibu memiliki nilai yang sama), sehingga frekuensi harapan "
         "tidak dapat dinilai.",
         "semua frekuensi harapan minimal 5"),
    ],
)  # fmt: skip
def test_the_page_says_why_the_chi_square_is_not_computed(
    request, all_lancar, researcher, client_fixture, language, reason, wrong
):
    client = request.getfixturevalue(client_fixture)
    client.force_login(researcher)
    response = client.get(reverse("studies:results", args=[all_lancar.code]))
    text = page_text(response)
    assert reason in text
    assert wrong not in text
    document = response.context["document"]
    assert document["outcomes"]["lancar"]["chosen"]["reason"] == "binary_not_computed"
    # The Chi-Square Tests print no expected-count footnote without an expected count.
    with translation.override(language):
        table = next(t for t in response.context["tables"] if t.outcome == "lancar")
        footnotes = table.parts[1].footnotes
        assert not any("harapan" in note or "expected count" in note for note in footnotes)
        assert footnotes and footnotes[0].startswith("a. ")
        pearson = table.parts[1].rows[0]
        # Its empty statistic carries the reason's letter, not the footnote of expected counts.
        assert pearson[0].note == "" and pearson[1].note == "a"
    assert "adalah ." not in text and "count is ." not in text


def test_every_chi_square_footnote_prints_a_figure_only_when_it_has_one():
    """A crosstab with an empty arm, and one computed: the footnote is there only for the
    computed one, and reads its figures."""
    fmt = manuscript.Formatter(".")
    computed = chi_square(crosstab({"a": [0, 1, 1, 1], "b": [0, 0, 0, 1]}, [0, 1]))
    empty = chi_square(crosstab({"a": [1, 1], "b": []}, [0, 1]))
    document = {
        "design": "two_group_post_only",
        "arms": [{"key": "a", "label": "A"}, {"key": "b", "label": "B"}],
        "timepoints": [{"key": "one", "label": "One"}, {"key": "two", "label": "Two"}],
        "outcomes": {"yes": {"label": "Yes", "type": "binary", "timepoints": ["one", "two"],
                             "between": {"one": {"chi_square": computed},
                                         "two": {"chi_square": empty}}}},
    }  # fmt: skip
    first, second = manuscript.chi_square_tables(document, fmt, "yes")
    notes = first.parts[1].footnotes
    assert notes[0] == "a. " + spss_note(computed, fmt)
    assert fmt.fixed(computed["min_expected"], 2) in notes[0]
    assert notes[1] == "b. Computed only for a 2x2 table"
    assert all("expected count" not in note for note in second.parts[1].footnotes)
    assert second.parts[1].footnotes[0].startswith("a. Not computed")


# ---------------------------------------------------------------------------
# 2. Table 1 by arm: SPSS's footnote on small expected counts
# ---------------------------------------------------------------------------


@pytest.fixture
def varied(make_laktasi, make_respondent, site_a, site_b, midwife_a, midwife_b):
    """Six mothers of various ages, parities, schooling and work, three per arm."""
    study = make_laktasi("by_site")
    people = [(18, 1, "basic", "working"), (27, 2, "secondary", "not_working"),
              (38, 1, "higher", "working"), (25, 3, "secondary", "working"),
              (30, 1, "basic", "not_working"), (19, 2, "higher", "not_working")]  # fmt: skip
    for index, (age, parity, education, employment) in enumerate(people):
        treated = index < 3
        user = midwife_a if treated else midwife_b
        mother = make_respondent(f"V{index:02d}", study=study, site=site_a if treated else site_b,
                                 user=user, age_years=age, parity=parity, education=education,
                                 employment=employment)  # fmt: skip
        record(mother, user, {"milk_ml": 20.0 + index, "feeds": 5 + index % 2},
               {"milk_ml": 30.0 + 2 * index, "feeds": 7 + index, "lancar": index % 2})  # fmt: skip
    return study


@pytest.mark.parametrize(("client_fixture", "language", "sep"),
                         [("client", "en", "."), ("client_id", "id", ",")])  # fmt: skip
def test_table_1_by_arm_footnotes_small_expected_counts(
    request, varied, researcher, client_fixture, language, sep
):
    client = request.getfixturevalue(client_fixture)
    client.force_login(researcher)
    response = client.get(reverse("studies:results", args=[varied.code]))
    document = response.context["document"]
    text = page_text(response)
    with translation.override(language):
        fmt = manuscript.Formatter(sep)
        table = manuscript.tables(document, fmt)[0]
        part = table.parts[0]
        labels = cohort.characteristic_labels()
        expected = {}
        for name, entry in document["characteristics_by_arm"].items():
            test = entry["test"]
            assert test["expected_below_5"], name  # six mothers: every cell below 5
            expected[str(labels[name][0])] = spss_note(test, fmt)
        for row in part.rows:
            if not row[0].text:
                continue
            note = row[-1].note
            assert note, row[0].text
            footnote = next(n for n in part.footnotes if n.startswith(note.split(",")[-1] + ". "))
            assert footnote.endswith(expected[row[0].text])
        # The numbers, as SPSS words them, on the page and in the table's downloads.
        age = document["characteristics_by_arm"]["age_group"]["test"]
        assert fmt.fixed(age["min_expected"], 2) in expected[str(labels["age_group"][0])]
        for note in part.footnotes[1:]:
            assert note in text
        delimiter = "semicolon" if sep == "," else "comma"
        csv = client.get(reverse("studies:results_table_csv", args=[varied.code, 1]),
                         {"delimiter": delimiter}).content.decode("utf-8-sig")  # fmt: skip
        docx = client.get(reverse("studies:results_tables_docx", args=[varied.code]))
        words = "\n".join(p.text for p in Document(io.BytesIO(docx.getvalue())).paragraphs)
        xlsx = client.get(reverse("studies:results_table_xlsx", args=[varied.code, 1]))
        from openpyxl import load_workbook

        sheet = load_workbook(io.BytesIO(xlsx.getvalue())).active
        cells = [str(c) for row in sheet.iter_rows(values_only=True) for c in row if c]
        for note in part.footnotes[1:]:
            assert note in csv and note in words and note in cells
        if language == "en":
            assert "have expected count less than 5. The minimum expected count is" in text
        else:
            assert "memiliki frekuensi harapan kurang dari 5" in text


def test_table_1_by_arm_says_why_a_p_is_not_computed(client, all_lancar, researcher):
    """Every mother of the same age group, parity, schooling and work: no chi-square, and the
    empty p says so rather than standing blank."""
    client.force_login(researcher)
    response = client.get(reverse("studies:results", args=[all_lancar.code]))
    part = response.context["tables"][0].parts[0]
    firsts = [row for row in part.rows if row[0].text]
    assert len(firsts) == 4
    for row in firsts:
        assert row[-1].text == "" and row[-1].note == "a"
    assert part.footnotes[1:] == [
        "a. Not computed: a row or a column of the table is empty (every mother in one arm or "
        "one category)."
    ]
    assert not any("expected count" in note for note in part.footnotes)


# ---------------------------------------------------------------------------
# 3. The left-out list names the study's own time points
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("client_fixture", "shown", "wrong"),
    [("client", ["Breast-milk volume: After value missing",
                 "Breast-milk volume: Before value missing"], ["post-test", "pre-test"]),
     ("client_id", ["Volume ASI: nilai Sesudah tidak ada", "Volume ASI: nilai Sebelum tidak ada"],
      ["post-test", "pre-test"])],
)  # fmt: skip
def test_left_out_reasons_use_the_time_point_labels(
    request, make_laktasi, make_respondent, site_a, site_b, midwife_a, midwife_b, researcher,
    client_fixture, shown, wrong
):  # fmt: skip
    study = make_laktasi("by_site")
    first = make_respondent("M01", study=study, site=site_a, user=midwife_a)
    record(first, midwife_a, {"milk_ml": 20.0, "feeds": 5}, {"feeds": 6, "lancar": 1})
    second = make_respondent("M02", study=study, site=site_b, user=midwife_b)
    record(second, midwife_b, {"feeds": 5}, {"milk_ml": 30.0, "feeds": 6, "lancar": 0})
    client = request.getfixturevalue(client_fixture)
    client.force_login(researcher)
    response = client.get(reverse("studies:results", args=[study.code]))
    document = response.context["document"]
    # The document keeps its keys; only the words shown change.
    reasons = {r["reason"] for m in document["left_out"] for r in m["reasons"]}
    assert {"missing_pre", "missing_post"} <= reasons
    left_out = re.search(r'data-table="left-out".*?</table>', response.content.decode(), re.S)
    listed = html.unescape(left_out.group(0))
    for words in shown:
        assert words in listed
    for words in wrong:
        assert words not in listed


# ---------------------------------------------------------------------------
# 4. Levene's test with values that vary but deviations that do not
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("client_fixture", "reason", "old"),
    [("client", "Levene's test cannot be computed: the values vary, but within each arm they "
                "all lie at the same distance from the arm's mean",
      "an arm has fewer than 2 values or no variation"),
     ("client_id", "Uji Levene tidak dapat dihitung: nilainya bervariasi, tetapi di dalam setiap "
                   "kelompok semua nilai berjarak sama dari rerata kelompoknya",
      "ada kelompok dengan kurang dari 2 nilai atau nilainya tidak bervariasi")],
)  # fmt: skip
def test_levene_says_when_the_deviations_do_not_vary(
    request, make_laktasi, make_respondent, site_a, site_b, midwife_a, midwife_b, researcher,
    client_fixture, reason, old
):  # fmt: skip
    study = make_laktasi("by_site")
    for index, (milk_pre, milk_post) in enumerate([(20.0, 30.0), (24.0, 41.0),
                                                   (21.0, 29.0), (27.0, 35.0)]):  # fmt: skip
        treated = index < 2
        user = midwife_a if treated else midwife_b
        mother = make_respondent(f"T{index:02d}", study=study, site=site_a if treated else site_b,
                                 user=user)  # fmt: skip
        record(mother, user, {"milk_ml": milk_pre, "feeds": 5 + index},
               {"milk_ml": milk_post, "feeds": 9 - index, "lancar": 1})  # fmt: skip
    client = request.getfixturevalue(client_fixture)
    client.force_login(researcher)
    response = client.get(reverse("studies:results", args=[study.code]))
    t = response.context["document"]["outcomes"]["milk_ml"]["between"]["pre"]["independent_t"]
    assert t["levene_f"] is None and t["levene_not_computed"] == "equal_deviations"
    text = page_text(response)
    assert reason in text
    assert old not in text


# ---------------------------------------------------------------------------
# 5. Running text: percentages, minus signs, labels mid-sentence, the syntax's comments
# ---------------------------------------------------------------------------


def test_running_text_reads_the_same_way_everywhere(client_id, varied, researcher):
    client_id.force_login(researcher)
    response = client_id.get(reverse("studies:results", args=[varied.code]))
    text = page_text(response)
    sentences = [s for o in response.context["outcomes"] for s in o["conclusions"]]
    prose = " ".join(sentences) + " " + text[: text.find("Tabel 1.")]
    # Percentages: no space before the sign, as the footnotes and the conclusions write them.
    assert re.search(r"\d %", prose) is None
    assert re.search(r"\(\d+,\d%\)", prose)
    # A negative statistic in a sentence takes the minus sign; the tables keep SPSS's hyphen.
    assert re.search(r"= -\d", " ".join(sentences)) is None
    assert re.search(r"= −\d", " ".join(sentences))
    # Labels inside an Indonesian sentence: small first letter, acronyms kept.
    between = [s for s in sentences if s.startswith("Pada pengukuran")]
    assert between
    assert any(", volume ASI " in s for s in between)
    assert any(", frekuensi menyusu " in s for s in between)
    assert not any("Frekuensi menyusu" in s or "Volume ASI" in s for s in between)
    assert any("ASI lancar" in s for s in between)
    assert not any(re.search(r"[(,:] Uji ", s) or s.count("(Uji ") for s in sentences)
    # A sentence that starts with the label still starts with a capital.
    assert all(s[0].isupper() for s in sentences)


def test_english_sentences_keep_their_labels(client, varied, researcher):
    client.force_login(researcher)
    response = client.get(reverse("studies:results", args=[varied.code]))
    sentences = [s for o in response.context["outcomes"] for s in o["conclusions"]]
    assert any("Breastfeeding frequency" in s for s in sentences)
    assert any("Wilcoxon signed-rank test" in s or "Mann–Whitney U test" in s for s in sentences)
    assert re.search(r"= -\d", " ".join(sentences)) is None


@pytest.mark.parametrize("language", ["en", "id"])
def test_the_syntax_comments_end_with_one_full_stop(all_lancar, language):
    with translation.override(language):
        syntax = spss_syntax(all_lancar, delimiter=";", filename="LAKTASI-cohort.csv")
    comments = [line for line in syntax.splitlines() if line.startswith("*")]
    assert len(comments) >= 5
    for line in comments:
        assert line.endswith(".") and not line.endswith(".."), line
        assert line[2].isupper(), line
