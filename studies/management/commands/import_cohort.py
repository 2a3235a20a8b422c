"""``manage.py import_cohort CODE FILE.csv [--dry-run]`` (DESIGN.md 4.3): all rows or none."""

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, no_translations

from studies.exchange import ImportFileError, import_cohort
from studies.models import Study

MAX_LISTED = 200
DELIMITER_NAMES = {"\t": "tab"}  # the others print as themselves


class Command(BaseCommand):
    help = "Import the cohort CSV into a study: every row or none."

    def add_arguments(self, parser):
        parser.add_argument("code", help="the study's code")
        parser.add_argument(
            "file", help="the cohort file (UTF-8 or UTF-16; comma, semicolon or tab)"
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="check the file and report; save nothing"
        )

    @no_translations  # operators' output is English, like Django's own commands
    def handle(self, *args, code, file, dry_run, **options):
        try:
            study = Study.objects.get(code=code)
        except Study.DoesNotExist:
            raise CommandError(f"No study with the code {code}.") from None
        path = Path(file)
        try:
            data = path.read_bytes()
        except OSError as error:
            raise CommandError(f"Cannot read {file}: {error.strerror}.") from None

        def progress(done: int, total: int) -> None:
            if total >= 5000 and sys.stderr.isatty():
                self.stderr.write(f"\r  {done}/{total} mothers saved", ending="")

        try:
            report = import_cohort(
                study=study,
                data=data,
                user=None,
                dry_run=dry_run,
                filename=path.name,
                progress=progress,
                limit=max(len(data), 1),  # the web upload limit does not bind the command line
            )
        except ImportFileError as error:
            raise CommandError(str(error)) from None
        if report.errors:
            for error in report.errors:
                self.stderr.write(str(error))
            raise CommandError(
                f"{len(report.errors)} error(s) in {report.rows} row(s); nothing was imported."
            )
        for note in report.notes:
            self.stdout.write(f"Read: {note}")
        if report.deviations:
            self.stdout.write(
                f"{len(report.deviations)} mother(s) outside the protocol, recorded as protocol "
                "deviations with the file as their reason:"
            )
            for deviation in report.deviations[:MAX_LISTED]:
                self.stdout.write(f"  {deviation}")
            if len(report.deviations) > MAX_LISTED:
                self.stdout.write(f"  … and {len(report.deviations) - MAX_LISTED} more")
        if dry_run:
            self.stdout.write(
                f"Dry run: {report.rows} mothers, {report.sheets} sheets and "
                f"{report.sessions_done} sessions done would be imported into {study.code}; "
                "nothing was saved."
            )
            return
        self.stdout.write(
            self.style.SUCCESS(f"Imported {report.created} mothers into {study.code}")
            + f" ({report.sheets} sheets, {report.sessions_done} sessions done; "
            f"separator '{DELIMITER_NAMES.get(report.delimiter, report.delimiter)}')."
        )
