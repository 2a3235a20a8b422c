"""Imports as background tasks (studies/tasks.py): the upload, the import's own page, one
confirmation, the private waiting files, bounded errors, and the real database queue with its
worker (``manage.py db_worker --batch``)."""

from __future__ import annotations

import csv
import datetime
import io
import os
import signal
import stat
import threading

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from studies import exchange, tasks
from studies.models import ImportJob, MassageSession, Observation, Respondent

HEADER = list(exchange.COHORT_COLUMNS)


def cohort_csv(mothers: int = 3, **overrides) -> bytes:
    """``mothers`` good rows at Klinik A (delivered a month ago, enrolled on day 2, every
    session done, both sheets); ``overrides`` replace a column's value on every row."""
    delivered = timezone.localdate() - datetime.timedelta(days=30)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    for number in range(1, mothers + 1):
        row = {
            "respondent_code": f"M{number:06d}",
            "site": "Klinik A",
            "delivery_date": delivered.isoformat(),
            "enrolled_on": (delivered + datetime.timedelta(days=2)).isoformat(),
            "age_years": "27",
            "parity": "1",
            "education": "secondary",
            "employment": "working",
            "pre_feeds": "5",
            "pre_urinations": "4",
            "post_feeds": "9",
            "post_urinations": "7",
            "sessions_completed": "6",
            "status": "completed",
            "withdrawal_reason": "",
            **overrides,
        }
        writer.writerow([row[column] for column in HEADER])
    return out.getvalue().encode()


def upload(data: bytes, name: str = "kohort.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="text/csv")


@pytest.fixture
def signed_in(client, data_manager):
    client.force_login(data_manager)
    return client


def job_url(job: ImportJob) -> str:
    return reverse("studies:import_job", args=[job.study.code, job.pk])


def confirm_url(job: ImportJob) -> str:
    return reverse("studies:import_confirm", args=[job.study.code, job.pk])


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def open_umask():
    """The most common umask (files 0644): the private modes must not come from it."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


# --- the flow ----------------------------------------------------------------------------------


def test_upload_check_confirm_and_the_file_is_private_then_gone(
    signed_in, study, settings, open_umask
):
    # Queued, not run: the file as it waits for the worker.
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    response = signed_in.post(
        reverse("studies:import_upload", args=[study.code]), {"file": upload(cohort_csv(3))}
    )
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == job_url(job)
    path = tasks.upload_path(job)
    assert path.read_bytes() == cohort_csv(3)
    assert (mode(path), mode(path.parent)) == (0o600, 0o700)
    assert job.state == "checking"

    tasks.preview_import.call(str(job.pk))  # what the worker runs
    assert (mode(path), mode(path.parent)) == (0o600, 0o700)  # still waiting, still private
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    page = signed_in.get(job_url(job))
    assert page.status_code == 200
    assert "Refresh" not in page  # checked: nothing to follow
    text = page.content.decode()
    assert "3 mothers to create, with 6 observation sheets and 18 sessions done." in text
    assert "Import these mothers" in text
    job.refresh_from_db()
    assert (job.state, job.rows_read, job.filename) == ("ready", 3, "kohort.csv")
    assert not Respondent.objects.exists()

    response = signed_in.post(confirm_url(job))
    assert response.status_code == 302 and response["Location"] == job_url(job)
    text = signed_in.get(job_url(job)).content.decode()
    assert "3 mothers imported with their sheets and planned sessions." in text
    job.refresh_from_db()
    assert (job.state, job.created, job.rows_written) == ("done", 3, 3)
    assert Respondent.objects.filter(study=study).count() == 3
    assert MassageSession.objects.filter(status="done").count() == 18
    assert Observation.objects.count() == 6
    assert not path.exists(), "the uploaded file is removed after the import"


def test_the_page_follows_the_worker_and_survives_a_reload(signed_in, study, data_manager):
    job = ImportJob.objects.create(
        study=study, user=data_manager, filename="besar.csv", state="checking", rows_read=3000
    )
    for _reload in range(2):
        response = signed_in.get(job_url(job))
        assert response.status_code == 200
        assert response["Refresh"] == "2"
        assert "3000 rows read so far." in response.content.decode()
    ImportJob.objects.filter(pk=job.pk).update(
        state="importing", rows_to_write=120000, rows_written=40000
    )
    response = signed_in.get(job_url(job))
    assert response["Refresh"] == "2"
    assert "40000 of 120000 mothers saved." in response.content.decode()


def test_the_page_speaks_indonesian(client_id, study, data_manager):
    client_id.force_login(data_manager)
    job = ImportJob.objects.create(
        study=study, user=data_manager, filename="k.csv", state="checking", rows_read=10
    )
    text = client_id.get(job_url(job)).content.decode()
    assert "Berkas sedang diperiksa" in text
    assert "10 baris sudah dibaca." in text


def test_another_users_import_is_not_found(client, study, data_manager, make_user, midwife_a):
    job = ImportJob.objects.create(study=study, user=data_manager, filename="k.csv", state="ready")
    other_admin = make_user("pengelola2", "admin")
    client.force_login(other_admin)
    assert client.get(job_url(job)).status_code == 404
    assert client.post(confirm_url(job)).status_code == 404
    client.force_login(midwife_a)
    assert client.get(job_url(job)).status_code == 403
    job.refresh_from_db()
    assert job.state == "ready"
    assert not DBTaskResult.objects.exists()


def test_a_second_confirmation_imports_nothing_and_says_so(signed_in, study):
    signed_in.post(
        reverse("studies:import_upload", args=[study.code]), {"file": upload(cohort_csv(4))}
    )
    job = ImportJob.objects.get()
    first = signed_in.post(confirm_url(job))
    second = signed_in.post(confirm_url(job), follow=True)
    assert first.status_code == 302 and second.status_code == 200
    assert "This file was already confirmed; it is imported once." in second.content.decode()
    assert Respondent.objects.count() == 4
    assert Respondent.history.count() == 4


@pytest.mark.skipif(connection.vendor != "postgresql", reason="parallel writers: PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_two_parallel_confirmations_import_once(study, data_manager):
    """Two real requests at the same moment, each on its own connection (a double tap)."""
    client = Client(headers={"accept-language": "en"})
    client.force_login(data_manager)
    client.post(
        reverse("studies:import_upload", args=[study.code]), {"file": upload(cohort_csv(300))}
    )
    job = ImportJob.objects.get()
    assert job.state == "ready"
    start = threading.Barrier(2)
    statuses = []

    def confirm():
        try:
            start.wait()
            statuses.append(client.post(confirm_url(job)).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=confirm) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [302, 302]
    assert Respondent.objects.count() == 300
    assert Respondent.history.count() == 300
    job.refresh_from_db()
    assert (job.state, job.created) == ("done", 300)


# --- failures, bounded -------------------------------------------------------------------------


def test_a_failed_check_shows_the_errors_and_removes_the_file(signed_in, study):
    response = signed_in.post(
        reverse("studies:import_upload", args=[study.code]),
        {"file": upload(cohort_csv(2, age_years="9"))},
        follow=True,
    )
    text = response.content.decode()
    assert "2 problems found; nothing was imported." in text
    assert "<td>2</td><td>age_years</td><td>Age must be at least 10 years.</td>" in text
    assert "Import these mothers" not in text
    job = ImportJob.objects.get()
    assert job.state == "failed"
    assert not tasks.upload_path(job).exists()
    assert signed_in.post(confirm_url(job), follow=True).status_code == 200
    assert not Respondent.objects.exists()


def test_errors_are_kept_up_to_a_bound_and_the_rest_counted(signed_in, study):
    bad_rows = exchange.MAX_REPORTED_ERRORS + 345
    report, planned = exchange.read_cohort(study, cohort_csv(bad_rows, age_years="9"))
    assert len(report.errors) == exchange.MAX_REPORTED_ERRORS
    assert report.error_count == bad_rows and report.more_errors == 345
    assert planned == [], "no planned row is kept once the file has an error"

    signed_in.post(
        reverse("studies:import_upload", args=[study.code]),
        {"file": upload(cohort_csv(bad_rows, age_years="9"))},
    )
    job = ImportJob.objects.get()
    assert len(job.report["errors"]) == exchange.MAX_REPORTED_ERRORS
    text = signed_in.get(job_url(job)).content.decode()
    assert f"{bad_rows} problems found; nothing was imported." in text
    assert "… and 345 more problems." in text
    assert text.count("Age must be at least 10 years.") == exchange.MAX_REPORTED_ERRORS


def nul_deep_inside() -> bytes:
    """A good file with a NUL byte in a cell past its first 64 KiB."""
    data = cohort_csv(1200)
    assert len(data) > 70_000
    position = data.index(b"M001100")
    return data[:position] + b"M00\x001100" + data[position + len(b"M001100") :]


def test_a_nul_byte_deep_inside_is_refused_everywhere(signed_in, study, tmp_path):
    data = nul_deep_inside()
    with pytest.raises(exchange.ImportFileError, match="not a text"):
        exchange.import_cohort(study=study, data=data, user=None)

    response = signed_in.post(
        reverse("studies:import_upload", args=[study.code]), {"file": upload(data)}, follow=True
    )
    assert response.status_code == 200
    assert "This is not a text (CSV) file." in response.content.decode()
    assert ImportJob.objects.get().state == "failed"

    path = tmp_path / "kohort.csv"
    path.write_bytes(data)
    with pytest.raises(CommandError, match="not a text"):
        call_command("import_cohort", study.code, str(path))
    assert not Respondent.objects.exists()


# --- waiting files expire ----------------------------------------------------------------------


def test_unconfirmed_uploads_are_removed_after_the_set_time(signed_in, study, settings, capsys):
    settings.LANCAR_IMPORT_MAX_AGE_HOURS = 24
    signed_in.post(
        reverse("studies:import_upload", args=[study.code]), {"file": upload(cohort_csv(2))}
    )
    job = ImportJob.objects.get()
    path = tasks.upload_path(job)
    assert path.exists() and job.state == "ready"

    call_command("clean_imports")  # too young to go
    assert path.exists()
    assert "Removed 0 uploaded file(s)" in capsys.readouterr().out

    day_ago = (timezone.now() - datetime.timedelta(hours=25)).timestamp()
    os.utime(path, (day_ago, day_ago))
    ImportJob.objects.filter(pk=job.pk).update(
        created_at=timezone.now() - datetime.timedelta(hours=25)
    )
    call_command("clean_imports")
    assert "Removed 1 uploaded file(s) older than 24 hours." in capsys.readouterr().out
    assert not path.exists()
    job.refresh_from_db()
    assert job.state == "expired"
    response = signed_in.post(confirm_url(job), follow=True)
    assert "This upload has expired" in response.content.decode()
    assert not Respondent.objects.exists()


# --- the real queue and its worker -------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_database_queue_and_its_worker_end_to_end(study, data_manager, settings):
    """django-tasks-db queues the tasks as rows; ``manage.py db_worker --batch`` runs what is
    queued and exits, as the worker beside gunicorn does."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    client = Client(headers={"accept-language": "en"})
    client.force_login(data_manager)

    def worker():
        handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", "-v0")
        finally:
            for sig, handler in handlers.items():  # the worker sets its own
                signal.signal(sig, handler)

    response = client.post(
        reverse("studies:import_upload", args=[study.code]), {"file": upload(cohort_csv(5))}
    )
    job = ImportJob.objects.get()
    assert response["Location"] == job_url(job)
    page = client.get(job_url(job))
    assert page["Refresh"] == "2" and "Checking the file" in page.content.decode()
    assert DBTaskResult.objects.get().status == "READY"  # queued, not run by the request

    worker()
    page = client.get(job_url(job)).content.decode()
    assert "5 mothers to create, with 10 observation sheets and 30 sessions done." in page
    assert not Respondent.objects.exists()

    client.post(confirm_url(job))
    job.refresh_from_db()
    assert job.state == "importing"
    assert "Importing." in client.get(job_url(job)).content.decode()
    worker()
    page = client.get(job_url(job)).content.decode()
    assert "5 mothers imported with their sheets and planned sessions." in page
    assert Respondent.objects.filter(study=study).count() == 5
    assert sorted(DBTaskResult.objects.values_list("status", flat=True)) == [
        "SUCCESSFUL",
        "SUCCESSFUL",
    ]
    assert not tasks.upload_path(job).exists()


def test_the_preview_counts_one_mother_in_the_singular(signed_in, study, settings):
    """One mother, her two sheets and her sessions: "1 mother", not "1 mothers"; in
    Indonesian the same counts read without a plural."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    signed_in.post(
        reverse("studies:import_upload", args=[study.code]), {"file": upload(cohort_csv(1))}
    )
    job = ImportJob.objects.get()
    text = signed_in.get(job_url(job)).content.decode()
    assert "1 mother to create, with 2 observation sheets and 6 sessions done." in text
    indonesian = signed_in.get(job_url(job), headers={"accept-language": "id"}).content.decode()
    assert (
        "1 ibu akan ditambahkan, beserta 2 lembar observasi dan 6 sesi yang sudah dilakukan."
        in indonesian
    )
