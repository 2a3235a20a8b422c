"""Reads: turn the database into what pages need, in a fixed number of queries."""

from __future__ import annotations

import datetime
import functools
import re
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import translation
from django.utils.text import capfirst

from . import rules
from .changes import field_changes, saved_instance, value_text
from .models import (
    SLOT_ORDER,
    MassageSession,
    Observation,
    ProtocolDeviation,
    Respondent,
    RespondentIdentity,
    Slot,
    Study,
)
from .services import SYSTEM_REASONS


@dataclass(frozen=True)
class Change:
    when: datetime.datetime
    who: str
    record: str
    field: str
    old: str
    new: str
    reason: str

    @property
    def entry(self) -> tuple:
        """The save this change belongs to: one save can change several fields."""
        return (self.when, self.who, self.record, self.reason)


def study_counts(studies: QuerySet[Study]) -> QuerySet[Study]:
    return studies.annotate(
        n_enrolled=Count("respondents", filter=~Q(respondents__status="withdrawn")),
        n_completed=Count("respondents", filter=Q(respondents__status="completed")),
        n_withdrawn=Count("respondents", filter=Q(respondents__status="withdrawn")),
    )


def sessions_due(respondents: QuerySet[Respondent], on: datetime.date) -> QuerySet[MassageSession]:
    """Planned sessions due on ``on`` or before (overdue) of mothers still in the protocol; a
    completed or withdrawn mother has nothing left to do."""
    return (
        MassageSession.objects.filter(
            respondent__in=respondents.filter(status=Respondent.Status.ENROLLED),
            status=MassageSession.Status.PLANNED,
            planned_date__lte=on,
        )
        .select_related("respondent", "respondent__study", "respondent__site")
        .order_by("planned_date", "respondent__code", "postpartum_day", SLOT_ORDER)
    )


@dataclass(frozen=True)
class SheetDue:
    """A time point's observation sheet a mother is due, and the day it is due."""

    respondent: Respondent
    timepoint: str
    due_on: datetime.date

    @property
    def timepoint_label(self) -> str:
        point = self.respondent.study.protocol.timepoint(self.timepoint)
        return str(point.label) if point else self.timepoint


def sheet_due_on(protocol, timepoint, respondent: Respondent) -> datetime.date:
    """The day a time point's sheet is due: its postpartum day after delivery. The first time
    point (the baseline, before the first session) is due from enrolment when she was enrolled
    later than that day. The rule is ``rules.sheet_due_date``, which also judges a sheet's date
    (a sheet on another day is a protocol deviation)."""
    return rules.sheet_due_date(
        protocol,
        timepoint.key,
        delivery_date=respondent.delivery_date,
        enrolled_on=respondent.enrolled_on,
    )


def sheets_due(respondents: QuerySet[Respondent], on: datetime.date) -> list[SheetDue]:
    """Observation sheets not yet recorded for mothers in the protocol, due on ``on`` or
    before: every time point of her study's definition from its day (:func:`sheet_due_on`).
    Two queries, whatever the number of time points."""
    active = list(
        respondents.filter(status=Respondent.Status.ENROLLED)
        .select_related("study", "site")
        .order_by("code")
    )
    recorded = (
        set(
            Observation.objects.filter(respondent__in=[r.pk for r in active]).values_list(
                "respondent_id", "timepoint"
            )
        )
        if active
        else set()
    )
    due = []
    for respondent in active:
        protocol = respondent.study.protocol
        for point in protocol.timepoints:
            if (respondent.pk, point.key) in recorded:
                continue
            due_on = sheet_due_on(protocol, point, respondent)
            if due_on <= on:
                due.append(SheetDue(respondent, point.key, due_on))
    return due


@dataclass(frozen=True)
class TimelineSheet:
    """One time point on a mother's page: when its sheet is due and the sheet, if saved."""

    timepoint: object  # studies.definition.TimePoint
    due_on: datetime.date
    sheet: Observation | None
    values: list  # (label, value text) per outcome measured at the time point

    kind = "sheet"


@dataclass(frozen=True)
class TimelineSession:
    session: MassageSession

    kind = "session"


def respondent_timeline(respondent: Respondent, sessions, sheets: dict) -> list:
    """Her page's timeline in the order things happen: each time point's sheet on its day
    (the baseline before that day's sessions, later sheets after them) and her arm's sessions.
    ``sheets``: time point key → her saved sheet."""
    protocol = respondent.study.protocol
    entries = []
    for point in protocol.timepoints:
        sheet = sheets.get(point.key)
        values = (
            [
                (
                    capfirst(str(outcome.label)),
                    value_text(outcome, sheet.values.get(outcome.key), unit=True),
                )
                for outcome in protocol.outcomes_at(point.key)
            ]
            if sheet
            else []
        )
        order = 0 if point.key == protocol.baseline.key else 2
        entries.append(
            (
                (point.day, order),
                TimelineSheet(point, sheet_due_on(protocol, point, respondent), sheet, values),
            )
        )
    for session in sessions:
        slot = Slot.values.index(session.slot) if session.slot in Slot.values else 9
        entries.append(((session.postpartum_day, 1, slot), TimelineSession(session)))
    entries.sort(key=lambda entry: entry[0])
    return [entry for _key, entry in entries]


def with_progress(respondents: QuerySet[Respondent]) -> QuerySet[Respondent]:
    # Her sessions' counts are on her row (sessions_planned, sessions_done).
    return respondents.select_related("study", "site").annotate(
        # Not per protocol: a deviation recorded and not resolved by a later correction.
        has_deviation=Exists(
            ProtocolDeviation.objects.filter(respondent_id=OuterRef("pk"), resolved_at__isnull=True)
        ),
    )


def user_name(user) -> str:
    """How a person is named to others: her full name, else her user name."""
    if user is None:
        return "—"
    return user.get_full_name() or user.get_username()


def _user_names(histories: list[list]) -> dict:
    """User id → name for everyone a history names: those who saved (already loaded with the
    records) and those its fields point at (a session's performer, a sheet's observer), the
    latter in one query, only when someone is not among the former."""
    names = {
        record.history_user_id: user_name(record.history_user)
        for records in histories
        for record in records
        if record.history_user_id
    }
    user_model = get_user_model()
    wanted = (
        {
            getattr(record, field.attname)
            for records in histories
            for record in records
            for field in record.instance_type._meta.concrete_fields
            if field.is_relation and field.related_model is user_model
        }
        - set(names)
        - {None}
    )
    if wanted:
        names.update(
            (user.pk, user_name(user)) for user in user_model.objects.filter(pk__in=wanted)
        )
    return names


@functools.cache
def _system_reasons() -> tuple[tuple[str, re.Pattern], ...]:
    """Every spelling of every reason the system gives (``services.SYSTEM_REASONS``: its
    English message id and each language's translation) as a pattern that reads back its
    placeholders (``Diimpor dari (?P<file>.*)``), with the message id it spells."""
    found = []
    for msgid in SYSTEM_REASONS:
        spellings = {msgid}
        for code, _name in settings.LANGUAGES:
            with translation.override(code):
                spellings.add(translation.gettext(msgid))
        for spelling in spellings:
            parts = re.split(r"%\((\w+)\)s", spelling)
            pattern = "".join(
                re.escape(part) if index % 2 == 0 else f"(?P<{part}>.*?)"
                for index, part in enumerate(parts)
            )
            found.append((msgid, re.compile(pattern, re.DOTALL)))
    return tuple(found)


def history_reason(text: str) -> str:
    """A reason as the reader should see it: one the system gave (stored in English, or in the
    language of whoever saved before they were stored in English; ``Imported from x.csv`` with
    its file name) in the reader's language; a person's own words as written."""
    for msgid, pattern in _system_reasons():
        match = pattern.fullmatch(text)
        if match:
            values = match.groupdict()
            return translation.gettext(msgid) % values if values else translation.gettext(msgid)
    return text


def respondent_history(respondent: Respondent, *, include_identity: bool) -> list[Change]:
    """Every recorded change to the mother and her sessions and sheets, newest first: who,
    when, which field, the old and the new value, and the reason given."""
    sources = [
        (Respondent.history.filter(id=respondent.pk), respondent._meta.verbose_name),
        (
            MassageSession.history.filter(respondent_id=respondent.pk),
            MassageSession._meta.verbose_name,
        ),
        (Observation.history.filter(respondent_id=respondent.pk), Observation._meta.verbose_name),
    ]
    if include_identity:
        sources.append(
            (
                RespondentIdentity.history.filter(respondent_id=respondent.pk),
                RespondentIdentity._meta.verbose_name,
            )
        )
    changes: list[Change] = []
    histories = [
        list(history.select_related("history_user").order_by("history_date", "history_id"))
        for history, _record_name in sources
    ]
    names = _user_names(histories)
    for records, (_history, record_name) in zip(histories, sources, strict=True):
        previous_by_object: dict = {}
        for record in records:
            who = user_name(record.history_user)
            instance = saved_instance(record)
            if getattr(instance, "respondent_id", None) == respondent.pk:
                instance.respondent = respondent  # her sessions' labels name her: no query each
            label = f"{record_name} {instance}"
            key = instance.pk
            previous = previous_by_object.get(key)
            if previous is None:
                changes.append(
                    Change(
                        record.history_date,
                        who,
                        label,
                        "",
                        "",
                        str(record.get_history_type_display()),
                        history_reason(record.history_change_reason or ""),
                    )
                )
            else:
                for field, old, new in field_changes(
                    record, previous, names=names, protocol=respondent.study.protocol
                ):
                    changes.append(
                        Change(
                            record.history_date,
                            who,
                            label,
                            field,
                            old,
                            new,
                            history_reason(record.history_change_reason or ""),
                        )
                    )
            previous_by_object[key] = record
    changes.sort(key=lambda change: change.when, reverse=True)
    return changes
