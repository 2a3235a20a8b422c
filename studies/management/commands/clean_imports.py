"""``manage.py clean_imports``: remove uploaded cohort files older than
``LANCAR_IMPORT_MAX_AGE_HOURS`` that were never confirmed (studies/tasks.py)."""

from django.conf import settings
from django.core.management.base import BaseCommand, no_translations

from studies.tasks import remove_stale_uploads


class Command(BaseCommand):
    help = (
        "Remove uploaded cohort files waiting for a confirmation for longer than "
        "LANCAR_IMPORT_MAX_AGE_HOURS; their imports are marked expired."
    )

    @no_translations  # operators' output is English, like Django's own commands
    def handle(self, *args, **options):
        removed = remove_stale_uploads()
        self.stdout.write(
            f"Removed {removed} uploaded file(s) older than "
            f"{settings.LANCAR_IMPORT_MAX_AGE_HOURS} hours."
        )
