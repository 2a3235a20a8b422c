"""``manage.py analyze CODE [--json]``: the results document of a study (DESIGN.md 4.3, 4.5).

The JSON is the document ``/studies/CODE/results.json`` serves, from the same code path
(``cohort.load_cohort`` → ``cohort.results_document``); the plain output prints the paper's
Tables 1–4, the further analyses and the conclusion."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError, no_translations

from studies import analysis, cohort, manuscript
from studies.models import Study


class Command(BaseCommand):
    help = "Print a study's live analysis: the paper's tables, or the results document as JSON."

    def add_arguments(self, parser):
        parser.add_argument("code", help="The study's code, e.g. PIJAT")
        parser.add_argument(
            "--json", action="store_true", help="Print the results document as JSON."
        )
        parser.add_argument("--site", default="", metavar="NAME", help="Only this site's mothers.")
        parser.add_argument(
            "--parity", default="", choices=["", *analysis.PARITY_GROUPS], help="One parity group."
        )
        parser.add_argument(
            "--per-protocol",
            action="store_true",
            help="Only mothers with every planned session done.",
        )

    @no_translations  # operators' output is English, like Django's own commands
    def handle(
        self, *args, code, json: bool, site: str, parity: str, per_protocol: bool, **options
    ):
        study = Study.objects.filter(code=code).first()
        if study is None:
            known = ", ".join(Study.objects.values_list("code", flat=True)) or "none yet"
            raise CommandError(f"No study with the code {code} (studies: {known}).")
        try:
            filters = cohort.parse_filters(
                study, {"site": site, "parity": parity, "per_protocol": "1" if per_protocol else ""}
            )
        except cohort.FilterError as error:
            raise CommandError(str(error)) from error
        data = cohort.load_cohort(study, filters)
        document = cohort.results_document(data)
        if json:
            self.stdout.write(_dumps(document))
            return
        self.stdout.write(self._report(study, document))

    def _report(self, study: Study, document: dict) -> str:
        fmt = manuscript.Formatter(".")
        progress = document["progress"]
        adherence = progress["session_adherence"]
        filters = document["filters"]
        lines = [
            self.style.MIGRATE_HEADING(f"{study.code} — {study.title}"),
            "Filters: site {site}, parity {parity}, {population}".format(
                site=filters["site"] or "all",
                parity=filters["parity"] or "all",
                population="per protocol" if filters["per_protocol"] else "everyone not withdrawn",
            ),
            f"Enrolled {progress['n_enrolled']} (completed {progress['n_completed']}, in "
            f"follow-up {progress['n_in_follow_up']}), withdrawn {progress['n_withdrawn']}; "
            f"sessions done {progress['sessions_done']} of {progress['sessions_planned']}"
            + (f" ({fmt.percent(100 * adherence)}%)" if adherence is not None else ""),
        ]
        notices = manuscript.notices(document)
        paired = manuscript.paired(document)
        lines += [f"Note: {text}" for name in ("", *paired) for text in notices[name]]
        tables = manuscript.tables(document, fmt)
        if paired:
            tables.append(manuscript.extra_table(document, fmt))
        for table in tables:
            lines += ["", manuscript.table_text(table)]
            if table.chosen:
                lines.append("(the test chosen for this comparison)")
        sentences = manuscript.conclusions(document, fmt)
        if sentences:
            lines += ["", "Conclusion:"]
            lines += [f"  {sentence}" for sentence in sentences]
        return "\n".join(lines)


def _dumps(document: dict) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False)
