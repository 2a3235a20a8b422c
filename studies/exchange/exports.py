"""The exports a data manager downloads: generators of rows, so a view can stream them and
100,000 mothers cost no more memory than 100."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db import connections, models

from .. import analysis
from ..cohort import session_count, with_sheets
from ..models import (
    AuditEvent,
    MassageSession,
    Observation,
    ProtocolDeviation,
    Respondent,
    RespondentIdentity,
    Study,
)
from .cells import _TRIGGERS, PreparedRows, one_line, quote
from .columns import (
    COHORT_COLUMNS,
    EXTRA_COLUMNS,
    IDENTITY_COLUMNS,
    dictionary,
    dictionary_rows,
)


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
_GROUPS = (GROUPS_AT, GROUPS_AT + 1)  # the derived groups: text


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
        row = [one_line(value) if type(value) is str else value for value in row]
        row[GROUPS_AT:GROUPS_AT] = [
            analysis.age_group(row[_AGE_AT]),
            analysis.parity_group(row[_PARITY_AT]),
        ]
        yield row


def cohort_rows(study: Study, *, identified: bool = False) -> Iterator[Any]:
    """The header, then the mothers in ``PreparedRows`` batches of finished CSV fields.

    The rows come straight from a chunked database cursor, without Django's per-value
    conversions: none changes what the CSV shows (SQLite's dates are already ISO text and its
    booleans 1 and 0). The column's model field, not the value's type, says what is text (to be
    quoted): SQLite hands dates over as text too. tests/test_exchange.py checks the result
    against the general path (``csv_field`` on every value)."""
    header, values, fields = _cohort_columns(identified=identified)
    # 2: text, quoted; 1: a flag, written 1 or 0; 0: a number or a date, written as it is.
    kinds = [
        2
        if isinstance(f, (models.CharField, models.TextField)) or i in _GROUPS
        else 1
        if isinstance(f, models.BooleanField)
        else 0
        for i, f in enumerate(fields)
    ]
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
                batch.append(
                    [
                        ""
                        if value is None
                        else quote(
                            "'" + one_line(value) if value[:1] in _TRIGGERS else one_line(value)
                        )
                        if kind == 2
                        else ("1" if value else "0")
                        if kind == 1
                        else str(value)
                        for value, kind in zip(row, kinds, strict=True)
                    ]
                )
            yield batch


def cohort_values(study: Study, *, identified: bool = False) -> Iterator[list]:
    """The header, then the mothers' rows as Django converts them (dates as dates): the
    spreadsheet export's rows."""
    header, values, _fields = _cohort_columns(identified=identified)
    yield header
    yield from _cohort_values(study, values)


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


class _Label:
    """How a row names a record: the values it needs from the query and how it shows them."""

    def __init__(self, needs: tuple[str, ...], render: Callable[[dict], str]) -> None:
        self.needs = needs
        self.render = render

    def __call__(self, row: dict) -> str:
        return self.render(row)


def _named(path: str) -> _Label:
    """The label of a related record that one joined column names (``site__name``)."""
    return _Label((path,), lambda row: row[path])


def _history_rows(
    model,
    record_type: str,
    queryset,
    label: Callable[[dict], str],
    fields,
    names: dict[str, tuple[str, _Label]] | None = None,
):
    """One row per created record and per changed field, from consecutive history rows of the
    same object (the history is read in object order, so memory stays flat). ``names`` shows a
    foreign key by what it points to: the field's name in the file and the label of the record,
    joined in the same query (``performed_by_id`` 4 → ``performed_by`` "bidan.sari")."""
    names = names or {}
    joined = [need for _name, shown in names.values() for need in shown.needs]
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
            *joined,
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
                    old, new = previous[name], row[name]
                    if name in names:
                        name, shown = names[name]
                        old, new = _shown(shown, previous, old), _shown(shown, row, new)
                    yield [*common, "changed", name, old, new, reason]
        previous = row


def _shown(label: _Label, row: dict, key: Any) -> Any:
    """A foreign key as the file shows it: its record's label, or the id if the record is
    gone (the history keeps ids of deleted records)."""
    if key is None:
        return None
    return label(row) if row[label.needs[0]] is not None else key


def audit_rows(study: Study, *, identified: bool = False) -> Iterator[list[Any]]:
    """The audit trail: who changed what, when, from what to what, and why. Records are named
    by their mother's code (and day, slot or phase), people by username and sites by name,
    joined in each table's one query (never a lookup per row)."""
    yield AUDIT_HEADER
    codes = dict(Respondent.objects.filter(study=study).values_list("pk", "code"))

    def code_of(row):
        return codes.get(row["respondent_id"], "?")

    def session_label(code, day, slot) -> str:
        return f"{code} · {day} · {slot}"

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
        {"site_id": ("site", _named("site__name"))},
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
            lambda row: session_label(code_of(row), row["postpartum_day"], row["slot"]),
        ),
        session_fields,
        {"performed_by_id": ("performed_by", _named("performed_by__username"))},
    )
    sheet_fields = [
        "phase",
        "observed_on",
        "feed_count",
        "urination_count",
        "observed_by_id",
        "notes",
        "source",
    ]
    yield from _history_rows(
        Observation,
        "observation",
        Observation.history.filter(respondent_id__in=codes),
        _Label(("respondent_id", "phase"), lambda row: f"{code_of(row)} · {row['phase']}"),
        sheet_fields,
        {"observed_by_id": ("observed_by", _named("observed_by__username"))},
    )
    yield from _history_rows(
        ProtocolDeviation,
        "deviation",
        ProtocolDeviation.history.filter(respondent_id__in=codes),
        _Label(("respondent_id", "kind"), lambda row: f"{code_of(row)} · {row['kind']}"),
        ["kind", "session_id", "expected", "actual", "reason", "resolved_at"],
        {
            "session_id": (
                "session",
                _Label(
                    ("session__respondent__code", "session__postpartum_day", "session__slot"),
                    lambda row: session_label(
                        row["session__respondent__code"],
                        row["session__postpartum_day"],
                        row["session__slot"],
                    ),
                ),
            )
        },
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


EXPORTS: dict[str, Callable[..., Iterator[list[Any]]]] = {
    "cohort": cohort_rows,
    "observations": observation_rows,
    "sessions": session_rows,
    "audit": audit_rows,
    "dictionary": lambda study, **kwargs: dictionary_rows(),
}
IDENTIFIABLE = frozenset({"cohort", "audit"})


# The spreadsheet export's rows: the cohort as Django converts it (dates as dates), the others
# as the CSV's.
SHEETS: dict[str, Callable[..., Iterator[list[Any]]]] = {**EXPORTS, "cohort": cohort_values}


def export_counts(study: Study) -> dict[str, int]:
    """Data rows of each export (the header not counted), as the files are written. The audit
    is counted by writing its rows: a change is one row per field it changed (none when nothing
    did), which no count of history rows gives."""
    return {
        "cohort": Respondent.objects.filter(study=study).count(),
        "observations": Observation.objects.filter(respondent__study=study).count(),
        "sessions": MassageSession.objects.filter(respondent__study=study).count(),
        "audit": sum(1 for _row in audit_rows(study)) - 1,
        "dictionary": len(dictionary()),
    }
