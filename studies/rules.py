"""The clinical rules that relate one record to others, each written once as a plain function
of values.

``Model.clean()`` calls them with values read from the database; the importer calls them with
values parsed from a row of the file, before anything is written. So no write path can skip a
rule, and each rule has one wording. Every function returns ``{field: ValidationError}`` (empty
when the values are fine) and never raises, so a caller can gather the errors of several rules;
``None`` stands for a value that is unknown or not given, and a rule about it is not applied.

Dates are ``datetime.date`` in the clinic's time zone; ``today`` is passed in (the caller's
``timezone.localdate()``) so that a row is judged against one day from start to end.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.utils import formats
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

Errors = dict[str, ValidationError]

DONE, MISSED, REFUSED = "done", "missed", "refused"
WITHDRAWN, COMPLETED = "withdrawn", "completed"
IMPORTED = "imported"


def _error(message, code: str, **params) -> ValidationError:
    return ValidationError(message, code=code, params=params or None)


def _date(day: datetime.date) -> str:
    return formats.date_format(day)


def respondent_dates(
    *,
    delivery_date: datetime.date | None,
    enrolled_on: datetime.date | None,
    consent_date: datetime.date | None,
    withdrawn_on: datetime.date | None,
    today: datetime.date,
) -> Errors:
    """A mother's own dates: delivery and enrolment not in the future, consent between delivery
    and enrolment, withdrawal between enrolment and today. (Enrolment not before delivery is a
    database constraint on the model.)"""
    errors: Errors = {}
    if consent_date and delivery_date and consent_date < delivery_date:
        errors["consent_date"] = _error(
            _("Consent cannot be before the delivery date."), "consent_before_delivery"
        )
    elif consent_date and enrolled_on and consent_date > enrolled_on:
        errors["consent_date"] = _error(
            _("Consent must be given on or before the enrolment date."), "consent_after_enrolment"
        )
    if delivery_date and delivery_date > today:
        errors["delivery_date"] = _error(
            _("The delivery date cannot be in the future."), "delivered_in_future"
        )
    if enrolled_on and enrolled_on > today:
        errors["enrolled_on"] = _error(
            _("The enrolment date cannot be in the future."), "enrolled_in_future"
        )
    if withdrawn_on and enrolled_on and withdrawn_on < enrolled_on:
        errors["withdrawn_on"] = _error(
            _("Withdrawal cannot be before enrolment."), "withdrawn_before_enrolment"
        )
    elif withdrawn_on and withdrawn_on > today:
        errors["withdrawn_on"] = _error(
            _("The withdrawal date cannot be in the future."), "withdrawn_in_future"
        )
    return errors


def withdrawal_complete(
    *, status: str, withdrawn_on: datetime.date | None, withdrawal_reason: str
) -> Errors:
    """A withdrawal needs a date and a reason (the database holds the same rule as a check
    constraint; this names the missing field)."""
    errors: Errors = {}
    if status != WITHDRAWN:
        return errors
    if withdrawn_on is None:
        errors["withdrawn_on"] = _error(_("Enter the date of the withdrawal."), "withdrawn_on")
    if not (withdrawal_reason or "").strip():
        errors["withdrawal_reason"] = _error(
            _("Give the reason for the withdrawal."), "withdrawal_reason"
        )
    return errors


def completion(*, status: str, protocol, sheets: Iterable[str]) -> Errors:
    """A mother is completed when her sheet at the study's last time point is recorded (that
    sheet ends her follow-up: ``services.record_observation``): completed without it is
    refused. ``sheets`` are the time points of her sheets."""
    if status != COMPLETED or protocol is None:
        return {}
    last = protocol.last_timepoint
    if last.key in set(sheets):
        return {}
    return {
        "status": _error(
            _(
                "A mother is completed only with her %(timepoint)s sheet (the study's last "
                "time point): record that sheet, or leave her enrolled."
            ),
            "completed_without_last_sheet",
            timepoint=str(last.label),
        )
    }


def after_withdrawal(
    *,
    withdrawn_on: datetime.date | None,
    protocol,
    sheets: dict[str, datetime.date | None],
    sessions_done_on: Iterable[datetime.date] = (),
) -> Errors:
    """Nothing is observed or done after a mother's withdrawal: no sheet dated, and no session
    done, after her withdrawal date (on that day itself is before she withdrew). ``sheets``
    maps her time points to their dates, ``sessions_done_on`` are the dates of her sessions
    done. The error is on the withdrawal date and names the record after it."""
    if withdrawn_on is None:
        return {}
    for key, observed_on in sheets.items():
        if observed_on and observed_on > withdrawn_on:
            point = protocol.timepoint(key) if protocol is not None else None
            return {"withdrawn_on": _error(
                _("The %(timepoint)s sheet is dated %(date)s, after the withdrawal "
                  "(%(withdrawn)s): nothing is recorded for a mother after her withdrawal."),
                "sheet_after_withdrawal", timepoint=str(point.label) if point else key,
                date=_date(observed_on), withdrawn=_date(withdrawn_on),
            )}  # fmt: skip
    later = sorted(day for day in sessions_done_on if day and day > withdrawn_on)
    if later:
        return {"withdrawn_on": _error(
            _("A session was done on %(date)s, after the withdrawal (%(withdrawn)s): nothing "
              "is recorded for a mother after her withdrawal."),
            "session_after_withdrawal", date=_date(later[0]), withdrawn=_date(withdrawn_on),
        )}  # fmt: skip
    return {}


def sheet_values(protocol, *, timepoint: str, values) -> Errors:
    """A sheet's values against the study definition (``studies.definition``): the time point
    is one of the study's, every value is an outcome measured there within its type and range,
    and at least one outcome is recorded. Errors name the outcome's label."""
    point = protocol.timepoint(timepoint)
    if point is None:
        return {
            "timepoint": _error(_("This is not one of the study's time points."), "timepoint")
        }
    if not isinstance(values, dict):
        return {"values": _error(_("The values of a sheet are a mapping."), "values")}
    _clean, problems = protocol.check_values(timepoint, values)
    if problems:
        key, message = next(iter(problems.items()))
        outcome = protocol.outcome(key)
        name = capfirst(str(outcome.label)) if outcome else key
        return {"values": _error("%(outcome)s: %(problem)s", "value", outcome=name,
                                 problem=message)}
    if not any(value is not None and value != "" for value in values.values()):
        return {
            "values": _error(
                _("Enter at least one value: %(outcomes)s."),
                "no_value",
                outcomes=", ".join(str(o.label) for o in protocol.outcomes_at(timepoint)),
            )
        }
    return {}


def sheet_dates(
    *,
    protocol,
    arm: str,
    timepoint: str,
    observed_on: datetime.date | None,
    delivery_date: datetime.date | None,
    today: datetime.date,
    other_sheets: dict[str, datetime.date],
    sessions_done_on: Iterable[datetime.date] = (),
) -> Errors:
    """An observation sheet's date: not before delivery, not in the future, after the sheets of
    the time points before it and before those after it; a sheet due on or before the arm's
    first session day (a baseline) on or before her first session done, a sheet due after the
    last session day after her last session done. ``other_sheets`` maps her other time points
    to their dates; ``sessions_done_on`` are the dates of her sessions done. The rules about
    her sessions come first: the first one broken is the one reported."""
    if not observed_on:
        return {}
    if delivery_date and observed_on < delivery_date:
        return {
            "observed_on": _error(
                _("An observation cannot be before the delivery date."), "before_delivery"
            )
        }
    if observed_on > today:
        return {
            "observed_on": _error(_("An observation cannot be dated in the future."), "in_future")
        }
    if protocol is None or protocol.timepoint(timepoint) is None:
        return {}
    keys = protocol.timepoint_keys
    position = keys.index(timepoint)
    # The label in the reader's language, looked up only for a message (an import checks
    # hundreds of thousands of sheets that break no rule).
    label = protocol.timepoint(timepoint).label
    schedule = protocol.schedule(arm)
    done = sorted(sessions_done_on)
    if schedule and done:
        day = protocol.timepoint(timepoint).day
        if day <= schedule.first_day and observed_on > done[0]:
            return {"observed_on": _error(
                _("The %(timepoint)s sheet must be dated on or before the first session "
                  "(%(date)s)."),
                "before_first_session", timepoint=str(label), date=_date(done[0]),
            )}  # fmt: skip
        if day > schedule.last_day and observed_on <= done[-1]:
            return {"observed_on": _error(
                _("The %(timepoint)s sheet must be dated after the last session (%(date)s)."),
                "after_last_session", timepoint=str(label), date=_date(done[-1]),
            )}  # fmt: skip
    for other in keys[:position]:
        other_on = other_sheets.get(other)
        if other_on and observed_on <= other_on:
            return {"observed_on": _error(
                _("The %(timepoint)s sheet must be dated after the %(other)s sheet (%(date)s)."),
                "before_earlier_sheet", timepoint=str(label),
                other=str(protocol.timepoint(other).label), date=_date(other_on),
            )}  # fmt: skip
    for other in keys[position + 1 :]:
        other_on = other_sheets.get(other)
        if other_on and observed_on >= other_on:
            return {"observed_on": _error(
                _("The %(timepoint)s sheet must be dated before the %(other)s sheet (%(date)s)."),
                "after_later_sheet", timepoint=str(label),
                other=str(protocol.timepoint(other).label), date=_date(other_on),
            )}  # fmt: skip
    return {}


def session_outcome(
    *,
    status: str,
    started_at: datetime.datetime | None,
    duration_minutes: int | None,
    notes: str,
    source: str,
    minutes_allowed: tuple[int, int] | None,
) -> Errors:
    """What a recorded session must carry: a session done its start time and (unless read from
    a historical sheet, which may lack it) its duration; a missed or refused one the reason; a
    duration outside the protocol's window (``minutes_allowed``, inclusive) a note."""
    errors: Errors = {}
    if status == DONE:
        if started_at is None:
            errors["started_at"] = _error(
                _("Enter when the session started."), "started_at_required"
            )
        if duration_minutes is None and source != IMPORTED:
            errors["duration_minutes"] = _error(
                _("Enter how many minutes the session lasted."), "duration_required"
            )
    if status in (MISSED, REFUSED) and not (notes or "").strip():
        errors["notes"] = _error(
            _("Give the reason the session did not take place."), "reason_required"
        )
    if (
        minutes_allowed is not None
        and duration_minutes is not None
        and not minutes_allowed[0] <= duration_minutes <= minutes_allowed[1]
        and not (notes or "").strip()
    ):
        errors["notes"] = _error(
            _(
                "The protocol asks for %(low)s–%(high)s minutes; "
                "add a note explaining the difference."
            ),
            "duration_outside_protocol",
            low=minutes_allowed[0],
            high=minutes_allowed[1],
        )
    return errors


def session_date(
    *,
    status: str,
    started_on: datetime.date | None,
    started_at: datetime.datetime | None,
    now: datetime.datetime,
    enrolled_on: datetime.date | None,
    sheets: dict[str, datetime.date],
    protocol=None,
    arm: str = "",
) -> Errors:
    """When a session took place: not before the mother's enrolment, not in the future, and a
    session done on or after the sheets due before the arm's intervention (the baseline) and
    before the sheets due after it. ``sheets`` maps her time points to their dates;
    ``started_on`` is ``started_at``'s date in the clinic's time zone."""
    if started_at is None or started_on is None:
        return {}
    if enrolled_on and started_on < enrolled_on:
        return {
            "started_at": _error(
                _("A session cannot be before the mother's enrolment."), "before_enrolment"
            )
        }
    if started_at > now:
        return {"started_at": _error(_("A session cannot be recorded in the future."), "in_future")}
    schedule = protocol.schedule(arm) if protocol is not None else None
    if status != DONE or schedule is None:
        return {}
    for point in protocol.timepoints:
        sheet_on = sheets.get(point.key)
        if not sheet_on:
            continue
        if point.day <= schedule.first_day and started_on < sheet_on:
            return {"started_at": _error(
                _("A session cannot be before the %(timepoint)s sheet (%(date)s)."),
                "before_baseline_sheet", timepoint=str(point.label), date=_date(sheet_on),
            )}  # fmt: skip
        if point.day > schedule.last_day and started_on >= sheet_on:
            return {"started_at": _error(
                _("A session must be before the %(timepoint)s sheet (%(date)s)."),
                "after_follow_up_sheet", timepoint=str(point.label), date=_date(sheet_on),
            )}  # fmt: skip
    return {}


@dataclass(frozen=True)
class Deviation:
    """One departure from the protocol: its kind (``ProtocolDeviation.Kind``), the session it
    concerns (None for the mother herself), what the protocol asks and what was recorded (a
    postpartum day as a number, or a date as ``YYYY-MM-DD``)."""

    kind: str
    session_id: int | None
    expected: str
    actual: str
    timepoint: str = ""


ENROLMENT_DAY, SESSION_EARLY, SHEET_DAY = "enrolment_day", "session_early", "sheet_day"


def sheet_due_date(
    protocol,
    timepoint: str,
    *,
    delivery_date: datetime.date,
    enrolled_on: datetime.date | None,
) -> datetime.date:
    """The date the sheet of ``timepoint`` (a key of ``protocol``, a ``StudyDefinition``) is
    due: its postpartum day after delivery (DESIGN.md §6, "postpartum day of the sheet": that
    day, not a window). The first time point (the baseline, before the first session) of a
    mother enrolled later than its day is due on her enrolment day (her late enrolment is its
    own deviation)."""
    due = delivery_date + datetime.timedelta(days=protocol.timepoint(timepoint).day)
    if timepoint == protocol.baseline.key and enrolled_on:
        due = max(due, enrolled_on)
    return due


def protocol_deviations(
    *,
    enrolment_day: int,
    delivery_date: datetime.date | None,
    enrolled_on: datetime.date | None,
    sessions: Iterable[tuple[int | None, str, datetime.date | None, datetime.date]] = (),
    sheets: Iterable[tuple[str, datetime.date | None, datetime.date]] = (),
) -> list[Deviation]:
    """Where a mother's records depart from her study's protocol: enrolled on another
    postpartum day than her first sheet's (DESIGN.md §1: enrolment, the pre-test sheet and the
    first massage on day 2), each session done on a date before the day it was planned for,
    and each observation sheet dated on another day than its time point's, in any arm (before
    it or after it: the protocol gives the sheet's day, :func:`sheet_due_date`).
    ``sessions`` are ``(session id, status, date started, planned date)``; ``sheets`` are
    ``(time point key, date observed, date due)``."""
    found = []
    if delivery_date and enrolled_on:
        day = (enrolled_on - delivery_date).days
        if day != enrolment_day:
            found.append(Deviation(ENROLMENT_DAY, None, str(enrolment_day), str(day)))
    for session_id, status, started_on, planned_date in sessions:
        if status == DONE and started_on is not None and started_on < planned_date:
            found.append(
                Deviation(
                    SESSION_EARLY, session_id, planned_date.isoformat(), started_on.isoformat()
                )
            )
    for timepoint, observed_on, due_on in sheets:
        if observed_on is not None and observed_on != due_on:
            found.append(
                Deviation(SHEET_DAY, None, due_on.isoformat(), observed_on.isoformat(), timepoint)
            )
    return found


def merge(*results: Errors) -> Errors:
    """The errors of several rules, the first one per field kept."""
    merged: Errors = {}
    for result in results:
        for name, error in result.items():
            merged.setdefault(name, error)
    return merged
