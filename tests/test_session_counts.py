"""Each mother's session counts kept on her row (Respondent.sessions_planned, sessions_done): on
every path that writes sessions they equal a fresh COUNT(*) of her session rows, and a recount
writes no history row and bumps no version."""

from __future__ import annotations

import csv
import datetime
import io
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.models import Count, Q
from django.test.utils import CaptureQueriesContext

from studies import exchange, services
from studies.definition import paper_definition, parse
from studies.models import MassageSession, Respondent
from studies.paper_cohort import PAPER_COHORT

JAKARTA = datetime.timezone(datetime.timedelta(hours=7))


def fresh_counts() -> dict[str, tuple[int, int]]:
    """Code → (sessions, sessions done), counted now from the session rows."""
    return {
        code: (planned, done)
        for code, planned, done in Respondent.objects.annotate(
            counted=Count("sessions"),
            counted_done=Count("sessions", filter=Q(sessions__status="done")),
        ).values_list("code", "counted", "counted_done")
    }


def kept_counts() -> dict[str, tuple[int, int]]:
    """Code → (sessions_planned, sessions_done) as kept on each mother's row."""
    return {
        code: (planned, done)
        for code, planned, done in Respondent.objects.values_list(
            "code", "sessions_planned", "sessions_done"
        )
    }


def assert_counts_kept() -> dict[str, tuple[int, int]]:
    kept = kept_counts()
    assert kept == fresh_counts()
    return kept


def sessions_of(respondent) -> list[MassageSession]:
    return list(MassageSession.objects.filter(respondent=respondent))  # in plan order


def done_at(session: MassageSession) -> datetime.datetime:
    return datetime.datetime.combine(session.planned_date, datetime.time(8, 15), tzinfo=JAKARTA)


def record(session, user, status, **extra):
    return services.record_session(
        session=session,
        user=user,
        status=status,
        started_at=done_at(session) if status == "done" else None,
        duration_minutes=16 if status == "done" else None,
        notes="" if status in ("done", "planned") else "Ibu tidur",
        **extra,
    )


def history_and_version(respondent) -> tuple[int, int]:
    return (
        Respondent.history.filter(id=respondent.pk).count(),
        Respondent.objects.get(pk=respondent.pk).version,
    )


# --- the services ---------------------------------------------------------------------------


def test_enrolment_plans_her_sessions_and_counts_them(make_respondent):
    mother = make_respondent("R01")
    assert assert_counts_kept() == {"R01": (6, 0)}
    # The six session writes recounted her six times: no history row, no version bump.
    assert history_and_version(mother) == (1, 1)


def test_recording_and_correcting_sessions_keeps_the_counts(make_respondent, midwife_a):
    mother = make_respondent("R01")
    make_respondent("R02")  # her counts are left alone
    first, second, third, *_rest = sessions_of(mother)
    record(first, midwife_a, "done")
    assert assert_counts_kept()["R01"] == (6, 1)
    record(second, midwife_a, "missed")
    record(third, midwife_a, "refused")
    assert assert_counts_kept()["R01"] == (6, 1)
    record(second, midwife_a, "done", reason="She was there after all")
    assert assert_counts_kept()["R01"] == (6, 2)
    # A correction back to planned: done no more.
    record(first, midwife_a, "planned", reason="Recorded on the wrong mother")
    assert assert_counts_kept() == {"R01": (6, 1), "R02": (6, 0)}
    assert history_and_version(mother) == (1, 1)


def test_change_record_of_a_sessions_status_keeps_the_counts(make_respondent, midwife_a):
    mother = make_respondent("R01")
    session = sessions_of(mother)[0]
    services.change_record(
        instance=session,
        user=midwife_a,
        reason="Entered from the paper sheet",
        status=MassageSession.Status.DONE,
        started_at=done_at(session),
        duration_minutes=16,
        performed_by=midwife_a,
    )
    assert assert_counts_kept()["R01"] == (6, 1)
    services.change_record(
        instance=session,
        user=midwife_a,
        reason="Not done after all",
        status=MassageSession.Status.PLANNED,
        started_at=None,
        duration_minutes=None,
        performed_by=None,
    )
    assert assert_counts_kept()["R01"] == (6, 0)
    assert history_and_version(mother) == (1, 1)


def test_saving_a_mother_loaded_before_her_sessions_changed_keeps_the_counts(
    make_respondent, midwife_a
):
    # The object enrolment returned was saved before her sessions were planned: its counts are
    # stale, and her own saves (a correction, the withdrawal) must not write them back.
    mother = make_respondent("R01")
    record(sessions_of(mother)[0], midwife_a, "done")
    services.update_respondent(
        respondent=mother, user=midwife_a, reason="Age misread", age_years=28
    )
    assert assert_counts_kept()["R01"] == (6, 1)
    assert (mother.sessions_planned, mother.sessions_done) == (6, 1)
    record(sessions_of(mother)[1], midwife_a, "done")
    services.withdraw_respondent(
        respondent=mother,
        user=midwife_a,
        reason="Moved away",
        on=datetime.date(2026, 6, 5),
    )
    assert assert_counts_kept()["R01"] == (6, 2)
    # Her two saves, each one history row and one version; the recounts none.
    assert history_and_version(mother) == (3, 3)


def test_moving_her_delivery_date_moves_planned_sessions_and_keeps_the_counts(
    make_respondent, midwife_a
):
    mother = make_respondent("R01")
    record(sessions_of(mother)[0], midwife_a, "done")
    services.update_respondent(
        respondent=mother,  # as enrolment returned her: her counts are stale
        user=midwife_a,
        reason="Delivery date misread",
        delivery_date=datetime.date(2026, 5, 31),
        deviation_reason="Enrolled a day late",
    )
    assert assert_counts_kept()["R01"] == (6, 1)


def test_a_recount_writes_no_history_and_bumps_no_version(make_respondent, midwife_a):
    mother = make_respondent("R01")
    record(sessions_of(mother)[0], midwife_a, "done")
    Respondent.objects.filter(pk=mother.pk).update(sessions_planned=0, sessions_done=5)
    before = history_and_version(mother)
    assert services.recount_sessions([mother.pk]) == 1
    assert assert_counts_kept()["R01"] == (6, 1)
    assert history_and_version(mother) == before
    # By a queryset too, a mother without sessions counting 0.
    MassageSession.objects.filter(respondent=mother).delete()
    assert services.recount_sessions(Respondent.objects.all()) == 1
    assert assert_counts_kept()["R01"] == (0, 0)
    assert history_and_version(mother) == before


def test_the_counts_are_not_in_her_history(make_respondent):
    fields = {field.name for field in Respondent.history.model._meta.fields}
    assert "sessions_planned" not in fields and "sessions_done" not in fields
    assert "age_years" in fields


# --- the importer, the restore and the demo -----------------------------------------------------


def cohort_csv(rows=PAPER_COHORT) -> bytes:
    """The paper's mothers as a cohort file, mother i with i % 7 of her six sessions done."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    header = list(exchange.COHORT_COLUMNS)
    writer.writerow(header)
    for index, mother in enumerate(rows):
        row = {
            **mother,
            "site": "Klinik A",
            "delivery_date": "2026-06-01",
            "enrolled_on": "2026-06-03",
            "sessions_completed": index % 7,
            "status": "completed",
            "withdrawal_reason": "",
        }
        writer.writerow([row[column] for column in header])
    return out.getvalue().encode()


def test_an_imported_cohort_has_its_counts_from_one_statement(
    study, data_manager, make_respondent, midwife_a
):
    before = make_respondent("R01")
    record(sessions_of(before)[0], midwife_a, "done")
    with CaptureQueriesContext(connection) as queries:
        report = exchange.import_cohort(study=study, data=cohort_csv(), user=data_manager)
    assert not report.errors, report.errors
    kept = assert_counts_kept()
    assert kept["R01"] == (6, 1)
    assert {kept[row["respondent_code"]] for row in PAPER_COHORT} == {
        (6, index % 7) for index in range(len(PAPER_COHORT))
    }
    updates = [
        query["sql"]
        for query in queries.captured_queries
        if query["sql"].startswith("UPDATE") and "studies_respondent" in query["sql"]
    ]
    assert len(updates) == 1, updates
    assert not Respondent.history.filter(history_type="~").exists()


def manage(database_url: str, *args: str) -> str:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DATABASE_URL"))
    }
    env["DATABASE_URL"] = database_url
    result = subprocess.run(
        [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


# Two mothers, one session done; then the counts set wrong the way only a write past the services
# could (a backup holds whatever the database held).
SCRATCH_DATA = """
import datetime
from studies import services
from studies.models import MassageSession, Respondent
study = services.create_study(code="PIJAT", title="Pijat", site_names=["Klinik A"])
user, _ = services.assign_role(username="admin", role="admin", password="lancar-Backup-pw-9")
for code in ("R01", "R02"):
    services.enrol_respondent(
        study=study, site=study.sites.get(), user=user, code=code,
        delivery_date=datetime.date(2026, 6, 1), enrolled_on=datetime.date(2026, 6, 3),
        age_years=27, parity=1, education="secondary", employment="working",
        eligibility_confirmed=True,
    )
session = MassageSession.objects.filter(respondent__code="R01").first()
MassageSession.objects.filter(pk=session.pk).update(
    status="done", source="imported",
    started_at=datetime.datetime(2026, 6, 3, 8, tzinfo=datetime.timezone.utc),
)
Respondent.objects.update(sessions_planned=9, sessions_done=9)
"""

READ_COUNTS = """
from studies.models import Respondent
for row in Respondent.objects.order_by("code").values_list(
    "code", "sessions_planned", "sessions_done", "version"
):
    print(*row)
print(Respondent.history.count())
"""


def test_a_restore_recounts_every_mother(tmp_path):
    url = f"sqlite:///{tmp_path / 'lancar.sqlite3'}"
    manage(url, "migrate", "--noinput", "-v0")
    manage(url, "shell", "-v0", "-c", SCRATCH_DATA)
    assert manage(url, "shell", "-v0", "-c", READ_COUNTS).split("\n")[:2] == [
        "R01 9 9 1",
        "R02 9 9 1",
    ]
    backup = tmp_path / "lancar.backup"
    manage(url, "backup", str(backup))
    output = manage(url, "restore", str(backup), "--noinput")
    assert "2 mothers, 12 sessions" in output and "migrate" not in output
    assert manage(url, "shell", "-v0", "-c", READ_COUNTS).split("\n")[:3] == [
        "R01 6 1 1",
        "R02 6 0 1",
        "2",  # the enrolments' history rows only
    ]


@pytest.mark.django_db
def test_the_demo_data_has_its_counts(tmp_path):
    call_command(
        "load_demo", "--credentials-file", str(tmp_path / "credentials.txt"), stdout=io.StringIO()
    )
    kept = assert_counts_kept()
    assert any(done for _planned, done in kept.values())
    assert any(planned == 0 for planned, _done in kept.values())  # a control mother


# --- two midwives at once (PostgreSQL) -------------------------------------------------------


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="real concurrent writers need PostgreSQL"
)
@pytest.mark.django_db(transaction=True)
def test_two_sessions_of_one_mother_recorded_at_once_are_both_counted(
    make_respondent, midwife_a, make_user, site_a
):
    colleague = make_user("bidan_c", "midwife", [site_a])
    mother = make_respondent("R01")

    def save(barrier, errors, session, user):
        try:
            barrier.wait()
            record(session, user, "done")
        except Exception as error:  # noqa: BLE001 - the test reports what a thread got
            errors.append(error)
        finally:
            connection.close()

    for attempt in range(3):
        sessions = sessions_of(mother)[2 * attempt : 2 * attempt + 2]
        barrier, errors = threading.Barrier(2), []
        threads = [
            threading.Thread(target=save, args=(barrier, errors, session, user))
            for session, user in zip(sessions, (midwife_a, colleague), strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert not errors, errors
        assert assert_counts_kept()["R01"] == (6, 2 * attempt + 2)


# --- the migration ------------------------------------------------------------------------------

BEFORE = [("studies", "0012_test_choice_overrides")]
AFTER = [("studies", "0013_session_counts")]


@pytest.mark.django_db(transaction=True)
def test_the_migration_fills_the_counts_from_the_sessions_and_goes_back():
    executor = MigrationExecutor(connection)
    try:
        executor.migrate(BEFORE)
        executor.loader.build_graph()
        apps = executor.loader.project_state(BEFORE).apps
        Study_, Site_, Respondent_, Session_ = (
            apps.get_model("studies", name)
            for name in ("Study", "Site", "Respondent", "MassageSession")
        )
        study = Study_.objects.create(
            code="PIJAT", title="Pijat", definition=parse(paper_definition()).to_dict()
        )
        site = Site_.objects.create(name="Klinik A")
        delivery = datetime.date(2026, 6, 1)
        statuses = {
            "R01": ["done", "done", "missed", "planned"],
            "R02": ["refused"],
            "R03": [],
        }
        for code, kinds in statuses.items():
            mother = Respondent_.objects.create(
                study=study, site=site, code=code, delivery_date=delivery,
                enrolled_on=delivery + datetime.timedelta(days=2), age_years=27, parity=1,
                education="basic", employment="working",
            )  # fmt: skip
            for day, status in enumerate(kinds, start=2):
                Session_.objects.create(
                    respondent=mother, postpartum_day=day, slot="morning",
                    planned_date=delivery + datetime.timedelta(days=day), status=status,
                    started_at=datetime.datetime(2026, 6, day, 8, tzinfo=JAKARTA),
                    duration_minutes=16,
                )  # fmt: skip
        history_before = apps.get_model("studies", "HistoricalRespondent").objects.count()

        executor.loader.build_graph()
        executor.migrate(AFTER)
        executor.loader.build_graph()
        apps = executor.loader.project_state(AFTER).apps
        counts = dict(
            (code, (planned, done))
            for code, planned, done in apps.get_model("studies", "Respondent")
            .objects.order_by("code")
            .values_list("code", "sessions_planned", "sessions_done")
        )
        assert counts == {"R01": (4, 2), "R02": (1, 0), "R03": (0, 0)}
        assert apps.get_model("studies", "HistoricalRespondent").objects.count() == history_before

        # Back: the columns go, the mothers stay.
        executor.loader.build_graph()
        executor.migrate(BEFORE)
        executor.loader.build_graph()
        apps = executor.loader.project_state(BEFORE).apps
        assert apps.get_model("studies", "Respondent").objects.count() == 3
    finally:
        call_command("migrate", verbosity=0)
