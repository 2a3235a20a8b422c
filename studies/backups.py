"""Backup and restore of the whole database with the database's own tools.

What is copied is the database itself, not a serialisation of it: the clinical records, their
history (django-simple-history tables), users and roles, audit events, sequences and the
migration state all come back exactly as they were.

- SQLite: the online backup API (``sqlite3.Connection.backup``) copies a consistent snapshot
  while the app keeps running; a restore copies the backup's pages back into the live file the
  same way, under SQLite's own locks, so the file is never half-replaced.
- PostgreSQL: ``pg_dump --format=custom``, restored with ``pg_restore --clean --if-exists
  --single-transaction``: either the whole backup is back or nothing changed.

These are management commands (``manage.py backup`` / ``manage.py restore``) rather than shell
scripts because they read the same settings (``DATABASE_URL``, ``.env``) as the app, so they
cannot back up a different database than the one the app uses, and they work unchanged on a
laptop with SQLite and on a server with PostgreSQL.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

from django.db import DEFAULT_DB_ALIAS, connections

SQLITE_HEADER = b"SQLite format 3\x00"
PG_CUSTOM_HEADER = b"PGDMP"
PRIVATE_FILE = 0o600


class BackupError(Exception):
    """A backup or restore that cannot go ahead; the message says why and what to do."""


def _settings(using: str) -> dict:
    return connections[using].settings_dict


def engine(using: str = DEFAULT_DB_ALIAS) -> str:
    name = _settings(using)["ENGINE"].rsplit(".", 1)[-1]
    if name not in ("sqlite3", "postgresql"):
        raise BackupError(f"Backups support SQLite and PostgreSQL, not {name}.")
    return name


def describe(using: str = DEFAULT_DB_ALIAS) -> str:
    """The database in words, for prompts and messages (never the password)."""
    db = _settings(using)
    if engine(using) == "sqlite3":
        return f"SQLite database {db['NAME']}"
    host = db.get("HOST") or "localhost"
    return f"PostgreSQL database {db['NAME']} on {host}"


def backup(target: Path, *, using: str = DEFAULT_DB_ALIAS) -> None:
    """Write a backup of the database to ``target``, which must not exist yet. The backup is
    written next to it under a temporary name and only then linked into place, so a backup
    that failed half-way (a full disk) never looks like a complete one."""
    if target.exists():
        raise BackupError(f"{target} already exists; a backup never overwrites a file.")
    if not target.parent.is_dir():
        raise BackupError(f"The folder {target.parent} does not exist.")
    partial = target.with_name(f".{target.name}.partial-{secrets.token_hex(4)}")
    # A backup holds every name and phone number: it is created readable by its owner only,
    # with the mode given to open() itself (no moment when it is readable by others). SQLite and
    # pg_dump then write into this empty file, and the link below keeps its mode.
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
    try:
        if engine(using) == "sqlite3":
            _sqlite_backup(Path(_settings(using)["NAME"]), partial)
        else:
            _run_postgresql_tool(
                ["pg_dump", "--format=custom", "--no-password", f"--file={partial}"], using
            )
        try:
            os.link(partial, target)  # unlike a rename, refuses to replace a file
        except FileExistsError:
            raise BackupError(
                f"{target} already exists; a backup never overwrites a file."
            ) from None
    finally:
        partial.unlink(missing_ok=True)


def check(source: Path, *, using: str = DEFAULT_DB_ALIAS) -> None:
    """Refuse, before anything is touched, a file that is not a backup for this database."""
    if not source.is_file():
        raise BackupError(f"{source} does not exist.")
    with source.open("rb") as file:
        header = file.read(len(SQLITE_HEADER))
    kind = engine(using)
    if header.startswith(SQLITE_HEADER):
        found = "sqlite3"
    elif header.startswith(PG_CUSTOM_HEADER):
        found = "postgresql"
    else:
        raise BackupError(f"{source} is not a Lancar backup (neither SQLite nor pg_dump -Fc).")
    if found != kind:
        names = {"sqlite3": "SQLite", "postgresql": "PostgreSQL"}
        raise BackupError(
            f"{source} is a {names[found]} backup, but this database is {names[kind]}; "
            f"restore it with DATABASE_URL pointing at a {names[found]} database."
        )
    if kind == "sqlite3":
        with closing(sqlite3.connect(_read_only_uri(source), uri=True)) as backup_db:
            result = backup_db.execute("PRAGMA integrity_check").fetchone()[0]
            tables = {row[0] for row in backup_db.execute("SELECT name FROM sqlite_master")}
        if result != "ok" or "django_migrations" not in tables:
            raise BackupError(f"{source} is damaged or not a Lancar database ({result}).")
    else:
        _run_postgresql_tool(["pg_restore", "--list", str(source)], using)


def restore(source: Path, *, using: str = DEFAULT_DB_ALIAS) -> None:
    """Replace everything in the database with the backup. Call ``check`` first."""
    connections[using].close()
    if engine(using) == "sqlite3":
        live = Path(_settings(using)["NAME"])
        with (
            closing(sqlite3.connect(_read_only_uri(source), uri=True)) as backup_db,
            closing(sqlite3.connect(live, timeout=30)) as live_db,
        ):
            backup_db.backup(live_db)
    else:
        # Objects created after the backup (a later migration) are not dropped: restore with
        # the version of Lancar that made the backup, then migrate.
        _run_postgresql_tool(
            [
                "pg_restore",
                "--clean",
                "--if-exists",
                "--single-transaction",
                "--exit-on-error",
                "--no-owner",
                "--no-password",
                f"--dbname={_settings(using)['NAME']}",
                str(source),
            ],
            using,
        )


def _read_only_uri(path: Path) -> str:
    return path.resolve().as_uri() + "?mode=ro"


def _sqlite_backup(live: Path, copy: Path) -> None:
    if not live.is_file():
        raise BackupError(f"The SQLite database {live} does not exist.")
    with (
        closing(sqlite3.connect(live.resolve().as_uri() + "?mode=rw", uri=True)) as live_db,
        closing(sqlite3.connect(copy)) as copy_db,
    ):
        live_db.backup(copy_db)
        # One self-contained file: no write-ahead log beside it.
        copy_db.execute("PRAGMA journal_mode=DELETE")


def _run_postgresql_tool(command: list[str], using: str) -> None:
    """Run pg_dump/pg_restore against the app's database. Connection details go through the
    libpq environment variables, so the password never appears on a command line."""
    if shutil.which(command[0]) is None:
        raise BackupError(
            f"{command[0]} is not installed; install the PostgreSQL client tools "
            f"(Debian: apt-get install postgresql-client)."
        )
    db = _settings(using)
    env = dict(os.environ)
    for key, variable in (
        ("NAME", "PGDATABASE"),
        ("HOST", "PGHOST"),
        ("PORT", "PGPORT"),
        ("USER", "PGUSER"),
        ("PASSWORD", "PGPASSWORD"),
    ):
        if db.get(key):
            env[variable] = str(db[key])
    if db.get("OPTIONS", {}).get("sslmode"):
        env["PGSSLMODE"] = db["OPTIONS"]["sslmode"]
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise BackupError(f"{command[0]} failed:\n{result.stderr.strip()}")
