"""Writes. Each function validates with ``full_clean()`` and saves inside one transaction, and
records who did it (and why, for a correction) in the history."""

from __future__ import annotations

import datetime
import secrets
from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Func, IntegerField, OuterRef, QuerySet, Subquery
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from . import definition as definition_module
from . import rules
from .access import Role
from .analysis.choice import allowed_tests
from .analysis.design import comparisons
from .changes import field_changes
from .cohort import TEST_LABELS
from .models import (
    DERIVED_SESSION_COUNTS,
    ChoiceOverride,
    MassageSession,
    Observation,
    ProtocolDeviation,
    Respondent,
    RespondentIdentity,
    Site,
    Study,
)

# Reasons the system itself gives in the history and the audit trail. Stored in English (the
# import's and the identified export's in the language of whoever ran them) and shown in each
# reader's language (selectors.history_reason: the mother's history, the audit export): a
# stored reason is recognised in any language, with its placeholders (the file's name).
POST_SHEET_RECORDED = gettext_noop("Post-test sheet recorded.")
BACK_WITHIN_PROTOCOL = gettext_noop("Back within the protocol.")
IMPORTED_FROM = gettext_noop("Imported from %(file)s")
MOTHERS_IMPORTED = gettext_noop("%(rows)s mothers imported from %(file)s")
IDENTIFIED_EXPORT = gettext_noop("%(kind)s export with names and phone numbers")
# Written by migration 0008 (which keeps its own copy of the text).
DEVIATIONS_BEFORE_RECORDING = gettext_noop(
    "Present before protocol deviations were recorded (migration 0008)."
)
SYSTEM_REASONS = (
    POST_SHEET_RECORDED,
    BACK_WITHIN_PROTOCOL,
    IMPORTED_FROM,
    MOTHERS_IMPORTED,
    IDENTIFIED_EXPORT,
    DEVIATIONS_BEFORE_RECORDING,
)

# ``expected_version`` default: the caller does not check for concurrent edits (commands, the
# demo loader); forms always pass the version they were opened on (None: there was no record).
ANY_VERSION = object()


class StaleRecordError(ValidationError):
    """Someone else saved the record after this form was opened; nothing was saved."""


def _describe_changes(instance, seen_version: int | None) -> str:
    """What changed since the version the user saw: who, when, and old → new per field."""
    latest = instance.history.order_by("-history_date", "-history_id").first()
    seen = (
        instance.history.filter(version=seen_version).order_by("-history_id").first()
        if seen_version is not None
        else None
    )
    who = latest.history_user.get_username() if latest and latest.history_user else "—"
    when = formats.date_format(timezone.localtime(latest.history_date), "SHORT_DATETIME_FORMAT")
    changes = []
    if seen is not None:
        changes = [
            f"{field}: {old} → {new}" for field, old, new in field_changes(latest, seen)
        ]
    message = _("%(who)s saved this record at %(when)s, after you opened the form.") % {
        "who": who,
        "when": when,
    }
    if changes:
        message += " " + _("Changed: %(changes)s.") % {"changes": "; ".join(changes)}
    return (
        message
        + " "
        + _("Your entry was not saved. Check the values and save again to keep yours.")
    )


def require_current(instance, expected_version) -> None:
    if expected_version is ANY_VERSION:
        return
    current = instance.version if instance is not None and instance.pk else None
    if current != expected_version:
        raise StaleRecordError(_describe_changes(instance, expected_version), code="stale")


def _session_tally(**conditions) -> Subquery:
    """A mother's sessions (under ``conditions``) in a correlated ``SELECT COUNT(*)`` without
    GROUP BY: one row whatever she has (0 without sessions), read from the session index."""
    counted = (
        MassageSession.objects.filter(respondent=OuterRef("pk"), **conditions)
        .order_by()
        .annotate(n=Func(template="COUNT(*)", output_field=IntegerField()))
        .values("n")
    )
    return Subquery(counted, output_field=IntegerField())


def recount_sessions(respondents: QuerySet[Respondent] | Iterable[int]) -> int:
    """Set ``sessions_planned`` (all her sessions) and ``sessions_done`` (status done) of the
    given mothers (a queryset of them, or their primary keys) from their session rows, in one
    set-based UPDATE. It is a ``QuerySet.update``: no history row, no version bump, no model
    rule, so it is safe on a withdrawn mother. Call it inside the transaction of the write that
    created, deleted or changed her sessions (:func:`_save` does for every session and every
    mother it saves). Given by their keys, the mothers' rows are locked first
    (:func:`_lock_mothers`); a queryset (a whole import, a restore) is updated as it is.
    Returns how many mothers were updated."""
    if not isinstance(respondents, QuerySet):
        respondents = Respondent.objects.filter(pk__in=list(respondents))
        _lock_mothers(respondents)
    return respondents.order_by().update(
        sessions_planned=_session_tally(),
        sessions_done=_session_tally(status=MassageSession.Status.DONE),
    )


def _lock_mothers(respondents: QuerySet[Respondent]) -> None:
    """Lock the mothers' rows (PostgreSQL; SQLite writes one at a time anyway) until the
    transaction ends. Taken before her sessions are written, so two writes of her sessions
    recount one after the other, the second counting what the first committed (under READ
    COMMITTED an UPDATE that waited would count from its older snapshot), and always in the
    order mother, then session, so they cannot deadlock with :func:`update_respondent`."""
    list(respondents.select_for_update().order_by("pk").values_list("pk", flat=True))


def _save(instance, *, user, reason: str = "", correcting_withdrawal: bool = False) -> None:
    """The one way a record is written: the withdrawn-mother rule, the version bump, every
    model rule (``full_clean``), the history's user and reason, one transaction.
    ``correcting_withdrawal`` is the rule's one exception, for :func:`correct_withdrawal`.
    Saving a session or a mother recounts her sessions in the same transaction (a mother's
    save writes the counts she was loaded with, which later session writes may have changed)."""
    if not correcting_withdrawal:
        _require_active(instance)
    if instance.pk and hasattr(instance, "version"):
        instance.version += 1
    instance.full_clean()
    instance._history_user = user
    if reason:
        instance._change_reason = reason
    try:
        with transaction.atomic():
            if isinstance(instance, MassageSession):
                _lock_mothers(Respondent.objects.filter(pk=instance.respondent_id))
            instance.save()
            if isinstance(instance, MassageSession):
                recount_sessions([instance.respondent_id])
            elif isinstance(instance, Respondent):
                recount_sessions([instance.pk])
                instance.refresh_from_db(fields=DERIVED_SESSION_COUNTS)
    except IntegrityError as error:
        # A concurrent save got there first (the unique constraint holds in the database):
        # report it like the validation would have, instead of a server error.
        instance.validate_constraints()
        raise ValidationError(_("This record could not be saved; please try again.")) from error


@transaction.atomic
def create_study(
    *,
    code: str,
    title: str,
    site_names: Iterable[str] = (),
    definition: dict | None = None,
    exclusion_criteria: str = "",
    user=None,
) -> Study:
    """A study from its definition (DESIGN.md §6; the paper's when ``definition`` is None), its
    sites by name, created when new. A wrong definition raises ``ValidationError`` naming every
    key and nothing is created."""
    code = (code or "").strip()
    if Study.objects.filter(code__iexact=code).exists():
        raise ValidationError(
            {"code": _("A study with the code %(code)s already exists.") % {"code": code}}
        )
    names = [str(name).strip() for name in site_names]
    if any(not name for name in names):
        raise ValidationError({"sites": _("A site name cannot be empty.")})
    data = dict(definition) if definition is not None else definition_module.paper_definition()
    if data.get("allocation") == "by_site" or "sites" in data:
        data.setdefault("sites", names)
    try:
        protocol = definition_module.parse(data)
    except definition_module.DefinitionError as error:
        raise ValidationError(
            {"definition": [f"{key}: {message}" for key, message in error.problems]}
        ) from error
    study = Study(
        code=code,
        title=title,
        definition=protocol.to_dict(),
        exclusion_criteria=exclusion_criteria,
        allocation_seed=secrets.token_hex(16) if protocol.allocation == "blocks" else "",
    )
    _save(study, user=user)
    sites = []
    for name in names:
        site = Site.objects.filter(name__iexact=name).first() or Site.objects.create(name=name)
        sites.append(site)
    study.sites.set(sites)
    return study


class DefinitionFrozen(ValidationError):
    """The change would leave saved values without a place in the definition."""


@transaction.atomic
def change_definition(*, study: Study, definition: dict, user, reason: str) -> Study:
    """A new version of the study's definition, recorded with who, when and why (the study's
    history). Before any mother is enrolled anything valid goes; after, a change that would
    orphan saved values is refused: an arm with mothers, a time point with sheets or an outcome
    with values removed, an outcome's type changed, or a saved value outside its new range."""
    reason = _require_reason(reason)
    study = Study.objects.select_for_update().get(pk=study.pk)
    try:
        protocol = definition_module.parse(dict(definition))
    except definition_module.DefinitionError as error:
        raise ValidationError(
            {"definition": [f"{key}: {message}" for key, message in error.problems]}
        ) from error
    problems = []
    used_arms = set(study.respondents.values_list("arm", flat=True).distinct())
    for arm in sorted(used_arms - set(protocol.arm_keys)):
        problems.append(_("The arm %(arm)s has mothers.") % {"arm": arm})
    old = study.protocol
    sheets = Observation.objects.filter(respondent__study=study).values_list("timepoint", "values")
    for timepoint, values in sheets.iterator(chunk_size=2000):
        for key, value in (values or {}).items():
            outcome = protocol.outcome(key)
            if protocol.timepoint(timepoint) is None or outcome is None or (
                timepoint not in outcome.timepoints
            ):
                problems.append(
                    _("Saved values of %(outcome)s at %(timepoint)s would have no place.")
                    % {"outcome": key, "timepoint": timepoint}
                )
            elif old.outcome(key) and old.outcome(key).type != outcome.type:
                problems.append(_("%(outcome)s has saved values; its type cannot change.")
                                % {"outcome": key})
            elif outcome.check(value)[1]:
                problems.append(
                    _("A saved value of %(outcome)s (%(value)s) is outside the new definition.")
                    % {"outcome": key, "value": value}
                )
        if len(problems) > 20:
            break
    last = protocol.last_timepoint
    if last.key != old.last_timepoint.key:
        # A completed mother has her sheet at the last time point (rules.completion): a new
        # last time point cannot leave her completed without it.
        codes = list(
            study.respondents.filter(status=Respondent.Status.COMPLETED)
            .exclude(observations__timepoint=last.key)
            .order_by("code")
            .values_list("code", flat=True)[:6]
        )
        if codes:
            problems.append(
                _(
                    "Completed mothers (%(codes)s) have no sheet at %(timepoint)s, which would "
                    "become the study's last time point."
                )
                % {"codes": ", ".join(codes[:5]) + (" …" if len(codes) > 5 else ""),
                   "timepoint": str(last.label)}
            )
    if problems:
        raise DefinitionFrozen({"definition": sorted(set(problems))})
    study.definition = protocol.to_dict()
    study.definition_version += 1
    if protocol.allocation == "blocks" and not study.allocation_seed:
        study.allocation_seed = secrets.token_hex(16)
    _save(study, user=user, reason=reason)
    return study


def allocate_arm(*, study: Study, site: Site, chosen: str = "") -> str:
    """The arm of the next mother enrolled at ``site``: the one the midwife chose (``chosen``
    allocation), the site's (``by_site``), or the next of the site's permuted blocks
    (``blocks``, drawn from the study's seed; the study row is locked so two enrolments at once
    draw two positions). A one-arm study's only arm. Raises ``ValidationError`` (field ``arm``)
    when the midwife must choose and has not."""
    protocol = study.protocol
    if not protocol.has_arms:
        return protocol.arm_keys[0]
    if protocol.allocation == "by_site":
        arm = protocol.arm_by_site.get(site.name)
        if arm is None:
            raise ValidationError({"arm": _("The study definition gives no arm for this site.")})
        return arm
    if protocol.allocation == "blocks":
        Study.objects.select_for_update().filter(pk=study.pk).first()
        position = Respondent.objects.filter(study=study, site=site).count()
        return definition_module.block_arm(
            study.allocation_seed, site.name, position, protocol.arm_keys
        )
    if chosen not in protocol.arm_keys:
        raise ValidationError({"arm": _("Choose the mother's arm.")})
    return chosen


@transaction.atomic
def override_test_choice(
    *, study: Study, outcome: str, comparison: str, test: str, reason: str, user
) -> ChoiceOverride:
    """Choose the test of one outcome's comparison (``within`` or ``between``) in place of the
    automatic choice of DESIGN.md section 7, with the reason (kept in the history and the audit
    export); ``test`` empty gives the comparison back to the automatic choice. Refused
    (``ValidationError``) for an outcome the definition does not have, a comparison the outcome
    does not make, a test outside the design's row (``analysis.choice.allowed_tests``) or no
    reason."""
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": _("Say why this test is chosen.")})
    protocol = study.protocol
    found = protocol.outcome(outcome)
    if found is None:
        raise ValidationError(
            {"outcome": _("The study has no outcome %(outcome)s.") % {"outcome": outcome}}
        )
    if comparison not in ChoiceOverride.Comparison.values:
        raise ValidationError({"comparison": _("Choose within each arm or between arms.")})
    test = test.strip()
    if test:
        plan = comparisons(protocol.design.key, found.type, found.timepoints)
        allowed = (
            allowed_tests(protocol.design.key, found.type)[comparison] if plan[comparison] else ()
        )
        if test not in allowed:
            raise ValidationError(
                {
                    "test": _(
                        "%(test)s is not a test of this design for %(outcome)s; choose "
                        "one of: %(allowed)s."
                    )
                    % {
                        "test": TEST_LABELS.get(test, test),
                        "outcome": str(found.label),
                        "allowed": ", ".join(str(TEST_LABELS[t]) for t in allowed) or "—",
                    }
                }
            )
    choice = (
        ChoiceOverride.objects.select_for_update()
        .filter(study=study, outcome=outcome, comparison=comparison)
        .first()
    ) or ChoiceOverride(study=study, outcome=outcome, comparison=comparison)
    choice.test = test
    choice.reason = reason
    choice.user = _signed_in(user)
    choice.full_clean()
    choice._history_user = choice.user
    choice._change_reason = reason
    try:
        with transaction.atomic():
            choice.save()
    except IntegrityError as error:
        raise ValidationError(_("This record could not be saved; please try again.")) from error
    return choice


def plan_sessions(*, respondent: Respondent, user) -> list[MassageSession]:
    """Create the mother's sessions from her study's protocol (six for the paper's)."""
    sessions = []
    for planned in respondent.study.session_plan(respondent.delivery_date, respondent.arm):
        session = MassageSession(
            respondent=respondent,
            postpartum_day=planned.postpartum_day,
            slot=planned.slot,
            planned_date=planned.planned_date,
        )
        _save(session, user=user)
        sessions.append(session)
    return sessions


@transaction.atomic
def enrol_respondent(
    *,
    study: Study,
    site: Site,
    user,
    identity: dict | None = None,
    deviation_reason: str = "",
    **fields,
) -> Respondent:
    """Enrol a mother in her arm (``allocate_arm``: ``arm`` in ``fields`` is the midwife's choice
    under ``chosen`` allocation and ignored otherwise), keep her identifying details apart, and
    plan her arm's sessions. Enrolment on
    another postpartum day than the protocol's is refused unless ``deviation_reason`` records
    it as a protocol deviation."""
    if fields.get("consent_date") and "consent_taken_by" not in fields:
        fields["consent_taken_by"] = _signed_in(user)
    fields["arm"] = allocate_arm(study=study, site=site, chosen=fields.get("arm", ""))
    respondent = Respondent(study=study, site=site, **fields)
    _save(respondent, user=user)
    if identity and any(str(value).strip() for value in identity.values()):
        _save(RespondentIdentity(respondent=respondent, **identity), user=user)
    plan_sessions(respondent=respondent, user=user)
    sync_deviations(respondent=respondent, user=user, reason=deviation_reason)
    return respondent


def _require_active(instance) -> None:
    """A withdrawn mother is read-only: nothing more is recorded or corrected for her, on any
    path that writes through the services (her withdrawal is her record's last write). Read
    from the database, so a withdrawal saved meanwhile by someone else counts."""
    if isinstance(instance, Respondent):
        respondent_id = instance.pk
    else:
        respondent_id = getattr(instance, "respondent_id", None)
    if (
        respondent_id is not None
        and Respondent.objects.filter(pk=respondent_id, status=Respondent.Status.WITHDRAWN).exists()
    ):
        raise ValidationError(
            _("This mother has been withdrawn; nothing more can be recorded for her."),
            code="withdrawn",
        )


def _require_reason(reason: str) -> str:
    if not reason.strip():
        raise ValidationError({"reason": _("Say why this record is being changed.")})
    return reason.strip()


def _signed_in(user):
    return user if user and user.is_authenticated else None


def _sheet_values(respondent: Respondent, timepoint: str, fields: dict) -> None:
    """Store ``fields["values"]`` as the definition reads them ("12,5" → 12.5, empty dropped);
    values that cannot be read are left for the model's rule to name."""
    if "values" in fields and isinstance(fields["values"], dict):
        clean, problems = respondent.study.protocol.check_values(timepoint, fields["values"])
        if not problems:
            fields["values"] = clean


@transaction.atomic
def record_observation(
    *, respondent: Respondent, timepoint: str, user, deviation_reason: str = "", **fields
) -> Observation:
    """Save a new observation sheet of one time point of a mother (``values``: outcome key →
    value). The last time point's sheet ends her follow-up: an enrolled mother becomes
    completed. A sheet dated on another day than its time point's (any arm) is refused unless
    ``deviation_reason`` records it as a protocol deviation."""
    fields.setdefault("observed_by", _signed_in(user))
    _sheet_values(respondent, timepoint, fields)
    sheet = Observation(respondent=respondent, timepoint=timepoint, **fields)
    _save(sheet, user=user)
    # Before her status changes: a refusal then leaves the caller's instance as it was.
    sync_deviations(respondent=respondent, user=user, reason=deviation_reason)
    last = respondent.study.protocol.last_timepoint.key
    if timepoint == last and respondent.status == Respondent.Status.ENROLLED:
        respondent.status = Respondent.Status.COMPLETED
        _save(respondent, user=user, reason=POST_SHEET_RECORDED)
    return sheet


@transaction.atomic
def save_observation(
    *,
    respondent: Respondent,
    timepoint: str,
    user,
    reason: str = "",
    expected_version=ANY_VERSION,
    deviation_reason: str = "",
    **fields,
) -> Observation:
    """Record the sheet of a time point, or correct it (with a reason) when it already
    exists. A sheet dated (or corrected to a date) on another day than its time point's is
    refused unless ``deviation_reason`` records the protocol deviation."""
    existing = (
        Observation.objects.select_for_update()
        .filter(respondent=respondent, timepoint=timepoint)
        .first()
    )
    if existing is None:
        if expected_version not in (ANY_VERSION, None):
            raise ValidationError(_("This sheet no longer exists; reload the page."))
        return record_observation(
            respondent=respondent,
            timepoint=timepoint,
            user=user,
            deviation_reason=deviation_reason,
            **fields,
        )
    require_current(existing, expected_version)
    _sheet_values(respondent, timepoint, fields)
    return change_record(
        instance=existing, user=user, reason=reason, deviation_reason=deviation_reason, **fields
    )


@transaction.atomic
def record_session(
    *,
    session: MassageSession,
    user,
    status: str,
    started_at: datetime.datetime | None,
    duration_minutes: int | None,
    notes: str = "",
    reason: str = "",
    expected_version=ANY_VERSION,
    deviation_reason: str = "",
) -> MassageSession:
    """Record what happened to a planned session: done, missed or refused. A session already
    recorded is corrected the same way, with a reason for the change; a correction changes only
    what it changes (the midwife who did a massage stays its performer). A session done before
    its planned day is refused unless ``deviation_reason`` records it as a protocol
    deviation. A correction can also take a recorded session back to planned (recorded by
    mistake, or ahead of its day): its start, duration and performer are cleared, the reason
    and the old values stay in the history, and it is due again on its planned day."""
    _lock_mothers(Respondent.objects.filter(pk=session.respondent_id))
    session = MassageSession.objects.select_for_update().get(pk=session.pk)
    require_current(session, expected_version)
    _require_active(session)
    correcting = session.status != MassageSession.Status.PLANNED
    if status == MassageSession.Status.PLANNED and not correcting:
        raise ValidationError({"status": _("Choose done, missed or refused.")})
    if correcting:
        reason = _require_reason(reason)
    session.status = status
    if status == MassageSession.Status.PLANNED:
        started_at = None
        session.performed_by = None
    session.started_at = started_at
    session.duration_minutes = duration_minutes if status == MassageSession.Status.DONE else None
    session.notes = notes.strip()
    if status == MassageSession.Status.DONE and session.performed_by_id is None:
        session.performed_by = _signed_in(user)
    _save(session, user=user, reason=reason if correcting else "")
    sync_deviations(respondent=session.respondent, user=user, reason=deviation_reason)
    return session


@transaction.atomic
def update_respondent(
    *,
    respondent: Respondent,
    user,
    reason: str,
    identity: dict | None = None,
    expected_version=ANY_VERSION,
    deviation_reason: str = "",
    **fields,
) -> Respondent:
    """Correct a mother's enrolment details (with a reason). Sessions still planned move with a
    corrected delivery date; sessions already recorded keep their dates. A correction that
    moves her outside the protocol (another enrolment day, a session now before its planned
    day) is refused unless ``deviation_reason`` records the protocol deviation."""
    reason = _require_reason(reason)
    current = Respondent.objects.select_for_update().get(pk=respondent.pk)
    require_current(current, expected_version)
    respondent.version = current.version
    _change(instance=respondent, user=user, reason=reason, **fields)
    if identity is not None:
        current = RespondentIdentity.objects.filter(respondent=respondent).first()
        if current is None and any(str(value).strip() for value in identity.values()):
            _save(RespondentIdentity(respondent=respondent, **identity), user=user, reason=reason)
        elif current is not None and any(
            getattr(current, name) != value for name, value in identity.items()
        ):
            _change(instance=current, user=user, reason=reason, **identity)
    for session in respondent.sessions.filter(status=MassageSession.Status.PLANNED):
        planned_date = respondent.delivery_date + datetime.timedelta(days=session.postpartum_day)
        if session.planned_date != planned_date:
            _change(instance=session, user=user, reason=reason, planned_date=planned_date)
    sync_deviations(respondent=respondent, user=user, reason=deviation_reason)
    return respondent


@transaction.atomic
def change_record(*, instance, user, reason: str, deviation_reason: str = "", **changes):
    """Correct a saved record. The reason goes into the history beside the old and new values.
    A change that moves the mother outside the protocol needs ``deviation_reason``."""
    _change(instance=instance, user=user, reason=reason, **changes)
    respondent = instance if isinstance(instance, Respondent) else instance.respondent
    sync_deviations(respondent=respondent, user=user, reason=deviation_reason)
    return instance


def _change(*, instance, user, reason: str, **changes):
    reason = _require_reason(reason)
    for name, value in changes.items():
        setattr(instance, name, value)
    _save(instance, user=user, reason=reason)
    return instance


class DeviationReasonRequired(ValidationError):
    """The write would move the mother outside the protocol, and no reason was given to record
    it as a protocol deviation; nothing was saved (the service's transaction rolls back)."""


def sync_deviations(*, respondent: Respondent, user, reason: str = "") -> list[ProtocolDeviation]:
    """Bring the mother's recorded protocol deviations in line with her records, after a write
    and inside its transaction: a new deviation (studies/rules.py) is recorded with ``reason``,
    or refused with :class:`DeviationReasonRequired` when there is none; one that no longer
    applies is marked resolved (kept, with its history). Returns the deviations recorded now."""
    respondent = Respondent.objects.select_related("study").get(pk=respondent.pk)
    sessions = [
        (pk, status, timezone.localdate(started_at) if started_at else None, planned_date)
        for pk, status, started_at, planned_date in respondent.sessions.values_list(
            "pk", "status", "started_at", "planned_date"
        )
    ]
    protocol = respondent.study.protocol
    sheets = [
        (
            timepoint,
            observed_on,
            rules.sheet_due_date(
                protocol,
                timepoint,
                delivery_date=respondent.delivery_date,
                enrolled_on=respondent.enrolled_on,
            ),
        )
        for timepoint, observed_on in respondent.observations.values_list(
            "timepoint", "observed_on"
        )
        if protocol.timepoint(timepoint) is not None
    ]
    current = {
        (found.kind, found.session_id, found.timepoint): found
        for found in rules.protocol_deviations(
            enrolment_day=protocol.enrolment_day,
            delivery_date=respondent.delivery_date,
            enrolled_on=respondent.enrolled_on,
            sessions=sessions,
            sheets=sheets,
        )
    }
    recorded = {
        (deviation.kind, deviation.session_id, deviation.timepoint): deviation
        for deviation in ProtocolDeviation.objects.select_for_update(of=("self",))
        .select_related("session")
        .filter(respondent=respondent)
    }
    new = [
        found
        for key, found in current.items()
        if key not in recorded
        or recorded[key].resolved_at is not None
        or (recorded[key].expected, recorded[key].actual) != (found.expected, found.actual)
    ]
    reason = (reason or "").strip()
    if new and not reason:
        described = " ".join(
            ProtocolDeviation(
                respondent=respondent,
                kind=found.kind,
                session=MassageSession.objects.filter(pk=found.session_id).first(),
                timepoint=found.timepoint,
                expected=found.expected,
                actual=found.actual,
            ).description
            for found in new
        )
        raise DeviationReasonRequired(
            {
                "deviation_reason": ValidationError(
                    _(
                        "This moves the mother outside the protocol: %(deviations)s Correct the "
                        "entry, or give the reason to record it as a protocol deviation."
                    ),
                    code="protocol_deviation",
                    params={"deviations": described},
                )
            }
        )
    saved = []
    for found in new:
        deviation = recorded.get(
            (found.kind, found.session_id, found.timepoint)
        ) or ProtocolDeviation(
            respondent=respondent,
            kind=found.kind,
            session_id=found.session_id,
            timepoint=found.timepoint,
        )
        deviation.expected, deviation.actual = found.expected, found.actual
        deviation.reason, deviation.resolved_at = reason, None
        deviation.recorded_by = _signed_in(user)
        _save(deviation, user=user, reason=reason)
        saved.append(deviation)
    for key, deviation in recorded.items():
        if key not in current and deviation.resolved_at is None:
            deviation.resolved_at = timezone.now()
            _save(deviation, user=user, reason=BACK_WITHIN_PROTOCOL)
    return saved


TODAY = object()  # ``withdraw_respondent(on=...)``'s default: the clinic's date today


@transaction.atomic
def withdraw_respondent(
    *, respondent: Respondent, user, reason: str, on: datetime.date | None = TODAY
) -> Respondent:
    """Withdraw a mother on ``on`` (default: today). Nothing is deleted; her records stay, with
    the reason, in the history. The withdrawal needs a date and a reason, not before her
    enrolment and not in the future: the model's rules (studies/rules.py) say so for every
    path, so ``on=None`` or a blank reason is refused with the field named."""
    if respondent.status == Respondent.Status.WITHDRAWN:
        raise ValidationError(_("This mother has already been withdrawn."))
    respondent.status = Respondent.Status.WITHDRAWN
    respondent.withdrawn_on = timezone.localdate() if on is TODAY else on
    respondent.withdrawal_reason = (reason or "").strip()
    try:
        _save(respondent, user=user, reason=respondent.withdrawal_reason)
    except ValidationError:
        respondent.refresh_from_db()
        raise
    return respondent


@transaction.atomic
def correct_withdrawal(
    *,
    respondent: Respondent,
    user,
    withdrawn_on: datetime.date | None,
    withdrawal_reason: str,
    reason: str,
    expected_version=ANY_VERSION,
) -> Respondent:
    """Correct a withdrawal's date and reason, with a reason for the change kept in the history
    beside the old and new values. The one write allowed for a withdrawn mother: she stays
    withdrawn, and the model's rules still hold (a date between her enrolment and today, a
    reason)."""
    reason = _require_reason(reason)
    current = Respondent.objects.select_for_update().get(pk=respondent.pk)
    require_current(current, expected_version)
    if current.status != Respondent.Status.WITHDRAWN:
        raise ValidationError(_("This mother has not been withdrawn."), code="not_withdrawn")
    current.withdrawn_on = withdrawn_on
    current.withdrawal_reason = (withdrawal_reason or "").strip()
    _save(current, user=user, reason=reason, correcting_withdrawal=True)
    respondent.refresh_from_db()
    return respondent


@transaction.atomic
def assign_role(
    *, username: str, role: str, site_names: Iterable[str] = (), password: str | None = None
):
    """Create or update a user in exactly one role. A midwife gets her sites; the data manager
    gets the admin site. Returns ``(user, created)``."""
    if role not in Role.values:
        raise ValidationError(_("Unknown role %(role)s.") % {"role": role})
    names = [name.strip() for name in site_names if name.strip()]
    by_name = {site.name.lower(): site for site in Site.objects.all()}  # names ignore case
    sites = list({by_name[name.lower()] for name in names if name.lower() in by_name})
    missing = sorted(name for name in names if name.lower() not in by_name)
    if missing:
        raise ValidationError(
            _("Unknown site(s): %(missing)s. Known sites: %(known)s.")
            % {
                "missing": ", ".join(missing),
                "known": ", ".join(Site.objects.values_list("name", flat=True)) or "—",
            }
        )
    if role == Role.MIDWIFE and not sites:
        raise ValidationError(_("A midwife needs at least one site (--site NAME)."))
    user_model = get_user_model()
    user, created = user_model.objects.get_or_create(username=username)
    if created and password is None:
        raise ValidationError(_("A new user needs a password."))
    if password is not None:
        validate_password(password, user)
        user.set_password(password)
    user.is_staff = role == Role.ADMIN
    user.is_active = True
    user.save()
    user.groups.remove(*Group.objects.filter(name__in=Role.values))
    user.groups.add(Group.objects.get(name=role))
    user.sites.set(sites if role == Role.MIDWIFE else [])
    return user, created
