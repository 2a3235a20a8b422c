"""Live results from the database: the page, results.json, the manuscript CSVs and
``manage.py analyze`` reproduce the paper's Tables 1–4 digit for digit, follow the data as it is
saved, respect the roles and the filters, and explain the edge cases instead of failing.

The 15 mothers of ``studies.paper_cohort`` are loaded through the midwife's own services, in
protocol order: enrolled on day 2 with the pre-test sheet that day, six massages on days 2–4,
the post-test sheet on day 5."""

from __future__ import annotations

import datetime
import io
import json
import re
from html import unescape
from html.parser import HTMLParser

import polib
import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from studies import services
from studies.models import MassageSession, Observation, Respondent, Slot
from studies.paper_cohort import PAPER_COHORT

DELIVERY = datetime.date(2026, 6, 1)
SLOT_HOURS = {Slot.MORNING: 8, Slot.AFTERNOON: 16, Slot.EVENING: 19}


# ---------------------------------------------------------------------------
# Fixtures: mothers who follow the protocol
# ---------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """The users' passwords are never checked here (force_login); hashing them slowly for every
    test only costs time."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def do_sessions(respondent: Respondent, count: int | None = None) -> None:
    """Mark the mother's first ``count`` planned sessions (all by default) done on their day."""
    sessions = sorted(
        respondent.sessions.all(), key=lambda s: (s.postpartum_day, Slot.values.index(s.slot))
    )
    chosen = sessions if count is None else sessions[:count]
    for session in chosen:
        session.status = MassageSession.Status.DONE
        session.started_at = timezone.make_aware(
            datetime.datetime.combine(session.planned_date, datetime.time(SLOT_HOURS[session.slot]))
        )
        session.duration_minutes = 15
    MassageSession.objects.bulk_update(chosen, ["status", "started_at", "duration_minutes"])
    services.recount_sessions([respondent.pk])  # written past the services


def follow_protocol(
    respondent: Respondent,
    user,
    *,
    pre: tuple[int | None, int | None] | None,
    post: tuple[int | None, int | None] | None,
    sessions: int | None = None,
) -> Respondent:
    """Pre-test sheet on the enrolment day, then the sessions, then the post-test sheet on the
    day after the last massage (day 5). ``pre``/``post`` are (feeds, urinations)."""
    if pre is not None:
        services.record_observation(
            respondent=respondent,
            timepoint="pre",
            user=user,
            observed_on=respondent.enrolled_on,
            values={"feeds": pre[0], "urinations": pre[1]},
        )
    do_sessions(respondent, sessions)
    if post is not None:
        services.record_observation(
            respondent=respondent,
            timepoint="post",
            user=user,
            observed_on=respondent.delivery_date
            + datetime.timedelta(days=respondent.study.protocol.timepoint("post").day),
            values={"feeds": post[0], "urinations": post[1]},
        )
    respondent.refresh_from_db()
    return respondent


@pytest.fixture
def mother(make_respondent, midwife_a):
    """A mother at site A who followed the protocol with the given counts."""

    def factory(code, *, pre, post, sessions=None, site=None, user=None, **fields):
        user = user or midwife_a
        respondent = make_respondent(code, site=site, user=user, **fields)
        return follow_protocol(respondent, user, pre=pre, post=post, sessions=sessions)

    return factory


@pytest.fixture
def paper_study(study, site_a, site_b, midwife_a, midwife_b, mother):
    """The paper's 15 mothers: odd codes at Klinik A (8), even codes at Klinik B (7)."""
    for index, row in enumerate(PAPER_COHORT):
        site, user = (site_a, midwife_a) if index % 2 == 0 else (site_b, midwife_b)
        mother(
            row["respondent_code"],
            site=site,
            user=user,
            age_years=row["age_years"],
            parity=row["parity"],
            education=row["education"],
            employment=row["employment"],
            pre=(row["pre_feeds"], row["pre_urinations"]),
            post=(row["post_feeds"], row["post_urinations"]),
        )
    return study


def bulk_mothers(study, site, count: int, *, first: int) -> None:
    """Many completed mothers at once (for the query-count test), straight into the tables."""
    respondents = Respondent.objects.bulk_create(
        [
            Respondent(
                study=study,
                site=site,
                code=f"B{first + i:03d}",
                delivery_date=DELIVERY,
                enrolled_on=DELIVERY + datetime.timedelta(days=2),
                age_years=18 + i % 25,
                parity=1 + i % 3,
                education=["basic", "secondary", "higher"][i % 3],
                employment=["working", "not_working"][i % 2],
                eligibility_confirmed=True,
                status=Respondent.Status.COMPLETED,
            )
            for i in range(count)
        ]
    )
    Observation.objects.bulk_create(
        Observation(
            respondent=respondent,
            timepoint=phase,
            observed_on=DELIVERY + datetime.timedelta(days=day),
            values={"feeds": feeds + i % 4, "urinations": urinations + i % 3},
        )
        for i, respondent in enumerate(respondents)
        for phase, day, feeds, urinations in (("pre", 2, 5, 4), ("post", 5, 9, 8))
    )
    MassageSession.objects.bulk_create(
        MassageSession(
            respondent=respondent,
            postpartum_day=planned.postpartum_day,
            slot=planned.slot,
            planned_date=planned.planned_date,
            status=MassageSession.Status.DONE,
            started_at=timezone.make_aware(
                datetime.datetime.combine(planned.planned_date, datetime.time(9))
            ),
            duration_minutes=15,
        )
        for respondent in respondents
        for planned in study.session_plan(DELIVERY, "all")
    )
    services.recount_sessions([respondent.pk for respondent in respondents])


# ---------------------------------------------------------------------------
# Reading what the page shows
# ---------------------------------------------------------------------------


class _TableReader(HTMLParser):
    """Each ``<table data-table=...>`` of the page as rows of cell texts (superscripts
    included, as a reader sees them: "15b")."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._rows: list | None = None
        self._row: list | None = None
        self._cell: list | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "table" and "data-table" in attributes:
            self._rows = self.tables.setdefault(attributes["data-table"], [])
        elif tag == "tr" and self._rows is not None:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self._rows.append(self._row)
            self._row = None
        elif tag == "table":
            self._rows = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def page_tables(response) -> dict[str, list[list[str]]]:
    reader = _TableReader()
    reader.feed(response.content.decode())
    return reader.tables


def visible_text(response) -> str:
    """The page's text without tags and with whitespace collapsed."""
    html = response.content.decode()
    html = re.sub(r"<svg\b.*?</svg>", " ", html, flags=re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def results_url(code="PIJAT", **query):
    url = reverse("studies:results", args=[code])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def json_url(code="PIJAT", **query):
    url = reverse("studies:results_json", args=[code])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def csv_url(number, code="PIJAT", **query):
    url = reverse("studies:results_table_csv", args=[code, number])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def run_analyze(*args) -> str:
    out = io.StringIO()
    call_command("analyze", *args, stdout=out)
    return out.getvalue()


def translated(msgid: str) -> str | None:
    """The Indonesian catalogue's translation of ``msgid``, or None while it has none yet."""
    path = settings.BASE_DIR / "locale" / "id" / "LC_MESSAGES" / "django.po"
    entry = polib.pofile(str(path)).find(msgid)
    return entry.msgstr if entry is not None and entry.msgstr and not entry.obsolete else None


# ---------------------------------------------------------------------------
# The paper's Tables 1-4 through the page, the JSON, the CSVs and the CLI
# ---------------------------------------------------------------------------

PAPER_TABLE_1 = [
    ["Characteristic", "Category", "N", "Percent (%)"],
    ["Age", "< 20 years", "2", "13.3"],
    ["", "20–35 years", "12", "80.0"],
    ["", "> 35 years", "1", "6.7"],
    ["Parity", "Primipara (first child)", "6", "40.0"],
    ["", "Multipara", "9", "60.0"],
    ["Education", "Basic (primary or junior high school)", "3", "20.0"],
    ["", "Secondary (senior high school)", "10", "66.7"],
    ["", "Higher (diploma or university)", "2", "13.3"],
    ["Employment", "Working", "8", "53.3"],
    ["", "Not working", "7", "46.7"],
]
DESCRIPTIVES_HEADER = ["N", "Percent (%)", "Mean", "Std. deviation", "Minimum", "Maximum"]
PAPER_TABLE_2 = [
    ["Pre", *DESCRIPTIVES_HEADER],
    ["Feeds", "15", "100.0", "5.47", ".915", "4", "7"],
    ["Urinations", "15", "100.0", "4.60", ".507", "4", "5"],
]
PAPER_TABLE_3 = [
    ["Post", *DESCRIPTIVES_HEADER],
    ["Feeds", "15", "100.0", "11.33", "2.526", "8", "17"],
    ["Urinations", "15", "100.0", "9.40", "1.724", "7", "14"],
]
PAPER_RANKS = [
    ["", "", "N", "Mean Rank", "Sum of Ranks"],
    ["Feeds: post-test − pre-test", "Negative Ranks", "0a", ".00", ".00"],
    ["", "Positive Ranks", "15b", "8.00", "120.00"],
    ["", "Ties", "0c", "", ""],
    ["", "Total", "15", "", ""],
    ["Urinations: post-test − pre-test", "Negative Ranks", "0a", ".00", ".00"],
    ["", "Positive Ranks", "15b", "8.00", "120.00"],
    ["", "Ties", "0c", "", ""],
    ["", "Total", "15", "", ""],
]
PAPER_TEST_STATISTICS = [
    ["", "Feeds: post-test − pre-test", "Urinations: post-test − pre-test"],
    ["Z", "-3.434b", "-3.438b"],
    ["Asymp. Sig. (2-tailed)", ".001", ".001"],
    ["Exact Sig. (2-tailed)", ".000", ".000"],
]


def test_page_reproduces_the_papers_tables(client, paper_study, researcher):
    client.force_login(researcher)
    response = client.get(results_url())
    assert response.status_code == 200
    tables = page_tables(response)
    assert tables["1"] == PAPER_TABLE_1
    assert tables["2"] == PAPER_TABLE_2
    assert tables["3"] == PAPER_TABLE_3
    assert tables["4-1"] == PAPER_RANKS
    assert tables["4-2"] == PAPER_TEST_STATISTICS
    text = visible_text(response)
    for heading in ("Table 1.", "Table 2.", "Table 3.", "Table 4."):
        assert heading in text
    for footnote in (
        "a. post-test < pre-test",
        "b. post-test > pre-test",
        "c. post-test = pre-test",
        "a. Wilcoxon Signed Ranks Test",
        "b. Based on negative ranks.",
    ):
        assert footnote in text
    assert "Test Statistics a" in text  # the caption's footnote mark
    # Enrolment progress: 15 complete, 90 of 90 sessions.
    assert "Enrolled (not withdrawn) 15" in text
    assert "Completed (post-test sheet) 15" in text
    assert "Withdrawn 0" in text
    assert "90 of 90 planned sessions done (100.0%)" in text
    # The conclusion, at the study's alpha.
    assert (
        "Feeds rose significantly after the oxytocin massage (Wilcoxon Z = −3.434, p = 0.001, "
        "below α = 0.05): higher in 15 and lower in 0 of 15 mothers." in text
    )
    assert "Urinations rose significantly after the oxytocin massage (Wilcoxon Z = −3.438" in text


def test_page_shows_the_further_analyses(client, paper_study, researcher):
    client.force_login(researcher)
    rows = {row[0]: row[1:] for row in page_tables(client.get(results_url()))["extra"]}
    assert rows["Effect size r = |Z| / √N"] == [".887", ".888"]
    assert rows["Matched-pairs rank-biserial correlation (S+ − S−) / (S+ + S−)"] == [
        "1.000",
        "1.000",
    ]
    assert rows["Paired t-test: mean difference"] == ["5.87", "4.80"]
    assert rows["Adequate, pre-test"] == ["0 (0.0%) at ≥ 8", "0 (0.0%) at ≥ 6"]
    assert rows["Adequate, post-test"] == ["15 (100.0%) at ≥ 8", "15 (100.0%) at ≥ 6"]
    assert rows["McNemar exact p"] == [".000", ".000"]
    assert rows["Median (Q1–Q3), pre-test"][0] == "5.00 (5.00–6.00)"
    assert "Hodges–Lehmann median difference" in rows
    assert "Shapiro–Wilk W of the differences" in rows


def test_json_document_reproduces_the_paper(client, paper_study, researcher):
    client.force_login(researcher)
    response = client.get(json_url())
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    document = json.loads(response.content)
    assert document["study"] == "PIJAT"
    assert (document["n_enrolled"], document["n_withdrawn"]) == (15, 0)
    assert document["characteristics"]["age_group"] == [
        {"key": "lt20", "n": 2, "percent": pytest.approx(13.333333), "label": "< 20 years"},
        {"key": "20to35", "n": 12, "percent": pytest.approx(80.0), "label": "20–35 years"},
        {"key": "gt35", "n": 1, "percent": pytest.approx(6.666667), "label": "> 35 years"},
    ]
    assert [(r["key"], r["n"]) for r in document["characteristics"]["parity"]] == [
        ("primipara", 6),
        ("multipara", 9),
    ]
    assert [r["label"] for r in document["characteristics"]["employment"]] == [
        "Working",
        "Not working",
    ]
    feeds, urinations = document["outcomes"]["feeds"], document["outcomes"]["urinations"]
    assert feeds["n_missing"] == urinations["n_missing"] == 0
    assert (feeds["pre"]["n"], feeds["pre"]["min"], feeds["pre"]["max"]) == (15, 4, 7)
    assert feeds["pre"]["mean"] == pytest.approx(82 / 15)
    assert feeds["pre"]["sd"] == pytest.approx(0.915475, abs=1e-6)
    assert feeds["post"]["mean"] == pytest.approx(170 / 15)
    assert urinations["pre"]["mean"] == pytest.approx(4.6)
    assert urinations["post"]["sd"] == pytest.approx(1.723783, abs=1e-6)
    w = feeds["wilcoxon"]
    assert w["negative_ranks"] == {"n": 0, "mean_rank": 0.0, "sum_of_ranks": 0.0}
    assert w["positive_ranks"] == {"n": 15, "mean_rank": 8.0, "sum_of_ranks": 120.0}
    assert (w["ties"], w["total"]) == (0, 15)
    assert round(w["z"], 3) == -3.434
    assert round(urinations["wilcoxon"]["z"], 3) == -3.438
    assert w["p_asymptotic"] == pytest.approx(0.000594, abs=1e-6)
    assert w["p_exact"] == pytest.approx(2 / 2**15)
    assert w["effect_size_r"] == pytest.approx(abs(w["z"]) / 15**0.5)
    # Extras, from the study's own settings.
    assert document["alpha"] == 0.05
    assert feeds["adequacy"]["threshold"] == 8 and urinations["adequacy"]["threshold"] == 6
    assert document["filters"] == {"site": None, "parity": None, "per_protocol": False}
    assert document["progress"]["session_adherence"] == 1.0
    assert {"paired_t", "shapiro_wilk_differences", "hodges_lehmann"} <= set(feeds)
    assert w["rank_biserial"] == 1.0


def test_json_keys_and_types_follow_the_contract(client, paper_study, researcher):
    client.force_login(researcher)
    document = json.loads(client.get(json_url()).content)
    assert {"study", "n_enrolled", "n_withdrawn", "characteristics", "outcomes"} <= set(document)
    assert list(document["characteristics"]) == ["age_group", "parity", "education", "employment"]
    for rows in document["characteristics"].values():
        for row in rows:
            assert {"key", "label", "n", "percent"} <= set(row)
            assert isinstance(row["n"], int) and isinstance(row["percent"], float)
    for outcome in document["outcomes"].values():
        assert isinstance(outcome["n_missing"], int)
        for phase in ("pre", "post"):
            assert {"n", "mean", "sd", "min", "max", "median"} <= set(outcome[phase])
        w = outcome["wilcoxon"]
        for key in ("z", "p_asymptotic", "p_exact", "effect_size_r"):
            assert isinstance(w[key], float)
        for key in ("ties", "total"):
            assert isinstance(w[key], int)
        for side in ("negative_ranks", "positive_ranks"):
            assert set(w[side]) == {"n", "mean_rank", "sum_of_ranks"}


def test_cli_prints_the_papers_tables(paper_study):
    output = run_analyze("PIJAT")
    assert "Table 1. Frequency distribution of the respondents' characteristics (N = 15)" in output
    assert re.search(r"Feeds\s+15\s+100\.0\s+5\.47\s+\.915\s+4\s+7", output)
    assert re.search(r"Urinations\s+15\s+100\.0\s+4\.60\s+\.507\s+4\s+5", output)
    assert re.search(r"Feeds\s+15\s+100\.0\s+11\.33\s+2\.526\s+8\s+17", output)
    assert re.search(r"Urinations\s+15\s+100\.0\s+9\.40\s+1\.724\s+7\s+14", output)
    assert re.search(r"Positive Ranks\s+15b\s+8\.00\s+120\.00", output)
    assert re.search(r"Z\s+-3\.434b\s+-3\.438b", output)
    assert re.search(r"Asymp\. Sig\. \(2-tailed\)\s+\.001\s+\.001", output)
    assert "b. Based on negative ranks." in output
    assert "Feeds rose significantly" in output
    assert (
        "Enrolled 15 (completed 15, in follow-up 0), withdrawn 0; sessions done 90 of 90" in output
    )


def test_cli_json_is_the_endpoints_document(client, paper_study, researcher):
    client.force_login(researcher)
    from_web = json.loads(client.get(json_url()).content)
    from_cli = json.loads(run_analyze("PIJAT", "--json"))
    assert from_cli == from_web
    site_b = paper_study.sites.get(name="Klinik B")
    assert json.loads(
        run_analyze("PIJAT", "--json", "--site", "Klinik B", "--per-protocol")
    ) == json.loads(client.get(json_url(site=site_b.pk, per_protocol=1)).content)


def test_cli_refuses_an_unknown_study_or_filter(paper_study):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No study with the code NOPE"):
        run_analyze("NOPE")
    with pytest.raises(CommandError, match="Unknown site Klinik Z"):
        run_analyze("PIJAT", "--site", "Klinik Z")


def test_csv_tables_are_titled_and_formatted(client, paper_study, researcher):
    client.force_login(researcher)
    response = client.get(csv_url(2))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    day = timezone.localdate().isoformat()
    assert (
        response["Content-Disposition"] == f'attachment; filename="PIJAT-table-2-comma-{day}.csv"'
    )
    text = response.content.decode("utf-8")
    # Text quoted, numbers bare; a footnote letter in its own cell right of its number.
    assert text.startswith('\ufeff"Table 2. Breast-milk production before the oxytocin massage')
    lines = text.lstrip("\ufeff").splitlines()
    assert lines[1] == '"Pre","N","Percent (%)","Mean","Std. deviation","Minimum","Maximum"'
    assert lines[2] == '"Feeds",15,100.0,5.47,.915,4,7'
    assert lines[3] == '"Urinations",15,100.0,4.60,.507,4,5'
    table_4 = client.get(csv_url(4)).content.decode("utf-8").splitlines()
    assert table_4[0].startswith('\ufeff"Table 4. Wilcoxon signed-rank test')
    assert ',"Positive Ranks",15,"b",8.00,120.00' in table_4
    assert '"Z",-3.434,"b",-3.438,"b"' in table_4
    assert '"Asymp. Sig. (2-tailed)",.001,,.001,' in table_4
    assert '"b. Based on negative ranks."' in table_4
    table_1 = client.get(csv_url(1)).content.decode("utf-8").splitlines()
    assert '"Age","< 20 years",2,13.3' in table_1
    assert client.get(csv_url(3)).content.decode().splitlines()[2] == (
        '"Feeds",15,100.0,11.33,2.526,8,17'
    )


def test_csv_of_an_unknown_table_is_404(client, paper_study, researcher):
    client.force_login(researcher)
    assert client.get(csv_url(99)).status_code == 404
    assert client.get(csv_url(0)).status_code == 404


# ---------------------------------------------------------------------------
# Live, and in a constant number of queries
# ---------------------------------------------------------------------------


def test_a_sheet_saved_a_moment_ago_changes_the_figures(
    client, paper_study, researcher, midwife_a, mother
):
    client.force_login(researcher)
    before = json.loads(client.get(json_url()).content)
    assert before["outcomes"]["feeds"]["post"]["mean"] == pytest.approx(170 / 15)
    sheet = Observation.objects.get(respondent__code="P01", timepoint="post")
    services.change_record(
        instance=sheet, user=midwife_a, reason="Sheet misread", values={**sheet.values, "feeds": 20}
    )
    after = json.loads(client.get(json_url()).content)
    assert after["outcomes"]["feeds"]["post"]["mean"] == pytest.approx(179 / 15)
    # A new mother's pre-test sheet enters Table 1 and the missing count at once.
    mother("P16", pre=(6, 5), post=None)
    page = client.get(results_url())
    assert page_tables(page)["2"][1] == ["Feeds", "15", "93.8", "5.47", ".915", "4", "7"]
    assert "1 mother is left out of Feeds: her pre-test or post-test value is missing." in (
        visible_text(page)
    )
    assert "max-age=0" in page["Cache-Control"] and "no-store" in page["Cache-Control"]
    assert "no-store" in client.get(json_url())["Cache-Control"]


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured)


def test_query_count_does_not_grow_with_the_cohort(client, paper_study, researcher, site_a):
    client.force_login(researcher)
    client.get(json_url())  # warm the session and the user's roles
    small_json, small_page = _queries(client, json_url()), _queries(client, results_url())
    bulk_mothers(paper_study, site_a, 45, first=100)
    assert json.loads(client.get(json_url()).content)["n_enrolled"] == 60
    assert _queries(client, json_url()) == small_json
    assert _queries(client, results_url()) == small_page
    assert _queries(client, json_url(site=site_a.pk, parity="multipara", per_protocol=1)) == (
        small_json
    )
    # Session, user with her roles, study, its sites, the cohort, the names of the cohort's
    # sites, the researcher's test choices: the mothers are read by exactly one query.
    assert small_json <= 7, small_json
    with CaptureQueriesContext(connection) as captured:
        client.get(json_url())
    reading_mothers = [q["sql"] for q in captured if "studies_respondent" in q["sql"]]
    assert len(reading_mothers) == 1


# ---------------------------------------------------------------------------
# Who may see the results
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("url", [results_url(), json_url(), csv_url(4)])
def test_midwives_are_refused(client, paper_study, midwife_a, url):
    client.force_login(midwife_a)
    response = client.get(url)
    assert response.status_code == 403
    assert b"-3.434" not in response.content and b"5.47" not in response.content


@pytest.mark.parametrize("url", [results_url(), json_url(), csv_url(1)])
def test_anonymous_users_go_to_the_login_page(client, paper_study, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login") + "?next=")


@pytest.mark.parametrize("url", [results_url(), json_url(), csv_url(4)])
def test_the_data_manager_sees_the_results(client, paper_study, data_manager, url):
    client.force_login(data_manager)
    response = client.get(url)
    assert response.status_code == 200
    assert "-3.434" in response.content.decode("utf-8") or b'"z": -3.43' in response.content


def test_unknown_study_is_404(client, paper_study, researcher):
    client.force_login(researcher)
    assert client.get(results_url("NOPE")).status_code == 404
    assert client.get(json_url("NOPE")).status_code == 404
    assert client.get(csv_url(1, "NOPE")).status_code == 404


def test_results_are_read_only(client, paper_study, researcher):
    client.force_login(researcher)
    assert client.post(results_url()).status_code == 405
    assert client.post(json_url()).status_code == 405


def test_the_overview_links_analysts_to_the_results(client, paper_study, researcher):
    client.force_login(researcher)
    assert results_url() in client.get("/").content.decode()


# ---------------------------------------------------------------------------
# Filters
# ---------------------------------------------------------------------------


def test_site_filter(client, paper_study, researcher, site_b):
    client.force_login(researcher)
    document = json.loads(client.get(json_url(site=site_b.pk)).content)
    assert document["n_enrolled"] == 7
    assert document["filters"]["site"] == "Klinik B"
    # P02 P04 ... P14: their pre-test feeds 4 5 7 5 5 6 7 = 39.
    assert document["outcomes"]["feeds"]["pre"]["mean"] == pytest.approx(39 / 7)
    page = client.get(results_url(site=site_b.pk))
    assert f'<option value="{site_b.pk}" selected>Klinik B</option>' in page.content.decode()
    assert page_tables(page)["2"][1][:2] == ["Feeds", "7"]
    csv_lines = client.get(csv_url(1, site=site_b.pk)).content.decode().splitlines()
    assert csv_lines[0].endswith('(N = 7)"')
    # The downloads on the page keep the filter.
    assert csv_url(4, site=site_b.pk) in page.content.decode()


def test_parity_filter(client, paper_study, researcher):
    client.force_login(researcher)
    primipara = json.loads(client.get(json_url(parity="primipara")).content)
    multipara = json.loads(client.get(json_url(parity="multipara")).content)
    assert (primipara["n_enrolled"], multipara["n_enrolled"]) == (6, 9)
    assert primipara["characteristics"]["parity"][0]["percent"] == 100.0
    assert primipara["filters"]["parity"] == "primipara"
    # Primiparas: pre feeds 5 4 5 5 5 7 = 31.
    assert primipara["outcomes"]["feeds"]["pre"]["mean"] == pytest.approx(31 / 6)


def test_per_protocol_leaves_out_mothers_with_a_session_not_done(client, paper_study, researcher):
    MassageSession.objects.filter(
        respondent__code="P15", postpartum_day=4, slot="afternoon"
    ).update(
        status=MassageSession.Status.MISSED,
        started_at=None,
        duration_minutes=None,
        notes="Mother asleep",
    )
    services.recount_sessions(Respondent.objects.filter(code="P15"))  # written past the services
    client.force_login(researcher)
    everyone = json.loads(client.get(json_url()).content)
    per_protocol = json.loads(client.get(json_url(per_protocol=1)).content)
    assert everyone["n_enrolled"] == 15 and everyone["n_not_per_protocol"] == 0
    assert per_protocol["n_enrolled"] == 14 and per_protocol["n_not_per_protocol"] == 1
    assert per_protocol["filters"]["per_protocol"] is True
    assert per_protocol["outcomes"]["feeds"]["wilcoxon"]["total"] == 14
    assert per_protocol["progress"]["sessions_done"] == 89
    page = visible_text(client.get(results_url(per_protocol=1)))
    assert "Per-protocol analysis: 1 mother without every planned session done is left out." in page
    assert "89 of 90 planned sessions done (98.9%)" in page


@pytest.mark.parametrize(
    ("query", "message"),
    [({"site": "999"}, "Unknown site 999"), ({"parity": "twins"}, "Unknown parity group twins")],
)
def test_an_unknown_filter_value_is_refused_not_ignored(
    client, paper_study, researcher, query, message
):
    client.force_login(researcher)
    response = client.get(json_url(**query))
    assert response.status_code == 400
    assert message in json.loads(response.content)["error"]
    page = client.get(results_url(**query))
    assert page.status_code == 400
    assert message in visible_text(page)
    assert client.get(csv_url(1, **query)).status_code == 400


# ---------------------------------------------------------------------------
# Edge cases explain themselves
# ---------------------------------------------------------------------------


def test_no_mothers(client, study, researcher):
    client.force_login(researcher)
    page = client.get(results_url())
    assert page.status_code == 200
    text = visible_text(page)
    assert "No mothers to analyse yet with these filters" in text
    assert "Feeds: no mother has both a pre-test and a post-test value yet" in text
    document = json.loads(client.get(json_url()).content)
    assert document["n_enrolled"] == 0
    w = document["outcomes"]["feeds"]["wilcoxon"]
    assert (w["z"], w["p_asymptotic"], w["p_exact"], w["effect_size_r"]) == (None, None, None, None)
    assert document["characteristics"]["parity"][0]["percent"] is None
    assert client.get(csv_url(4)).status_code == 200
    assert '"Z",,' in client.get(csv_url(4)).content.decode()
    assert "Enrolled 0" in run_analyze("PIJAT")


def test_one_pair(client, study, researcher, mother):
    mother("R01", pre=(5, 4), post=(9, 8))
    client.force_login(researcher)
    text = visible_text(client.get(results_url()))
    assert "Feeds: only one mother has both values." in text
    assert page_tables(client.get(results_url()))["2"][1] == [
        "Feeds", "1", "100.0", "5.00", "", "5", "5",
    ]  # fmt: skip
    document = json.loads(client.get(json_url()).content)
    feeds = document["outcomes"]["feeds"]
    assert feeds["pre"]["sd"] is None
    assert feeds["wilcoxon"]["z"] == pytest.approx(-1.0)
    assert feeds["paired_t"]["t"] is None


def test_all_differences_zero(client, study, researcher, mother):
    for index, value in enumerate((5, 6, 7)):
        mother(f"R0{index}", pre=(value, 4), post=(value, 9))
    client.force_login(researcher)
    response = client.get(results_url())
    text = visible_text(response)
    assert "Feeds: every difference is zero, so Z = 0 and p = 1." in text
    assert (
        "Feeds did not change: the post-test equals the pre-test for every one of the 3 mothers"
        in text
    )
    statistics = page_tables(response)["4-2"]
    # Z of feeds carries SPSS's footnote for equal rank sums; urinations rose (negative ranks).
    # Urinations: three differences of +5, Z = -3 / sqrt(3.5 - 24/48) = -1.732.
    assert statistics[1] == ["Z", ".000b", "-1.732c"]
    assert statistics[2] == ["Asymp. Sig. (2-tailed)", "1.000", ".083"]
    assert "b. The sum of negative ranks equals the sum of positive ranks." in text
    assert "c. Based on negative ranks." in text
    ranks = page_tables(response)["4-1"]
    assert ranks[3] == ["", "Ties", "3c", "", ""]


def test_all_differences_negative(client, study, researcher, mother):
    for index, (before, after) in enumerate([(9, 5), (8, 6), (10, 4), (7, 6), (9, 8), (12, 3)]):
        mother(f"R0{index}", pre=(before, 5), post=(after, 6))
    client.force_login(researcher)
    response = client.get(results_url())
    text = visible_text(response)
    assert (
        "Feeds fell significantly after the oxytocin massage (Wilcoxon Z = −2.207, p = 0.027"
        in text
    )
    assert "lower in 6 and higher in 0 of 6 mothers" in text
    statistics = page_tables(response)["4-2"]
    # |d| 4 2 6 1 1 9: ranks 4 3 5 1.5 1.5 6, S+ = 0, Z = -10.5 / sqrt(22.75 - 6/48) = -2.207;
    # urinations all +1: Z = -10.5 / sqrt(22.75 - 210/48) = -2.449.
    assert statistics[1] == ["Z", "-2.207b", "-2.449c"]
    assert "b. Based on positive ranks." in text and "c. Based on negative ranks." in text


def test_missing_values_and_withdrawn_mothers(client, study, researcher, midwife_a, mother):
    for row in PAPER_COHORT[:10]:
        mother(
            row["respondent_code"],
            pre=(row["pre_feeds"], row["pre_urinations"]),
            post=(row["post_feeds"], row["post_urinations"]),
        )
    # Urinations not counted on one post-test sheet; one mother still in follow-up.
    mother("M01", pre=(5, 4), post=(9, None))
    mother("M02", pre=(5, 4), post=None, sessions=3)
    gone = mother("W01", pre=(4, 4), post=None, sessions=2)
    services.withdraw_respondent(
        respondent=gone, user=midwife_a, reason="Moved away", on=datetime.date(2026, 6, 4)
    )
    client.force_login(researcher)
    document = json.loads(client.get(json_url()).content)
    assert (document["n_enrolled"], document["n_withdrawn"]) == (12, 1)
    assert document["outcomes"]["feeds"]["n_missing"] == 1
    assert document["outcomes"]["urinations"]["n_missing"] == 2
    assert document["outcomes"]["feeds"]["wilcoxon"]["total"] == 11
    assert document["progress"]["n_in_follow_up"] == 1
    text = visible_text(client.get(results_url()))
    assert "1 withdrawn mother is excluded from the analysis." in text
    assert (
        "2 mothers are left out of Urinations: their pre-test or post-test value is missing."
        in (text)
    )
    assert "Withdrawn 1" in text and "Still in follow-up 1" in text


@pytest.mark.parametrize("role", ["researcher", "data_manager"])
def test_the_mothers_left_out_are_listed_by_code_with_why(
    client, request, study, midwife_a, mother, role
):
    """Issue 13 item 11: not only "3 mothers are left out" but which and why, by code only."""
    for row in PAPER_COHORT[:10]:
        mother(
            row["respondent_code"],
            pre=(row["pre_feeds"], row["pre_urinations"]),
            post=(row["post_feeds"], row["post_urinations"]),
        )
    mother("M01", pre=(5, 4), post=(9, None), identity={"full_name": "Siti Aminah"})
    mother("M02", pre=(None, 4), post=None, sessions=3, identity={"full_name": "Dewi Lestari"})
    gone = mother("W01", pre=(4, 4), post=None, sessions=2, identity={"full_name": "Rina Sari"})
    services.withdraw_respondent(
        respondent=gone, user=midwife_a, reason="Moved away", on=datetime.date(2026, 6, 4)
    )
    client.force_login(request.getfixturevalue(role))
    response = client.get(results_url())
    assert response.status_code == 200
    assert page_tables(response)["left-out"] == [
        ["Code", "Why"],
        ["M01", "Urinations: post-test value missing"],
        [
            "M02",
            "Feeds: pre-test value missing; Feeds: post-test value missing; "
            "Urinations: post-test value missing",
        ],
        ["W01", "withdrawn"],
    ]
    text = visible_text(response)
    assert "Which mothers are left out, and why (3)" in text
    for name in ("Siti Aminah", "Dewi Lestari", "Rina Sari"):
        assert name not in response.content.decode()
    document = json.loads(client.get(json_url()).content)
    assert document["left_out"][0] == {
        "code": "M01",
        "reasons": [{"reason": "missing_post", "outcome": "urinations", "timepoint": "post"}],
    }
    assert [m["code"] for m in document["left_out"]] == ["M01", "M02", "W01"]
    assert Respondent.objects.get(code="W01").status == Respondent.Status.WITHDRAWN
    # A filter narrows the list with the analysis: per protocol, M02 (3 sessions) is left out.
    document = json.loads(client.get(json_url(per_protocol=1)).content)
    assert {"reason": "not_per_protocol", "outcome": None} in document["left_out"][1]["reasons"]


def test_an_outcome_without_any_complete_pair(client, study, researcher, mother):
    for index in range(4):
        mother(f"R0{index}", pre=(5 + index, None), post=(9 + index, None))
    client.force_login(researcher)
    response = client.get(results_url())
    assert response.status_code == 200
    text = visible_text(response)
    assert "Urinations: no complete pair yet, so no test statistic (Z and p are empty)." in text
    assert "Urinations: no chart until a mother has both a pre-test and a post-test value." in text
    # Four differences of +4: one tie group of 4, Z = -5 / sqrt(7.5 - 60/48) = -2.
    assert page_tables(response)["4-2"][1] == ["Z", "-2.000b", ""]
    document = json.loads(client.get(json_url()).content)
    assert document["outcomes"]["urinations"]["wilcoxon"]["z"] is None
    assert document["outcomes"]["urinations"]["n_missing"] == 4


def test_the_studys_alpha_and_thresholds_are_used(client, paper_study, researcher):
    definition = paper_study.definition
    definition["alpha"] = 0.01
    definition["outcomes"][0]["adequate_at_least"] = 12
    services.change_definition(
        study=paper_study, definition=definition, user=None, reason="Stricter α and threshold"
    )
    client.force_login(researcher)
    document = json.loads(client.get(json_url()).content)
    assert document["alpha"] == 0.01
    feeds = document["outcomes"]["feeds"]
    assert feeds["adequacy"]["threshold"] == 12
    assert feeds["adequacy"]["post"]["n_adequate"] == 4  # 14, 14, 17, 14
    assert feeds["paired_t"]["confidence"] == pytest.approx(0.99)
    text = visible_text(client.get(results_url()))
    assert "below α = 0.01" in text
    assert "99% confidence interval" in text


# ---------------------------------------------------------------------------
# Charts
# ---------------------------------------------------------------------------


def test_charts_are_inline_svg_with_a_text_alternative(client, paper_study, researcher):
    client.force_login(researcher)
    html = client.get(results_url()).content.decode()
    svgs = re.findall(r"<svg\b[^>]*>", html)
    assert len(svgs) == 4
    assert all('role="img"' in tag and "aria-describedby=" in tag for tag in svgs)
    assert "<?xml" not in html
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids)), "element ids must be unique on the page"
    text = visible_text(client.get(results_url()))
    assert "Feeds of 15 mothers: 15 higher after the massage, 0 lower, 0 unchanged" in text
    assert (
        "Feeds before the massage: median 5.0 (quartiles 5.0–6.0, range 4–7); after: median 11.0"
        in (text)
    )


def test_chart_titles_are_the_pages_headings_not_drawn_in_the_svg(client_id, paper_study,
                                                                  researcher):  # fmt: skip
    """A title drawn in the SVG is cut on a phone; the heading above the chart wraps."""
    client_id.force_login(researcher)
    page = client_id.get(results_url()).content.decode()
    figures = re.findall(r"<figure\b.*?</figure>", page, re.DOTALL)
    assert len(figures) == 4
    headings = []
    for figure in figures:
        heading = re.search(r'<h3 class="[^"]*" id="([^"]+)-title">([^<]+)</h3>\s*<svg', figure)
        assert heading, figure[:300]
        title = unescape(heading.group(2))
        svg = figure[figure.index("<svg") : figure.index("</svg>")]
        assert f'aria-label="{heading.group(2)}"' in svg  # the same title, for screen readers
        drawn = " ".join(unescape(t) for t in re.findall(r"<text\b[^>]*>([^<]*)</text>", svg))
        assert title not in drawn and title.split(": ")[1] not in drawn
        headings.append(title)
    kinds = ["%(outcome)s: each mother before and after", "%(outcome)s: distribution by phase"]
    for heading, msgid in zip(headings, kinds * 2, strict=True):
        assert heading.endswith(translated(msgid).split(": ")[1])


# ---------------------------------------------------------------------------
# Indonesian
# ---------------------------------------------------------------------------


def test_indonesian_numbers_use_a_decimal_comma(client_id, paper_study, researcher):
    client_id.force_login(researcher)
    response = client_id.get(results_url())
    assert '<html lang="id"' in response.content.decode()
    tables = page_tables(response)
    assert tables["2"][1][3:5] == ["5,47", ",915"]
    assert tables["3"][2][3:5] == ["9,40", "1,724"]
    assert tables["4-2"][1][1:] == ["-3,434b", "-3,438b"]
    assert tables["4-2"][2][1:] == [",001", ",001"]
    assert tables["1"][1][3] == "13,3"
    # Labels already in the catalogue come out in Indonesian, in the page and the JSON.
    working = translated("Working")
    assert working and working != "Working"
    assert tables["1"][9][1] == working
    document = json.loads(client_id.get(json_url()).content)
    assert document["characteristics"]["employment"][0]["label"] == working
    # ... while the JSON's numbers stay numbers.
    assert document["outcomes"]["feeds"]["pre"]["mean"] == pytest.approx(82 / 15)
    csv_text = client_id.get(csv_url(2)).content.decode()
    assert csv_text.splitlines()[2].endswith(";15;100,0;5,47;,915;4;7")
    # The separator is the user's choice; the decimal mark follows it.
    csv_text = client_id.get(csv_url(2, delimiter="comma")).content.decode()
    assert csv_text.splitlines()[2].endswith(",15,100.0,5.47,.915,4,7")


@pytest.mark.skipif(
    translated("Table %(number)s") is None,
    reason="the Indonesian catalogue does not have the results page's strings yet",
)
def test_indonesian_titles_and_conclusion(client_id, paper_study, researcher):
    client_id.force_login(researcher)
    text = visible_text(client_id.get(results_url()))
    for number in (1, 2, 3, 4):
        assert f"Tabel {number}." in text
        assert f"Table {number}." not in text
    assert "rose significantly" not in text
    response = client_id.get(csv_url(4))
    day = timezone.localdate().isoformat()
    assert response["Content-Disposition"] == (
        f'attachment; filename="PIJAT-tabel-4-semicolon-{day}.csv"'
    )
    assert response.content.decode().startswith('\ufeff"Tabel 4.')
