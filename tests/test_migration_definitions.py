"""Migration 0010 (issue 14 item 4): the paper's data becomes data of its definition without
loss. A database at migration 0009 holding the paper's fifteen mothers (the demo's cohort),
sheets with a missing count, and history rows of corrections is migrated; every value and
every history row is checked against what was there."""

from __future__ import annotations

import datetime

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from studies.definition import paper_definition, parse
from studies.models import Observation, Respondent, Study
from studies.paper_cohort import PAPER_COHORT

BEFORE = [("studies", "0009_import_jobs")]
DELIVERY = datetime.date(2026, 6, 1)


def _old_database(apps) -> dict:
    """The paper's cohort as migration 0009 stored it, with one sheet missing a count and two
    corrections in the history. Returns what the migration must keep."""
    Study_, Site_, Respondent_ = (apps.get_model("studies", name)
                                  for name in ("Study", "Site", "Respondent"))  # fmt: skip
    Observation_ = apps.get_model("studies", "Observation")
    History = apps.get_model("studies", "HistoricalObservation")
    paper = Study_.objects.create(code="PIJAT", title="Pijat oksitosin")
    other = Study_.objects.create(
        code="LAIN", title="Protokol lain", first_session_day=1, intervention_days=2,
        sessions_per_day=3, session_min_minutes=10, session_max_minutes=30,
        feeds_adequate_min=9, urinations_adequate_min=7, alpha="0.010", observation_hours=12,
    )  # fmt: skip
    site = Site_.objects.create(name="Klinik Lama")
    paper.sites.add(site)
    other.sites.add(site)
    now = timezone.now()
    expected_history = []
    for row in PAPER_COHORT:
        mother = Respondent_.objects.create(
            study=paper, site=site, code=row["respondent_code"], delivery_date=DELIVERY,
            enrolled_on=DELIVERY + datetime.timedelta(days=2), age_years=row["age_years"],
            parity=row["parity"], education=row["education"], employment=row["employment"],
        )  # fmt: skip
        for phase, day in (("pre", 2), ("post", 5)):
            feeds, urinations = row[f"{phase}_feeds"], row[f"{phase}_urinations"]
            if row["respondent_code"] == "P03" and phase == "post":
                urinations = None  # a sheet without its urinations
            sheet = Observation_.objects.create(
                respondent=mother, phase=phase, observed_on=DELIVERY + datetime.timedelta(day),
                feed_count=feeds, urination_count=urinations,
            )  # fmt: skip
            versions = [(feeds, urinations, "+")]
            if row["respondent_code"] in ("P01", "P02") and phase == "pre":
                versions = [(feeds + 1, urinations, "+"), (feeds, urinations, "~")]
            for position, (old_feeds, old_urinations, kind) in enumerate(versions):
                History.objects.create(
                    id=sheet.pk, respondent_id=mother.pk, phase=phase,
                    observed_on=sheet.observed_on, feed_count=old_feeds,
                    urination_count=old_urinations, notes="", source="entered",
                    version=position + 1, history_date=now, history_type=kind,
                    history_change_reason="Salah hitung" if kind == "~" else None,
                )  # fmt: skip
                expected_history.append(
                    (row["respondent_code"], phase, position + 1,
                     {k: v for k, v in (("feeds", old_feeds), ("urinations", old_urinations))
                      if v is not None})
                )  # fmt: skip
    return {"history": sorted(expected_history, key=repr)}


@pytest.mark.django_db(transaction=True)
def test_the_papers_data_and_its_history_become_values_of_the_definition():
    executor = MigrationExecutor(connection)
    try:
        executor.migrate(BEFORE)
        executor.loader.build_graph()
        expected = _old_database(executor.loader.project_state(BEFORE).apps)
    finally:
        call_command("migrate", verbosity=0)

    paper = Study.objects.get(code="PIJAT")
    assert paper.definition == parse(paper_definition()).to_dict()
    other = Study.objects.get(code="LAIN").protocol
    schedule = other.schedule("all")
    assert (schedule.first_day, schedule.days, schedule.per_day) == (1, 2, 3)
    assert (schedule.min_minutes, schedule.max_minutes) == (10, 30)
    assert [(p.key, p.day) for p in other.timepoints] == [("pre", 1), ("post", 3)]
    assert [float(o.adequate_at_least) for o in other.outcomes] == [9, 7]
    assert float(other.alpha) == 0.01 and other.observation_hours == 12

    assert set(Respondent.objects.values_list("arm", flat=True)) == {"all"}
    checked = 0
    for row in PAPER_COHORT:
        for phase in ("pre", "post"):
            code = row["respondent_code"]
            sheet = Observation.objects.get(respondent__code=code, timepoint=phase)
            want = {"feeds": row[f"{phase}_feeds"], "urinations": row[f"{phase}_urinations"]}
            if row["respondent_code"] == "P03" and phase == "post":
                del want["urinations"]
            assert sheet.values == want, (row["respondent_code"], phase)
            checked += len(want)
    assert checked == 59  # 15 mothers × 2 sheets × 2 counts, one count not recorded

    history = sorted(
        (
            (record.respondent.code, record.timepoint, record.version, record.values)
            for record in Observation.history.select_related("respondent")
        ),
        key=repr,
    )
    assert history == expected["history"]
    assert len(history) == 32  # 30 sheets, two of them corrected once
    corrected = Observation.history.get(respondent__code="P01", timepoint="pre", version=1)
    assert corrected.values["feeds"] == PAPER_COHORT[0]["pre_feeds"] + 1


@pytest.mark.django_db(transaction=True)
def test_the_migration_goes_back_without_loss():
    executor = MigrationExecutor(connection)
    try:
        executor.migrate(BEFORE)
        executor.loader.build_graph()
        _old_database(executor.loader.project_state(BEFORE).apps)
        executor.loader.build_graph()
        executor.migrate([("studies", "0010_study_definitions")])
        executor.loader.build_graph()
        executor.migrate(BEFORE)
        executor.loader.build_graph()
        apps = executor.loader.project_state(BEFORE).apps
        sheets = apps.get_model("studies", "Observation").objects
        first = sheets.get(respondent__code="P01", phase="pre")
        assert (first.feed_count, first.urination_count) == (
            PAPER_COHORT[0]["pre_feeds"], PAPER_COHORT[0]["pre_urinations"]
        )
        assert sheets.get(respondent__code="P03", phase="post").urination_count is None
        other = apps.get_model("studies", "Study").objects.get(code="LAIN")
        assert (other.first_session_day, other.sessions_per_day, other.feeds_adequate_min) == (
            1, 3, 9
        )
    finally:
        call_command("migrate", verbosity=0)
