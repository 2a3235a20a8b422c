"""``manage.py backup FILE``: see studies/backups.py for how and why."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, no_translations
from django.db import DEFAULT_DB_ALIAS

from studies import backups


class Command(BaseCommand):
    help = (
        "Back up the whole database (clinical data, its history, users) to FILE with the "
        "database's own tools: SQLite's online backup, or pg_dump's custom format. "
        "Never overwrites an existing file."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="Where to write the backup; must not exist yet.")
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS)

    @no_translations  # operators' output is English, like Django's own commands
    def handle(self, *args, file: str, database: str, **options):
        target = Path(file)
        try:
            backups.backup(target, using=database)
        except backups.BackupError as error:
            raise CommandError(str(error)) from error
        size = target.stat().st_size
        self.stdout.write(
            self.style.SUCCESS(f"Backed up the {backups.describe(database)} to {target}")
            + f" ({size:,} bytes)."
        )
