from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, no_translations

from studies.services import create_study


def validation_message(error: ValidationError) -> str:
    if hasattr(error, "error_dict"):
        return "; ".join(
            f"{field}: {' '.join(messages)}" for field, messages in error.message_dict.items()
        )
    return " ".join(error.messages)


class Command(BaseCommand):
    help = "Create a study with the paper's protocol as defaults."

    def add_arguments(self, parser):
        parser.add_argument("code", help="Short unique code used in web addresses, e.g. PIJAT")
        parser.add_argument("title")
        parser.add_argument(
            "--site",
            action="append",
            default=[],
            dest="sites",
            metavar="NAME",
            help="A site taking part (repeat for several); created if new.",
        )

    @no_translations  # operators' output is English, like Django's own commands
    def handle(self, *args, code, title, sites, **options):
        try:
            study = create_study(code=code, title=title, site_names=sites)
        except ValidationError as error:
            raise CommandError(validation_message(error)) from error
        site_list = ", ".join(site.name for site in study.sites.all()) or "(none yet)"
        self.stdout.write(
            self.style.SUCCESS(f"Created study {study.code}: {study.title}")
            + f"\n  sites: {site_list}"
            f"\n  protocol: first massage on postpartum day {study.first_session_day}, "
            f"{study.sessions_per_day} session(s) a day for {study.intervention_days} day(s) "
            f"= {study.sessions_planned} sessions of {study.session_min_minutes}–"
            f"{study.session_max_minutes} minutes"
            f"\n  outcomes: feeds and urinations per {study.observation_hours} hours; adequate "
            f"at feeds ≥ {study.feeds_adequate_min}, urinations ≥ "
            f"{study.urinations_adequate_min}; α = {study.alpha}"
        )
