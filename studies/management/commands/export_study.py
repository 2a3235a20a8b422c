import yaml
from django.core.management.base import BaseCommand, CommandError, no_translations

from studies.models import Study


def study_document(study: Study) -> dict:
    """The study as a definition file (DESIGN.md §6): code, title, sites, the exclusion
    criteria when there are any, then its definition — what ``create_study --definition``
    reads back."""
    document = {
        "code": study.code,
        "title": study.title,
        "sites": [site.name for site in study.sites.order_by("name")],
    }
    if study.exclusion_criteria.strip():
        document["exclusion_criteria"] = study.exclusion_criteria
    document.update(study.protocol.to_dict())
    return document


def study_yaml(study: Study) -> str:
    return yaml.safe_dump(
        study_document(study), sort_keys=False, allow_unicode=True, default_flow_style=False
    )


class Command(BaseCommand):
    help = "Print a study's definition as YAML, which create_study --definition reads back."

    def add_arguments(self, parser):
        parser.add_argument("code", help="The study's code, e.g. PIJAT")

    @no_translations
    def handle(self, *args, code, **options):
        study = Study.objects.filter(code__iexact=code).first()
        if study is None:
            raise CommandError(f"No study has the code {code}.")
        self.stdout.write(study_yaml(study), ending="")
