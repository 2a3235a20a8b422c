"""The live cohort: database → the records ``studies.analysis`` works on → the results document.

``load_cohort`` reads every mother of a study in one query (her sheets' counts and her sessions'
tallies come in as correlated subqueries), so the results page, ``results.json``, the CSV tables
and ``manage.py analyze`` cost the same few queries whether the study has fifteen mothers or a
thousand. ``results_document`` is the one code path from that cohort to the document of
DESIGN.md section 4.5; every output is built from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import (
    Count,
    F,
    FilteredRelation,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from . import analysis
from .models import MassageSession, Observation, Respondent, Site, Study

OUTCOMES: tuple[str, ...] = ("feeds", "urinations")
# Observation field holding each outcome's 24-hour count.
OUTCOME_FIELDS = {"feeds": "feed_count", "urinations": "urination_count"}

AGE_GROUP_LABELS = {
    "lt20": gettext_lazy("< 20 years"),
    "20to35": gettext_lazy("20–35 years"),
    "gt35": gettext_lazy("> 35 years"),
}
PARITY_LABELS = {
    "primipara": gettext_lazy("Primipara (first child)"),
    "multipara": gettext_lazy("Multipara"),
}
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"", "0", "false", "no", "off"})


class FilterError(ValueError):
    """A filter value that names nothing in the study (an unknown site, parity group...)."""


@dataclass(frozen=True)
class CohortFilters:
    """Which mothers the analysis covers. Everyone not withdrawn, unless narrowed."""

    site: Site | None = None
    parity: str | None = None
    per_protocol: bool = False

    def as_document(self) -> dict[str, Any]:
        return {
            "site": self.site.name if self.site else None,
            "parity": self.parity,
            "per_protocol": self.per_protocol,
        }

    def as_query(self) -> dict[str, str]:
        """The GET parameters that reproduce these filters (for links and downloads)."""
        query = {}
        if self.site:
            query["site"] = str(self.site.pk)
        if self.parity:
            query["parity"] = self.parity
        if self.per_protocol:
            query["per_protocol"] = "1"
        return query


def parse_filters(
    study: Study, params: Mapping[str, str], *, sites: list[Site] | None = None
) -> CohortFilters:
    """Filters from GET parameters or command options: ``site`` (id or name of one of the
    study's sites), ``parity`` (primipara/multipara), ``per_protocol`` (1/0). Empty means
    "not filtered"; a value that names nothing raises FilterError rather than being ignored,
    so a script never mistakes the whole cohort for a subgroup."""
    if sites is None:
        sites = list(study.sites.all())
    site = None
    site_value = str(params.get("site") or "").strip()
    if site_value:
        matches = [s for s in sites if str(s.pk) == site_value or s.name == site_value]
        if not matches:
            raise FilterError(
                _("Unknown site %(site)s: choose one of %(sites)s.")
                % {"site": site_value, "sites": ", ".join(s.name for s in sites) or "—"}
            )
        site = matches[0]
    parity = str(params.get("parity") or "").strip() or None
    if parity is not None and parity not in analysis.PARITY_GROUPS:
        raise FilterError(
            _("Unknown parity group %(parity)s: choose primipara or multipara.")
            % {"parity": parity}
        )
    per_protocol_value = str(params.get("per_protocol") or "").strip().lower()
    if per_protocol_value not in TRUE_WORDS | FALSE_WORDS:
        raise FilterError(
            _("per_protocol must be 1 or 0, not %(value)s.") % {"value": per_protocol_value}
        )
    return CohortFilters(site=site, parity=parity, per_protocol=per_protocol_value in TRUE_WORDS)


@dataclass(frozen=True)
class Cohort:
    """The mothers of one study under some filters, as plain records.

    ``records`` are the mothers analysed (not withdrawn; per protocol only those with every
    planned session done), ordered by code, each a dict with ``code``, ``site``,
    ``age_years``, ``parity``, ``education``, ``employment``, ``status``, ``sessions_done``
    and ``pre_<outcome>``/``post_<outcome>`` (None when not recorded). ``progress`` counts the
    whole enrolment under the site and parity filters, whatever the per-protocol choice.
    """

    study: Study
    filters: CohortFilters
    records: list[dict[str, Any]]
    n_withdrawn: int
    n_not_per_protocol: int
    progress: dict[str, Any] = field(default_factory=dict)
    # The codes of the mothers left out before any outcome is analysed.
    withdrawn_codes: list[str] = field(default_factory=list)
    not_per_protocol_codes: list[str] = field(default_factory=list)


def with_sheets(respondents, **columns: tuple[str, str]):
    """Annotate each mother with values from her pre and post sheets: ``name=(phase, field)``.

    Each phase's sheet is joined once (``FilteredRelation``; one sheet per phase, so no row is
    repeated) rather than looked up per value and mother: on PostgreSQL the export and the
    results read 10,000 mothers in half the time (make bench)."""
    relations = {
        f"{phase}_sheet": FilteredRelation("observations", condition=Q(observations__phase=phase))
        for phase in {phase for phase, _field in columns.values()}
    }
    return respondents.annotate(**relations).annotate(
        **{name: F(f"{phase}_sheet__{field}") for name, (phase, field) in columns.items()}
    )


def session_count(**conditions) -> Coalesce:
    counted = (
        MassageSession.objects.filter(respondent=OuterRef("pk"), **conditions)
        .order_by()
        .values("respondent")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def load_cohort(study: Study, filters: CohortFilters | None = None) -> Cohort:
    """Read the study's mothers under ``filters`` in one query."""
    filters = filters or CohortFilters()
    respondents = Respondent.objects.filter(study=study)
    if filters.site is not None:
        respondents = respondents.filter(site=filters.site)
    if filters.parity == "primipara":
        respondents = respondents.filter(parity=1)
    elif filters.parity == "multipara":
        respondents = respondents.filter(parity__gt=1)
    sheets = {
        f"{phase}_{outcome}": (phase, column)
        for phase in (Observation.Phase.PRE, Observation.Phase.POST)
        for outcome, column in OUTCOME_FIELDS.items()
    }
    rows = list(
        with_sheets(respondents, **sheets)
        .annotate(
            sessions_planned=session_count(),
            sessions_done=session_count(status=MassageSession.Status.DONE),
        )
        .order_by("code")
        .values(
            "code",
            "site__name",
            "age_years",
            "parity",
            "education",
            "employment",
            "status",
            "sessions_planned",
            "sessions_done",
            *sheets,
        )
    )
    active = [row for row in rows if row["status"] != Respondent.Status.WITHDRAWN]
    for row in active:
        row["site"] = row.pop("site__name")
    records = active
    if filters.per_protocol:
        records = [row for row in active if row["sessions_done"] >= study.sessions_planned]
    planned = sum(row["sessions_planned"] for row in active)
    done = sum(row["sessions_done"] for row in active)
    progress = {
        "n_enrolled": len(active),
        "n_completed": sum(row["status"] == Respondent.Status.COMPLETED for row in active),
        "n_in_follow_up": sum(row["status"] == Respondent.Status.ENROLLED for row in active),
        "n_withdrawn": len(rows) - len(active),
        "n_both_sheets": sum(
            any(row[f"pre_{o}"] is not None for o in OUTCOMES)
            and any(row[f"post_{o}"] is not None for o in OUTCOMES)
            for row in active
        ),
        "sessions_planned": planned,
        "sessions_done": done,
        "session_adherence": done / planned if planned else None,
    }
    return Cohort(
        study=study,
        filters=filters,
        records=records,
        n_withdrawn=len(rows) - len(active),
        n_not_per_protocol=len(active) - len(records),
        progress=progress,
        withdrawn_codes=[
            row["code"] for row in rows if row["status"] == Respondent.Status.WITHDRAWN
        ],
        not_per_protocol_codes=sorted(
            {row["code"] for row in active} - {row["code"] for row in records}
        ),
    )


def outcome_label(outcome: str) -> str:
    return str(capfirst(Observation._meta.get_field(OUTCOME_FIELDS[outcome]).verbose_name))


def characteristic_labels() -> dict[str, tuple[str, dict[str, Any]]]:
    """For each Table 1 characteristic: its heading and its categories' labels, in the
    active language. Education and employment reuse the model's choices."""
    respondent = Respondent._meta
    return {
        "age_group": (capfirst(respondent.get_field("age_years").verbose_name), AGE_GROUP_LABELS),
        "parity": (capfirst(respondent.get_field("parity").verbose_name), PARITY_LABELS),
        "education": (
            capfirst(respondent.get_field("education").verbose_name),
            dict(Respondent.Education.choices),
        ),
        "employment": (
            capfirst(respondent.get_field("employment").verbose_name),
            dict(Respondent.Employment.choices),
        ),
    }


def _alpha(study: Study) -> float:
    return float(Decimal(study.alpha))


def results_document(cohort: Cohort) -> dict[str, Any]:
    """The results document (DESIGN.md 4.5) with labels in the active language, plus the
    filters applied, enrolment progress and the per-protocol exclusions."""
    study = cohort.study
    document = analysis.analyze(
        cohort.records,
        study_code=study.code,
        n_withdrawn=cohort.n_withdrawn,
        outcomes=OUTCOMES,
        thresholds={
            "feeds": study.feeds_adequate_min,
            "urinations": study.urinations_adequate_min,
        },
        alpha=_alpha(study),
    )
    labels = characteristic_labels()
    for name, rows in document["characteristics"].items():
        _heading, category_labels = labels[name]
        for row in rows:
            row["label"] = str(category_labels[row["key"]])
    for name, outcome in document["outcomes"].items():
        outcome["label"] = outcome_label(name)
    document["filters"] = cohort.filters.as_document()
    document["n_not_per_protocol"] = cohort.n_not_per_protocol
    document["progress"] = dict(cohort.progress)
    document["left_out"] = left_out(cohort)
    return document


def left_out(cohort: Cohort) -> list[dict[str, Any]]:
    """Every mother of the filtered cohort left out of some analysis, by code, with why:
    ``withdrawn``, ``not_per_protocol``, or per outcome ``missing_pre``/``missing_post``
    (de-identified: codes only, as researchers see them)."""
    reasons: dict[str, list[dict[str, Any]]] = {}
    for code in cohort.withdrawn_codes:
        reasons.setdefault(code, []).append({"reason": "withdrawn", "outcome": None})
    for code in cohort.not_per_protocol_codes:
        reasons.setdefault(code, []).append({"reason": "not_per_protocol", "outcome": None})
    for record in cohort.records:
        for outcome in OUTCOMES:
            for phase in ("pre", "post"):
                if record.get(f"{phase}_{outcome}") is None:
                    reasons.setdefault(record.get("code", ""), []).append(
                        {"reason": f"missing_{phase}", "outcome": outcome}
                    )
    return [{"code": code, "reasons": reasons[code]} for code in sorted(reasons)]
