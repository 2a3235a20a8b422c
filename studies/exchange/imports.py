"""The all-or-nothing cohort import (DESIGN.md 4.3 and 4.4): every row parsed and checked by
the models' own rules before anything is written."""

from __future__ import annotations

import codecs
import contextlib
import csv
import datetime
import functools
import gc
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.template.defaultfilters import filesizeformat
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from .. import rules
from ..models import (
    AuditEvent,
    MassageSession,
    Observation,
    ProtocolDeviation,
    Respondent,
    RespondentIdentity,
    Source,
    Study,
)
from ..services import IMPORTED_FROM, MOTHERS_IMPORTED
from .bulk import SLOT_HOURS, done_flags, write_cohort
from .cells import restore
from .columns import (
    IDENTITY_COLUMNS,
    OPTIONAL_COLUMNS,
    choice_hint,
    choice_key,
    choice_words,
    cohort_columns,
    known_columns,
)

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
    # How the file was read, for the person to check before importing: the first day-first
    # date of each date column that could be read either way, in words ("“05/06/2026” read day
    # first, as 5 June 2026"), listed by the preview page from the job's report["notes"].
    notes: list[RowError] = field(default_factory=list)

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
# Model field → CSV column, to put a model's validation message on the right column.
FIELD_COLUMNS = {
    "code": "respondent_code",
    "site": "site",
    "arm": "arm",
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


# The byte-order marks of the encodings read besides UTF-8. Excel's "Unicode Text" is UTF-16
# (little-endian, with its mark) separated by tabs; UTF-32's marks are tested first, as UTF-32LE's
# begins with UTF-16LE's.
_MARKED_ENCODINGS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _encoding_name(data: bytes) -> str:
    """A guess, in words, at the encoding of bytes that are not UTF-8, for the message."""
    try:
        data.decode("cp1252")
    except UnicodeDecodeError:
        return _("in an encoding other than UTF-8")
    return _("probably Windows-1252, what Excel writes for “CSV (Comma delimited)”")


def _looks_like_utf16(data: bytes) -> bool:
    """UTF-16 written without its byte-order mark: text whose every other byte is NUL."""
    sample = data[:400]
    for nuls, others in ((sample[1::2], sample[0::2]), (sample[0::2], sample[1::2])):
        if nuls and nuls.count(0) * 2 > len(nuls) and others.count(0) * 4 < len(others):
            return True
    return False


def decode(data: bytes, *, limit: int = MAX_IMPORT_BYTES) -> str:
    """The file's text, or :class:`ImportFileError` for a file too large, not text (a NUL
    anywhere), in an encoding it cannot read (named in the message) or empty. Reads UTF-8 with
    or without its byte-order mark, and UTF-16 or UTF-32 with theirs (Excel's “Unicode
    Text”)."""
    if len(data) > limit:
        raise file_too_large(limit)
    encoding = next(
        (name for mark, name in _MARKED_ENCODINGS if data.startswith(mark)), "utf-8-sig"
    )
    # Anywhere in the file, not only its start: PostgreSQL refuses a NUL in a text column.
    # UTF-16 text is full of NUL bytes, so there it is looked for in the decoded text.
    if encoding == "utf-8-sig" and b"\x00" in data:
        if _looks_like_utf16(data):
            raise ImportFileError(
                _(
                    "The file is UTF-16 text without its byte-order mark. In Excel, save it as "
                    "“CSV UTF-8” or as “Unicode Text”."
                )
            )
        raise ImportFileError(_("This is not a text (CSV) file."))
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as error:
        if encoding != "utf-8-sig":
            raise ImportFileError(
                _("The file is not valid %(encoding)s text (byte %(position)s).")
                % {"encoding": encoding.upper(), "position": error.start + 1}
            ) from None
        raise ImportFileError(
            _(
                "The file is not UTF-8 text (byte %(position)s: it is %(encoding)s). In Excel, "
                "save it as “CSV UTF-8” or as “Unicode Text”."
            )
            % {"position": error.start + 1, "encoding": _encoding_name(data)}
        ) from None
    if "\x00" in text:
        raise ImportFileError(_("This is not a text (CSV) file."))
    if not text.strip():
        raise ImportFileError(_("The file is empty."))
    return text


# Excel's first line naming the separator (``sep=;``), which it writes and reads but which is
# no part of the table.
_SEPARATOR_LINE = re.compile(r"sep=(.)[ \t]*(\r\n|\n|\r|$)", re.IGNORECASE)


def detect_delimiter(header_line: str) -> str:
    """The separator of a header line: the one of comma, semicolon and tab it holds most of
    (a comma when it holds none)."""
    counts = {delimiter: header_line.count(delimiter) for delimiter in (",", ";", "\t")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


@functools.cache
def _choice_lookup(choices_class) -> dict[str, str]:
    """Every word a file may write for a choice (columns.choice_words), compared as
    ``choice_key`` compares them, to its value. Built once: the labels are read in both
    languages whatever the request's."""
    return {
        choice_key(word): value
        for value, words in choice_words(choices_class).items()
        for word in words
    }


# A whole number as a spreadsheet writes it: ASCII digits only (Python's ``int`` also takes
# ``1_0``, ``２９`` and ``٥``), with an optional sign, and the ``.0`` or ``,0`` of a cell formatted
# with decimals. Three decimals are refused: ``5.000`` is five thousand in Indonesian.
_WHOLE_NUMBER = re.compile(r"([+-]?[0-9]+)(?:[.,]0{1,2})?")
_ASCII_NUMBER = re.compile(r"[+-]?[0-9]+(?:[.,][0-9]+)?")
_THOUSANDS = re.compile(r"[+-]?[0-9]{1,3}(?:[.,][0-9]{3})+")
# Dates, ASCII digits only: year first (ISO, the export's form; ``/`` or ``.`` also), or day first
# as Indonesian sheets write them, whatever the interface language. A two-digit year is refused.
_YEAR_FIRST = re.compile(r"([0-9]{4})([-/.])([0-9]{1,2})\2([0-9]{1,2})")
_DAY_FIRST = re.compile(r"([0-9]{1,2})([-/.])([0-9]{1,2})\2([0-9]{4})")


class _Row:
    """Parses one CSV row's cells, collecting errors per column."""

    def __init__(
        self,
        number: int,
        values: dict[str, str],
        errors: list[RowError],
        notes: dict[str, RowError] | None = None,
    ) -> None:
        self.number = number
        self.values = values
        self.errors = errors  # the whole file's
        # This row's columns with an error: looked up here, not in the file's list, which would
        # make a file with an error on each of 100,000 rows take quadratic time.
        self.failed: set[str] = set()
        # The file's first day-first date that could be read either way, per column (shown in
        # words in the preview so that a month-first file is caught before it is imported).
        self.notes = notes if notes is not None else {}

    def error(self, column: str, message: str) -> None:
        self.errors.append(RowError(self.number, column, message))
        self.failed.add(column)

    def text(self, column: str) -> str:
        return restore(self.values.get(column, "").strip())

    def integer(self, column: str) -> int | None:
        raw = self.values.get(column, "").strip()
        if raw == "":
            return None
        match = _WHOLE_NUMBER.fullmatch(raw)
        if match is None:
            self.error(column, _("“%(value)s” is not a whole number.") % {"value": raw[:40]})
            return None
        return int(match.group(1))

    def outcome_text(self, column: str, outcome) -> str:
        """An outcome's cell as text for the definition's check (``Outcome.check``, which takes
        "12,5" and "12.5"). Only what a spreadsheet writes passes on: ASCII digits (``Decimal``
        also reads ``٥`` and ``２９``), and for a whole-number outcome not ``5.000``, which is
        five thousand in Indonesian. A category's cell passes on as it is: its value or its
        label, which the check reads."""
        raw = self.values.get(column, "").strip()
        if not raw:
            return ""
        if not outcome.numeric:
            # A category: its value or its label, read by the definition's own rule.
            return raw
        whole = outcome.decimals == 0
        if _ASCII_NUMBER.fullmatch(raw) is None or (
            whole and _WHOLE_NUMBER.fullmatch(raw) is None and _THOUSANDS.fullmatch(raw)
        ):
            message = (
                _("“%(value)s” is not a whole number.")
                if whole
                else _("“%(value)s” is not a number.")
            )
            self.error(column, message % {"value": raw[:40]})
            return ""
        return raw

    def date(self, column: str) -> datetime.date | None:
        raw = self.values.get(column, "").strip()
        if raw == "":
            return None
        day_first = False
        if match := _YEAR_FIRST.fullmatch(raw):
            year, month, day = match.group(1, 3, 4)
        elif match := _DAY_FIRST.fullmatch(raw):
            day, month, year = match.group(1, 3, 4)
            day_first = True
        else:
            year = None
        try:
            if year is None:
                raise ValueError
            parsed = datetime.date(int(year), int(month), int(day))
        except ValueError:
            self.error(
                column,
                _("“%(value)s” is not a date: write it as DD/MM/YYYY or YYYY-MM-DD.")
                % {"value": raw[:40]},
            )
            return None
        ambiguous = day_first and parsed.day <= 12 and parsed.day != parsed.month
        if ambiguous and column not in self.notes:
            self.notes[column] = RowError(
                self.number,
                column,
                _("“%(value)s” read day first, as %(date)s.")
                % {"value": raw, "date": formats.date_format(parsed, "j F Y")},
            )
        return parsed

    def required(self, column: str, value):
        if (value is None or value == "") and column not in self.failed:
            self.error(column, _("This value is required."))
        return value

    def choice(self, column: str, choices_class, *, default: str | None = None) -> str | None:
        """A choice's value from its key or any of its words (columns.choice_words: the labels
        in both languages, SMA, Bekerja …), whatever their case."""
        raw = self.text(column)
        if raw == "" and default is not None:
            return default
        if raw == "":
            return self.required(column, None)
        value = _choice_lookup(choices_class).get(choice_key(raw))
        if value is None:
            self.error(
                column,
                _("“%(value)s” is not one of: %(allowed)s.")
                % {"value": raw[:40], "allowed": choice_hint(choices_class)},
            )
        return value


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


class _ReadContext:
    """What one read of a file computes once, not per row: the moment and the day every row is
    judged against, the clinic's time zone, and each mother's planned sessions dated by the
    plan, per delivery date and arm (a file of 100,000 mothers has a few hundred of those)."""

    def __init__(self, study: Study) -> None:
        self.study = study
        self.protocol = study.protocol
        self.enrolment_day = self.protocol.enrolment_day
        self.now = timezone.now()
        self.today = timezone.localdate()
        self.zone = timezone.get_current_timezone()
        self._plans: dict[tuple[datetime.date, str], tuple[list, list]] = {}
        # Model.clean_fields' fields, less the ones the importer looks up itself or checks
        # apart (the code, for its uniqueness across the file).
        self._fields = [
            field
            for field in Respondent._meta.concrete_fields
            if not field.primary_key and field.name not in ("study", "site", "code")
        ]
        self._field_errors: dict[tuple, list[ValidationError]] = {}
        self._sheet_values: dict[tuple, tuple[dict, dict]] = {}

    def field_errors(self, model_field, value) -> list[ValidationError]:
        """``field.clean(value)``'s errors (the field's ``to_python``, choices, null and blank
        and its validators, as ``Model.clean_fields`` runs them), an empty list when the value
        is fine. A field's checks are functions of the value alone, so each distinct value of
        a column is checked once per read (a file of 100,000 mothers has a few hundred ages,
        dates and choices)."""
        key = (model_field, type(value), value)
        found = self._field_errors.get(key)
        if found is None:
            try:
                cleaned = model_field.clean(value, None)
            except ValidationError as error:
                found = error.error_list
            else:
                # A value the field would convert (none the row's parsing gives) is not kept.
                if cleaned != value or type(cleaned) is not type(value):
                    return []
                found = []
            self._field_errors[key] = found
        return found

    def respondent_errors(self, respondent: Respondent, exclude: set[str]):
        """``respondent.full_clean(exclude, validate_unique=False)`` on a mother parsed from a
        row, judged against the read's day: her fields' validators (:meth:`field_errors`),
        the model's rules (``Respondent.rule_errors``) and its check constraints
        (``validate_constraints``) on the fields that passed, as ``{field: [ValidationError]}``
        (empty when she is fine)."""
        errors: dict[str, list[ValidationError]] = {}
        for model_field in self._fields:
            if model_field.name in exclude:
                continue
            value = getattr(respondent, model_field.attname)
            if model_field.blank and value in model_field.empty_values:
                continue
            found = self.field_errors(model_field, value)
            if found:
                errors[model_field.name] = list(found)
        for name, error in respondent.rule_errors(self.today).items():
            errors.setdefault(name, []).extend(error.error_list)
        try:
            respondent.validate_constraints(exclude={*exclude, "code", *errors})
        except ValidationError as error:
            for name, found in error.error_dict.items():
                errors.setdefault(name, []).extend(found)
        return errors

    def check_values(self, timepoint: str, raw: dict[str, str]) -> tuple[dict, dict]:
        """``protocol.check_values`` (the definition's own check of a sheet), once per distinct
        sheet of the file: a copy of the clean values, the problems by outcome key."""
        key = (timepoint, *raw.items())
        found = self._sheet_values.get(key)
        if found is None:
            found = self._sheet_values[key] = self.protocol.check_values(timepoint, raw)
        values, problems = found
        return dict(values), problems

    def plan(
        self, delivery_date: datetime.date, arm: str
    ) -> tuple[list[datetime.date], list[datetime.datetime]]:
        """``(planned dates, starts)`` of the sessions of a mother of ``arm`` delivered on
        ``delivery_date``, in plan order: each start at its slot's usual hour, time-zone aware."""
        key = (delivery_date, arm)
        found = self._plans.get(key)
        if found is None:
            plan = self.study.session_plan(delivery_date, arm)
            found = self._plans[key] = (
                [session.planned_date for session in plan],
                [
                    timezone.make_aware(
                        datetime.datetime.combine(
                            session.planned_date, datetime.time(SLOT_HOURS[session.slot])
                        ),
                        self.zone,
                    )
                    for session in plan
                ],
            )
        return found


def imported_sessions_done(
    study: Study, respondent: Respondent, completed: int, context: _ReadContext | None = None
) -> list[tuple[datetime.date, datetime.datetime]]:
    """The sessions an import records as done for a mother whose row says ``completed``: the
    first ones of her plan on or after her enrolment, dated by the plan at the slot's usual
    hour (the file says how many, not when). Returns ``(date, start)`` pairs; fewer than
    ``completed`` when her plan has fewer sessions from her enrolment on. The importer's checks
    and its writer both use ``done_flags``, so what the preview reports is what is written.
    ``context`` (one per read) keeps the plans already dated."""
    dates, starts = (context or _ReadContext(study)).plan(respondent.delivery_date, respondent.arm)
    flags = done_flags(dates, respondent.enrolled_on, completed)
    return [
        (day, started_at)
        for day, started_at, done in zip(dates, starts, flags, strict=True)
        if done
    ]


def _check_row_against_rules(
    row: _Row,
    study: Study,
    respondent: Respondent,
    sheets: list[dict[str, Any]],
    completed: int,
    dated_by_protocol: set[str],
    context: _ReadContext,
) -> list[datetime.date]:
    """The rules relating a mother's records to one another (studies/rules.py), applied to the
    row's parsed values exactly as the models apply them to saved records. Returns the dates
    of the sessions the row records as done (none when their number is wrong)."""
    done = imported_sessions_done(study, respondent, completed, context)
    if len(done) < completed:
        row.error(
            "sessions_completed",
            _(
                "%(count)s sessions done, but only %(possible)s planned sessions fall on or "
                "after the enrolment date."
            )
            % {"count": completed, "possible": len(done)},
        )
        return []
    now = context.now
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
            return []
    dates = {sheet["timepoint"]: sheet["observed_on"] for sheet in sheets if sheet["observed_on"]}
    today = context.today
    for sheet in sheets:
        point = sheet["timepoint"]
        column = f"{point}_observed_on"
        if column in row.failed or not sheet["observed_on"]:
            continue
        errors = rules.sheet_dates(
            protocol=study.protocol,
            arm=respondent.arm,
            timepoint=point,
            observed_on=sheet["observed_on"],
            delivery_date=respondent.delivery_date,
            today=today,
            other_sheets={other: day for other, day in dates.items() if other != point},
            sessions_done_on=[day for day, _started in done],
        )
        for error in errors.values():
            message = " ".join(error.messages)
            if point in dated_by_protocol:
                message = _(
                    "%(message)s (The file gives no date for this sheet; by the protocol it "
                    "is %(date)s.)"
                ) % {"message": message, "date": formats.date_format(sheet["observed_on"])}
            row.error(column, message)
    return [day for day, _started in done]


def _arm(row: _Row, protocol, site) -> str | None:
    """The row's arm: for a study of two or more arms one of its arm keys (or an arm's label in
    either language); with ``by_site`` allocation it must be the site's arm (an empty cell takes
    it), with ``blocks`` or ``chosen`` the recorded arm is taken as it is (historical). A study
    without arms has its one key. None when the cell is wrong (the error is on the row)."""
    if not protocol.has_arms:
        return protocol.arm_keys[0]
    raw = row.text("arm")
    site_arm = protocol.arm_by_site.get(site.name) if site is not None else None
    if raw == "":
        if protocol.allocation == "by_site" and site_arm:
            return site_arm
        if protocol.allocation != "by_site" or site is not None:
            row.error("arm", _("Name the mother's arm: %(arms)s.") % {"arms": _arm_list(protocol)})
        return None
    arm = protocol.arm_for(raw)
    if arm is None:
        row.error(
            "arm",
            _("“%(value)s” is not one of the study's arms: %(arms)s.")
            % {"value": raw[:40], "arms": _arm_list(protocol)},
        )
        return None
    if protocol.allocation == "by_site" and site_arm and arm != site_arm:
        row.error(
            "arm",
            _("The site %(site)s gives its mothers the arm %(arm)s (allocation by site).")
            % {"site": site.name, "arm": site_arm},
        )
        return None
    return arm


def _arm_list(protocol) -> str:
    return ", ".join(f"{arm.key} ({arm.label})" for arm in protocol.arms)


def _parse_row(
    row: _Row,
    study: Study,
    sites: dict[str, Any],
    seen: dict[str, int],
    context: _ReadContext | None = None,
) -> _Planned | None:
    context = context or _ReadContext(study)
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
    protocol = study.protocol
    arm = _arm(row, protocol, site)
    status = row.choice("status", Respondent.Status, default=Respondent.Status.ENROLLED)
    respondent = Respondent(
        study=study,
        site=site,
        arm=arm or protocol.arm_keys[0],
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
        respondent.withdrawn_on = respondent.withdrawn_on or context.today
    # Fields whose cell already failed to parse are not validated again; the database rules
    # about them (constraints) are skipped with them.
    exclude = {name for name, column in FIELD_COLUMNS.items() if column in row.failed}
    # The study and the site are objects the importer looked up itself: no query to check them.
    exclude |= {"study", "site"}
    # The code's uniqueness in the study is checked for the whole file at once (read_cohort);
    # its format is checked here.
    errors = context.respondent_errors(respondent, exclude)
    if "code" not in exclude:
        try:
            _clean_field(respondent, "code")
        except ValidationError as error:
            errors.setdefault("code", []).extend(error.error_dict["code"])
    if errors:
        _model_errors(row, ValidationError(errors))
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
    for point in protocol.timepoints:
        raw = {
            outcome.key: row.outcome_text(f"{point.key}_{outcome.key}", outcome)
            for outcome in protocol.outcomes_at(point.key)
        }
        if all(value == "" for value in raw.values()):
            continue
        # The definition's own check (the one forms and services use): type, range, decimals,
        # categories.
        values, problems = context.check_values(point.key, raw)
        for key, message in problems.items():
            row.error(f"{point.key}_{key}", message)
        column = f"{point.key}_observed_on"
        observed_on = row.date(column)
        if observed_on is None and dates_valid and column not in row.failed:
            # A sheet without its date (the 4.4 columns carry none) is dated by the protocol:
            # on its time point's day (a baseline of a mother enrolled later, her enrolment day).
            observed_on = rules.sheet_due_date(
                protocol,
                point.key,
                delivery_date=respondent.delivery_date,
                enrolled_on=respondent.enrolled_on,
            )
            dated_by_protocol.add(point.key)
        sheet = {
            "timepoint": point.key,
            "observed_on": observed_on,
            "values": values,
            "source": Source.IMPORTED,
        }
        if observed_on:
            for error in context.field_errors(OBSERVED_ON, observed_on):
                for message in error.messages:
                    row.error(column, message)
        sheets.append(sheet)
    completed = row.integer("sessions_completed") or 0
    sessions_done_on: list[datetime.date] = []
    planned = study.sessions_planned(respondent.arm) if arm else 0
    if arm and planned == 0 and completed:
        row.error(
            "sessions_completed",
            _("This arm has no sessions: leave the cell empty or write 0."),
        )
    elif arm and (completed < 0 or completed > planned):
        row.error(
            "sessions_completed",
            _("Must be between 0 and %(planned)s (the sessions this study plans).")
            % {"planned": planned},
        )
    elif arm and dates_valid:
        sessions_done_on = _check_row_against_rules(
            row, study, respondent, sheets, completed, dated_by_protocol, context
        )
    # Her status and withdrawal against her sheets and sessions: the model's own rules
    # (Respondent.record_errors), on the row's records.
    related = respondent.record_errors(
        sheets={sheet["timepoint"]: sheet["observed_on"] for sheet in sheets},
        sessions_done_on=sessions_done_on,
    )
    related = {
        name: error for name, error in related.items() if FIELD_COLUMNS[name] not in row.failed
    }
    if related:
        _model_errors(row, ValidationError(related))
    deviations = []
    if dates_valid:
        # The import dates its sessions done by the plan, so only the enrolment day and the
        # sheets' dates can depart (the same rule as every other write, services.sync_deviations).
        deviations = rules.protocol_deviations(
            enrolment_day=context.enrolment_day,
            delivery_date=respondent.delivery_date,
            enrolled_on=respondent.enrolled_on,
            sheets=[
                (
                    sheet["timepoint"],
                    sheet["observed_on"],
                    rules.sheet_due_date(
                        protocol,
                        sheet["timepoint"],
                        delivery_date=respondent.delivery_date,
                        enrolled_on=respondent.enrolled_on,
                    ),
                )
                for sheet in sheets
                if sheet["observed_on"]
            ],
        )
    return _Planned(respondent, identity, sheets, completed, deviations)


OBSERVED_ON = Observation._meta.get_field("observed_on")
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
    separator_line = _SEPARATOR_LINE.match(text)
    if separator_line:
        # Excel hides this line: the header stays row 1, as the person sees it.
        delimiter = separator_line.group(1)
        text = text[separator_line.end() :]
    else:
        # The first line without splitting the whole file into a list of lines.
        delimiter = detect_delimiter(re.match(r"[^\r\n]*", text).group())
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [name.strip().lower() for name in next(reader, [])]
    except csv.Error as error:
        raise ImportFileError(
            _("The file is not valid CSV: %(error)s") % {"error": error}
        ) from None
    # Excel writes a column for every cell ever formatted: empty names at the end are no columns.
    while header and header[-1] == "":
        header.pop()
    report = ImportReport(delimiter=delimiter)
    protocol = study.protocol
    known = known_columns(protocol)
    optional = OPTIONAL_COLUMNS | ({"arm"} if protocol.allocation == "by_site" else set())
    unknown = [name for name in header if name and name not in known]
    unnamed = [str(number) for number, name in enumerate(header, start=1) if not name]
    duplicated = sorted({name for name in header if name and header.count(name) > 1})
    missing = [
        name for name in cohort_columns(protocol) if name not in header and name not in optional
    ]
    sites = {site.name.casefold(): site for site in study.sites.all()}
    if "site" not in header and len(sites) != 1:
        missing.insert(1, "site")
    problems = []
    if unknown:
        problems.append(_("Unknown column(s): %(columns)s.") % {"columns": ", ".join(unknown)})
    if unnamed:
        problems.append(
            _("Column(s) without a name in the header: %(numbers)s.")
            % {"numbers": ", ".join(unnamed)}
        )
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
    context = _ReadContext(study)
    planned: list[_Planned] = []
    date_notes: dict[str, RowError] = {}
    try:
        for number, cells in enumerate(reader, start=2):
            if not any(value.strip() for value in cells):
                continue
            row = _Row(number, {}, report.errors, date_notes)
            while len(cells) > len(header) and not cells[-1].strip():
                cells.pop()  # the empty cells of the empty columns at the end
            report.rows += 1
            if len(cells) > len(header):
                row.error("", _("This row has more cells than the header has columns."))
                planned.clear()
                continue
            row.values = dict(zip(header, cells, strict=False))
            item = _parse_row(row, study, sites, seen, context)
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
                            f"{deviation.timepoint}_observed_on"
                            if deviation.timepoint
                            else "enrolled_on",
                            ProtocolDeviation(
                                respondent=item.respondent,
                                kind=deviation.kind,
                                timepoint=deviation.timepoint,
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
    report.notes += date_notes.values()
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
    with _collector_paused():
        return _import_cohort(
            study=study,
            data=data,
            user=user,
            dry_run=dry_run,
            filename=filename,
            progress=progress,
            read_progress=read_progress,
            limit=limit,
        )


@contextlib.contextmanager
def _collector_paused():
    """Python's cycle collector off while a file is read and written: the rows kept for
    writing are 100,000 objects that live to the end, which every full collection walked again
    (a tenth of a large import's time). The collector is back as it was when the import ends,
    however it ends, and collects then what cycles the import left."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _import_cohort(
    *,
    study: Study,
    data: bytes,
    user,
    dry_run: bool,
    filename: str,
    progress: Callable[[int, int], None] | None,
    read_progress: Callable[[int], None] | None,
    limit: int,
) -> ImportReport:
    report, planned = read_cohort(study, data, limit=limit, read_progress=read_progress)
    report.dry_run = dry_run
    report.sheets = sum(len(item.sheets) for item in planned)
    report.sessions_done = sum(item.sessions_completed for item in planned)
    if report.errors or dry_run:
        return report
    # In the importer's language, as the deviations it records show it on the mother's page;
    # the history and the audit export show it in each reader's (selectors.history_reason).
    reason = _(IMPORTED_FROM) % {"file": filename or "CSV"}
    signed_in = user if user is not None and user.is_authenticated else None
    with transaction.atomic():
        write_cohort(study, planned, user=signed_in, reason=reason, progress=progress)
        AuditEvent.objects.create(
            study=study,
            user=signed_in,
            action=AuditEvent.Action.IMPORT,
            detail=_(MOTHERS_IMPORTED) % {"rows": len(planned), "file": filename or "CSV"},
        )
        report.created = len(planned)
    return report
