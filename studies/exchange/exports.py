"""The exports a data manager downloads: generators of rows, so a view can stream them and
100,000 mothers cost no more memory than 100."""

from __future__ import annotations

import itertools
import operator
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

from django.db.models import F, FilteredRelation, Q
from django.utils.translation import gettext as _

from .. import analysis
from ..cohort import with_sheets
from ..models import (
    SLOT_ORDER,
    AuditEvent,
    ChoiceOverride,
    MassageSession,
    Observation,
    ProtocolDeviation,
    Respondent,
    RespondentIdentity,
    Study,
)
from ..selectors import history_reason
from .cells import _TRIGGERS, PreparedRows, one_line, quote
from .columns import (
    IDENTITY_COLUMNS,
    cohort_columns,
    dictionary,
    dictionary_rows,
    extra_columns,
)

# The mother's own columns and the query's name for each (the outcome and sheet-date columns
# come from her sheets, the derived groups from her row).
_RESPONDENT_VALUES = {
    "respondent_code": "code",
    "site": "site__name",
    "arm": "arm",
    "delivery_date": "delivery_date",
    "enrolled_on": "enrolled_on",
    "age_years": "age_years",
    "parity": "parity",
    "education": "education",
    "employment": "employment",
    "sessions_completed": "sessions_done",
    "status": "status",
    "withdrawal_reason": "withdrawal_reason",
    "withdrawn_on": "withdrawn_on",
    "consent_date": "consent_date",
    "eligibility_confirmed": "eligibility_confirmed",
    "sessions_planned": "sessions_planned",
    **{name: f"identity__{name}" for name in IDENTITY_COLUMNS},
}
_TEXT_COLUMNS = frozenset(
    {"respondent_code", "site", "arm", "education", "employment", "status", "withdrawal_reason"}
    | {"age_group", "parity_group", *IDENTITY_COLUMNS}
)
COHORT_CHUNK = 2000  # mothers fetched from the one query at a time


def outcome_cell(outcome) -> Callable[[Any], Any]:
    """How the cohort writes a stored value of ``outcome``: a whole number as ``int``; with
    decimals a ``Decimal`` of exactly the outcome's places (12.5 → ``12.5``, with two places
    ``12.50``), which the CSV writes as it is (a decimal comma in a semicolon file) and the
    spreadsheet as a number."""
    if outcome.numeric and outcome.decimals:
        quantum = Decimal(1).scaleb(-outcome.decimals)
        return lambda value: None if value is None else Decimal(str(value)).quantize(quantum)
    return lambda value: None if value is None else int(value)


def cohort_header(study: Study, *, identified: bool = False) -> list[str]:
    """The cohort export's columns: the contract's (DESIGN.md 4.4, for this study's
    definition), the extra ones, and with ``identified`` the identity's."""
    protocol = study.protocol
    header = [*cohort_columns(protocol), *extra_columns(protocol)]
    return header + list(IDENTITY_COLUMNS) if identified else header


def cohort_template_rows(study: Study, **_options) -> Iterator[list[str]]:
    """The import's template: the header alone, every column the importer reads for this
    study (the cohort export's, with the identity's), so a data manager fills the same file
    an export gives."""
    yield cohort_header(study, identified=True)


def _cohort_records(study: Study, header: list[str]) -> Iterator[list[list[Any]]]:
    """The mothers' rows in ``header`` order as Python values (dates as dates, outcome values
    by :func:`outcome_cell`), in batches of ``COHORT_CHUNK``. One query whatever the number
    of mothers: each time point's sheet joined once and its values read by key in the database
    (``cohort.with_sheets``, as the results read them), fetched ``COHORT_CHUNK`` rows at a
    time (a server-side cursor on PostgreSQL), so 100,000 mothers cost no more memory than
    2,000."""
    protocol = study.protocol
    names = [name for name in header if name in _RESPONDENT_VALUES]
    at = {name: position for position, name in enumerate(header)}
    value_columns = protocol.cohort_value_columns
    date_names = {point: f"{point}_observed_on" for point in protocol.timepoint_keys}
    selected = [
        *(_RESPONDENT_VALUES[name] for name in names),
        *date_names.values(),
        *(column for column, _point, _key in value_columns),
    ]
    # (position in the header, position in the query's row, how the value is written)
    cells = [(at[name], source, None) for source, name in enumerate(names)]
    cells += [
        (at[column], source, None) for source, column in enumerate(date_names.values(), len(cells))
    ]
    cells += [
        (at[column], source, outcome_cell(protocol.outcome(key)))
        for source, (column, _point, key) in enumerate(value_columns, len(cells))
    ]
    plain = [(position, source) for position, source, write in cells if write is None]
    written = [(position, source, write) for position, source, write in cells if write]
    age_at, parity_at = at["age_years"], at["parity"]
    groups = (at["age_group"], at["parity_group"])
    queryset = with_sheets(Respondent.objects.filter(study=study), value_columns, protocol)
    # A time point without an outcome column still has its sheet's date: its sheet joined too.
    measured = {point for _column, point, _key in value_columns}
    queryset = queryset.annotate(
        **{
            f"{point}_sheet": FilteredRelation(
                "observations", condition=Q(observations__timepoint=point)
            )
            for point in date_names
            if point not in measured
        }
    )
    queryset = (
        queryset.annotate(
            **{name: F(f"{point}_sheet__observed_on") for point, name in date_names.items()},
        )
        .order_by("code")
        .values_list(*selected)
    )
    width = len(header)
    batch: list[list[Any]] = []
    for found in queryset.iterator(chunk_size=COHORT_CHUNK):
        row: list[Any] = [None] * width
        for position, source in plain:
            row[position] = found[source]
        for position, source, write in written:
            row[position] = write(found[source])
        row[groups[0]] = analysis.age_group(row[age_at])
        row[groups[1]] = analysis.parity_group(row[parity_at])
        batch.append(row)
        if len(batch) == COHORT_CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


def cohort_rows(study: Study, *, identified: bool = False) -> Iterator[Any]:
    """The header, then the mothers in ``PreparedRows`` batches of finished CSV fields: text
    quoted (on one line, formulas neutralised), flags 1/0, numbers and dates bare, the outcome
    values with their decimals (``PreparedRows.decimals`` marks those columns, written with a
    decimal comma in a semicolon file). tests/test_exchange.py checks the result against the
    general path (``csv_field`` on every value of :func:`cohort_values`)."""
    header = cohort_header(study, identified=identified)
    yield header
    text = [name in _TEXT_COLUMNS for name in header]
    decimals = frozenset(
        position
        for position, name in enumerate(header)
        if (column := _outcome_of(study, name)) is not None and column.numeric and column.decimals
    )
    for records in _cohort_records(study, header):
        batch = PreparedRows()
        batch.decimals = decimals
        for row in records:
            batch.append(
                [
                    ""
                    if value is None
                    else quote(
                        "'" + one_line(value) if value[:1] in _TRIGGERS else one_line(value)
                    )
                    if is_text
                    else ("1" if value else "0")
                    if value is True or value is False
                    else str(value)
                    for value, is_text in zip(row, text, strict=True)
                ]
            )
        yield batch


def _outcome_of(study: Study, column: str):
    """The outcome behind a cohort column (``post_milk_ml`` → milk_ml), or None."""
    for name, _point, key in study.protocol.cohort_value_columns:
        if name == column:
            return study.protocol.outcome(key)
    return None


def cohort_values(study: Study, *, identified: bool = False) -> Iterator[list]:
    """The header, then the mothers' rows as Python values (dates as dates, outcome values as
    numbers with their decimals): the spreadsheet export's rows and the general path the tests
    hold ``cohort_rows`` to."""
    header = cohort_header(study, identified=identified)
    yield header
    for records in _cohort_records(study, header):
        for row in records:
            yield [one_line(value) if type(value) is str else value for value in row]


def observation_rows(study: Study, **_options) -> Iterator[list[Any]]:
    """The observations in long form: one row per value recorded (mother, arm, time point,
    outcome key, value, sheet date, who, notes, source), mothers by code, then time points and
    outcomes in the definition's order. Outcome values as :func:`outcome_cell` writes them."""
    protocol = study.protocol
    order = {key: index for index, key in enumerate(protocol.timepoint_keys)}
    outcomes = [(outcome.key, outcome_cell(outcome)) for outcome in protocol.outcomes]
    yield [
        "respondent_code",
        "site",
        "arm",
        "timepoint",
        "outcome",
        "value",
        "observed_on",
        "observed_by",
        "notes",
        "source",
    ]
    sheets = (
        Observation.objects.filter(respondent__study=study)
        .order_by("respondent__code", "respondent_id")
        .values_list(
            "respondent_id",
            "respondent__code",
            "respondent__site__name",
            "respondent__arm",
            "timepoint",
            "values",
            "observed_on",
            "observed_by__username",
            "notes",
            "source",
        )
        .iterator(chunk_size=2000)
    )
    for _respondent, group in itertools.groupby(sheets, key=operator.itemgetter(0)):
        for sheet in sorted(group, key=lambda sheet: order.get(sheet[4], len(order))):
            _id, code, site, arm, point, stored, observed_on, by, notes, source = sheet
            for key, write in outcomes:
                if stored and stored.get(key) is not None:
                    yield [
                        code, site, arm, point, key, write(stored[key]), observed_on, by,
                        notes, source,
                    ]  # fmt: skip


def session_rows(study: Study, **_options) -> Iterator[list[Any]]:
    yield [
        "respondent_code",
        "site",
        "arm",
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
        .order_by("respondent__code", "postpartum_day", "planned_date", SLOT_ORDER)
        .values_list(
            "respondent__code",
            "respondent__site__name",
            "respondent__arm",
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


class _Reasons(dict):
    """Each stored reason as the reader sees it (``selectors.history_reason``: the system's in
    the reader's language), worked out once per distinct reason (an import gives 100,000
    records one)."""

    def __missing__(self, text: str) -> str:
        shown = self[text] = history_reason(text)
        return shown


def _history_rows(
    model,
    record_type: str,
    queryset,
    label: Callable[[dict], str],
    fields,
    names: dict[str, tuple[str, _Label]] | None = None,
    expand: frozenset[str] = frozenset(),
    shown_values: dict[str, Callable[[Any], Any]] | None = None,
    created_field: str = "",
):
    """One row per created record and per changed field, from consecutive history rows of the
    same object (the history is read in object order, so memory stays flat). ``names`` shows a
    foreign key by what it points to: the field's name in the file and the label of the record,
    joined in the same query (``performed_by_id`` 4 → ``performed_by`` "bidan.sari"). A field
    in ``expand`` holds a mapping: each key that changed is a row of its own (``values.feeds``).
    ``shown_values`` shows a field's values in words (a test choice's empty test is the
    automatic choice); ``created_field`` is the field whose first value the row of a created
    record shows, from its empty value (the test a researcher chose). Reasons the system gave
    are in the reader's language."""
    names = names or {}
    shown_values = shown_values or {}
    reasons = _Reasons()
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
        reason = reasons[row["history_change_reason"] or ""]
        if not same_object or row["history_type"] != "~":
            field = old = new = ""
            if created_field and row["history_type"] == "+":
                show = shown_values.get(created_field, _as_stored)
                field, old, new = created_field, show(""), show(row[created_field])
            yield [*common, _ACTIONS[row["history_type"]], field, old, new, reason]
        else:
            for name in fields:
                if row[name] != previous[name]:
                    old, new = previous[name], row[name]
                    if name in expand:
                        # A mapping (a sheet's values): one row per key that changed.
                        old, new = old or {}, new or {}
                        for key in [*old, *(key for key in new if key not in old)]:
                            if old.get(key) != new.get(key):
                                yield [
                                    *common, "changed", f"{name}.{key}", old.get(key),
                                    new.get(key), reason,
                                ]  # fmt: skip
                        continue
                    if name in names:
                        name, shown = names[name]
                        old, new = _shown(shown, previous, old), _shown(shown, row, new)
                    elif name in shown_values:
                        old, new = shown_values[name](old), shown_values[name](new)
                    yield [*common, "changed", name, old, new, reason]
        previous = row


def _as_stored(value: Any) -> Any:
    return value


def _test_shown(test: str) -> str:
    """A test choice's test as the audit shows it: its key (``paired_t``), or the automatic
    choice (design and normality, DESIGN.md section 7) in words when none is chosen."""
    return test or _("automatic choice")


def _shown(label: _Label, row: dict, key: Any) -> Any:
    """A foreign key as the file shows it: its record's label, or the id if the record is
    gone (the history keeps ids of deleted records)."""
    if key is None:
        return None
    return label(row) if row[label.needs[0]] is not None else key


def audit_rows(study: Study, *, identified: bool = False) -> Iterator[list[Any]]:
    """The audit trail: who changed what, when, from what to what, and why. Records are named
    by their mother's code (and day, slot or time point), people by username and sites by name,
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
        "arm",
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
        "timepoint",
        "observed_on",
        "values",
        "observed_by_id",
        "notes",
        "source",
    ]
    yield from _history_rows(
        Observation,
        "observation",
        Observation.history.filter(respondent_id__in=codes),
        _Label(
            ("respondent_id", "timepoint"), lambda row: f"{code_of(row)} · {row['timepoint']}"
        ),
        sheet_fields,
        {"observed_by_id": ("observed_by", _named("observed_by__username"))},
        expand=frozenset({"values"}),
    )
    yield from _history_rows(
        ProtocolDeviation,
        "deviation",
        ProtocolDeviation.history.filter(respondent_id__in=codes),
        _Label(  # a sheet's deviation names its time point (one per time point)
            ("respondent_id", "kind", "timepoint"),
            lambda row: " · ".join(filter(None, (code_of(row), row["kind"], row["timepoint"]))),
        ),
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
    # The researcher's test choices (results page): who chose which test of which outcome, why.
    yield from _history_rows(
        ChoiceOverride,
        "test_choice",
        ChoiceOverride.history.filter(study_id=study.pk),
        _Label(("outcome", "comparison"), lambda row: f"{row['outcome']} · {row['comparison']}"),
        ["test", "reason"],
        shown_values={"test": _test_shown},
        created_field="test",
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
        yield [when, who or "", "study", study.code, action, "", "", "", history_reason(detail)]


EXPORTS: dict[str, Callable[..., Iterator[list[Any]]]] = {
    "cohort": cohort_rows,
    "observations": observation_rows,
    "sessions": session_rows,
    "audit": audit_rows,
    "dictionary": lambda study, **kwargs: dictionary_rows(study.protocol),
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
        "observations": sum(
            1
            for values in Observation.objects.filter(respondent__study=study)
            .values_list("values", flat=True)
            .iterator(chunk_size=2000)
            for value in (values or {}).values()
            if value is not None
        ),
        "sessions": MassageSession.objects.filter(respondent__study=study).count(),
        "audit": sum(1 for _row in audit_rows(study)) - 1,
        "dictionary": len(dictionary(study.protocol)),
    }
