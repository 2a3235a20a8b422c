"""The live cohort: database → the records ``studies.analysis`` works on → the results document.

``load_cohort`` reads every mother of a study in one query (her sheets' counts and her sessions'
tallies come in as correlated subqueries), so the results page, ``results.json``, the CSV tables
and ``manage.py analyze`` cost the same few queries whether the study has fifteen mothers or a
thousand. ``results_document`` is the one code path from that cohort to the document of
DESIGN.md section 4.5; every output is built from it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
from django.db import connections
from django.db.models import (
    Count,
    F,
    FilteredRelation,
    FloatField,
    Func,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Value,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce
from django.utils.formats import get_format
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from . import analysis
from .analysis import design as analysis_design
from .analysis.crosstab import chi_square
from .definition import plain_number
from .models import ChoiceOverride, MassageSession, Respondent, Site, Study

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
    ``arm``, ``age_years``, ``parity``, ``education``, ``employment``, ``status``,
    ``sessions_done`` and ``<time point>_<outcome>`` for every column of the cohort CSV (None
    when not recorded). ``progress`` counts the
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


class SheetValue(Func):
    """One outcome's value read by key from a joined sheet's JSON ``values``, as the number the
    sheet stores (``Outcome.check``: ``IntegerField`` for an outcome without decimals,
    ``FloatField`` otherwise): ``json_extract(values, '$."key"')`` on SQLite, which returns
    the stored number as it is, and ``(values ->> 'key')::integer`` (or ``double precision``)
    on PostgreSQL. Elsewhere Django's key transform, cast."""

    def __init__(self, relation: str, key: str, output_field) -> None:
        super().__init__(F(f"{relation}__values"), output_field=output_field)
        self.key = key

    def as_sqlite(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"json_extract({sql}, %s)", [*params, f'$."{self.key}"']

    def as_postgresql(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        cast = "double precision" if isinstance(self.output_field, FloatField) else "integer"
        return f"(({sql} ->> %s)::{cast})", [*params, self.key]

    def as_sql(self, compiler, connection, **extra):
        relation = self.source_expressions[0]
        text = KeyTextTransform(self.key, relation)
        return compiler.compile(Cast(text, self.output_field))


def with_sheets(respondents, columns: list[tuple[str, str, str]], protocol=None):
    """Annotate each mother with values of her sheets: ``columns`` are ``(name, time point,
    outcome key)``. Each time point's sheet is joined once (``FilteredRelation``; one sheet per
    time point, so no row is repeated) and its values read by key in the same query, rather than
    looked up per value and mother (make bench). With the study's ``protocol`` each value comes
    back as the number the sheet stores (:class:`SheetValue`), not as JSON text parsed value by
    value in Python."""
    relations = {
        f"{point}_sheet": FilteredRelation(
            "observations", condition=Q(observations__timepoint=point)
        )
        for point in {point for _name, point, _outcome in columns}
    }

    def value(point: str, key: str):
        if protocol is None:
            return F(f"{point}_sheet__values__{key}")
        outcome = protocol.outcome(key)
        number = FloatField() if outcome.numeric and outcome.decimals else IntegerField()
        return SheetValue(f"{point}_sheet", key, number)

    return respondents.annotate(**relations).annotate(
        **{name: value(point, outcome) for name, point, outcome in columns}
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


def _tally(**conditions) -> Subquery:
    """The mother's sessions (under ``conditions``) counted in a correlated ``SELECT COUNT(*)``
    without GROUP BY: one row whatever she has, read from the session index."""
    counted = (
        MassageSession.objects.filter(respondent=OuterRef("pk"), **conditions)
        .order_by()
        .annotate(n=Func(template="COUNT(*)", output_field=IntegerField()))
        .values("n")
    )
    return Subquery(counted, output_field=IntegerField())


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
    protocol = study.protocol
    columns = protocol.cohort_value_columns
    names = [
        "code",
        "arm",
        "site__name",
        "age_years",
        "parity",
        "education",
        "employment",
        "status",
        "sessions_planned",
        "sessions_done",
        *(name for name, _point, _outcome in columns),
    ]
    queryset = (
        with_sheets(respondents, columns, protocol)
        .annotate(
            sessions_planned=_tally(),
            sessions_done=_tally(status=MassageSession.Status.DONE),
        )
        .order_by("code")
        .values_list(*names)
    )
    # Every column is text or a number the driver already returns as Python's (the values as
    # SheetValue casts them), so the rows skip the ORM's per-value converters (make bench).
    sql, params = queryset.query.get_compiler(using=queryset.db).as_sql()
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(sql, params)
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    active = [row for row in rows if row["status"] != Respondent.Status.WITHDRAWN]
    for row in active:
        row["site"] = row.pop("site__name")
    records = active
    if filters.per_protocol:
        records = [
            row for row in active if row["sessions_done"] >= study.sessions_planned(row["arm"])
        ]
    planned = sum(row["sessions_planned"] for row in active)
    done = sum(row["sessions_done"] for row in active)
    # The outcome columns of each time point, named once rather than per mother.
    at_point = [
        [f"{point}_{o.key}" for o in protocol.outcomes_at(point)]
        for point in protocol.timepoint_keys
    ]
    progress = {
        "n_enrolled": len(active),
        "n_completed": sum(row["status"] == Respondent.Status.COMPLETED for row in active),
        "n_in_follow_up": sum(row["status"] == Respondent.Status.ENROLLED for row in active),
        "n_withdrawn": len(rows) - len(active),
        # Mothers with a sheet at every time point (some value recorded on each).
        "n_both_sheets": sum(
            all(any(row[name] is not None for name in names) for names in at_point)
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


def outcome_label(study: Study, outcome: str) -> str:
    """The outcome's label in the active language, capitalised for a heading."""
    found = study.protocol.outcome(outcome)
    return str(capfirst(str(found.label))) if found else outcome


def paired_outcomes(study: Study) -> tuple[str, ...]:
    """The outcomes analysed as the paper's (DESIGN §4.5, §5): in a one-group pre/post study,
    the numbers measured at both time points."""
    protocol = study.protocol
    if protocol.design.key != "one_group_pre_post":
        return ()
    return tuple(
        o.key for o in protocol.outcomes if o.numeric and len(o.timepoints) == 2
    )


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


def _paper_records(study: Study, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Records as ``analysis.analyze`` reads them: ``pre_<outcome>``/``post_<outcome>`` from the
    first and the last time point, whatever their keys."""
    protocol = study.protocol
    first, last = protocol.baseline.key, protocol.last_timepoint.key
    outcomes = paired_outcomes(study)
    if (first, last) == ("pre", "post") or not outcomes:
        # analysis.analyze reads no time point of a study without the paper's outcomes.
        return records
    return [
        {
            **record,
            **{f"pre_{o}": record.get(f"{first}_{o}") for o in outcomes},
            **{f"post_{o}": record.get(f"{last}_{o}") for o in outcomes},
        }
        for record in records
    ]


# The tests of DESIGN.md section 7 by the names the document and the overrides use.
TEST_LABELS = {
    "paired_t": gettext_lazy("Paired t-test"),
    "wilcoxon": gettext_lazy("Wilcoxon signed-rank test"),
    "independent_t": gettext_lazy("Independent-samples t-test"),
    "mann_whitney": gettext_lazy("Mann–Whitney U test"),
    "friedman": gettext_lazy("Friedman test"),
    "mcnemar": gettext_lazy("McNemar test"),
    "cochran_q": gettext_lazy("Cochran's Q test"),
    "chi_square": gettext_lazy("Chi-square test"),
    "fisher_exact": gettext_lazy("Fisher's exact test"),
}
# Why a test was chosen (analysis.choice.REASONS), as a sentence for the page and the document.
REASON_TEXTS = {
    "all_normal": gettext_lazy(
        "Every tested distribution is normal (Shapiro–Wilk p ≥ %(alpha)s): parametric tests."
    ),
    "not_normal": gettext_lazy(
        "%(group)s is not normally distributed (%(test)s p = %(p)s < %(alpha)s): rank tests."
    ),
    "normality_not_computed": gettext_lazy(
        "The normality of %(group)s could not be tested (%(why)s): rank tests."
    ),
    "normality_not_tested": gettext_lazy("No distribution was tested for normality: rank tests."),
    "repeated_rank_test": gettext_lazy("Three or more time points: the Friedman test."),
    "ordinal": gettext_lazy("An ordinal outcome: rank tests whatever the distribution."),
    "binary_paired": gettext_lazy("A yes/no outcome before and after: McNemar's exact test."),
    "binary_repeated": gettext_lazy(
        "A yes/no outcome over three or more time points: Cochran's Q test."
    ),
    "binary_independent": gettext_lazy(
        "A yes/no outcome between arms, every expected count at least 5: the chi-square test."
    ),
    "binary_small_expected": gettext_lazy(
        "A yes/no outcome between arms with an expected count below 5 (smallest %(min_expected)s):"
        " Fisher's exact test."
    ),
    "override": gettext_lazy("Chosen by the researcher: %(text)s"),
}
NOT_COMPUTED_TEXTS = {
    "too_few": gettext_lazy("fewer than 3 values"),
    "too_many": gettext_lazy("more than 5,000 values"),
    "constant": gettext_lazy("every value the same"),
}
NORMALITY_TEST_LABELS = {
    "shapiro_wilk": gettext_lazy("Shapiro–Wilk"),
    "kolmogorov_smirnov": gettext_lazy("Kolmogorov–Smirnov"),
}


def _group_label(study: Study, group: str) -> str:
    """``"intervention/change"`` → "Oxytocin massage, the change", ``"all/pre"`` → "The Before
    measurement", in the active language: a time point's label is named as a measurement, so
    the sentence reads with any label."""
    protocol = study.protocol
    arm, _slash, key = group.partition("/")
    if key == analysis_design.CHANGE:
        what = _("the change")
    else:
        point = protocol.timepoint(key)
        what = _("the %(timepoint)s measurement") % {"timepoint": point.label if point else key}
    # reason_text capitalises the sentence, wherever the group stands in it.
    return f"{protocol.arm_label(arm)}, {what}" if protocol.has_arms else str(what)


def reason_text(
    study: Study, chosen: Mapping[str, Any], *, decimal_separator: str | None = None
) -> str:
    """The sentence saying why ``chosen`` (a document's ``chosen``) was chosen, in the active
    language, its numbers (α, p, the smallest expected count) as SPSS prints them with
    ``decimal_separator`` (by default the active language's: ",05" in Indonesian, ".05" in
    English), so it reads like the tables and conclusions printed beside it."""
    args = dict(chosen.get("reason_args") or {})
    key = chosen.get("reason", "")
    template = REASON_TEXTS.get(key)
    if template is None:
        return key
    sep = decimal_separator or get_format("DECIMAL_SEPARATOR")
    values = {
        "alpha": analysis.format_spss(args.get("alpha"), 2, decimal_separator=sep)
        if args.get("alpha")
        else "",
        "group": _group_label(study, args["group"]) if args.get("group") else "",
        "test": str(NORMALITY_TEST_LABELS.get(args.get("test"), args.get("test") or "")),
        "p": analysis.format_p(args.get("p"), decimal_separator=sep)
        if args.get("p") is not None
        else "",
        "why": str(NOT_COMPUTED_TEXTS.get(args.get("why"), args.get("why") or "")),
        "min_expected": analysis.format_spss(args.get("min_expected"), 2, decimal_separator=sep)
        if args.get("min_expected") is not None
        else "",
        "text": args.get("text", ""),
    }
    return str(capfirst(str(template) % values))


def test_choice_overrides(study: Study) -> dict[str, dict[str, Any]]:
    """The researcher's choices of the study's tests, as ``analysis.design.analyze_outcome``
    takes them: ``{outcome: {"within": test, "between": test, "reason": text}}`` (one query;
    a comparison given back to the automatic choice is left out)."""
    overrides: dict[str, dict[str, Any]] = {}
    if study.pk is None:  # a study built in memory (a document of a file, a test) has none
        return overrides
    rows = ChoiceOverride.objects.filter(study=study).exclude(test="").order_by("comparison")
    for outcome, comparison, test, reason in rows.values_list(
        "outcome", "comparison", "test", "reason"
    ):
        entry = overrides.setdefault(outcome, {"reasons": []})
        entry[comparison] = test
        if reason not in entry["reasons"]:
            entry["reasons"].append(reason)
    for entry in overrides.values():
        entry["reason"] = " · ".join(entry.pop("reasons"))
    return overrides


class _Columns:
    """The records' value columns as float64 arrays (NaN where not recorded), each read from
    the records once and shared by every outcome and arm that needs it."""

    def __init__(self, records: list[dict[str, Any]], arms: Sequence[str]) -> None:
        self.records = records
        if len(arms) == 1:
            # A one-group study's records may carry no arm: they are all in its one arm.
            arm_of = np.array([r.get("arm", arms[0]) for r in records], dtype=object)
        else:
            arm_of = np.array([r["arm"] for r in records], dtype=object)
        self.arm_masks = {arm: arm_of == arm for arm in arms}
        self._columns: dict[str, np.ndarray] = {}

    def column(self, name: str) -> np.ndarray:
        if name not in self._columns:
            # numpy turns None into NaN, and each number into float as float() does.
            self._columns[name] = np.array(
                [r.get(name) for r in self.records], dtype=float
            ).reshape(-1)
        return self._columns[name]

    def matrix(self, names: Sequence[str]) -> np.ndarray:
        """Mothers x ``names``."""
        return np.column_stack([self.column(name) for name in names]).reshape(-1, len(names))


def _outcome_arrays(records, arms, names, columns: _Columns | None = None) -> dict[str, np.ndarray]:
    """Each arm's values of one outcome: mothers x time points, NaN where not recorded."""
    columns = columns or _Columns(records, arms)
    matrix = columns.matrix(names)
    return {arm: matrix[columns.arm_masks[arm]] for arm in arms}


def design_summary(
    study: Study,
    records: list[dict[str, Any]],
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    columns: _Columns | None = None,
) -> dict[str, Any]:
    """The keys DESIGN.md §7 adds for every study: ``design``, ``arms`` (key, label,
    n_enrolled), ``timepoints`` and per outcome its ``type``, ``unit``, ``timepoints`` and the
    analyses of ``analysis.design.analyze_outcome`` (``n_missing``, ``descriptives`` by arm and
    time point, ``normality``, ``within``, ``between``, ``chosen`` with its ``reason_text``),
    plus ``frequencies`` of each category for ordinal and binary outcomes. ``overrides`` are
    the researcher's test choices (:func:`test_choice_overrides`); one that the definition no
    longer allows is set aside and the automatic choice stands."""
    protocol = study.protocol
    arms = protocol.arm_keys
    alpha = _alpha(study)
    columns = columns or _Columns(records, arms)
    summary: dict[str, Any] = {
        "design": protocol.design.key,
        "arms": [
            {
                "key": arm,
                "label": protocol.arm_label(arm) or str(protocol.design.label),
                "n_enrolled": int(np.count_nonzero(columns.arm_masks[arm])),
            }
            for arm in arms
        ],
        "timepoints": [
            {"key": point.key, "day": point.day, "label": str(point.label)}
            for point in protocol.timepoints
        ],
        "outcomes": {},
    }
    for outcome in protocol.outcomes:
        names = [f"{point}_{outcome.key}" for point in outcome.timepoints]
        arguments = (
            protocol.design.key,
            outcome.type,
            arms,
            outcome.timepoints,
            _outcome_arrays(records, arms, names, columns),
            alpha,
        )
        categories = None if outcome.numeric else outcome.category_values
        override = (overrides or {}).get(outcome.key)
        try:
            analysed = analysis_design.analyze_outcome(
                *arguments, override, categories=categories
            )
        except ValueError:
            if override is None:
                raise
            analysed = analysis_design.analyze_outcome(*arguments, None, categories=categories)
        analysed["chosen"]["reason_text"] = reason_text(study, analysed["chosen"])
        entry: dict[str, Any] = {
            "type": outcome.type,
            "unit": str(outcome.unit) if outcome.unit else "",
            "timepoints": list(outcome.timepoints),
            **analysed,
        }
        if not outcome.numeric:
            # The categories' labels in the active language, for crosstab columns and text.
            entry["categories"] = [
                {"value": c.value, "label": str(c.label)} for c in outcome.categories
            ]
            # Of the mothers with a value at every one of the outcome's time points.
            matrix = columns.matrix(names)
            complete = ~np.isnan(matrix).any(axis=1)
            entry["frequencies"] = {
                arm: {
                    point: {
                        str(value): int(
                            np.count_nonzero(
                                matrix[complete & columns.arm_masks[arm], j] == value
                            )
                        )
                        for value in outcome.category_values
                    }
                    for j, point in enumerate(outcome.timepoints)
                }
                for arm in arms
            }
        summary["outcomes"][outcome.key] = entry
    return summary


def characteristics_by_arm(study: Study, records: list[dict[str, Any]]) -> dict[str, Any]:
    """Table 1 by arm: ``{characteristic: {arm: [{"key", "label", "n", "percent"}], "test":
    chi_square}}`` over the cohort's mothers (as Table 1), with the baseline comparison of the
    arms (SPSS's ``CROSSTABS /STATISTICS=CHISQ`` of arm by category,
    ``analysis.crosstab.chi_square``) in two-group designs only; percentages are of the arm's
    mothers."""
    protocol = study.protocol
    arms = protocol.arm_keys
    labels = characteristic_labels()
    tables = {
        arm: analysis.characteristics(
            records if len(arms) == 1 else [r for r in records if r.get("arm") == arm]
        )
        for arm in arms
    }
    result: dict[str, Any] = {}
    for name, (_heading, category_labels) in labels.items():
        entry: dict[str, Any] = {}
        for arm in arms:
            entry[arm] = [
                {**row, "label": str(category_labels[row["key"]])} for row in tables[arm][name]
            ]
        if protocol.has_arms:
            entry["test"] = chi_square(
                {arm: {row["key"]: row["n"] for row in tables[arm][name]} for arm in arms}
            )
        result[name] = entry
    return analysis._json_safe(result)


def results_document(cohort: Cohort) -> dict[str, Any]:
    """The results document (DESIGN.md §4.5 and §7) with labels in the active language, plus
    the filters applied, enrolment progress and the per-protocol exclusions. A one-group
    pre/post study gets the paper's analyses of its numeric outcomes (every §4.5 key); every
    study gets its design, arms, time points, ``characteristics_by_arm`` and per outcome the
    §7 analyses of its design (:func:`design_summary`), the researcher's test choices
    included."""
    study = cohort.study
    protocol = study.protocol
    paired = paired_outcomes(study)
    document = analysis.analyze(
        _paper_records(study, cohort.records),
        study_code=study.code,
        n_withdrawn=cohort.n_withdrawn,
        outcomes=paired,
        thresholds={
            key: plain_number(protocol.outcome(key).adequate_at_least)
            for key in paired
            if protocol.outcome(key).adequate_at_least is not None
        },
        alpha=_alpha(study),
    )
    columns = _Columns(cohort.records, protocol.arm_keys)
    summary = analysis._json_safe(
        design_summary(study, cohort.records, test_choice_overrides(study), columns)
    )
    document["design"] = summary["design"]
    document["arms"] = summary["arms"]
    document["timepoints"] = summary["timepoints"]
    for name, extra in summary["outcomes"].items():
        outcome = document["outcomes"].setdefault(name, {})
        for key, value in extra.items():
            outcome.setdefault(key, value)
    document["characteristics_by_arm"] = characteristics_by_arm(study, cohort.records)
    labels = characteristic_labels()
    for name, rows in document["characteristics"].items():
        _heading, category_labels = labels[name]
        for row in rows:
            row["label"] = str(category_labels[row["key"]])
    for name, outcome in document["outcomes"].items():
        outcome["label"] = outcome_label(study, name)
    document["filters"] = cohort.filters.as_document()
    document["n_not_per_protocol"] = cohort.n_not_per_protocol
    document["progress"] = dict(cohort.progress)
    document["left_out"] = left_out(cohort, columns)
    return document


def left_out(cohort: Cohort, columns: _Columns | None = None) -> list[dict[str, Any]]:
    """Every mother of the filtered cohort left out of some analysis, by code, with why:
    ``withdrawn``, ``not_per_protocol``, or per outcome and time point ``missing_pre``/
    ``missing_post`` (the first and the last time point) or ``missing_<time point>``
    (de-identified: codes only, as researchers see them). ``columns`` are the records' value
    columns when the caller has them already (:class:`_Columns` of ``cohort.records``)."""
    reasons: dict[str, list[dict[str, Any]]] = {}
    for code in cohort.withdrawn_codes:
        reasons.setdefault(code, []).append({"reason": "withdrawn", "outcome": None})
    for code in cohort.not_per_protocol_codes:
        reasons.setdefault(code, []).append({"reason": "not_per_protocol", "outcome": None})
    protocol = cohort.study.protocol
    first, last = protocol.baseline.key, protocol.last_timepoint.key
    columns = columns or _Columns(cohort.records, protocol.arm_keys)
    codes = [record.get("code", "") for record in cohort.records]
    # Column by column: a mother's reasons come in the order of the outcomes and their time
    # points either way, as each mother is one record.  A value is NaN in its column exactly
    # when it is not recorded (None): the database's JSON holds no NaN.
    for outcome in protocol.outcomes:
        for point in outcome.timepoints:
            # The paper's document names the first and last time points pre and post.
            reason = {first: "missing_pre", last: "missing_post"}.get(point, f"missing_{point}")
            missing = np.flatnonzero(np.isnan(columns.column(f"{point}_{outcome.key}")))
            for index in missing.tolist():
                reasons.setdefault(codes[index], []).append(
                    {"reason": reason, "outcome": outcome.key, "timepoint": point}
                )
    return [{"code": code, "reasons": reasons[code]} for code in sorted(reasons)]
