"""The pieces behind the results page, one at a time: the cohort selector and its filters, the
manuscript tables and sentences, and the SVG charts."""

from __future__ import annotations

import datetime
import re
from decimal import Decimal

import pytest

from studies import charts, cohort, manuscript, services
from studies.analysis import describe
from studies.definition import paper_definition
from studies.models import MassageSession, Observation, Study
from studies.paper_cohort import PAPER_COHORT

# ---------------------------------------------------------------------------
# The selector
# ---------------------------------------------------------------------------


@pytest.fixture
def three_mothers(study, make_respondent, midwife_a, midwife_b, site_b):
    """R01 complete (site A), R02 pre sheet only with one count missing (site A, multipara),
    R03 withdrawn (site B)."""
    first = make_respondent("R01")
    second = make_respondent("R02", parity=3)
    third = make_respondent("R03", site=site_b, user=midwife_b)
    Observation.objects.bulk_create(
        [
            Observation(respondent=first, timepoint="pre", observed_on=datetime.date(2026, 6, 3),
                        values={"feeds": 5, "urinations": 4}),
            Observation(respondent=first, timepoint="post", observed_on=datetime.date(2026, 6, 6),
                        values={"feeds": 11, "urinations": 9}),
            Observation(respondent=second, timepoint="pre", observed_on=datetime.date(2026, 6, 3),
                        values={"feeds": 6}),
            Observation(respondent=third, timepoint="pre", observed_on=datetime.date(2026, 6, 3),
                        values={"feeds": 4, "urinations": 4}),
        ]
    )  # fmt: skip
    first.sessions.update(
        status=MassageSession.Status.DONE,
        started_at=datetime.datetime(2026, 6, 3, 8, tzinfo=datetime.UTC),
        duration_minutes=15,
    )
    second.sessions.filter(postpartum_day=2).update(
        status=MassageSession.Status.DONE,
        started_at=datetime.datetime(2026, 6, 3, 8, tzinfo=datetime.UTC),
        duration_minutes=15,
    )
    first.status = "completed"
    first.save()
    third.status, third.withdrawn_on, third.withdrawal_reason = (
        "withdrawn",
        datetime.date(2026, 6, 4),
        "Moved",
    )
    third.save()
    services.recount_sessions([first.pk, second.pk, third.pk])  # written past the services
    return first, second, third


def test_load_cohort_reads_every_mother_in_one_query(
    study, three_mothers, django_assert_num_queries
):
    filters = cohort.CohortFilters()
    # The mothers in one query, their sites' names in another.
    with django_assert_num_queries(2):
        data = cohort.load_cohort(study, filters)
    assert [r["code"] for r in data.records] == ["R01", "R02"]
    first, second = data.records
    assert (first["pre_feeds"], first["post_feeds"], first["pre_urinations"]) == (5, 11, 4)
    assert (first["sessions_done"], first["sessions_planned"], first["site"]) == (6, 6, "Klinik A")
    assert (second["pre_urinations"], second["post_feeds"], second["sessions_done"]) == (
        None,
        None,
        2,
    )
    assert data.n_withdrawn == 1
    assert data.progress == {
        "n_enrolled": 2,
        "n_completed": 1,
        "n_in_follow_up": 1,
        "n_withdrawn": 1,
        "n_both_sheets": 1,
        "sessions_planned": 12,
        "sessions_done": 8,
        "session_adherence": 8 / 12,
    }


def test_the_cohort_reads_words_by_their_codes_and_any_other_word_as_stored(study, three_mothers):
    """Arm, education, employment and status come from the query as the position of the word
    among their choices and back as the words themselves (each one shared string object); a
    word outside the choices (written around the forms, say by hand in the database) is read
    as it is stored, not lost."""
    from studies.models import Respondent

    data = cohort.load_cohort(study)
    records = {record["code"]: record for record in data.records}
    assert {code: (r["arm"], r["education"], r["employment"], r["status"], r["site"])
            for code, r in records.items()} == {
        "R01": ("all", "secondary", "working", "completed", "Klinik A"),
        "R02": ("all", "secondary", "working", "enrolled", "Klinik A"),
    }  # fmt: skip
    education = data.columns["education"]
    assert education[0] is education[1]
    Respondent.objects.filter(code="R02").update(education="SMA", arm="")
    data = cohort.load_cohort(study)
    records = {record["code"]: record for record in data.records}
    assert (records["R02"]["education"], records["R02"]["arm"]) == ("SMA", "")
    assert (records["R01"]["education"], records["R01"]["arm"]) == ("secondary", "all")


def test_load_cohort_filters(study, three_mothers, site_b):
    assert [r["code"] for r in cohort.load_cohort(study, cohort.CohortFilters(
        parity="multipara")).records] == ["R02"]  # fmt: skip
    per_protocol = cohort.load_cohort(study, cohort.CohortFilters(per_protocol=True))
    assert [r["code"] for r in per_protocol.records] == ["R01"]
    assert per_protocol.n_not_per_protocol == 1
    assert per_protocol.progress["n_enrolled"] == 2  # progress is the whole enrolment
    site_only = cohort.load_cohort(study, cohort.CohortFilters(site=site_b))
    assert (site_only.records, site_only.n_withdrawn) == ([], 1)


def test_parse_filters(study, site_a, site_b):
    parse = cohort.parse_filters
    assert parse(study, {}) == cohort.CohortFilters()
    assert parse(study, {"site": str(site_b.pk)}).site == site_b
    assert parse(study, {"site": "Klinik A"}).site == site_a
    assert parse(study, {"parity": "primipara"}).parity == "primipara"
    for word in ("1", "on", "true", "Yes"):
        assert parse(study, {"per_protocol": word}).per_protocol is True
    for word in ("", "0", "off"):
        assert parse(study, {"per_protocol": word}).per_protocol is False
    with pytest.raises(cohort.FilterError, match="Unknown site Klinik Z: choose one of Klinik A"):
        parse(study, {"site": "Klinik Z"})
    with pytest.raises(cohort.FilterError):
        parse(study, {"parity": "nullipara"})
    with pytest.raises(cohort.FilterError):
        parse(study, {"per_protocol": "maybe"})
    filters = parse(study, {"site": "Klinik B", "parity": "multipara", "per_protocol": "1"})
    assert filters.as_query() == {
        "site": str(site_b.pk),
        "parity": "multipara",
        "per_protocol": "1",
    }
    assert filters.as_document() == {
        "site": "Klinik B",
        "parity": "multipara",
        "per_protocol": True,
    }


# ---------------------------------------------------------------------------
# The document and the manuscript, without a database
# ---------------------------------------------------------------------------


def paper_document(records=None, *, alpha=None, thresholds=None) -> dict:
    """The results document of the paper's definition, with another α or adequacy thresholds
    (outcome key → threshold) when given."""
    definition = paper_definition()
    if alpha is not None:
        definition["alpha"] = float(alpha)
    for outcome in definition["outcomes"]:
        outcome["adequate_at_least"] = (thresholds or {}).get(
            outcome["key"], outcome["adequate_at_least"]
        )
    study = Study(code="PAPER", title="Paper", definition=definition)
    data = cohort.Cohort(
        study=study,
        filters=cohort.CohortFilters(),
        records=[dict(row) for row in (PAPER_COHORT if records is None else records)],
        n_withdrawn=0,
        n_not_per_protocol=0,
    )
    return cohort.results_document(data)


def test_results_document_labels_and_extras():
    document = paper_document()
    assert list(document)[:3] == ["study", "n_enrolled", "n_withdrawn"]
    assert [r["label"] for r in document["characteristics"]["parity"]] == [
        "Primipara (first child)",
        "Multipara",
    ]
    assert document["outcomes"]["feeds"]["label"] == "Feeds"
    assert document["outcomes"]["urinations"]["adequacy"]["threshold"] == 6
    assert document["alpha"] == 0.05
    document = paper_document(alpha=Decimal("0.010"), thresholds={"urinations": 10})
    assert document["alpha"] == 0.01
    assert document["outcomes"]["urinations"]["adequacy"]["post"]["n_adequate"] == 4


@pytest.mark.parametrize(
    ("value", "separator", "expected"),
    [(0.0001, ".", "p < 0.001"), (0.0004999, ",", "p < 0,001"), (0.0006, ".", "p = 0.001"),
     (0.5, ",", "p = 0,500"), (1.0, ".", "p = 1.000"), (None, ".", "p = —")],
)  # fmt: skip
def test_p_in_prose_never_says_zero(value, separator, expected):
    assert manuscript.Formatter(separator).p_in_prose(value) == expected


def test_alpha_display():
    assert manuscript.Formatter(".").alpha(0.05) == "0.05"
    assert manuscript.Formatter(",").alpha(0.001) == "0,001"
    assert manuscript.Formatter(".").alpha(0.1) == "0.1"
    assert manuscript.Formatter(",").alpha(0.025) == "0,025"


def test_tables_with_a_decimal_comma():
    tables = manuscript.tables(paper_document(), manuscript.Formatter(","))
    assert [t.label for t in tables[:4]] == ["Table 1", "Table 2", "Table 3", "Table 4"]
    assert [c.plain() for c in tables[1].parts[0].rows[0]] == [
        "Feeds", "15", "100,0", "5,47", ",915", "4", "7",
    ]  # fmt: skip
    statistics = tables[3].parts[1]
    assert [c.plain() for c in statistics.rows[0]] == ["Z", "-3,434b", "-3,438b"]
    text = manuscript.table_csv(tables[3], delimiter=";")
    assert "Z;-3,434b;-3,438b\r\n" in text
    assert text.startswith("Table 4. Wilcoxon signed-rank test")


def test_table_text_aligns_the_numbers():
    table = manuscript.table_2(paper_document(), manuscript.Formatter("."))
    lines = manuscript.table_text(table).splitlines()
    assert lines[0].startswith("Table 2. ")
    feeds = next(line for line in lines if line.startswith("Feeds"))
    urinations = next(line for line in lines if line.startswith("Urinations"))
    assert feeds.index("5.47") == urinations.index("4.60")  # right-aligned columns
    assert len(feeds) == len(urinations)


def _copies(count: int) -> list[dict]:
    """``count`` mothers made from the paper's, their codes unique."""
    return [
        {**PAPER_COHORT[i % 15], "respondent_code": f"C{i:05d}", "code": f"C{i:05d}"}
        for i in range(count)
    ]


@pytest.mark.parametrize(("count", "computed"), [(5000, True), (5001, False)])
def test_shapiro_wilk_cell_is_empty_above_5000_with_a_footnote(count, computed):
    """Issue 13 item 14: as SPSS, no Shapiro–Wilk above 5,000 values, and the table says why."""
    document = paper_document(_copies(count))
    test = document["outcomes"]["feeds"]["shapiro_wilk_differences"]
    assert (test["p"] is not None, test["n"]) == (computed, count)
    part = manuscript.extra_table(document, manuscript.Formatter(".")).parts[0]
    rows = {row[0].text: [cell.plain() for cell in row[1:]] for row in part.rows}
    footnote = (
        "a. Shapiro–Wilk is not computed above 5,000 differences, as in SPSS: its p-value is "
        "only trusted for 3 to 5,000 values."
    )
    if computed:
        assert rows["Shapiro–Wilk p"][0] == manuscript.Formatter(".").p(test["p"]) != "—"
        assert footnote not in part.footnotes
    else:
        assert rows["Shapiro–Wilk p"] == ["—a", "—a"]
        assert rows["Shapiro–Wilk W of the differences"] == ["—a", "—a"]
        assert part.footnotes == [footnote]


def test_conclusion_when_not_significant():
    records = [
        dict(row, pre_feeds=row["pre_feeds"], post_feeds=row["pre_feeds"] + delta)
        for row, delta in zip(PAPER_COHORT[:6], (1, -1, 2, -2, 1, -1), strict=True)
    ]
    study = Study(code="X", title="X")
    data = cohort.Cohort(study, cohort.CohortFilters(), records, 0, 0)
    document = cohort.results_document(data)
    sentence = manuscript.conclusion(document, "feeds", manuscript.Formatter("."))
    assert sentence == (
        "Feeds did not change significantly after the oxytocin massage (Wilcoxon Z = 0.000, "
        "p = 1.000, not below α = 0.05; 6 mothers)."
    )


def _feeds_document(deltas, **options) -> dict:
    records = [
        dict(row, post_feeds=row["pre_feeds"] + delta)
        for row, delta in zip(PAPER_COHORT, deltas, strict=False)
    ]
    return paper_document(records, **options)


def test_conclusion_says_when_the_exact_p_disagrees_and_recommends_it_below_25_pairs():
    """Issue 13 item 15: five mothers all +1 give asymptotic p .025 but exact p .0625."""
    document = _feeds_document([1] * 5)
    wilcoxon = document["outcomes"]["feeds"]["wilcoxon"]
    assert wilcoxon["p_asymptotic"] == pytest.approx(0.0253, abs=1e-4)
    assert wilcoxon["p_exact"] == pytest.approx(0.0625)
    sentence = manuscript.conclusion(document, "feeds", manuscript.Formatter("."))
    # Fewer than 25 pairs: the sentence decides on the exact p and says to report it.
    assert sentence == (
        "Feeds did not change significantly after the oxytocin massage (Wilcoxon Z = −2.236, "
        "exact p = 0.063, not below α = 0.05; 5 mothers). Report the exact p: with fewer than 25 "
        "pairs the asymptotic p (p = 0.025) is only an approximation, and it falls on the other "
        "side of α."
    )
    # At α = .07 both p are below it: no caveat.
    agreeing = manuscript.conclusion(
        _feeds_document([1] * 5, alpha=Decimal("0.070")), "feeds", manuscript.Formatter(".")
    )
    assert "exact p" not in agreeing and "rose significantly" in agreeing


def test_conclusion_with_many_pairs_gives_both_p_values():
    # 30 pairs, 20 up by 1 and 10 down by 1: the asymptotic and the exact p straddle α = .08.
    records = [
        {**PAPER_COHORT[i % 15], "post_feeds": PAPER_COHORT[i % 15]["pre_feeds"] + (1 if i < 20
         else -1)}
        for i in range(30)
    ]  # fmt: skip
    document = paper_document(records, alpha=Decimal("0.080"))
    w = document["outcomes"]["feeds"]["wilcoxon"]
    assert w["p_asymptotic"] == pytest.approx(0.0679, abs=1e-4)  # below α = .08
    assert w["p_exact"] == pytest.approx(0.0987, abs=1e-4)  # not below
    sentence = manuscript.conclusion(document, "feeds", manuscript.Formatter("."))
    assert sentence.startswith("Feeds rose significantly after the oxytocin massage (Wilcoxon "
                               "Z = −1.826, p = 0.068, below α = 0.08)")  # fmt: skip
    assert sentence.endswith(
        "Report the asymptotic p, the usual one with 25 pairs or more; the exact p (p = 0.099) "
        "falls on the other side of α, so give both."
    )


def test_conclusion_for_one_mother_is_singular():
    document = _feeds_document([1])
    sentence = manuscript.conclusion(document, "feeds", manuscript.Formatter("."))
    assert sentence.endswith("not below α = 0.05; 1 mother).")
    assert "mothers" not in sentence
    tied = manuscript.conclusion(_feeds_document([0]), "feeds", manuscript.Formatter("."))
    assert tied == (
        "Feeds did not change: the post-test equals the pre-test for the 1 mother analysed "
        "(Z = 0, p = 1)."
    )


# ---------------------------------------------------------------------------
# Charts
# ---------------------------------------------------------------------------


def test_no_pair_no_chart():
    assert charts.outcome_charts("feeds", "Feeds", [4, None], [None, 8]) == []


def test_charts_are_inline_svg_with_unique_ids():
    pre = [r["pre_feeds"] for r in PAPER_COHORT]
    post = [r["post_feeds"] for r in PAPER_COHORT]
    paired, box = charts.outcome_charts("feeds", "Feeds", pre, post, hours=24, sep=",")
    for chart in (paired, box):
        svg = str(chart.svg)
        assert svg.startswith("<svg")
        root = re.match(r"<svg\b[^>]*>", svg).group(0)
        assert 'role="img"' in root and f'aria-describedby="{chart.slug}-text"' in root
        assert " width=" not in root and "viewBox=" in root
        ids = re.findall(r'\bid="([^"]+)"', svg)
        assert ids and all(i.startswith(chart.slug + "-") for i in ids)
        for reference in re.findall(r"url\(#([^)]+)\)", svg):
            assert reference in ids
        assert "Pre-test" in svg and "Feeds per 24 hours" in svg  # text kept as text
    assert paired.description.startswith("Feeds of 15 mothers: 15 higher after the massage")
    assert "median 5,0 (quartiles 5,0–6,0, range 4–7)" in box.description


def test_box_plot_uses_the_tables_quartiles():
    values = [4, 5, 5, 5, 5, 5, 5, 5, 5, 6, 6, 7, 7, 7, 20]
    stats = charts._box_stats(values, "x")
    reference = describe(values)
    assert (stats["q1"], stats["med"], stats["q3"]) == (
        reference["q1"],
        reference["median"],
        reference["q3"],
    )
    assert stats["fliers"] == [20] and stats["whishi"] == 7


@pytest.mark.parametrize(
    "filters",
    [cohort.CohortFilters(), cohort.CohortFilters(per_protocol=True),
     cohort.CohortFilters(parity="primipara")],  # fmt: skip
    ids=["all", "per_protocol", "primipara"],
)
def test_the_cohort_comes_as_columns_and_gives_the_document_of_its_records(
    study, three_mothers, filters
):
    """``load_cohort`` reads the mothers as one array per column (an outcome a masked array of
    int64, masked where not recorded), and the document computed from those columns is the one
    computed from the same mothers as records, one dict each."""
    import numpy as np

    data = cohort.load_cohort(study, filters)
    feeds = data.columns["post_feeds"]
    assert isinstance(feeds, np.ma.MaskedArray) and feeds.dtype == np.int64
    assert isinstance(data.columns["age_years"], np.ndarray)
    by_records = cohort.Cohort(
        study, filters, [dict(record) for record in data.records], data.n_withdrawn,
        data.n_not_per_protocol, data.progress, data.withdrawn_codes,
        data.not_per_protocol_codes,
    )  # fmt: skip
    assert isinstance(by_records.columns["post_feeds"], list)
    assert cohort.results_document(data) == cohort.results_document(by_records)


def test_the_papers_document_does_not_depend_on_the_order_of_the_mothers(study):
    """As the two-group one: the paper's analyses (Shapiro-Wilk of the differences included)
    give the same figures, to the last bit, whatever order the mothers come in."""
    import random

    rng = random.Random(11)
    records = [
        {"code": f"M{index:04d}", "arm": "all", "site": "Klinik A", "status": "enrolled",
         "age_years": rng.randint(18, 40), "parity": rng.randint(1, 4),
         "education": rng.choice(["basic", "secondary", "higher"]),
         "employment": rng.choice(["working", "not_working"]), "sessions_planned": 6,
         "sessions_done": 6, "pre_feeds": rng.randint(2, 14), "post_feeds": rng.randint(2, 16),
         "pre_urinations": rng.randint(2, 10), "post_urinations": rng.randint(2, 12)}
        for index in range(400)
    ]  # fmt: skip
    shuffled = records[:]
    rng.shuffle(shuffled)
    filters = cohort.CohortFilters()
    first = cohort.results_document(cohort.Cohort(study, filters, records))
    assert first == cohort.results_document(cohort.Cohort(study, filters, shuffled))
    assert first["outcomes"]["feeds"]["shapiro_wilk_differences"]["w"]


@pytest.mark.django_db
def test_the_cohort_read_through_copy_gives_the_drivers_values_to_the_last_bit():
    """On PostgreSQL the cohort comes as CSV (``COPY … TO STDOUT``) read by pandas: every
    one-decimal volume from 0.0 to 9999.9, a NULL, text with commas and quotes, and awkward
    doubles read back as exactly the driver's values."""
    import numpy as np
    from django.db import connection

    from studies.cohort import _read_columns

    if connection.vendor != "postgresql":
        pytest.skip("the COPY path is PostgreSQL's")
    sql = (
        "SELECT g::text || ', \"x\"' AS code, g AS age_years, "
        "CASE WHEN g %% 7 = 0 THEN NULL ELSE (g / 10.0)::double precision END AS volume, "
        "(1.0 / (g + 3))::double precision * %s AS ratio "
        "FROM generate_series(0, 99999) AS g ORDER BY g"
    )
    names, values = ["code", "age_years", "volume", "ratio"], ["volume", "ratio"]
    copied = _read_columns(connection, sql, [1e-7], names, values)
    with connection.cursor() as cursor:
        cursor.execute(sql, [1e-7])
        rows = cursor.fetchall()
    assert copied["code"].tolist() == [row[0] for row in rows]
    assert copied["age_years"].tolist() == [row[1] for row in rows]
    volume = np.array([np.nan if row[2] is None else row[2] for row in rows])
    np.testing.assert_array_equal(copied["volume"], volume)
    assert copied["ratio"].tolist() == [row[3] for row in rows]
