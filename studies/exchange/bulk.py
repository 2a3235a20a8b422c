"""The import's writer: plain rows in multi-row INSERTs (SQLite) or COPY (PostgreSQL), and the
history copied by the database from the rows just written."""

from __future__ import annotations

import datetime
import functools
import itertools
import operator
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured
from django.db import NotSupportedError, connections, models, router
from django.utils import timezone

from ..models import (
    MassageSession,
    Observation,
    ProtocolDeviation,
    Respondent,
    RespondentIdentity,
    Slot,
    Source,
    Study,
)
from ..services import recount_sessions

if TYPE_CHECKING:
    from .imports import _Planned


# --- writing the import ----------------------------------------------------------------------
#
# An imported mother of the paper's study is nine rows (herself, six planned sessions, two
# sheets) and nine history rows. Built as model instances and saved with
# ``bulk_create_with_history``, the ORM's per-object work (an instance per row and per history
# row, every value prepared field by field, 66-row INSERTs on SQLite) was most of the import's
# time (make bench: 500 mothers a second).
# Here the rows are plain lists with the values the ORM would write (the models' own defaults
# and ``auto_now_add``, the backend's adaptation of dates and times), written with multi-row
# INSERTs on SQLite and COPY on PostgreSQL; the database then copies each new record into its
# history table, as simple-history's ``bulk_history_create`` would have written it.
# tests/test_import_writes.py holds the two ways to the same records and the same audit trail.

SLOT_HOURS = {Slot.MORNING: 8, Slot.AFTERNOON: 15, Slot.EVENING: 19}


def done_flags(
    planned_dates: list[datetime.date], enrolled_on: datetime.date, completed: int
) -> list[bool]:
    """Which of a mother's planned sessions (in plan order) an import records as done when her
    row says ``completed``: the first ones on or after her enrolment (the file says how many,
    not which). The importer's checks and this writer both use it."""
    flags = []
    for planned_date in planned_dates:
        done = completed > 0 and planned_date >= enrolled_on
        completed -= done
        flags.append(done)
    return flags


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
    table: _Table, study: Study, delivery_date: datetime.date, arm: str
) -> list[tuple[datetime.date, list, list]]:
    """A mother's planned sessions as finished rows (without her key), each as planned and as
    done: the same for every mother of ``arm`` delivered that day (none for an arm without a
    schedule)."""
    rows = []
    for session in study.session_plan(delivery_date, arm):
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


def write_cohort(
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
    session_plans: dict[tuple[datetime.date, str], list[tuple[datetime.date, list, list]]] = {}
    mother_at = sessions.table.index["respondent_id"]
    bounds: list[int] = []  # the smallest and largest key of each chunk's new mothers
    for start in range(0, len(planned), IMPORT_CHUNK):
        chunk = planned[start : start + IMPORT_CHUNK]
        pks = mothers.insert(
            [list(mother_values(item.respondent)) for item in chunk], key=("code",)
        )
        bounds += [min(pks), max(pks)] if pks else []
        identity_rows, session_rows, sheet_rows, deviation_rows = [], [], [], []
        for item, pk in zip(chunk, pks, strict=True):
            respondent = item.respondent
            respondent.pk = pk
            if item.identity:
                row = identities.table.new_row()
                for name, value in {"respondent_id": respondent.pk, **item.identity}.items():
                    row[identities.table.index[name]] = value
                identity_rows.append(row)
            day_and_arm = (respondent.delivery_date, respondent.arm)
            plan = session_plans.get(day_and_arm)
            if plan is None:
                plan = session_plans[day_and_arm] = _session_rows(
                    sessions.table, study, *day_and_arm
                )
            flags = done_flags(
                [planned_date for planned_date, _planned, _done in plan],
                respondent.enrolled_on,
                item.sessions_completed,
            )
            for (_date, planned_row, done_row), done in zip(plan, flags, strict=True):
                row = (done_row if done else planned_row).copy()
                row[mother_at] = pk
                session_rows.append(row)
            for deviation in item.deviations:
                row = deviations.table.new_row()
                for name, value in {
                    "respondent_id": pk,
                    "kind": deviation.kind,
                    "timepoint": deviation.timepoint,
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
        sheets.insert(sheet_rows, key=("respondent_id", "timepoint"))
        deviations.insert(deviation_rows, key=("respondent_id", "kind", "timepoint"))
        if progress:
            progress(start + len(chunk), len(planned))
    if bounds:
        # Her counts, in one statement for the whole file: the range of the new mothers' keys
        # (any other mother of the study inside it, enrolled meanwhile, is recounted as well,
        # which changes nothing), as no list of 100,000 keys fits in one SQLite statement.
        new_mothers = Respondent.objects.filter(study=study, pk__range=(min(bounds), max(bounds)))
        recount_sessions(new_mothers)
