"""Backup and restore, run for real: ``manage.py backup`` and ``manage.py restore`` in
subprocesses against a scratch SQLite file and a scratch PostgreSQL database. After a backup
the data is changed and deleted (history included); the restore must bring back every mother,
session, sheet and history row exactly, and the app must carry on from there."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import environ
import psycopg
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from studies import backups

MANAGE = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py")]

# Everything a restore must bring back, as one JSON document: the clinical records field by
# field, every history row (who, when, what kind of change, why) and the users.
FINGERPRINT = """
import json
from django.apps import apps
from django.contrib.auth import get_user_model
from studies.models import MassageSession, Observation, Respondent, RespondentIdentity

history = {
    model.__name__: [
        [row.history_id, getattr(row, model.instance_type._meta.pk.attname), row.history_type,
         row.history_date.isoformat(), row.history_user_id, row.history_change_reason]
        for row in model.objects.order_by("history_id")
    ]
    for model in apps.get_app_config("studies").get_models()
    if model.__name__.startswith("Historical")
}
print(json.dumps({
    "mothers": list(Respondent.objects.order_by("code").values_list(
        "id", "code", "site__name", "status", "withdrawal_reason", "age_years", "version")),
    "identities": list(RespondentIdentity.objects.order_by("respondent__code").values_list(
        "respondent__code", "full_name", "phone")),
    "sessions": list(MassageSession.objects.order_by("respondent__code", "postpartum_day", "slot")
        .values_list("respondent__code", "postpartum_day", "slot", "status",
                     "duration_minutes", "version")),
    "sheets": list(Observation.objects.order_by("respondent__code", "timepoint").values_list(
        "respondent__code", "timepoint", "values", "version")),
    "history": history,
    "users": list(get_user_model().objects.order_by("username").values_list(
        "username", "password")),
}, default=str))
"""

# The demo mothers have no names; give each one, so identities (and their history) are backed up.
NAMES = """
from studies.models import Respondent, RespondentIdentity

for number, mother in enumerate(Respondent.objects.order_by("code"), start=1):
    RespondentIdentity.objects.create(
        respondent=mother, full_name=f"Ibu {mother.code}", phone=f"08123450{number:04d}"
    )
"""

# What a restore has to undo: a withdrawal and a corrected sheet (both with history), a mother
# hard-deleted with her sessions, sheets and identity, the history of all sheets wiped, and a
# user added.
DAMAGE = """
from django.contrib.auth import get_user_model
from django.utils import timezone
from studies import services
from studies.models import MassageSession, Observation, Respondent, RespondentIdentity

admin = get_user_model().objects.get(username="admin")
enrolled = Respondent.objects.filter(status="enrolled").order_by("code")
services.withdraw_respondent(
    respondent=enrolled[0], user=admin, reason="Moved away", on=timezone.localdate()
)
sheet = Observation.objects.order_by("id").first()
services.change_record(
    instance=sheet, user=admin, reason="typo",
    values={**sheet.values, "feeds": sheet.values.get("feeds", 0) + 1},
)
victim = Respondent.objects.exclude(pk=sheet.respondent_id).order_by("code").last()
Observation.objects.filter(respondent=victim).delete()
MassageSession.objects.filter(respondent=victim).delete()
RespondentIdentity.objects.filter(respondent=victim).delete()
victim.delete()
Observation.history.all().delete()
get_user_model().objects.create_user("intruder", password="not-in-the-backup-1")
"""

# The app carries on after a restore: a new mother gets the next id (sequences came back).
ENROL_AFTER_RESTORE = """
import datetime
from django.contrib.auth import get_user_model
from studies import services
from studies.models import Respondent, Study

study = Study.objects.get(code="PIJAT")
today = datetime.date.today()
mother = services.enrol_respondent(
    study=study, site=study.sites.order_by("name").first(),
    user=get_user_model().objects.get(username="admin"), identity=None,
    code="AFTER-RESTORE", delivery_date=today - datetime.timedelta(days=2), enrolled_on=today,
    consent_date=today, age_years=30, parity=2, education="higher", employment="working",
    eligibility_confirmed=True,
)
print(mother.pk > max(Respondent.objects.exclude(pk=mother.pk).values_list("pk", flat=True)))
"""


def manage(database_url: str, *args: str, stdin: str | None = None):
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DATABASE_URL"))
    }
    env["DATABASE_URL"] = database_url
    return subprocess.run(
        [*MANAGE, *args], env=env, input=stdin, capture_output=True, text=True, timeout=600
    )


def must(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def fingerprint(database_url: str) -> dict:
    return json.loads(must(manage(database_url, "shell", "-v0", "-c", FINGERPRINT)))


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- the scratch databases ---------------------------------------------------------------------


def postgresql_server() -> dict:
    """The PostgreSQL server to make the scratch database on: the one the suite runs on when
    DATABASE_URL is PostgreSQL, otherwise the local one."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        url = "postgres://postgres@127.0.0.1:5432/postgres"
    config = environ.Env.db_url_config(url)
    return {
        "host": config.get("HOST") or "127.0.0.1",
        "port": str(config.get("PORT") or 5432),
        "user": config.get("USER") or "postgres",
        "password": config.get("PASSWORD") or "",
    }


def connect_maintenance(server: dict) -> tuple[psycopg.Connection, dict]:
    """Connect to the server's ``postgres`` database. Trust authentication over TCP is the
    usual set-up; where TCP asks for a password, peer authentication over the Unix socket is
    tried instead."""
    try:
        return psycopg.connect(dbname="postgres", autocommit=True, **server), server
    except psycopg.OperationalError as error:
        if "password" not in str(error) or server["password"]:
            raise
    socket = {**server, "host": "/var/run/postgresql"}
    return psycopg.connect(dbname="postgres", autocommit=True, **socket), socket


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'lancar.sqlite3'}"


@pytest.fixture
def postgresql_url():
    missing = [tool for tool in ("pg_dump", "pg_restore") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not installed (PostgreSQL client tools)")
    server = postgresql_server()
    try:
        maintenance, server = connect_maintenance(server)
    except psycopg.OperationalError as error:
        if os.environ.get("DATABASE_URL", "").startswith("postgres"):
            raise  # the suite itself runs on PostgreSQL: unreachable is a failure
        pytest.skip(f"PostgreSQL not reachable at {server['host']}:{server['port']}: {error}")
    # The process id keeps two test runs on one server out of each other's way.
    name = f"lancar_backup_test_{os.getpid()}"
    with maintenance:
        maintenance.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        maintenance.execute(f'CREATE DATABASE "{name}"')
        password = f":{quote(server['password'], safe='')}" if server["password"] else ""
        host = quote(server["host"], safe="")
        yield f"postgres://{quote(server['user'])}{password}@{host}:{server['port']}/{name}"
        maintenance.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- the procedure ----------------------------------------------------------------------------


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_backup_and_restore_bring_back_the_data_and_its_history(request, tmp_path, database):
    url = request.getfixturevalue(f"{database}_url")
    must(manage(url, "migrate", "--noinput", "-v0"))
    must(manage(url, "load_demo", "--credentials-file", str(tmp_path / "credentials.txt")))
    must(manage(url, "shell", "-v0", "-c", NAMES))
    before = fingerprint(url)
    # The paper's fifteen mothers (90 sessions) and the two-group demo study's.
    mothers, sessions = len(before["mothers"]), len(before["sessions"])
    assert mothers == len(before["identities"]) and mothers > 15
    assert sessions > 90 and before["sheets"]
    for model in ("Respondent", "RespondentIdentity", "MassageSession", "Observation"):
        assert before["history"][f"Historical{model}"], f"{model} has history to bring back"

    backup_file = tmp_path / f"lancar-{database}.backup"
    output = must(manage(url, "backup", str(backup_file)))
    assert f"to {backup_file}" in output
    assert backup_file.stat().st_size > 0
    # Every name and phone number is in it: readable by its owner only, whatever the umask.
    assert stat.S_IMODE(backup_file.stat().st_mode) == 0o600
    assert not list(tmp_path.glob(".*partial*")), "no temporary file left behind"

    # A second backup to the same name is refused and the first one is left alone.
    saved = digest(backup_file)
    result = manage(url, "backup", str(backup_file))
    assert result.returncode != 0
    assert f"{backup_file} already exists; a backup never overwrites a file." in result.stderr
    assert digest(backup_file) == saved

    must(manage(url, "shell", "-v0", "-c", DAMAGE))
    damaged = fingerprint(url)
    assert len(damaged["mothers"]) == len(damaged["identities"]) == mothers - 1
    assert damaged["history"]["HistoricalObservation"] == []
    assert damaged != before

    # Without --noinput the restore asks first; anything but "yes" changes nothing.
    result = manage(url, "restore", str(backup_file), stdin="no\n")
    assert result.returncode != 0
    assert "This replaces ALL data in the" in result.stdout
    assert "Restore cancelled; nothing was changed." in result.stderr
    assert fingerprint(url) == damaged

    output = must(manage(url, "restore", str(backup_file), "--noinput"))
    assert f"{mothers} mothers, {sessions} sessions" in output
    assert fingerprint(url) == before

    # The restored database is the app's database again: migrations recorded, sequences ahead.
    must(manage(url, "migrate", "--check", "-v0"))
    assert must(manage(url, "shell", "-v0", "-c", ENROL_AFTER_RESTORE)).strip() == "True"


def test_restore_refuses_a_file_that_is_not_a_backup_for_this_database(db, tmp_path):
    """Checked before anything is asked or touched (here against the test database)."""
    with pytest.raises(CommandError, match="does not exist"):
        call_command("restore", str(tmp_path / "missing.backup"), interactive=False)
    garbage = tmp_path / "notes.txt"
    garbage.write_text("not a backup\n")
    with pytest.raises(CommandError, match="is not a Lancar backup"):
        call_command("restore", str(garbage), interactive=False)
    other = tmp_path / "other-engine.backup"
    if backups.engine() == "sqlite3":
        other.write_bytes(backups.PG_CUSTOM_HEADER + b"\x01\x0e\x00" * 50)
        message = "is a PostgreSQL backup, but this database is SQLite"
    else:
        other.write_bytes(backups.SQLITE_HEADER + b"\x00" * 100)
        message = "is a SQLite backup, but this database is PostgreSQL"
    with pytest.raises(CommandError, match=message):
        call_command("restore", str(other), interactive=False)


def test_backup_refuses_to_overwrite_and_leaves_the_file_alone(db, tmp_path):
    existing = tmp_path / "yesterday.backup"
    existing.write_bytes(b"yesterday's backup")
    with pytest.raises(CommandError, match="already exists; a backup never overwrites a file"):
        call_command("backup", str(existing))
    assert existing.read_bytes() == b"yesterday's backup"
