"""Cohort imports as background tasks (django-tasks, queued in the database).

A large file took 26 s to check and longer to import: more than a web worker may take (gunicorn
ends a request at 30 s). So the upload only stores the file and queues :func:`preview_import`;
the data manager follows an :class:`~studies.models.ImportJob` page, confirms, and
:func:`run_import` writes the mothers. ``manage.py db_worker`` runs the tasks (``make run``
starts it; README, Deployment).

Uploaded files carry names and phone numbers: they are created readable by their owner only
(0600, in a 0700 folder) and removed once imported, when the check fails, and after
``LANCAR_IMPORT_MAX_AGE_HOURS`` when never confirmed (:func:`remove_stale_uploads`, run by every
task, by ``manage.py clean_imports`` and by ``make run``).
"""

from __future__ import annotations

import datetime
import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, router
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django_tasks import task

from . import exchange
from .models import ImportJob, Study

logger = logging.getLogger("lancar.imports")

PRIVATE_FILE = 0o600
PRIVATE_FOLDER = 0o700


# --- private files ---------------------------------------------------------------------------


def private_folder(path: Path) -> Path:
    """``path`` as a folder only its owner can enter: created 0700 (``mkdir`` with the mode, so
    there is no moment when it is open), and tightened if an older version left it wider."""
    path.mkdir(mode=PRIVATE_FOLDER, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(PRIVATE_FOLDER)
    return path


def write_private(path: Path, chunks: Iterable[bytes]) -> int:
    """Write a new file readable by its owner only: the mode is given to ``open`` itself, so the
    file is never readable by others, not even for a moment. Refuses to replace a file or to
    follow a symbolic link. Returns the bytes written."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    written = 0
    with os.fdopen(os.open(path, flags, PRIVATE_FILE), "wb") as file:
        for chunk in chunks:
            file.write(chunk)
            written += len(chunk)
    return written


def import_folder() -> Path:
    """The folder where uploaded files wait (``LANCAR_IMPORT_DIR``), private."""
    return private_folder(Path(settings.LANCAR_IMPORT_DIR))


def upload_path(job: ImportJob) -> Path:
    return import_folder() / f"{job.pk}.csv"


def remove_upload(job: ImportJob) -> None:
    upload_path(job).unlink(missing_ok=True)


def remove_stale_uploads(*, now: datetime.datetime | None = None) -> int:
    """Remove the uploaded files older than ``LANCAR_IMPORT_MAX_AGE_HOURS`` (never confirmed,
    or left by a crash) and mark their jobs expired. Returns the number of files removed."""
    now = now or timezone.now()
    cutoff = now - datetime.timedelta(hours=settings.LANCAR_IMPORT_MAX_AGE_HOURS)
    removed = 0
    for path in import_folder().iterdir():
        if path.is_file() and path.stat().st_mtime < cutoff.timestamp():
            path.unlink(missing_ok=True)
            removed += 1
    ImportJob.objects.filter(
        state__in=[ImportJob.State.CHECKING, ImportJob.State.READY], created_at__lt=cutoff
    ).update(state=ImportJob.State.EXPIRED, updated_at=now)
    return removed


# --- the steps the views call ----------------------------------------------------------------


def start_preview(*, study: Study, user, upload, language: str) -> ImportJob:
    """Store an uploaded file (privately) and queue its check. Raises
    :class:`~studies.exchange.ImportFileError` for a file over the size limit, before a byte
    of it is stored."""
    limit = settings.LANCAR_IMPORT_MAX_BYTES
    if upload.size > limit:
        raise exchange.file_too_large(limit)
    job = ImportJob.objects.create(
        study=study,
        user=user,
        filename=(upload.name or "")[:255],
        language=language,
        state=ImportJob.State.CHECKING,
    )
    try:
        write_private(upload_path(job), upload.chunks())
    except BaseException:
        job.delete()
        raise
    preview_import.enqueue(str(job.pk))
    return job


def confirm(job: ImportJob) -> bool:
    """Queue the import of a checked file, once: of two confirmations (a double tap, two tabs)
    only the one that moves the job from ready to importing queues it; the other gets False."""
    claimed = ImportJob.objects.filter(pk=job.pk, state=ImportJob.State.READY).update(
        state=ImportJob.State.IMPORTING, updated_at=timezone.now()
    )
    if not claimed:
        return False
    try:
        run_import.enqueue(str(job.pk))
    except BaseException:
        ImportJob.objects.filter(pk=job.pk).update(state=ImportJob.State.READY)
        raise
    return True


# --- the tasks -------------------------------------------------------------------------------


@task()
def preview_import(job_id: str) -> str:
    """Check an uploaded file (a dry run): the job becomes ready, or failed with its errors."""
    return _run(job_id, dry_run=True)


@task()
def run_import(job_id: str) -> str:
    """Import a checked and confirmed file: every row or none."""
    return _run(job_id, dry_run=False)


def _run(job_id: str, *, dry_run: bool) -> str:
    job = ImportJob.objects.select_related("study", "user").filter(pk=job_id).first()
    expected = ImportJob.State.CHECKING if dry_run else ImportJob.State.IMPORTING
    if job is None or job.state != expected:  # gone, or already run (a task queued twice)
        return "skipped"
    try:
        with translation.override(job.language):
            return _check_or_import(job, dry_run=dry_run)
    finally:
        remove_stale_uploads()


def _check_or_import(job: ImportJob, *, dry_run: bool) -> str:
    def save(**fields) -> None:
        for name, value in fields.items():
            setattr(job, name, value)
        job.save(update_fields=[*fields, "updated_at"])

    try:
        data = upload_path(job).read_bytes()
    except FileNotFoundError:
        save(state=ImportJob.State.EXPIRED)
        return job.state

    def rows_read(rows: int) -> None:
        ImportJob.objects.filter(pk=job.pk).update(rows_read=rows)

    written = _written_progress(job)
    try:
        report = exchange.import_cohort(
            study=job.study,
            data=data,
            user=job.user,
            dry_run=dry_run,
            filename=job.filename,
            limit=settings.LANCAR_IMPORT_MAX_BYTES,
            read_progress=rows_read,
            progress=written,
        )
    except exchange.ImportFileError as error:
        remove_upload(job)
        save(state=ImportJob.State.FAILED, problem=str(error))
        return job.state
    except Exception:
        remove_upload(job)
        save(
            state=ImportJob.State.FAILED,
            problem=_("The file could not be processed because of an error on the server."),
        )
        raise
    finally:
        if written is not None:
            written.close()
    summary = {
        "rows": report.rows,
        "sheets": report.sheets,
        "sessions_done": report.sessions_done,
        "error_count": report.error_count,
        "errors": [[error.row, error.column, str(error.message)] for error in report.errors],
        "notes": [str(note) for note in report.notes],
        "deviation_count": len(report.deviations),
        "deviations": [
            [deviation.row, str(deviation.message)]
            for deviation in report.deviations[: exchange.MAX_REPORTED_ERRORS]
        ],
    }
    if report.errors:
        remove_upload(job)
        save(state=ImportJob.State.FAILED, report=summary, rows_read=report.rows)
    elif dry_run:
        save(state=ImportJob.State.READY, report=summary, rows_read=report.rows)
    else:
        remove_upload(job)
        save(
            state=ImportJob.State.DONE,
            report=summary,
            rows_read=report.rows,
            created=report.created,
            rows_to_write=report.created,
            rows_written=report.created,
        )
    return job.state


class _WrittenProgress:
    """``progress(written, total)`` for the writing, which runs in one transaction: on
    PostgreSQL the count goes through a second connection so that the job's page sees it while
    the transaction is open. SQLite has one writer at a time and the import holds it, so there
    the count is written when the import ends."""

    def __init__(self, job: ImportJob) -> None:
        self.job_id = job.pk
        self.connection = connections.create_connection(DEFAULT_DB_ALIAS)
        table = self.connection.ops.quote_name(ImportJob._meta.db_table)
        self.sql = f"UPDATE {table} SET rows_written = %s, rows_to_write = %s WHERE id = %s"

    def __call__(self, written: int, total: int) -> None:
        with self.connection.cursor() as cursor:
            cursor.execute(self.sql, [written, total, self.job_id])

    def close(self) -> None:
        self.connection.close()


def _written_progress(job: ImportJob) -> Callable[[int, int], None] | None:
    if connections[router.db_for_write(ImportJob)].vendor != "postgresql":
        return None
    return _WrittenProgress(job)
