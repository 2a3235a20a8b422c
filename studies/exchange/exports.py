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
from .cells import _TRIGGERS, PreparedRows
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
