"""The study designer (issue 14): the data manager writes a definition over HTTP, previews its
sheets and session plans, creates the study or saves a new version with a reason; every problem
is named by its key and nothing is saved then; other roles are refused."""

from __future__ import annotations

import datetime

import pytest

from studies import services
from studies.models import Study

NEW = "/designer/new/"
ARM_FIELDS = ("key", "label_id", "label_en", "sites")
SESSION_FIELDS = (
    "arm", "label_id", "label_en", "first_day", "days", "per_day", "min_minutes", "max_minutes",
)  # fmt: skip
POINT_FIELDS = ("key", "day", "label_id", "label_en")
OUTCOME_FIELDS = (
    "key", "label_id", "label_en", "type", "unit_id", "unit_en", "min", "max", "decimals",
    "adequate_at_least", "categories", "timepoints",
)  # fmt: skip


def form_data(study: dict, arms=(), sessions=(), timepoints=(), outcomes=(), **extra) -> dict:
    """The designer's POST: the study fields, then each list as a formset with one blank row
    (as the page sends it), then ``extra`` (the button, the reason)."""
    data = {f"study-{name}": value for name, value in study.items()}
    lists = (
        ("arms", arms, ARM_FIELDS),
        ("sessions", sessions, SESSION_FIELDS),
        ("timepoints", timepoints, POINT_FIELDS),
        ("outcomes", outcomes, OUTCOME_FIELDS),
    )
    for prefix, rows, fields in lists:
        rows = [*rows, {}]
        data[f"{prefix}-TOTAL_FORMS"] = str(len(rows))
        data[f"{prefix}-INITIAL_FORMS"] = "0"
        for index, row in enumerate(rows):
            for name in fields:
                default = "count" if name == "type" else ""
                data[f"{prefix}-{index}-{name}"] = str(row.get(name, default))
    data.update(extra)
    return data


MASSAGE = {"label_id": "Pijat oksitosin", "label_en": "Oxytocin massage"}
SCHEDULE = {"first_day": 2, "days": 3, "per_day": 2, "min_minutes": 15, "max_minutes": 20}
FEEDS = {
    "key": "feeds", "label_id": "Frekuensi menyusu", "label_en": "Breastfeeding frequency",
    "type": "count", "unit_id": "kali/24 jam", "unit_en": "times/24 h", "min": 0, "max": 40,
    "adequate_at_least": 8,
}  # fmt: skip


def laktasi(**changes) -> dict:
    """The two-group demo study LAKTASI as the designer's form fields."""
    parts = {
        "study": {
            "code": "LAKTASI", "title": "Pijat oksitosin dan volume ASI",
            "sites": "Klinik Mawar\nBPM Melati", "exclusion_criteria": "Bayi prematur",
            "design": "two_group_pre_post", "alpha": "0.05", "allocation": "blocks",
        },
        "arms": [
            {"key": "intervention", **MASSAGE},
            {"key": "control", "label_id": "Kontrol", "label_en": "Control"},
        ],
        "sessions": [{"arm": "intervention", **MASSAGE, **SCHEDULE}],
        "timepoints": [
            {"key": "pre", "day": 2, "label_id": "Sebelum", "label_en": "Before"},
            {"key": "post", "day": 5, "label_id": "Sesudah", "label_en": "After"},
        ],
        "outcomes": [
            {"key": "milk_ml", "label_id": "Volume ASI", "label_en": "Breast-milk volume",
             "type": "continuous", "unit_id": "ml", "unit_en": "ml", "min": 0, "max": 500,
             "decimals": 1},
            FEEDS,
            {"key": "lancar", "label_id": "ASI lancar", "label_en": "Milk flows smoothly",
             "type": "binary", "categories": "0 = Tidak lancar / Not smooth\n1 = Lancar / Smooth",
             "timepoints": "post"},
        ],
    }  # fmt: skip
    parts.update(changes)
    return parts


@pytest.fixture
def manager_client(client, data_manager):
    client.force_login(data_manager)
    return client


@pytest.mark.django_db
def test_a_two_group_study_is_created_through_the_designer(manager_client, data_manager):
    response = manager_client.post(NEW, form_data(**laktasi(), save="1"))
    assert response.status_code == 302
    assert response["Location"] == "/designer/"
    study = Study.objects.get(code="LAKTASI")
    assert study.title == "Pijat oksitosin dan volume ASI"
    assert sorted(study.sites.values_list("name", flat=True)) == ["BPM Melati", "Klinik Mawar"]
    assert study.exclusion_criteria == "Bayi prematur"
    assert study.definition_version == 1
    assert len(study.allocation_seed) == 32
    protocol = study.protocol
    assert protocol.design.key == "two_group_pre_post"
    assert protocol.allocation == "blocks"
    assert [(a.key, a.label.id, a.label.en) for a in protocol.arms] == [
        ("intervention", "Pijat oksitosin", "Oxytocin massage"),
        ("control", "Kontrol", "Control"),
    ]
    assert protocol.schedule("control") is None
    schedule = protocol.schedule("intervention")
    assert (schedule.first_day, schedule.days, schedule.per_day) == (2, 3, 2)
    assert (schedule.min_minutes, schedule.max_minutes) == (15, 20)
    milk, feeds, lancar = protocol.outcomes
    assert (milk.type, milk.decimals, milk.max, milk.unit.en) == ("continuous", 1, 500, "ml")
    assert feeds.adequate_at_least == 8
    assert lancar.timepoints == ("post",)
    assert [(c.value, c.label.id, c.label.en) for c in lancar.categories] == [
        (0, "Tidak lancar", "Not smooth"),
        (1, "Lancar", "Smooth"),
    ]
    assert study.history.get().history_user == data_manager
    listing = manager_client.get("/designer/")
    assert b'data-code="LAKTASI"' in listing.content
    assert "Two groups, pre-test/post-test" in listing.content.decode()


@pytest.mark.django_db
def test_a_one_group_study_with_three_time_points(manager_client):
    data = laktasi(
        study={"code": "ULANG", "title": "Tiga pengukuran", "sites": "Klinik Mawar",
               "design": "one_group_repeated", "alpha": "0.01", "allocation": "chosen"},
        arms=[],
        sessions=[{"arm": "", **MASSAGE, **SCHEDULE, "per_day": 1}],
        timepoints=[
            {"key": "day2", "day": 2, "label_id": "Hari 2", "label_en": "Day 2"},
            {"key": "day5", "day": 5, "label_id": "Hari 5", "label_en": "Day 5"},
            {"key": "day7", "day": 7, "label_id": "Hari 7", "label_en": "Day 7"},
        ],
        outcomes=[FEEDS],
    )  # fmt: skip
    assert manager_client.post(NEW, form_data(**data, save="1")).status_code == 302
    protocol = Study.objects.get(code="ULANG").protocol
    assert protocol.design.key == "one_group_repeated"
    assert str(protocol.alpha) == "0.01"
    assert protocol.arm_keys == ("all",)
    assert protocol.schedule("all").sessions_planned == 3
    assert protocol.timepoint_keys == ("day2", "day5", "day7")
    assert [c for c, _p, _o in protocol.cohort_value_columns] == [
        "day2_feeds", "day5_feeds", "day7_feeds",
    ]  # fmt: skip


@pytest.mark.django_db
def test_preview_shows_every_sheet_and_session_plan_and_saves_nothing(manager_client):
    response = manager_client.post(NEW, form_data(**laktasi(), preview="1"))
    assert response.status_code == 200
    page = response.content.decode()
    assert not Study.objects.filter(code="LAKTASI").exists()
    assert "Observation sheet: Before (postpartum day 2)" in page
    assert "Observation sheet: After (postpartum day 5)" in page
    pre = page.split('data-timepoint="pre"')[1].split('data-timepoint="post"')[0]
    post = page.split('data-timepoint="post"')[1].split("Session plan of each arm")[0]
    assert "Breast-milk volume (ml)" in pre and 'step="0.1"' in pre and 'max="500"' in pre
    assert "Adequate at 8 or more." in pre
    assert "Milk flows smoothly" not in pre  # measured at post only
    assert "1 · Smooth" in post
    intervention = page.split('data-arm="intervention"')[1].split('data-arm="control"')[0]
    assert "Oxytocin massage: 6 sessions of 15–20 minutes" in intervention
    assert "Postpartum day 4, Afternoon" in intervention
    control = page.split('data-arm="control"')[1]
    assert "No sessions (no intervention in this arm)." in control
    # The form comes back as typed, ready to save.
    assert 'value="milk_ml"' in page


@pytest.mark.django_db
def test_the_new_study_page_starts_from_the_paper(manager_client):
    response = manager_client.get(NEW)
    page = response.content.decode()
    assert response.status_code == 200
    assert 'value="feeds"' in page and 'value="urinations"' in page
    assert "Oxytocin massage: 6 sessions of 15–20 minutes" in page
    assert "Observation sheet: pre-test (postpartum day 2)" in page


def _outcome(index: int, **changes) -> list[dict]:
    outcomes = list(laktasi()["outcomes"])
    outcomes[index] = {**outcomes[index], **changes}
    return outcomes


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("changes", "key", "message", "place"),
    [
        ({"outcomes": _outcome(0, max=-1)}, "outcomes[0].max", "above the minimum",
         "Outcomes, row 1: Maximum"),
        ({"outcomes": _outcome(0, max="lots")}, "outcomes[0].max", "Expected a number.",
         "Outcomes, row 1: Maximum"),
        ({"outcomes": _outcome(1, label_en="")}, "outcomes[1].label.en", "Give the text",
         "Outcomes, row 2: Name (English)"),
        ({"outcomes": _outcome(1, adequate_at_least=50)}, "outcomes[1].adequate_at_least",
         "between the minimum and the maximum",
         "Outcomes, row 2: Adequate at least (optional)"),
        ({"outcomes": _outcome(2, categories="0 = Tidak / No")}, "outcomes[2].categories",
         "values 0 and 1",
         "Outcomes, row 3: Categories (ordinal, binary)"),
        ({"outcomes": _outcome(2, timepoints="later")}, "outcomes[2].timepoints",
         "later is not a time point.",
         "Outcomes, row 3: Measured at (time point keys)"),
        ({"outcomes": _outcome(0, key="Milk ML")}, "outcomes[0].key", "lower-case",
         "Outcomes, row 1: Key"),
        ({"outcomes": _outcome(1, decimals=2)}, "outcomes[1].decimals", "from 0 to 0",
         "Outcomes, row 2: Decimal places"),
        ({"arms": laktasi()["arms"][:1]}, "arms", "list exactly two",
         "Arms"),
        ({"arms": [laktasi()["arms"][0]] * 2}, "arms[1].key", "used twice",
         "Arms, row 2: Key"),
        ({"sessions": [{"arm": "placebo", **MASSAGE, **SCHEDULE}]}, "sessions.placebo",
         "Not one of the arms.",
         "Intervention sessions per arm, row 1"),
        ({"sessions": [{"arm": "intervention", **MASSAGE, **SCHEDULE, "max_minutes": 10}]},
         "sessions.intervention.minutes", "shortest and longest",
         "Intervention sessions per arm, row 1: Shortest session (minutes) / Longest session "
         "(minutes)"),
        ({"sessions": [{"arm": "intervention", **MASSAGE, **SCHEDULE, "per_day": 5}]},
         "sessions.intervention.per_day", "from 1 to 3",
         "Intervention sessions per arm, row 1: Sessions a day"),
        ({"timepoints": laktasi()["timepoints"][:1]}, "timepoints", "2 time point(s)",
         "Time points"),
        ({"timepoints": [laktasi()["timepoints"][1], laktasi()["timepoints"][0]]},
         "timepoints[1].day", "after the one before",
         "Time points, row 2: Postpartum day of the sheet"),
        ({"study": {**laktasi()["study"], "alpha": "0.5"}}, "alpha", "between 0.001 and 0.2",
         "Significance level (α)"),
        ({"study": {**laktasi()["study"], "allocation": "by_site"}}, "arm_by_site",
         "Give the arm of the site Klinik Mawar.",
         "Arms: Its sites (allocation by site)"),
        ({"study": {**laktasi()["study"], "code": "bad code!"}}, "code", "Use letters, digits",
         "Code"),
        ({"study": {**laktasi()["study"], "title": ""}}, "title", "",
         "Title"),
    ],
)  # fmt: skip
def test_every_problem_is_named_by_its_key_and_nothing_is_saved(
    manager_client, changes, key, message, place
):
    """Each problem is listed under its definition key (``data-key``) and named as the page
    names it: the section, the row number the page shows (from 1) and the field's label."""
    # The study's own fields (code, title) are checked when it is created; the definition's
    # keys on "Preview" too.
    buttons = ("save",) if key in ("code", "title") else ("preview", "save")
    for button in buttons:
        response = manager_client.post(NEW, form_data(**laktasi(**changes), **{button: "1"}))
        page = response.content.decode()
        assert response.status_code == 200, page
        item = page.split(f'<li data-key="{key}">')[1].split("</li>")[0]
        assert item.startswith(f'<strong class="problem-place">{place}</strong>: '), item
        assert message in item
        assert f"<code>{key}</code>" not in page
        assert "nothing was saved" in page
    assert not Study.objects.filter(code__iexact="LAKTASI").exists()
    assert not Study.objects.filter(title="Pijat oksitosin dan volume ASI").exists()


@pytest.mark.django_db
def test_by_site_allocation_takes_each_sites_arm(manager_client):
    data = laktasi()
    data["study"] = {**data["study"], "allocation": "by_site"}
    data["arms"] = [
        {**data["arms"][0], "sites": "Klinik Mawar"},
        {**data["arms"][1], "sites": "BPM Melati"},
    ]
    assert manager_client.post(NEW, form_data(**data, save="1")).status_code == 302
    protocol = Study.objects.get(code="LAKTASI").protocol
    assert protocol.arm_by_site == {"Klinik Mawar": "intervention", "BPM Melati": "control"}


@pytest.mark.django_db
def test_an_existing_code_is_refused(manager_client, study):
    data = laktasi(study={**laktasi()["study"], "code": "pijat"})
    response = manager_client.post(NEW, form_data(**data, save="1"))
    assert response.status_code == 200
    assert "A study with the code pijat already exists." in response.content.decode()
    assert Study.objects.count() == 1


def _paper_as_form(**outcome_changes) -> dict:
    """The paper's definition (study PIJAT) as the edit form sends it."""
    feeds = {**FEEDS, **outcome_changes}
    urinations = {**FEEDS, "key": "urinations", "label_id": "Frekuensi BAK bayi",
                  "label_en": "Infant urination frequency", "adequate_at_least": 6}  # fmt: skip
    return {
        "study": {"design": "one_group_pre_post", "alpha": "0.05", "allocation": "chosen"},
        "sessions": [{"arm": "all", **MASSAGE, **SCHEDULE}],
        "timepoints": [
            {"key": "pre", "day": 2, "label_id": "Pre-test", "label_en": "Pre-test"},
            {"key": "post", "day": 5, "label_id": "Post-test", "label_en": "Post-test"},
        ],
        "outcomes": [feeds, urinations],
    }


@pytest.mark.django_db
def test_a_change_is_a_new_version_with_who_when_and_why(manager_client, study, data_manager):
    url = f"/designer/{study.code}/"
    page = manager_client.get(url).content.decode()
    assert "Definition version 1" in page
    assert 'value="feeds"' in page
    data = _paper_as_form(max=60)
    no_reason = manager_client.post(url, form_data(**data, save="1"))
    assert (
        '<strong class="problem-place">Reason for the change</strong>: Say why the definition is '
        "changed." in no_reason.content.decode()
    )
    assert Study.objects.get(pk=study.pk).definition_version == 1
    reason = "Some babies feed more than 40 times"
    response = manager_client.post(url, form_data(**data, save="1", **{"change-reason": reason}))
    assert response.status_code == 302
    study = Study.objects.get(pk=study.pk)
    assert study.definition_version == 2
    assert study.protocol.outcome("feeds").max == 60
    assert study.protocol.outcome("urinations").max == 40
    latest = study.history.order_by("-history_id").first()
    assert (latest.history_user, latest.history_change_reason) == (data_manager, reason)
    page = manager_client.get(url).content.decode()
    assert "Definition version 2" in page
    history = page.split('id="definition-history"')[1]
    assert reason in history and data_manager.username in history
    assert history.index("<td>2</td>") < history.index("<td>1</td>")


@pytest.mark.django_db
def test_a_change_that_would_orphan_saved_values_is_refused(
    manager_client, study, make_respondent, midwife_a
):
    mother = make_respondent("R01")
    services.record_observation(
        respondent=mother,
        timepoint="pre",
        user=midwife_a,
        values={"feeds": 30, "urinations": 5},
        observed_on=mother.delivery_date + datetime.timedelta(days=2),
    )
    url = f"/designer/{study.code}/"
    before = Study.objects.get(pk=study.pk).definition
    data = _paper_as_form()
    data["outcomes"] = data["outcomes"][1:]  # feeds removed: its saved value has no place
    response = manager_client.post(url, form_data(**data, save="1", **{"change-reason": "x"}))
    assert response.status_code == 200
    page = response.content.decode()
    assert "This change is refused" in page
    assert "Saved values of feeds at pre would have no place." in page
    narrower = form_data(**_paper_as_form(max=20), save="1", **{"change-reason": "x"})
    response = manager_client.post(url, narrower)
    assert response.status_code == 200
    assert "A saved value of feeds (30) is outside the new definition." in response.content.decode()
    study = Study.objects.get(pk=study.pk)
    assert (study.definition, study.definition_version) == (before, 1)


@pytest.mark.django_db
def test_the_allocation_seed_is_never_shown(manager_client):
    manager_client.post(NEW, form_data(**laktasi(), save="1"))
    study = Study.objects.get(code="LAKTASI")
    for url in ("/designer/", "/designer/LAKTASI/"):
        assert study.allocation_seed not in manager_client.get(url).content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/designer/", NEW, "/designer/PIJAT/"])
def test_other_roles_are_refused(client, url, midwife_a, researcher):
    assert client.get(url)["Location"].startswith("/accounts/login/")
    for user in (midwife_a, researcher):
        client.force_login(user)
        assert client.get(url).status_code == 403
        assert client.post(url, form_data(**laktasi(), save="1")).status_code == 403
    assert not Study.objects.filter(code="LAKTASI").exists()
    assert Study.objects.get().definition_version == 1


@pytest.mark.django_db
def test_an_unknown_study_answers_404(manager_client):
    assert manager_client.get("/designer/NOPE/").status_code == 404


@pytest.mark.django_db
def test_the_designer_speaks_indonesian(client_id, data_manager):
    client_id.force_login(data_manager)
    page = client_id.get(NEW).content.decode()
    assert "Studi baru" in page
    assert "Lembar observasi: pre-test (hari postpartum ke-2)" in page
    assert "Pijat oksitosin: 6 sesi masing-masing 15–20 menit" in page
    response = client_id.post(NEW, form_data(**laktasi(outcomes=_outcome(0, max=-1)), save="1"))
    page = response.content.decode()
    assert "Definisi belum benar; tidak ada yang disimpan." in page
    assert '<strong class="problem-place">Variabel hasil, baris 1: Maksimum</strong>: ' in page
    response = client_id.post(
        NEW, form_data(**laktasi(study={**laktasi()["study"], "alpha": "0.5"}), save="1")
    )
    page = response.content.decode()
    assert '<strong class="problem-place">Tingkat signifikansi (α)</strong>: ' in page


@pytest.mark.django_db
@pytest.mark.parametrize(
    "data",
    [
        {},
        {"arms-TOTAL_FORMS": "x", "study-design": "nope", "save": "1"},
        {"outcomes-TOTAL_FORMS": "100000", "outcomes-INITIAL_FORMS": "0", "save": "1"},
        {"study-code": "<script>", "study-alpha": "1e999", "save": "1"},
    ],
)
def test_hostile_posts_get_the_form_back_and_save_nothing(manager_client, study, data):
    for url in (NEW, f"/designer/{study.code}/"):
        response = manager_client.post(url, data)
        assert response.status_code == 200
        assert 'id="definition-problems"' in response.content.decode()
    assert Study.objects.get().definition_version == 1


@pytest.mark.django_db
def test_a_plan_of_one_session_reads_in_the_singular(manager_client):
    """A count next to a noun takes the noun's number: "1 session", not "1 sessions"."""
    one = {**SCHEDULE, "days": 1, "per_day": 1}
    response = manager_client.post(
        NEW, form_data(**laktasi(sessions=[{"arm": "intervention", **MASSAGE, **one}]), preview="1")
    )
    page = response.content.decode()
    assert "Oxytocin massage: 1 session of 15–20 minutes" in page
