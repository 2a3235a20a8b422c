"""The live cohort: database → the columns ``studies.analysis`` works on → the results document.

``load_cohort`` reads every mother of a study in one query (each time point's sheet joined once,
its values read by key; her session counts are kept on her row; her site by id, its name in a
second query) into one array per column, so
the results page, ``results.json``, the CSV tables and ``manage.py analyze`` cost the same few
queries whether the study has fifteen mothers or a hundred thousand. ``results_document`` is
the one code path from that cohort to the document of DESIGN.md section 4.5; every output is
built from it.
"""

from __future__ import annotations

import contextlib
import io
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
from django.db import connections
from django.db.models import (
    Case,
    F,
    FilteredRelation,
    FloatField,
    Func,
    IntegerField,
    Q,
    Value,
    When,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.utils.formats import get_format
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from . import analysis
from .analysis import design as analysis_design
from .analysis import prose
from .analysis.crosstab import chi_square
from .definition import plain_number
from .models import ChoiceOverride, Respondent, Site, Study

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


class Cohort:
    """The mothers of one study under some filters, as columns (and as plain records).

    The mothers analysed (not withdrawn; per protocol only those with every planned session
    done) have ``code``, ``site``, ``arm``, ``age_years``, ``parity``, ``education``,
    ``employment``, ``status``, ``sessions_planned``, ``sessions_done`` and
    ``<time point>_<outcome>`` for every column of the cohort CSV. :meth:`load_cohort` gives
    them as ``columns``: a mapping of those names to 1-D numpy arrays of one length (text as
    object arrays; an outcome a masked array, masked where not recorded, int64 for an outcome
    without decimals and float64 otherwise), so the analysis reads whole columns rather than
    one mother at a time. ``records`` are the same mothers ordered by code, each a dict
    (``None`` when not recorded), built from the columns when first asked for; a cohort built
    from ``records`` (a test, a document of a file) has them as ``columns`` too, each a list.
    ``progress`` counts the whole enrolment under the site and parity filters, whatever the
    per-protocol choice.
    """

    def __init__(
        self,
        study: Study,
        filters: CohortFilters,
        records: list[dict[str, Any]] | None = None,
        n_withdrawn: int = 0,
        n_not_per_protocol: int = 0,
        progress: dict[str, Any] | None = None,
        withdrawn_codes: Sequence[str] = (),
        not_per_protocol_codes: Sequence[str] = (),
        *,
        columns: Mapping[str, Any] | None = None,
    ) -> None:
        if (records is None) == (columns is None):
            raise TypeError("give a cohort either records or columns")
        self.study = study
        self.filters = filters
        self.n_withdrawn = n_withdrawn
        self.n_not_per_protocol = n_not_per_protocol
        self.progress = dict(progress or {})
        # The codes of the mothers left out before any outcome is analysed.
        self.withdrawn_codes = list(withdrawn_codes)
        self.not_per_protocol_codes = list(not_per_protocol_codes)
        self._records = records
        self._columns = dict(columns) if columns is not None else None

    @property
    def columns(self) -> dict[str, Any]:
        """Name → column of the mothers analysed (see the class)."""
        if self._columns is None:
            records = self._records or []
            names = dict.fromkeys(name for record in records for name in record)
            self._columns = {name: [r.get(name) for r in records] for name in names}
        return self._columns

    @property
    def size(self) -> int:
        """How many mothers are analysed."""
        if self._records is not None:
            return len(self._records)
        return len(self._columns["code"]) if self._columns else 0

    def column(self, name: str) -> list[Any]:
        """One column as a list of plain values, ``None`` where not recorded."""
        values = self.columns.get(name)
        if values is None:
            return [None] * self.size
        return values.tolist() if isinstance(values, np.ndarray) else list(values)

    @property
    def records(self) -> list[dict[str, Any]]:
        """The mothers analysed, ordered by code, each a dict."""
        if self._records is None:
            names = list(self._columns)
            rows = zip(*(self.column(name) for name in names), strict=True)
            self._records = sorted(
                (dict(zip(names, row, strict=True)) for row in rows), key=lambda r: r["code"]
            )
        return self._records


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


def load_cohort(study: Study, filters: CohortFilters | None = None) -> Cohort:
    """Read the study's mothers under ``filters`` in one query (and one for their sites'
    names)."""
    filters = filters or CohortFilters()
    respondents = Respondent.objects.filter(study=study)
    if filters.site is not None:
        respondents = respondents.filter(site=filters.site)
    if filters.parity == "primipara":
        respondents = respondents.filter(parity=1)
    elif filters.parity == "multipara":
        respondents = respondents.filter(parity__gt=1)
    protocol = study.protocol
    coded = _coded_columns(protocol)
    value_names = [name for name, _point, _key in protocol.cohort_value_columns]
    names = [
        "code",
        "site_id",
        "age_years",
        "parity",
        "sessions_planned",
        "sessions_done",
        *(_code_name(name) for name in coded),
        *value_names,
    ]
    queryset = (
        with_sheets(respondents, protocol.cohort_value_columns, protocol)
        .annotate(**{_code_name(name): _code_of(name, words) for name, words in coded.items()})
        # In no particular order: every figure depends on the values only (the sums are exact
        # or over sorted values), and the codes listed are sorted where they are listed.
        .order_by()
        .values_list(*names)
    )
    # Every column is text or a number the driver already returns as Python's (the values as
    # SheetValue casts them), so the rows skip the ORM's per-value converters (make bench), and
    # are turned into one array per column at once rather than into a dict per mother.
    sql, params = queryset.query.get_compiler(using=queryset.db).as_sql()
    integer_names = [name for name in names if name != "code" and name not in value_names]
    raw = _read_columns(
        connections[queryset.db], sql, params, names, value_names, integer_names
    )
    n_rows = len(raw["code"])
    columns: dict[str, Any] = {"code": raw["code"]}
    site_ids = raw["site_id"].astype(np.int64)
    present_sites = pd.unique(site_ids)
    site_names = dict(Site.objects.filter(pk__in=present_sites.tolist()).values_list("pk", "name"))
    columns["site"] = np.array([site_names[pk] for pk in present_sites.tolist()], dtype=object)[
        pd.Index(present_sites).get_indexer(site_ids)
    ]
    for name, words in coded.items():
        positions = raw[_code_name(name)].astype(np.int64)
        columns[name] = _decoded(positions, words)
        unknown = np.flatnonzero(positions < 0)
        if unknown.size:
            # A word outside the choices (written around the forms): read as it is stored.
            stored = dict(
                respondents.exclude(**{f"{name}__in": words}).values_list("code", name)
            )
            for index in unknown.tolist():
                columns[name][index] = stored.get(columns["code"][index])
    for name in COUNT_COLUMNS:
        columns[name] = raw[name].astype(np.int64)
    for name, _point, key in protocol.cohort_value_columns:
        columns[name] = _outcome_column(raw[name], protocol.outcome(key))
    # The decoded words are shared objects, so comparing them is cheap (and a word outside
    # the choices, read as stored above, compares as itself).
    status = columns["status"]
    active = status != Respondent.Status.WITHDRAWN
    kept = active
    if filters.per_protocol:
        planned = np.zeros(n_rows, dtype=np.int64)
        for arm in protocol.arm_keys:
            planned[columns["arm"] == arm] = study.sessions_planned(arm)
        kept = active & (columns["sessions_done"] >= planned)
    n_active = int(np.count_nonzero(active))
    planned_total = int(columns["sessions_planned"][active].sum())
    done_total = int(columns["sessions_done"][active].sum())
    # Some value recorded at each time point (any of the outcomes measured there).
    sheet_at_every_point = active.copy()
    for point in protocol.timepoint_keys:
        recorded = np.zeros(n_rows, dtype=bool)
        for outcome in protocol.outcomes_at(point):
            recorded |= ~np.ma.getmaskarray(columns[f"{point}_{outcome.key}"])
        sheet_at_every_point &= recorded
    progress = {
        "n_enrolled": n_active,
        "n_completed": int(np.count_nonzero(status == Respondent.Status.COMPLETED)),
        "n_in_follow_up": int(np.count_nonzero(status == Respondent.Status.ENROLLED)),
        "n_withdrawn": n_rows - n_active,
        "n_both_sheets": int(np.count_nonzero(sheet_at_every_point)),
        "sessions_planned": planned_total,
        "sessions_done": done_total,
        "session_adherence": done_total / planned_total if planned_total else None,
    }
    codes = columns["code"]
    return Cohort(
        study=study,
        filters=filters,
        columns={name: column[kept] for name, column in columns.items()},
        n_withdrawn=n_rows - n_active,
        n_not_per_protocol=n_active - int(np.count_nonzero(kept)),
        progress=progress,
        withdrawn_codes=sorted(codes[~active].tolist()),
        not_per_protocol_codes=sorted(codes[active & ~kept].tolist()),
    )


# The mothers' whole-number columns load_cohort reads besides her values.
COUNT_COLUMNS = ("age_years", "parity", "sessions_planned", "sessions_done")


def _coded_columns(protocol) -> dict[str, tuple[str, ...]]:
    """The text columns of a few known words (the arm keys, the choices of education,
    employment and status), each with its words: the query reads each as the word's position
    (:func:`_code_of`), a small integer, instead of a new string per mother, and
    :func:`_decoded` gives back the words, one string object each (make bench)."""
    return {
        "arm": tuple(protocol.arm_keys),
        "education": tuple(Respondent.Education.values),
        "employment": tuple(Respondent.Employment.values),
        "status": tuple(Respondent.Status.values),
    }


def _code_name(name: str) -> str:
    return f"coded_{name}"


def _code_of(name: str, words: Sequence[str]) -> Case:
    """The position of the column's word among ``words``, -1 for any other."""
    return Case(
        *(When(**{name: word}, then=Value(index)) for index, word in enumerate(words)),
        default=Value(-1),
        output_field=IntegerField(),
    )


def _decoded(codes: np.ndarray, words: Sequence[str]) -> np.ndarray:
    """The words of positions ``codes`` (int64, :func:`_code_of`) as an object array, ``None``
    for -1."""
    table = np.array([*words, None], dtype=object)
    return table[codes]


def _read_columns(
    connection,
    sql: str,
    params: Sequence[Any],
    names: Sequence[str],
    value_names: Sequence[str],
    integer_names: Sequence[str] = COUNT_COLUMNS,
) -> dict[str, np.ndarray]:
    """The rows of ``sql`` as one 1-D array per column of ``names``. On PostgreSQL the rows
    come as CSV through ``COPY (…) TO STDOUT`` and pandas' C parser reads them (a NULL is an
    empty field, only ``value_names`` can hold one, read as NaN; PostgreSQL writes each
    float's shortest round-trip text and pandas reads it back to the same bits — tested);
    elsewhere the driver's rows go through one object array (``numpy.fromiter``, a C loop)
    and are sliced. Text columns are object arrays of ``str``; a value column
    is float64 (NaN where NULL) or, from the driver, objects (``None`` where NULL); a column of
    ``integer_names`` (never NULL) int64 or objects."""
    if connection.vendor == "postgresql":
        statement = f"COPY ({sql}) TO STDOUT (FORMAT csv)"
        with connection.cursor() as cursor:
            # Logged as a query where Django logs queries (DEBUG, the query-count tests).
            logged = getattr(cursor, "debug_sql", None)
            with (
                logged(statement, params) if logged else contextlib.nullcontext(),
                cursor.cursor.copy(statement, params) as copy,
            ):
                data = b"".join(bytes(block) for block in copy)
        frame = pd.read_csv(
            io.BytesIO(data),
            header=None,
            names=list(names),
            dtype={
                name: np.float64
                if name in value_names
                else np.int64
                if name in integer_names
                else object
                for name in names
            },
            keep_default_na=False,
            na_values={name: [""] for name in value_names},
            encoding="utf-8",
        )
        return {name: frame[name].to_numpy() for name in names}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    width = len(names)
    values = itertools.chain.from_iterable(rows)
    table = np.fromiter(values, dtype=object, count=len(rows) * width).reshape(-1, width)
    return {name: table[:, index] for index, name in enumerate(names)}


def _outcome_column(values: Sequence[Any], outcome) -> np.ma.MaskedArray:
    """One outcome's values of every mother (``None`` where not recorded) as a masked array:
    int64 for an outcome without decimals (each value a whole number, ``Outcome.check``),
    float64 otherwise."""
    as_float = np.asarray(values).astype(np.float64).reshape(-1)  # None becomes NaN
    missing = np.isnan(as_float)
    if outcome.numeric and outcome.decimals:
        return np.ma.MaskedArray(as_float, mask=missing)
    return np.ma.MaskedArray(np.where(missing, 0, as_float).astype(np.int64), mask=missing)


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


def _paper_columns(study: Study, columns: Mapping[str, Any]) -> Mapping[str, Any]:
    """The cohort's columns as ``analysis.analyze`` reads them: ``pre_<outcome>``/
    ``post_<outcome>`` from the first and the last time point, whatever their keys."""
    protocol = study.protocol
    first, last = protocol.baseline.key, protocol.last_timepoint.key
    outcomes = paired_outcomes(study)
    if (first, last) == ("pre", "post") or not outcomes:
        # analysis.analyze reads no time point of a study without the paper's outcomes.
        return columns
    return {
        **columns,
        **{f"pre_{o}": columns.get(f"{first}_{o}") for o in outcomes},
        **{f"post_{o}": columns.get(f"{last}_{o}") for o in outcomes},
    }


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
        "%(group)s is not normally distributed (%(test)s %(p)s < %(alpha)s): rank tests."
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
    "binary_not_computed": gettext_lazy(
        "A yes/no outcome between arms: the chi-square test, which cannot be computed at the "
        "%(timepoint)s measurement (%(why)s), so no expected count can be judged."
    ),
    "override": gettext_lazy("Chosen by the researcher: %(text)s"),
}
NOT_COMPUTED_TEXTS = {
    "too_few": gettext_lazy("fewer than 3 values"),
    "too_many": gettext_lazy("more than 5,000 values"),
    "constant": gettext_lazy("every value the same"),
    # Why a yes/no outcome's chi-square between the arms has no statistic.
    "no_cases": gettext_lazy("no mother has a value yet"),
    "one_arm": gettext_lazy("only one arm has mothers with a value"),
    "one_category": gettext_lazy("every mother has the same value"),
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
    language, its numbers (α, p, the smallest expected count) written as the conclusions beside
    it write them, with their leading zero and ``decimal_separator`` (by default the active
    language's): "p = 0,012 < 0,05", "terkecil 0,50" in Indonesian, "p = 0.012 < 0.05",
    "smallest 0.50" in English (the tables print ",50": SPSS's table format)."""
    args = dict(chosen.get("reason_args") or {})
    key = chosen.get("reason", "")
    template = REASON_TEXTS.get(key)
    if template is None:
        return key
    sep = decimal_separator or get_format("DECIMAL_SEPARATOR")
    values = {
        "alpha": prose.format_alpha_in_text(args["alpha"], decimal_separator=sep)
        if args.get("alpha")
        else "",
        "group": _group_label(study, args["group"]) if args.get("group") else "",
        "test": str(NORMALITY_TEST_LABELS.get(args.get("test"), args.get("test") or "")),
        "p": prose.format_p_in_text(args["p"], decimal_separator=sep)
        if args.get("p") is not None
        else "",
        "why": str(NOT_COMPUTED_TEXTS.get(args.get("why"), args.get("why") or "")),
        "min_expected": prose.format_in_text(args["min_expected"], 2, decimal_separator=sep)
        if args.get("min_expected") is not None
        else "",
        "timepoint": _timepoint_label(study, args["timepoint"]) if args.get("timepoint") else "",
        "text": args.get("text", ""),
    }
    return str(capfirst(str(template) % values))


def _timepoint_label(study: Study, key: str) -> str:
    """A time point's label in the active language, or its key when the study has no such
    point."""
    point = study.protocol.timepoint(key)
    return str(point.label) if point else key


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
    """The cohort's value columns as float64 arrays (NaN where not recorded), each converted
    once and shared by every outcome and arm that needs it, and each arm's mask."""

    def __init__(self, cohort: Cohort, arms: Sequence[str]) -> None:
        self.cohort = cohort
        columns = cohort.columns
        if len(arms) == 1 and columns.get("arm") is None:
            # A one-group study's records may carry no arm: they are all in its one arm.
            arm_of = np.full(cohort.size, arms[0], dtype=object)
        else:
            arm_of = np.asarray(columns.get("arm"), dtype=object).reshape(-1)
            if len(arms) == 1:
                arm_of = np.where(arm_of == None, arms[0], arm_of)  # noqa: E711 (elementwise)
        self.arm_masks = {arm: arm_of == arm for arm in arms}
        self._columns: dict[str, np.ndarray] = {}

    def column(self, name: str) -> np.ndarray:
        if name not in self._columns:
            values = self.cohort.columns.get(name)
            if isinstance(values, np.ma.MaskedArray):
                array = values.astype(np.float64).filled(np.nan)
            elif values is None:
                array = np.full(self.cohort.size, np.nan)
            else:
                # numpy turns None into NaN, and each number into float as float() does.
                array = np.array(values, dtype=float)
            self._columns[name] = array.reshape(-1)
        return self._columns[name]

    def matrix(self, names: Sequence[str]) -> np.ndarray:
        """Mothers x ``names``."""
        return np.column_stack([self.column(name) for name in names]).reshape(-1, len(names))


def _outcome_arrays(columns: _Columns, arms, names) -> dict[str, np.ndarray]:
    """Each arm's values of one outcome: mothers x time points, NaN where not recorded."""
    matrix = columns.matrix(names)
    return {arm: matrix[columns.arm_masks[arm]] for arm in arms}


def design_summary(
    study: Study,
    columns: _Columns,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The keys DESIGN.md §7 adds for every study: ``design``, ``arms`` (key, label,
    n_enrolled), ``timepoints`` and per outcome its ``type``, ``unit``, ``timepoints`` and the
    analyses of ``analysis.design.analyze_outcome`` (``n_missing``, ``descriptives`` by arm and
    time point, ``normality``, ``within``, ``between``, ``chosen`` with its ``reason_text``),
    plus ``frequencies`` of each category for ordinal and binary outcomes. ``overrides`` are
    the researcher's test choices (:func:`test_choice_overrides`); one that the definition no
    longer allows is set aside and the automatic choice stands. ``columns`` are the cohort's
    (:class:`_Columns`)."""
    protocol = study.protocol
    arms = protocol.arm_keys
    alpha = _alpha(study)
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
            _outcome_arrays(columns, arms, names),
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


def _take(values: Any, mask: np.ndarray) -> Any:
    """The values of a column (an array or a list) where ``mask`` is true."""
    if isinstance(values, np.ndarray):
        return values[mask]
    return [value for value, keep in zip(values, mask.tolist(), strict=True) if keep]


def characteristics_by_arm(
    study: Study,
    cohort: Cohort,
    columns: _Columns,
    whole: Mapping[str, list[dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """Table 1 by arm: ``{characteristic: {arm: [{"key", "label", "n", "percent"}], "test":
    chi_square}}`` over the cohort's mothers (as Table 1), with the baseline comparison of the
    arms (SPSS's ``CROSSTABS /STATISTICS=CHISQ`` of arm by category,
    ``analysis.crosstab.chi_square``) in two-group designs only; percentages are of the arm's
    mothers. ``columns`` give the arms' masks (:class:`_Columns` of ``cohort``); ``whole`` is
    Table 1 of the whole cohort when the caller has it (``analysis.characteristics``), which
    a one-group study's one arm is."""
    protocol = study.protocol
    arms = protocol.arm_keys
    labels = characteristic_labels()
    table = {name: cohort.columns[name] for name in analysis.CHARACTERISTIC_COLUMNS}
    if len(arms) == 1:
        tables = {arms[0]: whole if whole is not None else analysis.characteristics(table)}
    else:
        tables = {
            arm: analysis.characteristics(
                {name: _take(values, columns.arm_masks[arm]) for name, values in table.items()}
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
        _paper_columns(study, cohort.columns),
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
    columns = _Columns(cohort, protocol.arm_keys)
    summary = analysis._json_safe(design_summary(study, columns, test_choice_overrides(study)))
    document["design"] = summary["design"]
    document["arms"] = summary["arms"]
    document["timepoints"] = summary["timepoints"]
    for name, extra in summary["outcomes"].items():
        outcome = document["outcomes"].setdefault(name, {})
        for key, value in extra.items():
            outcome.setdefault(key, value)
    document["characteristics_by_arm"] = characteristics_by_arm(
        study, cohort, columns, document["characteristics"]
    )
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
    (de-identified: codes only, as researchers see them). ``columns`` are the cohort's value
    columns when the caller has them already (:class:`_Columns` of ``cohort``)."""
    reasons: dict[str, list[dict[str, Any]]] = {}
    for code in cohort.withdrawn_codes:
        reasons.setdefault(code, []).append({"reason": "withdrawn", "outcome": None})
    for code in cohort.not_per_protocol_codes:
        reasons.setdefault(code, []).append({"reason": "not_per_protocol", "outcome": None})
    protocol = cohort.study.protocol
    first, last = protocol.baseline.key, protocol.last_timepoint.key
    columns = columns or _Columns(cohort, protocol.arm_keys)
    codes = cohort.columns.get("code")
    if codes is None:
        codes = [None] * cohort.size
    # Column by column: a mother's reasons come in the order of the outcomes and their time
    # points either way, as each mother is one record.  A value is NaN in its column exactly
    # when it is not recorded (None): the database's JSON holds no NaN.
    for outcome in protocol.outcomes:
        for point in outcome.timepoints:
            # The paper's document names the first and last time points pre and post.
            reason = {first: "missing_pre", last: "missing_post"}.get(point, f"missing_{point}")
            missing = np.flatnonzero(np.isnan(columns.column(f"{point}_{outcome.key}")))
            for index in missing.tolist():
                reasons.setdefault(codes[index] or "", []).append(
                    {"reason": reason, "outcome": outcome.key, "timepoint": point}
                )
    return [{"code": code, "reasons": reasons[code]} for code in sorted(reasons)]
