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
from django.utils.translation import gettext_lazy as _

Errors = dict[str, ValidationError]

PRE, POST = "pre", "post"
DONE, MISSED, REFUSED = "done", "missed", "refused"
WITHDRAWN = "withdrawn"
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


def sheet_dates(
    *,
    phase: str,
    observed_on: datetime.date | None,
    delivery_date: datetime.date | None,
    today: datetime.date,
    other_sheets: dict[str, datetime.date],
    sessions_done_on: Iterable[datetime.date] = (),
) -> Errors:
    """An observation sheet's date: not before delivery, not in the future, the pre-test sheet
    on or before the first massage done and before the post-test sheet, the post-test sheet
    after the last massage done and after the pre-test sheet. ``other_sheets`` maps the mother's
    other phases to their dates; ``sessions_done_on`` are the dates of her sessions done."""
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
    done = sorted(sessions_done_on)
    first, last = (done[0], done[-1]) if done else (None, None)
    pre_on, post_on = other_sheets.get(PRE), other_sheets.get(POST)
    rules = {
        PRE: [
            (
                first and observed_on > first,
                _("The pre-test sheet must be dated on or before the first massage (%(date)s)."),
                "pre_after_first_session",
                first,
            ),
            (
                post_on and observed_on >= post_on,
                _("The pre-test sheet must be dated before the post-test sheet (%(date)s)."),
                "pre_after_post",
                post_on,
            ),
        ],
        POST: [
            (
                last and observed_on <= last,
                _("The post-test sheet must be dated after the last massage (%(date)s)."),
                "post_before_last_session",
                last,
            ),
            (
                pre_on and observed_on <= pre_on,
                _("The post-test sheet must be dated after the pre-test sheet (%(date)s)."),
                "post_before_pre",
                pre_on,
            ),
        ],
    }
    for violated, message, code, date in rules.get(phase, []):
        if violated:
            return {"observed_on": _error(message, code, date=_date(date))}
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
) -> Errors:
    """When a session took place: not before the mother's enrolment, not in the future, and a
    massage done between the pre-test sheet (on or after it) and the post-test sheet (before
    it). ``started_on`` is ``started_at``'s date in the clinic's time zone."""
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
    if status != DONE:
        return {}
    pre_on, post_on = sheets.get(PRE), sheets.get(POST)
    if pre_on and started_on < pre_on:
        return {
            "started_at": _error(
                _("A massage cannot be before the pre-test sheet (%(date)s)."),
                "before_pre_sheet",
                date=_date(pre_on),
            )
        }
    if post_on and started_on >= post_on:
        return {
            "started_at": _error(
                _("A massage must be before the post-test sheet (%(date)s)."),
                "after_post_sheet",
                date=_date(post_on),
            )
        }
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


ENROLMENT_DAY, SESSION_EARLY = "enrolment_day", "session_early"


def protocol_deviations(
    *,
    first_session_day: int,
    delivery_date: datetime.date | None,
    enrolled_on: datetime.date | None,
    sessions: Iterable[tuple[int | None, str, datetime.date | None, datetime.date]] = (),
) -> list[Deviation]:
    """Where a mother's records depart from her study's protocol: enrolled on another
    postpartum day than the first massage day (DESIGN.md §1: enrolment and the first massage on
    day 2), and each session done on a date before the day it was planned for. ``sessions`` are
    ``(session id, status, date started, planned date)``."""
    found = []
    if delivery_date and enrolled_on:
        day = (enrolled_on - delivery_date).days
        if day != first_session_day:
            found.append(Deviation(ENROLMENT_DAY, None, str(first_session_day), str(day)))
    for session_id, status, started_on, planned_date in sessions:
        if status == DONE and started_on is not None and started_on < planned_date:
            found.append(
                Deviation(
                    SESSION_EARLY, session_id, planned_date.isoformat(), started_on.isoformat()
                )
            )
    return found


def merge(*results: Errors) -> Errors:
    """The errors of several rules, the first one per field kept."""
    merged: Errors = {}
    for result in results:
        for name, error in result.items():
            merged.setdefault(name, error)
    return merged
