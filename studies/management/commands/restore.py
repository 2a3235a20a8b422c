"""``manage.py restore FILE``: see studies/backups.py for how and why."""

from pathlib import Path

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, no_translations
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.migrations.recorder import MigrationRecorder

from studies import backups, services
from studies.models import Respondent

# The migration that gave every mother her session counts (Respondent.sessions_planned/_done).
COUNTS_MIGRATION = "0013_session_counts"

# What the operator sees counted after a restore, to compare with what they expect.
SUMMARY = (
    ("studies.Respondent", "mothers"),
    ("studies.MassageSession", "sessions"),
    ("studies.Observation", "observation sheets"),
    ("auth.User", "users"),
)


class Command(BaseCommand):
    help = (
        "Replace everything in the database with a backup made by `manage.py backup`. "
        "Stop the app first. Asks for confirmation unless --noinput."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="A backup made by `manage.py backup`.")
        parser.add_argument(
            "--noinput",
            "--no-input",
            action="store_false",
            dest="interactive",
            help="Do not ask for confirmation (for scripts).",
        )
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS)

    @no_translations  # operators' output is English, like Django's own commands
    def handle(self, *args, file: str, interactive: bool, database: str, **options):
        source = Path(file)
        try:
            # A wrong or damaged file is refused before anything is asked or touched.
            backups.check(source, using=database)
            target = backups.describe(database)
            if interactive:
                answer = input(
                    f"This replaces ALL data in the {target} with the backup {source}.\n"
                    "Changes made since that backup will be lost. Stop the app first.\n"
                    "Type 'yes' to continue, or anything else to cancel: "
                )
                if answer.strip().lower() != "yes":
                    raise CommandError("Restore cancelled; nothing was changed.")
            backups.restore(source, using=database)
        except backups.BackupError as error:
            raise CommandError(str(error)) from error
        recounted = self._recount_sessions(database)
        counts = ", ".join(
            f"{apps.get_model(label).objects.using(database).count()} {noun}"
            for label, noun in SUMMARY
        )
        history = sum(
            model.objects.using(database).count()
            for model in apps.get_app_config("studies").get_models()
            if model.__name__.startswith("Historical")
        )
        self.stdout.write(
            self.style.SUCCESS(f"Restored the {target} from {source}")
            + f": {counts}, {history} history rows."
            + ("" if recounted else " Run `manage.py migrate` to bring it up to date.")
        )

    def _recount_sessions(self, database: str) -> bool:
        """Every mother's session counts from her session rows, which the backup may hold out of
        step with them (a copy of a database written past the services). A backup made before
        the counts existed has no column for them yet: ``migrate`` adds and fills them. Returns
        whether the counts were set."""
        applied = MigrationRecorder(connections[database]).applied_migrations()
        if ("studies", COUNTS_MIGRATION) not in applied:
            return False
        with transaction.atomic(using=database):
            services.recount_sessions(Respondent.objects.using(database).all())
        return True
