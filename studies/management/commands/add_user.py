import getpass
import os

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, no_translations

from studies.access import Role
from studies.management.commands.create_study import validation_message
from studies.services import assign_role


class Command(BaseCommand):
    help = (
        "Create or update a user in one role. The password comes from the environment variable "
        "LANCAR_PASSWORD, otherwise it is prompted for (never a command-line argument)."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument(
            "--site",
            action="append",
            default=[],
            dest="sites",
            metavar="NAME",
            help="A site the midwife works at (repeat for several).",
        )

    @no_translations  # operators' output is English, like Django's own commands
    def handle(self, *args, username, role, sites, **options):
        password = os.environ.get("LANCAR_PASSWORD") or None
        if password is None and options.get("interactive", True):
            password = self._prompt_password(username)
        try:
            user, created = assign_role(
                username=username, role=role, site_names=sites, password=password
            )
        except ValidationError as error:
            raise CommandError(validation_message(error)) from error
        action = "Created" if created else "Updated"
        site_text = ", ".join(user.sites.values_list("name", flat=True)) or "all (by role)"
        self.stdout.write(
            self.style.SUCCESS(f"{action} user {user.username}") + f" — role {role}, sites: "
            f"{site_text}" + ("" if password else " (password unchanged)")
        )

    def _prompt_password(self, username: str) -> str | None:
        if not os.isatty(0):
            return None
        first = getpass.getpass(f"Password for {username} (empty keeps the current one): ")
        if not first:
            return None
        if getpass.getpass("Password (again): ") != first:
            raise CommandError("The passwords do not match.")
        return first
