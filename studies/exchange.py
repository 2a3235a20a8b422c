"""Data exchange: the CSV exports a data manager downloads and the all-or-nothing cohort import
(DESIGN.md sections 4.3 and 4.4).

Exports are generators of rows, so a view can stream them and 100,000 mothers cost no more
memory than 100. Text cells that a spreadsheet would run as a formula are neutralised on the way
out with a leading apostrophe, and the importer takes that apostrophe off again, so an export
re-imports unchanged.
"""

from __future__ import annotations

import csv
import datetime
import functools
import io
import itertools
import operator
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured, ValidationError
from django.db import NotSupportedError, connections, models, router, transaction
from django.template.defaultfilters import filesizeformat
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from . import analysis, rules
from .cohort import session_count, with_sheets
from .models import (
    AuditEvent,
    MassageSession,
    Observation,
    ProtocolDeviation,
    Respondent,
    RespondentIdentity,
    Slot,
    Source,
    Study,
)

# --- cells -----------------------------------------------------------------------------------

# A text cell starting with one of these runs as a formula in Excel or LibreOffice (or, for the
# apostrophe, would lose its first character on the way back in).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "'")


def neutralise(text: str) -> str:
    """Make a text cell inert in a spreadsheet: a leading apostrophe before a trigger."""
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def restore(text: str) -> str:
    """The importer's half of :func:`neutralise`."""
    return text[1:] if text.startswith("'") else text


def cell(value: Any) -> str | int | float:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, datetime.datetime):
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, str):
        return neutralise(value)
    return value


class _Echo:
    """A file-like object whose ``write`` hands the line back, for ``csv.writer``."""

    def write(self, value: str) -> str:
        return value


DELIMITERS = {"comma": ",", "semicolon": ";"}
# Values the csv module writes as cell() would: None as "", dates as str() (ISO), numbers.
_WRITTEN_AS_IS = frozenset({type(None), int, float, datetime.date})
_TRIGGERS = frozenset(FORMULA_TRIGGERS)  # single characters, tested with value[:1]


class PreparedRows(list):
    """A batch of rows whose cells are already as the CSV needs them (text neutralised,
    booleans as 1/0; None, numbers and dates as they are): ``stream_csv`` writes the batch in
    one call without looking at each value again. The cohort export, the large one, prepares
    its rows itself."""

    __slots__ = ()


def stream_csv(
    rows: Iterable[Iterable[Any]], *, delimiter: str = ",", bom: bool = True, chunk_rows: int = 500
) -> Iterator[str]:
    """CSV text in chunks of ``chunk_rows`` lines (or of a ``PreparedRows`` batch); UTF-8 with
    a BOM opens correctly in Excel."""
    writer = csv.writer(_Echo(), delimiter=delimiter, lineterminator="\r\n")
    batch_buffer = io.StringIO()
    batch_writer = csv.writer(batch_buffer, delimiter=delimiter, lineterminator="\r\n")
    if bom:
        yield "\ufeff"
    chunk: list[str] = []
    for row in rows:
        if type(row) is PreparedRows:
            batch_writer.writerows(row)
            chunk.append(batch_buffer.getvalue())
            batch_buffer.seek(0)
            batch_buffer.truncate()
            yield "".join(chunk)
            chunk = []
            continue
        # cell() inlined for the common types: a call per value was most of a large export.
        chunk.append(
            writer.writerow(
                [
                    value
                    if type(value) in _WRITTEN_AS_IS
                    else ("'" + value if value[:1] in _TRIGGERS else value)
                    if type(value) is str
                    else cell(value)
                    for value in row
                ]
            )
        )
        if len(chunk) >= chunk_rows:
            yield "".join(chunk)
            chunk = []
    if chunk:
        yield "".join(chunk)


# --- the cohort table ------------------------------------------------------------------------

# DESIGN.md 4.4, in this order; the export writes them first.
COHORT_COLUMNS = (
    "respondent_code",
    "site",
    "delivery_date",
    "enrolled_on",
    "age_years",
    "parity",
    "education",
    "employment",
    "pre_feeds",
    "pre_urinations",
    "post_feeds",
    "post_urinations",
    "sessions_completed",
    "status",
    "withdrawal_reason",
)
OPTIONAL_COLUMNS = frozenset(
    {"site", "sessions_completed", "status", "withdrawal_reason"}
)  # may be absent from an imported file
# Written after the contract's columns. The importer reads the dated ones back and ignores the
# derived ones (it recomputes them).
EXTRA_COLUMNS = (
    "withdrawn_on",
    "consent_date",
    "eligibility_confirmed",
    "pre_observed_on",
    "post_observed_on",
    "sessions_planned",
    "age_group",
    "parity_group",
)
DERIVED_COLUMNS = frozenset({"sessions_planned", "age_group", "parity_group"})
IDENTITY_COLUMNS = ("full_name", "phone", "medical_record_number")
KNOWN_COLUMNS = frozenset(COHORT_COLUMNS + EXTRA_COLUMNS + IDENTITY_COLUMNS)


def _cohort_queryset(study: Study):
    sheets = {
        f"{phase}_{outcome}": (phase, column)
        for phase in ("pre", "post")
        for outcome, column in (("feeds", "feed_count"), ("urinations", "urination_count"))
    }
    dates = {f"{phase}_observed_on": (phase, "observed_on") for phase in ("pre", "post")}
    return (
        with_sheets(Respondent.objects.filter(study=study), **sheets, **dates)
        .annotate(
            sessions_completed=session_count(status=MassageSession.Status.DONE),
            sessions_total=session_count(),
        )
        .order_by("code")
    )


def _field_of(model, path: str) -> models.Field | None:
    """The model field behind a ``values()`` name (``site__name``), or None for an
    annotation."""
    *relations, name = path.split("__")
    try:
        for relation in relations:
            model = model._meta.get_field(relation).related_model
        return model._meta.get_field(name)
    except FieldDoesNotExist:
        return None


# The query's name for each exported column, where it is not the column's own.
_COHORT_VALUE_NAMES = {
    "respondent_code": "code",
    "site": "site__name",
    "sessions_planned": "sessions_total",
}
# age_group and parity_group are computed from the row: the query gives every column before them.
GROUPS_AT = EXTRA_COLUMNS.index("age_group") + len(COHORT_COLUMNS)
COHORT_VALUES = tuple(
    _COHORT_VALUE_NAMES.get(column, column)
    for column in (COHORT_COLUMNS + EXTRA_COLUMNS)[:GROUPS_AT]
)
_AGE_AT, _PARITY_AT = COHORT_VALUES.index("age_years"), COHORT_VALUES.index("parity")


def _cohort_columns(*, identified: bool) -> tuple[list[str], list[str], list]:
    """The cohort export's header, the query's names for it (without the derived groups) and
    the model field behind each column of the header (None for computed ones)."""
    header = list(COHORT_COLUMNS + EXTRA_COLUMNS)
    values = list(COHORT_VALUES)
    if identified:
        header += IDENTITY_COLUMNS
        values += [f"identity__{name}" for name in IDENTITY_COLUMNS]
    fields = [_field_of(Respondent, name) for name in values]
    fields[GROUPS_AT:GROUPS_AT] = [None, None]  # age_group, parity_group
    return header, values, fields


def _cohort_values(study: Study, values: list[str]) -> Iterator[list]:
    """The cohort's rows as Django gives them, the derived groups inserted: the general path
    the tests hold ``cohort_rows`` to."""
    for row in _cohort_queryset(study).values_list(*values).iterator(chunk_size=2000):
        row = list(row)
        row[GROUPS_AT:GROUPS_AT] = [
            analysis.age_group(row[_AGE_AT]),
            analysis.parity_group(row[_PARITY_AT]),
        ]
        yield row


def cohort_rows(study: Study, *, identified: bool = False) -> Iterator[Any]:
    """The header, then the mothers in ``PreparedRows`` batches.

    The rows come straight from a chunked database cursor, without Django's per-value
    conversions: none changes what the CSV shows (SQLite's dates are already ISO text and its
    booleans 1 and 0). cell()'s work is done only where it can matter, on the text and boolean
    columns. tests/test_exchange.py checks the result against the general path."""
    header, values, fields = _cohort_columns(identified=identified)
    text = [i for i, f in enumerate(fields) if isinstance(f, (models.CharField, models.TextField))]
    flags = [i for i, f in enumerate(fields) if isinstance(f, models.BooleanField)]
    age_group, parity_group = analysis.age_group, analysis.parity_group
    yield header
    queryset = _cohort_queryset(study).values_list(*values)
    sql, params = queryset.query.sql_with_params()
    with connections[queryset.db].chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while fetched := cursor.fetchmany(2000):
            batch = PreparedRows()
            for row in fetched:
                row = list(row)
                row[GROUPS_AT:GROUPS_AT] = (age_group(row[_AGE_AT]), parity_group(row[_PARITY_AT]))
                for index in text:
                    value = row[index]
                    if value and value[0] in _TRIGGERS:
                        row[index] = "'" + value
                for index in flags:
                    if row[index] is not None:
                        row[index] = "1" if row[index] else "0"
                batch.append(row)
            yield batch


def observation_rows(study: Study, **_options) -> Iterator[list[Any]]:
    yield [
        "respondent_code",
        "site",
        "phase",
        "observed_on",
        "feed_count",
        "urination_count",
        "observed_by",
        "notes",
        "source",
    ]
    yield from (
        Observation.objects.filter(respondent__study=study)
        .order_by("respondent__code", "phase")
        .values_list(
            "respondent__code",
            "respondent__site__name",
            "phase",
            "observed_on",
            "feed_count",
            "urination_count",
            "observed_by__username",
            "notes",
            "source",
        )
        .iterator(chunk_size=2000)
    )


def session_rows(study: Study, **_options) -> Iterator[list[Any]]:
    yield [
        "respondent_code",
        "site",
        "postpartum_day",
        "slot",
        "planned_date",
        "status",
        "started_at",
        "duration_minutes",
        "performed_by",
        "notes",
        "source",
    ]
    yield from (
        MassageSession.objects.filter(respondent__study=study)
        .order_by("respondent__code", "postpartum_day", "planned_date", "id")
        .values_list(
            "respondent__code",
            "respondent__site__name",
            "postpartum_day",
            "slot",
            "planned_date",
            "status",
            "started_at",
            "duration_minutes",
            "performed_by__username",
            "notes",
            "source",
        )
        .iterator(chunk_size=2000)
    )


AUDIT_HEADER = ["when", "who", "record_type", "record", "action", "field", "old", "new", "reason"]
_ACTIONS = {"+": "created", "~": "changed", "-": "deleted"}


def _history_rows(model, record_type: str, queryset, label: Callable[[dict], str], fields):
    """One row per created record and per changed field, from consecutive history rows of the
    same object (the history is read in object order, so memory stays flat)."""
    previous: dict[str, Any] | None = None
    for row in (
        queryset.order_by(model._meta.pk.attname, "history_date", "history_id")
        .values(
            model._meta.pk.attname,
            "history_date",
            "history_type",
            "history_change_reason",
            "history_user__username",
            *fields,
            *label.needs,
        )
        .iterator(chunk_size=2000)
    ):
        key = row[model._meta.pk.attname]
        same_object = previous is not None and previous[model._meta.pk.attname] == key
        common = [
            row["history_date"],
            row["history_user__username"] or "",
            record_type,
            label(row),
        ]
        reason = row["history_change_reason"] or ""
        if not same_object or row["history_type"] != "~":
            yield [*common, _ACTIONS[row["history_type"]], "", "", "", reason]
        else:
            for name in fields:
                if row[name] != previous[name]:
                    yield [*common, "changed", name, previous[name], row[name], reason]
        previous = row


class _Label:
    def __init__(self, needs: tuple[str, ...], render: Callable[[dict], str]) -> None:
        self.needs = needs
        self.render = render

    def __call__(self, row: dict) -> str:
        return self.render(row)


def audit_rows(study: Study, *, identified: bool = False) -> Iterator[list[Any]]:
    yield AUDIT_HEADER
    codes = dict(Respondent.objects.filter(study=study).values_list("pk", "code"))

    def code_of(row):
        return codes.get(row["respondent_id"], "?")

    respondent_fields = [
        "code",
        "site_id",
        "delivery_date",
        "enrolled_on",
        "age_years",
        "parity",
        "education",
        "employment",
        "eligibility_confirmed",
        "consent_date",
        "status",
        "withdrawn_on",
        "withdrawal_reason",
    ]
    yield from _history_rows(
        Respondent,
        "respondent",
        Respondent.history.filter(study_id=study.pk),
        _Label(("code",), lambda row: row["code"]),
        [name for name in respondent_fields if name != "code"] + ["code"],
    )
    session_fields = [
        "postpartum_day",
        "slot",
        "planned_date",
        "status",
        "started_at",
        "duration_minutes",
        "performed_by_id",
        "notes",
        "source",
    ]
    yield from _history_rows(
        MassageSession,
        "session",
        MassageSession.history.filter(respondent_id__in=codes),
        _Label(
            ("respondent_id", "postpartum_day", "slot"),
            lambda row: f"{code_of(row)} · {row['postpartum_day']} · {row['slot']}",
        ),
        session_fields,
    )
    sheet_fields = ["phase", "observed_on", "feed_count", "urination_count", "notes", "source"]
    yield from _history_rows(
        Observation,
        "observation",
        Observation.history.filter(respondent_id__in=codes),
        _Label(("respondent_id", "phase"), lambda row: f"{code_of(row)} · {row['phase']}"),
        sheet_fields,
    )
    yield from _history_rows(
        ProtocolDeviation,
        "deviation",
        ProtocolDeviation.history.filter(respondent_id__in=codes),
        _Label(("respondent_id", "kind"), lambda row: f"{code_of(row)} · {row['kind']}"),
        ["kind", "session_id", "expected", "actual", "reason", "resolved_at"],
    )
    if identified:
        yield from _history_rows(
            RespondentIdentity,
            "identity",
            RespondentIdentity.history.filter(respondent_id__in=codes),
            _Label(("respondent_id",), code_of),
            list(IDENTITY_COLUMNS),
        )
    for event in (
        AuditEvent.objects.filter(study=study)
        .order_by("created_at", "pk")
        .values_list("created_at", "user__username", "action", "detail")
        .iterator()
    ):
        when, who, action, detail = event
        yield [when, who or "", "study", study.code, action, "", "", "", detail]


# --- the data dictionary ---------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    name: str
    label: Any  # a lazy translation
    type: str
    allowed: str = ""
    unit: Any = ""


def dictionary() -> list[Column]:
    """Every cohort column: its label (translated on output), type, allowed values and unit."""

    def choices(choices_class) -> str:
        return " / ".join(choices_class.values)

    def field_label(model, name):
        return model._meta.get_field(name).verbose_name

    r = Respondent
    return [
        Column(
            "respondent_code",
            field_label(r, "code"),
            "text",
            gettext_lazy("unique within the study"),
        ),
        Column(
            "site", field_label(r, "site"), "text", gettext_lazy("one of the study's site names")
        ),
        Column("delivery_date", field_label(r, "delivery_date"), "date", "YYYY-MM-DD"),
        Column(
            "enrolled_on",
            field_label(r, "enrolled_on"),
            "date",
            gettext_lazy("not before delivery"),
        ),
        Column("age_years", field_label(r, "age_years"), "integer", "10–60", gettext_lazy("years")),
        Column("parity", field_label(r, "parity"), "integer", "≥ 1 (1 = primipara)"),
        Column("education", field_label(r, "education"), "category", choices(r.Education)),
        Column("employment", field_label(r, "employment"), "category", choices(r.Employment)),
        Column(
            "pre_feeds",
            gettext_lazy("feeds before the massage"),
            "integer",
            "0–40",
            gettext_lazy("per 24 h"),
        ),
        Column(
            "pre_urinations",
            gettext_lazy("urinations before the massage"),
            "integer",
            "0–40",
            gettext_lazy("per 24 h"),
        ),
        Column(
            "post_feeds",
            gettext_lazy("feeds after the massage"),
            "integer",
            "0–40",
            gettext_lazy("per 24 h"),
        ),
        Column(
            "post_urinations",
            gettext_lazy("urinations after the massage"),
            "integer",
            "0–40",
            gettext_lazy("per 24 h"),
        ),
        Column(
            "sessions_completed", gettext_lazy("sessions done"), "integer", "0–sessions_planned"
        ),
        Column("status", field_label(r, "status"), "category", choices(r.Status)),
        Column("withdrawal_reason", field_label(r, "withdrawal_reason"), "text"),
        Column("withdrawn_on", field_label(r, "withdrawn_on"), "date", "YYYY-MM-DD"),
        Column("consent_date", field_label(r, "consent_date"), "date", "YYYY-MM-DD"),
        Column(
            "eligibility_confirmed", field_label(r, "eligibility_confirmed"), "boolean", "0 / 1"
        ),
        Column("pre_observed_on", gettext_lazy("date of the pre-test sheet"), "date", "YYYY-MM-DD"),
        Column(
            "post_observed_on", gettext_lazy("date of the post-test sheet"), "date", "YYYY-MM-DD"
        ),
        Column(
            "sessions_planned", gettext_lazy("sessions planned"), "integer", gettext_lazy("derived")
        ),
        Column("age_group", gettext_lazy("age group"), "category", " / ".join(analysis.AGE_GROUPS)),
        Column(
            "parity_group",
            gettext_lazy("parity group"),
            "category",
            " / ".join(analysis.PARITY_GROUPS),
        ),
        Column(
            "full_name",
            field_label(RespondentIdentity, "full_name"),
            "text",
            gettext_lazy("identified export only"),
        ),
        Column(
            "phone",
            field_label(RespondentIdentity, "phone"),
            "text",
            gettext_lazy("identified export only"),
        ),
        Column(
            "medical_record_number",
            field_label(RespondentIdentity, "medical_record_number"),
            "text",
            gettext_lazy("identified export only"),
        ),
    ]


def dictionary_rows() -> Iterator[list[Any]]:
    yield ["column", "label_id", "label_en", "type", "allowed", "unit"]
    for column in dictionary():
        labels = []
        for language in ("id", "en"):
            with translation.override(language):
                labels.append(str(column.label))
        with translation.override("en"):
            yield [column.name, *labels, column.type, str(column.allowed), str(column.unit)]


EXPORTS: dict[str, Callable[..., Iterator[list[Any]]]] = {
    "cohort": cohort_rows,
    "observations": observation_rows,
    "sessions": session_rows,
    "audit": audit_rows,
    "dictionary": lambda study, **kwargs: dictionary_rows(),
}
IDENTIFIABLE = frozenset({"cohort", "audit"})


def export_counts(study: Study) -> dict[str, int]:
    """Data rows of each export (the header not counted)."""
    respondents = Respondent.objects.filter(study=study)
    history = (
        Respondent.history.filter(study_id=study.pk).count()
        + MassageSession.history.filter(respondent__study=study).count()
        + Observation.history.filter(respondent__study=study).count()
        + ProtocolDeviation.history.filter(respondent__study=study).count()
    )
    return {
        "cohort": respondents.count(),
        "observations": Observation.objects.filter(respondent__study=study).count(),
        "sessions": MassageSession.objects.filter(respondent__study=study).count(),
        # One row per created record; a change adds one row per field it changed.
        "audit": history + AuditEvent.objects.filter(study=study).count(),
        "dictionary": len(dictionary()),
    }


# --- the cohort import -----------------------------------------------------------------------


class ImportFileError(ValueError):
    """The file as a whole cannot be read (empty, not text, not UTF-8, too large, bad header)."""


@dataclass(frozen=True)
class RowError:
    row: int  # the spreadsheet row: the header is row 1
    column: str
    message: str

    def __str__(self) -> str:
        if self.column:
            return _("row %(row)s, column %(column)s: %(message)s") % {
                "row": self.row,
                "column": self.column,
                "message": self.message,
            }
        return _("row %(row)s: %(message)s") % {"row": self.row, "message": self.message}


# The errors a report keeps: a file of 100,000 bad rows is still counted to the end, but a person
# reads the first few hundred problems, and keeping every one grew a worker by hundreds of MB.
MAX_REPORTED_ERRORS = 200


class _BoundedErrors(list):
    """The report's error list: keeps the first ``MAX_REPORTED_ERRORS`` and counts the rest
    (``total``). ``_Row.error`` appends to it as to any list."""

    __slots__ = ("total",)

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.total = len(self)

    def append(self, error: RowError) -> None:
        self.total += 1
        if len(self) < MAX_REPORTED_ERRORS:
            super().append(error)


@dataclass
class ImportReport:
    rows: int = 0
    created: int = 0
    sheets: int = 0
    sessions_done: int = 0
    errors: list[RowError] = field(default_factory=_BoundedErrors)
    delimiter: str = ","
    dry_run: bool = False
    codes: list[str] = field(default_factory=list)
    # Rows outside the protocol (another enrolment day), recorded as protocol deviations with
    # the import as their reason: listed in the preview, never taken in silently.
    deviations: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def error_count(self) -> int:
        """Every error found, including those past the ones kept in ``errors``."""
        return getattr(self.errors, "total", len(self.errors))

    @property
    def more_errors(self) -> int:
        """Errors found but not kept (“… and 12,345 more”)."""
        return self.error_count - len(self.errors)


MAX_IMPORT_BYTES = 20 * 1024 * 1024
SLOT_HOURS = {Slot.MORNING: 8, Slot.AFTERNOON: 15, Slot.EVENING: 19}
# Model field → CSV column, to put a model's validation message on the right column.
FIELD_COLUMNS = {
    "code": "respondent_code",
    "site": "site",
    "delivery_date": "delivery_date",
    "enrolled_on": "enrolled_on",
    "age_years": "age_years",
    "parity": "parity",
    "education": "education",
    "employment": "employment",
    "status": "status",
    "withdrawn_on": "withdrawn_on",
    "withdrawal_reason": "withdrawal_reason",
    "consent_date": "consent_date",
    "full_name": "full_name",
    "phone": "phone",
    "medical_record_number": "medical_record_number",
}


def file_too_large(limit: int) -> ImportFileError:
    """The error for a file over ``limit`` bytes (raised before it is read, where possible)."""
    return ImportFileError(
        _("The file is larger than the limit of %(limit)s.") % {"limit": filesizeformat(limit)}
    )


def decode(data: bytes, *, limit: int = MAX_IMPORT_BYTES) -> str:
    """The file's text, or :class:`ImportFileError` for a file too large, not text (a NUL
    byte anywhere), not UTF-8 or empty."""
    if len(data) > limit:
        raise file_too_large(limit)
    # Anywhere in the file, not only its start: PostgreSQL refuses a NUL in a text column.
    if b"\x00" in data:
        raise ImportFileError(_("This is not a text (CSV) file."))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ImportFileError(
            _("The file is not UTF-8 text (byte %(position)s). In Excel, save it as “CSV UTF-8”.")
            % {"position": error.start + 1}
        ) from None
    if not text.strip():
        raise ImportFileError(_("The file is empty."))
    return text


def detect_delimiter(header_line: str) -> str:
    return ";" if header_line.count(";") > header_line.count(",") else ","


@functools.cache
def _choice_values(choices_class) -> frozenset[str]:
    return frozenset(choices_class.values)  # ``.values`` builds a new list on every call


class _Row:
    """Parses one CSV row's cells, collecting errors per column."""

    def __init__(self, number: int, values: dict[str, str], errors: list[RowError]) -> None:
        self.number = number
        self.values = values
        self.errors = errors  # the whole file's
        # This row's columns with an error: looked up here, not in the file's list, which would
        # make a file with an error on each of 100,000 rows take quadratic time.
        self.failed: set[str] = set()

    def error(self, column: str, message: str) -> None:
        self.errors.append(RowError(self.number, column, message))
        self.failed.add(column)

    def text(self, column: str) -> str:
        return restore(self.values.get(column, "").strip())

    def integer(self, column: str) -> int | None:
        raw = self.values.get(column, "").strip()
        if raw == "":
            return None
        try:
            return int(raw)
        except ValueError:
            self.error(column, _("“%(value)s” is not a whole number.") % {"value": raw[:40]})
            return None

    def date(self, column: str) -> datetime.date | None:
        raw = self.values.get(column, "").strip()
        if raw == "":
            return None
        try:
            return datetime.date.fromisoformat(raw)
        except ValueError:
            self.error(
                column, _("“%(value)s” is not a date in the form YYYY-MM-DD.") % {"value": raw[:40]}
            )
            return None

    def required(self, column: str, value):
        if (value is None or value == "") and column not in self.failed:
            self.error(column, _("This value is required."))
        return value

    def choice(self, column: str, choices_class, *, default: str | None = None) -> str | None:
        raw = self.text(column)
        if raw == "" and default is not None:
            return default
        if raw == "":
            return self.required(column, None)
        if raw not in _choice_values(choices_class):
            self.error(
                column,
                _("“%(value)s” is not one of: %(allowed)s.")
                % {"value": raw[:40], "allowed": ", ".join(choices_class.values)},
            )
            return None
        return raw


@dataclass
class _Planned:
    respondent: Respondent
    identity: dict[str, str] | None
    sheets: list[dict[str, Any]]  # an Observation's field values
    sessions_completed: int
    deviations: list[rules.Deviation] = field(default_factory=list)


def _clean_field(record, name: str, *, model=None) -> None:
    """``Model.clean_fields`` for one field, of a model instance or of a dict of its values."""
    if isinstance(record, dict):
        field = model._meta.get_field(name)
        value = record[name]
    else:
        field = record._meta.get_field(name)
        value = getattr(record, field.attname)
    if field.blank and value in field.empty_values:
        return
    try:
        cleaned = field.clean(value, None if isinstance(record, dict) else record)
    except ValidationError as error:
        raise ValidationError({name: error.error_list}) from None
    if isinstance(record, dict):
        record[name] = cleaned
    else:
        setattr(record, field.attname, cleaned)


def _model_errors(row: _Row, error: ValidationError, default_column: str = "") -> None:
    for field_name, messages in error.message_dict.items():
        column = FIELD_COLUMNS.get(field_name, default_column)
        for message in messages:
            row.error(column, message)


def imported_sessions_done(
    study: Study, respondent: Respondent, completed: int
) -> list[tuple[datetime.date, datetime.datetime]]:
    """The sessions an import records as done for a mother whose row says ``completed``: the
    first ones of her plan on or after her enrolment, dated by the plan at the slot's usual
    hour (the file says how many, not when). Returns ``(date, start)`` pairs; fewer than
    ``completed`` when her plan has fewer sessions from her enrolment on. The importer's checks
    and its writer both use this, so what the preview reports is what is written."""
    done = []
    for session in study.session_plan(respondent.delivery_date):
        if len(done) == completed:
            break
        if session.planned_date >= respondent.enrolled_on:
            started = timezone.make_aware(
                datetime.datetime.combine(
                    session.planned_date, datetime.time(SLOT_HOURS[session.slot])
                )
            )
            done.append((session.planned_date, started))
    return done


def _check_row_against_rules(
    row: _Row,
    study: Study,
    respondent: Respondent,
    sheets: list[dict[str, Any]],
    completed: int,
    dated_by_protocol: set[str],
) -> None:
    """The rules relating a mother's records to one another (studies/rules.py), applied to the
    row's parsed values exactly as the models apply them to saved records."""
    done = imported_sessions_done(study, respondent, completed)
    if len(done) < completed:
        row.error(
            "sessions_completed",
            _(
                "%(count)s sessions done, but only %(possible)s planned sessions fall on or "
                "after the enrolment date."
            )
            % {"count": completed, "possible": len(done)},
        )
        return
    now = timezone.now()
    for day, started_at in done:
        errors = rules.session_date(
            status=MassageSession.Status.DONE,
            started_on=day,
            started_at=started_at,
            now=now,
            enrolled_on=respondent.enrolled_on,
            sheets={},  # the order against the sheets is checked from the sheets' side below
        )
        if errors:
            row.error(
                "sessions_completed",
                _(
                    "%(count)s sessions done would date one in the future (%(date)s, by the "
                    "plan); give the number done so far."
                )
                % {"count": completed, "date": formats.date_format(day)},
            )
            return
    dates = {sheet["phase"]: sheet["observed_on"] for sheet in sheets if sheet["observed_on"]}
    today = timezone.localdate()
    for sheet in sheets:
        phase = sheet["phase"]
        column = f"{phase}_observed_on"
        if column in row.failed or not sheet["observed_on"]:
            continue
        errors = rules.sheet_dates(
            phase=phase,
            observed_on=sheet["observed_on"],
            delivery_date=respondent.delivery_date,
            today=today,
            other_sheets={other: day for other, day in dates.items() if other != phase},
            sessions_done_on=[day for day, _started in done],
        )
        for error in errors.values():
            message = " ".join(error.messages)
            if phase in dated_by_protocol:
                message = _(
                    "%(message)s (The file gives no date for this sheet; by the protocol it "
                    "is %(date)s.)"
                ) % {"message": message, "date": formats.date_format(sheet["observed_on"])}
            row.error(column, message)


def _parse_row(
    row: _Row, study: Study, sites: dict[str, Any], seen: dict[str, int]
) -> _Planned | None:
    code = row.required("respondent_code", row.text("respondent_code"))
    if code:
        # Codes compare as people read them: R01 and r01 are one mother (the database's unique
        # constraint ignores case too).
        if code.lower() in seen:
            row.error(
                "respondent_code",
                _("The code %(code)s is already on row %(row)s of this file.")
                % {"code": code, "row": seen[code.lower()]},
            )
        else:
            seen[code.lower()] = row.number
    site_name = row.text("site")
    site = None
    if site_name:
        site = sites.get(site_name.casefold())
        if site is None:
            row.error(
                "site",
                _("“%(site)s” is not a site of this study (its sites: %(sites)s).")
                % {"site": site_name[:80], "sites": ", ".join(s.name for s in sites.values())},
            )
    elif len(sites) == 1:
        site = next(iter(sites.values()))
    else:
        row.error("site", _("Name the site: this study has more than one."))
    status = row.choice("status", Respondent.Status, default=Respondent.Status.ENROLLED)
    respondent = Respondent(
        study=study,
        site=site,
        code=code or "",
        delivery_date=row.required("delivery_date", row.date("delivery_date")),
        enrolled_on=row.required("enrolled_on", row.date("enrolled_on")),
        age_years=row.required("age_years", row.integer("age_years")),
        parity=row.required("parity", row.integer("parity")),
        education=row.choice("education", Respondent.Education),
        employment=row.choice("employment", Respondent.Employment),
        eligibility_confirmed=row.text("eligibility_confirmed") not in ("0", "false", "False"),
        consent_date=row.date("consent_date"),
        status=status or Respondent.Status.ENROLLED,
        withdrawal_reason=row.text("withdrawal_reason"),
        withdrawn_on=row.date("withdrawn_on"),
    )
    if respondent.status == Respondent.Status.WITHDRAWN and "withdrawn_on" not in row.failed:
        # The cohort CSV of DESIGN.md 4.4 carries no withdrawal date: without one, the mother is
        # recorded as withdrawn on the day of the import. (The reason is required by the model's
        # rule, checked below with the others.)
        respondent.withdrawn_on = respondent.withdrawn_on or timezone.localdate()
    # Fields whose cell already failed to parse are not validated again; the database rules
    # about them (constraints) are skipped with them.
    exclude = [name for name, column in FIELD_COLUMNS.items() if column in row.failed]
    # The study and the site are objects the importer looked up itself: no query to check them.
    exclude += ["study", "site"]
    # The code's uniqueness in the study is checked for the whole file at once (read_cohort);
    # its format is checked here.
    checks = [
        lambda: respondent.full_clean(exclude=[*exclude, "code"], validate_unique=False),
    ]
    if "code" not in exclude:
        checks.append(lambda: _clean_field(respondent, "code"))
    for check in checks:
        try:
            check()
        except ValidationError as error:
            _model_errors(row, error)
    identity = None
    if any(column in row.values for column in IDENTITY_COLUMNS):
        identity = {name: row.text(name) for name in IDENTITY_COLUMNS}
        if any(identity.values()):
            try:
                RespondentIdentity(respondent=respondent, **identity).clean_fields(
                    exclude=["respondent"]
                )
            except ValidationError as error:
                _model_errors(row, error)
        else:
            identity = None
    dates_valid = bool(
        respondent.delivery_date
        and respondent.enrolled_on
        and not {"delivery_date", "enrolled_on"} & row.failed
    )
    sheets = []
    dated_by_protocol: set[str] = set()
    for phase in (Observation.Phase.PRE, Observation.Phase.POST):
        feeds = row.integer(f"{phase}_feeds")
        urinations = row.integer(f"{phase}_urinations")
        if feeds is None and urinations is None:
            continue
        observed_on = row.date(f"{phase}_observed_on")
        if observed_on is None and dates_valid and f"{phase}_observed_on" not in row.failed:
            # A sheet without its date (the 4.4 columns carry none) is dated by the protocol.
            observed_on = (
                respondent.enrolled_on
                if phase == Observation.Phase.PRE
                else respondent.delivery_date + datetime.timedelta(days=study.post_observation_day)
            )
            dated_by_protocol.add(phase)
        sheet = {
            "phase": phase,
            "observed_on": observed_on,
            "feed_count": feeds,
            "urination_count": urinations,
            "source": Source.IMPORTED,
        }
        # The sheet's fields that come from the file, through the model's own field rules (an
        # Observation per sheet cost more than the rest of its row). A sheet left undated by a
        # bad delivery or enrolment date is reported there.
        for name, column in (
            ("observed_on", f"{phase}_observed_on"),
            ("feed_count", f"{phase}_feeds"),
            ("urination_count", f"{phase}_urinations"),
        ):
            if name == "observed_on" and not observed_on:
                continue
            try:
                _clean_field(sheet, name, model=Observation)
            except ValidationError as error:
                for message in error.messages:
                    row.error(column, message)
        sheets.append(sheet)
    completed = row.integer("sessions_completed") or 0
    if completed < 0 or completed > study.sessions_planned:
        row.error(
            "sessions_completed",
            _("Must be between 0 and %(planned)s (the sessions this study plans).")
            % {"planned": study.sessions_planned},
        )
    elif dates_valid:
        _check_row_against_rules(row, study, respondent, sheets, completed, dated_by_protocol)
    deviations = []
    if dates_valid:
        # The import dates its sessions done by the plan, so only the enrolment day can depart.
        deviations = rules.protocol_deviations(
            first_session_day=study.first_session_day,
            delivery_date=respondent.delivery_date,
            enrolled_on=respondent.enrolled_on,
        )
    return _Planned(respondent, identity, sheets, completed, deviations)


READ_PROGRESS_EVERY = 1000  # rows read between two calls of ``read_progress``


def read_cohort(
    study: Study,
    data: bytes,
    *,
    limit: int = MAX_IMPORT_BYTES,
    read_progress: Callable[[int], None] | None = None,
) -> tuple[ImportReport, list[_Planned]]:
    """Parse and validate the whole file; nothing is written. File-level problems raise
    :class:`ImportFileError`; row problems are collected in the report (the first
    ``MAX_REPORTED_ERRORS``, the rest counted). Once a row has failed the planned rows are no
    longer kept (nothing will be written), so a bad file costs no more memory than a small one.
    ``read_progress(rows)`` is called every ``READ_PROGRESS_EVERY`` rows."""
    text = decode(data, limit=limit)
    # The first line without splitting the whole file into a list of lines.
    delimiter = detect_delimiter(re.match(r"[^\r\n]*", text).group())
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [name.strip().lower() for name in next(reader)]
    except csv.Error as error:
        raise ImportFileError(
            _("The file is not valid CSV: %(error)s") % {"error": error}
        ) from None
    report = ImportReport(delimiter=delimiter)
    unknown = [name for name in header if name not in KNOWN_COLUMNS]
    duplicated = sorted({name for name in header if header.count(name) > 1})
    missing = [
        name for name in COHORT_COLUMNS if name not in header and name not in OPTIONAL_COLUMNS
    ]
    sites = {site.name.casefold(): site for site in study.sites.all()}
    if "site" not in header and len(sites) != 1:
        missing.insert(1, "site")
    problems = []
    if unknown:
        problems.append(_("Unknown column(s): %(columns)s.") % {"columns": ", ".join(unknown)})
    if missing:
        problems.append(_("Missing column(s): %(columns)s.") % {"columns": ", ".join(missing)})
    if duplicated:
        problems.append(
            _("Column(s) given twice: %(columns)s.") % {"columns": ", ".join(duplicated)}
        )
    if problems:
        report.errors.append(RowError(1, "", " ".join(problems)))
        return report, []
    existing = {
        code.lower()
        for code in Respondent.objects.filter(study=study).values_list("code", flat=True)
    }
    taken = next(
        constraint
        for constraint in Respondent._meta.constraints
        if constraint.name == "respondent_code_unique_in_study"
    ).get_violation_error_message()
    seen: dict[str, int] = {}
    planned: list[_Planned] = []
    try:
        for number, cells in enumerate(reader, start=2):
            if not any(value.strip() for value in cells):
                continue
            row = _Row(number, {}, report.errors)
            if len(cells) > len(header):
                row.error("", _("This row has more cells than the header has columns."))
                continue
            row.values = dict(zip(header, cells, strict=False))
            report.rows += 1
            item = _parse_row(row, study, sites, seen)
            if item and item.respondent.code.lower() in existing:
                row.error("respondent_code", taken)
            if report.errors:
                planned.clear()  # only written when the whole file is good
            elif item:
                planned.append(item)
                for deviation in item.deviations:
                    report.deviations.append(
                        RowError(
                            number,
                            "enrolled_on",
                            ProtocolDeviation(
                                kind=deviation.kind,
                                expected=deviation.expected,
                                actual=deviation.actual,
                            ).description,
                        )
                    )
            if read_progress and report.rows % READ_PROGRESS_EVERY == 0:
                read_progress(report.rows)
    except csv.Error as error:
        raise ImportFileError(
            _("The file is not valid CSV near row %(row)s: %(error)s")
            % {"row": reader.line_num, "error": error}
        ) from None
    if report.rows == 0:
        raise ImportFileError(_("The file has a header but no rows."))
    report.codes = [item.respondent.code for item in planned]
    return report, planned


def import_cohort(
    *,
    study: Study,
    data: bytes,
    user,
    dry_run: bool = False,
    filename: str = "",
    progress: Callable[[int, int], None] | None = None,
    read_progress: Callable[[int], None] | None = None,
    limit: int = MAX_IMPORT_BYTES,
) -> ImportReport:
    """Import the cohort CSV: every row or none, in one transaction. Returns the report; with
    errors (or ``dry_run``) nothing is written. ``read_progress(rows)`` follows the reading,
    ``progress(written, total)`` the writing (inside the transaction)."""
    report, planned = read_cohort(study, data, limit=limit, read_progress=read_progress)
    report.dry_run = dry_run
    report.sheets = sum(len(item.sheets) for item in planned)
    report.sessions_done = sum(item.sessions_completed for item in planned)
    if report.errors or dry_run:
        return report
    reason = _("Imported from %(file)s") % {"file": filename or "CSV"}
    signed_in = user if user is not None and user.is_authenticated else None
    with transaction.atomic():
        _write_cohort(study, planned, user=signed_in, reason=reason, progress=progress)
        AuditEvent.objects.create(
            study=study,
            user=signed_in,
            action=AuditEvent.Action.IMPORT,
            detail=_("%(rows)s mothers imported from %(file)s")
            % {"rows": len(planned), "file": filename or "CSV"},
        )
        report.created = len(planned)
    return report


# --- writing the import ----------------------------------------------------------------------
#
# An imported mother is nine rows (herself, six planned sessions, two sheets) and nine history
# rows. Built as model instances and saved with ``bulk_create_with_history``, the ORM's
# per-object work (an instance per row and per history row, every value prepared field by field,
# 66-row INSERTs on SQLite) was most of the import's time (make bench: 500 mothers a second).
# Here the rows are plain lists with the values the ORM would write (the models' own defaults
# and ``auto_now_add``, the backend's adaptation of dates and times), written with multi-row
# INSERTs on SQLite and COPY on PostgreSQL; the database then copies each new record into its
# history table, as simple-history's ``bulk_history_create`` would have written it.
# tests/test_import_writes.py holds the two ways to the same records and the same audit trail.

IMPORT_CHUNK = 1000  # mothers written at a time (the progress callback's step)
MAX_ROWS_PER_INSERT = 2000


def _max_query_params(connection) -> int:
    limit = connection.features.max_query_params
    if connection.vendor == "sqlite":
        # Django assumes SQLite's old default of 999; the library knows what it was built with.
        connection.ensure_connection()
        getlimit = getattr(connection.connection, "getlimit", None)
        if getlimit is not None:
            import sqlite3

            limit = getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    return limit or 65535  # PostgreSQL's limit of bind parameters in one statement


class _Table:
    """Multi-row INSERTs into one model's table. A row is a list of Python values in
    ``columns`` order (start from :meth:`new_row`); :meth:`insert` adapts them for the database
    as the model's fields would."""

    def __init__(self, model, columns: list[str], *, now: datetime.datetime) -> None:
        self.model = model
        self.connection = connections[router.db_for_write(model)]
        fields = {field.attname: field for field in model._meta.concrete_fields}
        self.columns = columns
        self.index = {name: position for position, name in enumerate(columns)}
        self.fields = [fields[name] for name in columns]
        self.sql_columns = [field.column for field in self.fields]
        self.sequence: str | None = None  # PostgreSQL: the primary key's, looked up once
        self.defaults = [field.get_default() for field in self.fields]
        # What ``pre_save`` sets on a new record, whatever the record says.
        self.forced = [
            (position, now if isinstance(field, models.DateTimeField) else now.date())
            for position, field in enumerate(self.fields)
            if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)
        ]
        self.adapters = [
            (position, adapt)
            for position, adapt in enumerate(self._adapter(field) for field in self.fields)
            if adapt is not None
        ]

    def _adapter(self, field) -> Callable[[Any], Any] | None:
        ops = self.connection.ops
        if isinstance(field, models.DateField):  # and DateTimeField
            adapt = (
                ops.adapt_datetimefield_value
                if isinstance(field, models.DateTimeField)
                else ops.adapt_datefield_value
            )
            # An import has few distinct dates and times; time-zone conversion is not free.
            return functools.lru_cache(maxsize=4096)(adapt)
        if isinstance(
            field,
            models.CharField | models.TextField | models.IntegerField | models.BooleanField,
        ) or (field.is_relation and isinstance(field.target_field, models.AutoField)):
            return None  # the driver takes these as they are
        return lambda value: field.get_db_prep_save(value, self.connection)

    def new_row(self) -> list[Any]:
        return list(self.defaults)

    def finish(self, row: list[Any]) -> list[Any]:
        """Set what ``pre_save`` would and adapt every value for the database, in place."""
        for position, value in self.forced:
            row[position] = value
        for position, adapt in self.adapters:
            row[position] = adapt(row[position])
        return row

    def insert(self, rows: list[list[Any]], *, key: tuple[str, ...] = ()) -> list[int]:
        """Insert finished rows. With ``key`` (columns unique among the rows), returns the new
        primary keys in the order of the rows."""
        pk = self.model._meta.pk
        if key and pk.attname in self.index:  # the rows carry their primary key
            self.insert(rows)
            return [row[self.index[pk.attname]] for row in rows]
        if self.connection.vendor == "postgresql":
            return self._copy(rows, new_pks=bool(key))
        if key and not self.connection.features.can_return_rows_from_bulk_insert:
            raise NotSupportedError("The import needs INSERT … RETURNING (SQLite 3.35 or later).")
        quote = self.connection.ops.quote_name
        head = "INSERT INTO {} ({}) VALUES ".format(
            quote(self.model._meta.db_table), ", ".join(map(quote, self.sql_columns))
        )
        returning = [pk.column] + [self.fields[self.index[name]].column for name in key]
        tail = " RETURNING " + ", ".join(map(quote, returning)) if key else ""
        size = _max_query_params(self.connection) // len(self.columns)
        size = max(1, min(MAX_ROWS_PER_INSERT, size))
        pks: dict[tuple, int] = {}
        with self.connection.cursor() as cursor:
            execute, mark = cursor.execute, "%s"
            if self.connection.vendor == "sqlite":
                # In the driver's own paramstyle: Django's rewrite of every %s into ? costs, on
                # a statement of 30,000 parameters, a third of what SQLite takes to run it.
                execute, mark = self._sqlite_execute(cursor), "?"
            placeholders = "(" + ", ".join([mark] * len(self.columns)) + ")"
            for start in range(0, len(rows), size):
                batch = rows[start : start + size]
                execute(
                    head + ", ".join([placeholders] * len(batch)) + tail,
                    list(itertools.chain.from_iterable(batch)),
                )
                if key:
                    # RETURNING promises no order: the rows are matched on their key.
                    pks.update((tuple(found[1:]), found[0]) for found in cursor.fetchall())
        if not key:
            return []
        positions = [self.index[name] for name in key]
        return [pks[tuple(row[position] for position in positions)] for row in rows]

    def _sqlite_execute(self, cursor) -> Callable[[str, list], Any]:
        import sqlite3

        def execute(sql: str, params: list) -> None:
            with self.connection.wrap_database_errors:
                sqlite3.Cursor.execute(cursor.cursor, sql, params)

        return execute

    def _copy(self, rows: list[list[Any]], *, new_pks: bool) -> list[int]:
        """PostgreSQL: ``COPY … FROM STDIN``, the primary keys drawn from the table's sequence
        beforehand when they are needed. (A multi-row INSERT this long spends most of its time
        in the driver's parameter handling.)"""
        quote = self.connection.ops.quote_name
        table = self.model._meta.db_table
        columns = list(self.sql_columns)
        pks: list[int] = []
        with self.connection.cursor() as cursor:
            if new_pks:
                pk = self.model._meta.pk.column
                if self.sequence is None:
                    cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [quote(table), pk])
                    (self.sequence,) = cursor.fetchone()
                # The sequence named once: resolved per row, it cost ten times the nextval.
                cursor.execute(
                    "SELECT nextval(%s::regclass) FROM generate_series(1, %s)",
                    [self.sequence, len(rows)],
                )
                pks = [found[0] for found in cursor.fetchall()]
                columns.insert(0, pk)
            statement = "COPY {} ({}) FROM STDIN".format(
                quote(table), ", ".join(map(quote, columns))
            )
            with cursor.cursor.copy(statement) as copy:
                if new_pks:
                    for pk_value, row in zip(pks, rows, strict=True):
                        copy.write_row([pk_value, *row])
                else:
                    for row in rows:
                        copy.write_row(row)
        return pks


class _Recorded:
    """A model's table and its simple-history table, written together. The history rows are
    copied by the database from the rows just written (INSERT … SELECT): every tracked field as
    stored, with "+", the user, the reason and the time of the import, in primary-key order,
    as simple-history's ``bulk_history_create`` writes them."""

    def __init__(self, model, *, now: datetime.datetime, user, reason: str) -> None:
        self.model = model
        pk = model._meta.pk
        self.auto_pk = isinstance(pk, models.AutoField)
        self.table = _Table(
            model,
            [
                field.attname
                for field in model._meta.concrete_fields
                if not (self.auto_pk and field.primary_key)
            ],
            now=now,
        )
        history_model = model.history.model
        connection = self.table.connection
        constants = {
            "history_date": connection.ops.adapt_datetimefield_value(now),
            "history_change_reason": reason,
            "history_type": "+",
            "history_user_id": user.pk if user is not None else None,
        }
        tracked = [field.column for field in history_model.tracked_fields]
        columns = {field.attname for field in model._meta.concrete_fields}
        history_columns = {f.attname for f in history_model._meta.concrete_fields}
        # A history field this writer would not fill: fail loudly, never write it empty.
        unknown = history_columns - columns - set(constants) - {history_model._meta.pk.attname}
        if unknown or set(tracked) - columns:
            raise ImproperlyConfigured(f"{history_model.__name__}: cannot copy {unknown}")
        quote = connection.ops.quote_name
        self.history_sql = "INSERT INTO {} ({}) SELECT {}, {} FROM {} WHERE {} ".format(
            quote(history_model._meta.db_table),
            ", ".join(map(quote, [*tracked, *constants])),
            ", ".join(map(quote, tracked)),
            ", ".join(["%s"] * len(constants)),
            quote(model._meta.db_table),
            quote(pk.column),
        )
        self.history_params = list(constants.values())

    def insert(
        self, rows: list[list[Any]], *, key: tuple[str, ...], finished: bool = False
    ) -> list[int]:
        """Insert rows (from ``self.table.new_row()``; ``finished`` when they went through
        ``self.table.finish`` already), then their history rows. ``key`` names columns unique
        among the rows; returns the new primary keys in the order of the rows."""
        if not finished:
            for row in rows:
                self.table.finish(row)
        pks = self.table.insert(rows, key=key)
        if not rows:
            return pks
        # Selected by primary key, which the planner always looks up by its unique index (by a
        # foreign key, PostgreSQL scanned the whole fresh, unanalysed table for each chunk).
        if self.table.connection.vendor == "postgresql":
            where, params = "= ANY(%s) ORDER BY 1", [pks]
        else:
            where, params = f"IN ({', '.join(['%s'] * len(pks))}) ORDER BY 1", pks
        with self.table.connection.cursor() as cursor:
            cursor.execute(self.history_sql + where, [*self.history_params, *params])
        return pks


def _session_rows(
    table: _Table, study: Study, delivery_date: datetime.date
) -> list[tuple[datetime.date, list, list]]:
    """A mother's planned sessions as finished rows (without her key), each as planned and as
    done: the same for every mother delivered that day."""
    rows = []
    for session in study.session_plan(delivery_date):
        planned = table.new_row()
        for name, value in (
            ("postpartum_day", session.postpartum_day),
            ("slot", session.slot),
            ("planned_date", session.planned_date),
        ):
            planned[table.index[name]] = value
        done = planned.copy()
        # The cohort file says how many sessions were done, not when or how long: they are
        # dated by the plan (at the slot's usual hour), duration unknown.
        for name, value in (
            ("status", MassageSession.Status.DONE),
            ("source", Source.IMPORTED),
            (
                "started_at",
                timezone.make_aware(
                    datetime.datetime.combine(
                        session.planned_date, datetime.time(SLOT_HOURS[session.slot])
                    )
                ),
            ),
        ):
            done[table.index[name]] = value
        rows.append((session.planned_date, table.finish(planned), table.finish(done)))
    return rows


def _write_cohort(
    study: Study,
    planned: list[_Planned],
    *,
    user,
    reason: str,
    progress: Callable[[int, int], None] | None,
) -> None:
    now = timezone.now()
    mothers, identities, sessions, sheets, deviations = (
        _Recorded(model, now=now, user=user, reason=reason)
        for model in (
            Respondent,
            RespondentIdentity,
            MassageSession,
            Observation,
            ProtocolDeviation,
        )
    )
    mother_values = operator.attrgetter(*mothers.table.columns)
    session_plans: dict[datetime.date, list[tuple[datetime.date, list, list]]] = {}
    mother_at = sessions.table.index["respondent_id"]
    for start in range(0, len(planned), IMPORT_CHUNK):
        chunk = planned[start : start + IMPORT_CHUNK]
        pks = mothers.insert(
            [list(mother_values(item.respondent)) for item in chunk], key=("code",)
        )
        identity_rows, session_rows, sheet_rows, deviation_rows = [], [], [], []
        for item, pk in zip(chunk, pks, strict=True):
            respondent = item.respondent
            respondent.pk = pk
            if item.identity:
                row = identities.table.new_row()
                for name, value in {"respondent_id": respondent.pk, **item.identity}.items():
                    row[identities.table.index[name]] = value
                identity_rows.append(row)
            plan = session_plans.get(respondent.delivery_date)
            if plan is None:
                plan = session_plans[respondent.delivery_date] = _session_rows(
                    sessions.table, study, respondent.delivery_date
                )
            done_left = item.sessions_completed
            for planned_date, planned_row, done_row in plan:
                if done_left and planned_date >= respondent.enrolled_on:
                    done_left -= 1
                    row = done_row.copy()
                else:
                    row = planned_row.copy()
                row[mother_at] = pk
                session_rows.append(row)
            for deviation in item.deviations:
                row = deviations.table.new_row()
                for name, value in {
                    "respondent_id": pk,
                    "kind": deviation.kind,
                    "expected": deviation.expected,
                    "actual": deviation.actual,
                    "reason": reason,
                    "recorded_by_id": user.pk if user is not None else None,
                }.items():
                    row[deviations.table.index[name]] = value
                deviation_rows.append(row)
            for sheet in item.sheets:
                row = sheets.table.new_row()
                for name, value in sheet.items():
                    row[sheets.table.index[name]] = value
                row[sheets.table.index["respondent_id"]] = respondent.pk
                sheet_rows.append(row)
        identities.insert(identity_rows, key=("respondent_id",))
        sessions.insert(
            session_rows, key=("respondent_id", "postpartum_day", "slot"), finished=True
        )
        sheets.insert(sheet_rows, key=("respondent_id", "phase"))
        deviations.insert(deviation_rows, key=("respondent_id", "kind"))
        if progress:
            progress(start + len(chunk), len(planned))


# --- SPSS syntax -----------------------------------------------------------------------------

SPSS_FORMATS = {
    "respondent_code": "A30",
    "site": "A120",
    "delivery_date": "SDATE10",
    "enrolled_on": "SDATE10",
    "age_years": "F3.0",
    "parity": "F2.0",
    "education": "A10",
    "employment": "A12",
    "pre_feeds": "F2.0",
    "pre_urinations": "F2.0",
    "post_feeds": "F2.0",
    "post_urinations": "F2.0",
    "sessions_completed": "F2.0",
    "status": "A10",
    "withdrawal_reason": "A500",
    "withdrawn_on": "SDATE10",
    "consent_date": "SDATE10",
    "eligibility_confirmed": "F1.0",
    "pre_observed_on": "SDATE10",
    "post_observed_on": "SDATE10",
    "sessions_planned": "F2.0",
    "age_group": "A6",
    "parity_group": "A10",
}
SPSS_CATEGORIES = {
    # numeric copy, measurement level, the categories in order
    "education": ("education_n", "ORDINAL", Respondent.Education),
    "employment": ("employment_n", "NOMINAL", Respondent.Employment),
    "age_group": ("age_group_n", "ORDINAL", None),
    "parity_group": ("parity_group_n", "NOMINAL", None),
}


def _spss_text(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def spss_syntax(study: Study, *, delimiter: str = ",", filename: str = "") -> str:
    """SPSS syntax that reads the cohort CSV with labels and measurement levels and runs the
    paper's analysis (FREQUENCIES, DESCRIPTIVES and NPAR TESTS /WILCOXON)."""
    from .cohort import characteristic_labels

    filename = filename or f"{study.code}-cohort.csv"
    labels = {column.name: str(column.label) for column in dictionary()}
    group_labels = characteristic_labels()
    lines = [
        f"* {_('Lancar: the cohort of study %(code)s') % {'code': study.code}}.",
        f"* {_('Put this file next to %(file)s, or write its full path below.') % {'file': filename}}.",  # noqa: E501
        "GET DATA",
        "  /TYPE=TXT",
        f"  /FILE={_spss_text(filename)}",
        "  /ENCODING='UTF8'",
        "  /ARRANGEMENT=DELIMITED",
        f"  /DELIMITERS={_spss_text(delimiter)}",
        "  /QUALIFIER='\"'",
        "  /FIRSTCASE=2",
        "  /VARIABLES=",
        *[f"    {name} {SPSS_FORMATS[name]}" for name in COHORT_COLUMNS + EXTRA_COLUMNS],
        "  .",
        "CACHE.",
        "EXECUTE.",
        "",
        "VARIABLE LABELS",
        "  "
        + "\n  /".join(
            f"{name} {_spss_text(labels[name])}" for name in COHORT_COLUMNS + EXTRA_COLUMNS
        )
        + ".",
        "",
    ]
    for column, (numeric, level, choices_class) in SPSS_CATEGORIES.items():
        if choices_class is not None:
            categories = [(value, str(label)) for value, label in choices_class.choices]
        else:
            _title, mapping = group_labels[
                {"age_group": "age_group", "parity_group": "parity"}[column]
            ]
            categories = [(key, str(label)) for key, label in mapping.items()]
        recode = " ".join(
            f"({_spss_text(value)}={index})" for index, (value, _label) in enumerate(categories, 1)
        )
        lines += [
            f"RECODE {column} {recode} INTO {numeric}.",
            f"VARIABLE LABELS {numeric} {_spss_text(labels[column])}.",
            f"VALUE LABELS {numeric} "
            + " ".join(
                f"{index} {_spss_text(label)}"
                for index, (_value, label) in enumerate(categories, 1)
            )
            + ".",
            f"VARIABLE LEVEL {numeric} ({level}).",
            f"FORMATS {numeric} (F1.0).",
        ]
    scale = " ".join(
        ["age_years", "parity", "pre_feeds", "pre_urinations", "post_feeds", "post_urinations"]
    )
    lines += [
        f"VARIABLE LEVEL {scale} (SCALE).",
        "EXECUTE.",
        "",
        f"* {_('Withdrawn mothers are left out of the analysis, as in Lancar.')}.",
        "SELECT IF (status <> 'withdrawn').",
        "EXECUTE.",
        "",
        "FREQUENCIES VARIABLES=age_group_n parity_group_n education_n employment_n"
        " /ORDER=ANALYSIS.",
        "DESCRIPTIVES VARIABLES=pre_feeds pre_urinations post_feeds post_urinations"
        " /STATISTICS=MEAN STDDEV MIN MAX.",
        "NPAR TESTS",
        "  /WILCOXON=pre_feeds pre_urinations WITH post_feeds post_urinations (PAIRED)",
        "  /STATISTICS DESCRIPTIVES QUARTILES",
        "  /MISSING ANALYSIS.",
        "",
    ]
    return "\n".join(lines)
