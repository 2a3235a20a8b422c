from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, no_translations

from studies import definition as definition_module
from studies.services import create_study

# Keys of a definition file that belong to the study itself, not to its design (DESIGN.md §6).
STUDY_KEYS = ("code", "title", "exclusion_criteria")


def validation_message(error: ValidationError) -> str:
    if hasattr(error, "error_dict"):
        return "; ".join(
            f"{field}: {' '.join(messages)}" for field, messages in error.message_dict.items()
        )
    return " ".join(error.messages)


def read_definition_file(path: str) -> tuple[dict, dict]:
    """``(study fields, definition mapping)`` of a definition file (YAML or JSON, DESIGN.md §6):
    code, title, sites and exclusion_criteria go to the study, the rest is the definition.
    Raises ``CommandError`` listing every problem as ``key: message``; the definition is parsed
    here, so nothing is created when any key is wrong."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise CommandError(f"{path}: cannot read the file ({error}).") from error
    try:
        data = definition_module.load_text(text)
    except definition_module.DefinitionError as error:
        raise CommandError(_problems(error.problems)) from error
    problems: list[tuple[str, str]] = []
    fields = {}
    for key in ("code", "title"):
        value = data.get(key)
        if not isinstance(value, str) or not value.strip():
            problems.append((key, "Required: a text."))
        fields[key] = value.strip() if isinstance(value, str) else ""
    sites = data.get("sites", [])
    if not isinstance(sites, list) or not all(
        isinstance(site, str) and site.strip() for site in sites
    ):
        problems.append(("sites", "Expected a list of site names."))
        sites = []
    fields["site_names"] = [site.strip() for site in sites]
    exclusion = data.get("exclusion_criteria", "")
    if isinstance(exclusion, list):
        exclusion = "\n".join(str(line) for line in exclusion)
    if not isinstance(exclusion, str):
        problems.append(("exclusion_criteria", "Expected a text (one criterion a line)."))
        exclusion = ""
    fields["exclusion_criteria"] = exclusion
    definition = {key: value for key, value in data.items() if key not in STUDY_KEYS}
    try:
        definition_module.parse(definition)
    except definition_module.DefinitionError as error:
        problems.extend(error.problems)
    if problems:
        raise CommandError(_problems(problems))
    return fields, definition


def _problems(problems: list[tuple[str, str]]) -> str:
    return "the study definition is not right; nothing was created.\n" + "\n".join(
        f"  {key}: {message}" for key, message in problems
    )


def describe(study) -> str:
    """What a study runs, read from its definition (for the operator's terminal)."""
    protocol = study.protocol
    lines = [f"  design: {protocol.design.key}; α = {protocol.alpha}"]
    if protocol.arms:
        arms = ", ".join(f"{arm.key} ({arm.label.en})" for arm in protocol.arms)
        lines.append(f"  arms: {arms}; allocation: {protocol.allocation}")
    for arm_key in protocol.arm_keys:
        schedule = protocol.schedule(arm_key)
        if schedule is None:
            lines.append(f"  sessions ({arm_key}): none")
            continue
        lines.append(
            f"  sessions ({arm_key}): {schedule.label.en}, from postpartum day "
            f"{schedule.first_day}, {schedule.per_day} session(s) a day for {schedule.days} "
            f"day(s) = {schedule.sessions_planned} sessions of {schedule.min_minutes}–"
            f"{schedule.max_minutes} minutes"
        )
    points = ", ".join(f"{point.key} (day {point.day})" for point in protocol.timepoints)
    lines.append(f"  time points: {points}")
    for outcome in protocol.outcomes:
        if outcome.numeric:
            unit = f" {outcome.unit.en}" if outcome.unit else ""
            text = f"{outcome.type}, {_number(outcome.min)}–{_number(outcome.max)}{unit}"
            if outcome.adequate_at_least is not None:
                text += f", adequate at ≥ {_number(outcome.adequate_at_least)}"
        else:
            text = f"{outcome.type}, " + ", ".join(
                f"{category.value} = {category.label.en}" for category in outcome.categories
            )
        where = "" if outcome.measured_everywhere else f" (at {', '.join(outcome.timepoints)})"
        lines.append(f"  outcome {outcome.key} ({outcome.label.en}): {text}{where}")
    return "\n".join(lines)


def _number(value) -> str:
    return str(definition_module.plain_number(value))


class Command(BaseCommand):
    help = (
        'Create a study: CODE "TITLE" [--site NAME ...] with the paper\'s protocol, or '
        "--definition FILE.yaml (YAML or JSON, DESIGN.md section 6) with its own."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "code", nargs="?", help="Short unique code used in web addresses, e.g. PIJAT"
        )
        parser.add_argument("title", nargs="?")
        parser.add_argument(
            "--site",
            action="append",
            default=[],
            dest="sites",
            metavar="NAME",
            help="A site taking part (repeat for several); created if new.",
        )
        parser.add_argument(
            "--definition",
            metavar="FILE",
            help="A study definition file (YAML or JSON) giving code, title, sites and design.",
        )

    @no_translations  # operators' output is English, like Django's own commands
    def handle(self, *args, code, title, sites, definition, **options):
        if definition:
            if code or title or sites:
                raise CommandError(
                    'Give either CODE "TITLE" [--site NAME] or --definition FILE: the file '
                    "holds the code, the title and the sites."
                )
            fields, mapping = read_definition_file(definition)
        else:
            if not code or not title:
                raise CommandError('Give CODE and "TITLE", or --definition FILE.')
            fields, mapping = {"code": code, "title": title, "site_names": sites}, None
        try:
            study = create_study(definition=mapping, **fields)
        except ValidationError as error:
            raise CommandError(validation_message(error)) from error
        site_list = ", ".join(site.name for site in study.sites.all()) or "(none yet)"
        self.stdout.write(
            self.style.SUCCESS(f"Created study {study.code}: {study.title}")
            + f"\n  sites: {site_list}\n"
            + describe(study)
        )
