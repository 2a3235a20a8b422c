"""The clinical data model.

Rules live here once: ranges as field validators (with units in the help text), invariants as
database constraints, cross-record rules in ``clean()``. Forms, the admin and the importer all
reach them through ``full_clean()``.
"""

from __future__ import annotations

import datetime
import operator
import uuid
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.validators import (
    MaxLengthValidator,
    MaxValueValidator,
    MinValueValidator,
    RegexValidator,
)
from django.db import models, router
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import formats, timezone
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from . import definition as definition_module
from . import rules

# Free-text notes and reasons: room for a paragraph, not for a pasted document.
TEXT_LIMIT = 2000

# A mother's counts of her sessions, kept on her row (Respondent) and set only by
# services.recount_sessions.
DERIVED_SESSION_COUNTS = ["sessions_planned", "sessions_done"]


class Source(models.TextChoices):
    """How a record came in: typed by a person, or read from a historical sheet by the importer
    (which may lack what the protocol asks to record live, such as a session's duration)."""

    ENTERED = "entered", _("Entered")
    IMPORTED = "imported", _("Imported")


class Slot(models.TextChoices):
    """Times of day a massage session can be planned, in the order they are used."""

    MORNING = "morning", _("Morning")
    AFTERNOON = "afternoon", _("Afternoon")
    EVENING = "evening", _("Evening")


# Slots sort by time of day (morning, afternoon, evening), not alphabetically, wherever sessions
# are listed: the model's default order, the worklist, the exports.
SLOT_ORDER = models.Case(
    *(models.When(slot=value, then=models.Value(index)) for index, value in enumerate(Slot.values)),
    default=models.Value(len(Slot.values)),
)


_LOOKUPS = {
    "exact": operator.eq,
    "gte": operator.ge,
    "lte": operator.le,
    "gt": operator.gt,
    "lt": operator.lt,
}
_UNSUPPORTED = object()


def _condition_holds(condition: Q, instance: models.Model):
    """Evaluate a check constraint's condition on an unsaved instance, with SQL's three-valued
    logic (``None`` is unknown, which a CHECK lets through). Returns ``_UNSUPPORTED`` for a
    lookup this does not know, so the caller can ask the database instead."""
    results = []
    for child in condition.children:
        if isinstance(child, Q):
            result = _condition_holds(child, instance)
        else:
            key, expected = child
            name, _sep, lookup = key.partition("__")
            value = getattr(instance, instance._meta.get_field(name).attname)
            if isinstance(expected, models.F):
                expected = getattr(instance, instance._meta.get_field(expected.name).attname)
            if lookup == "isnull":
                result = (value is None) == expected
            elif (lookup or "exact") not in _LOOKUPS or isinstance(expected, models.Expression):
                return _UNSUPPORTED
            elif value is None or expected is None:
                result = None
            else:
                result = _LOOKUPS[lookup or "exact"](value, expected)
        if result is _UNSUPPORTED:
            return _UNSUPPORTED
        results.append(result)
    if condition.connector == Q.AND:
        combined = False if False in results else (None if None in results else True)
    else:
        combined = True if True in results else (None if None in results else False)
    if condition.negated:
        combined = None if combined is None else not combined
    return combined


_CONDITION_FIELDS: dict[int, frozenset[str]] = {}


def _constraint_fields(constraint: models.CheckConstraint) -> frozenset[str]:
    """``_condition_fields`` of a check constraint, kept per constraint (the models'
    constraints live as long as the process; the importer asks for every row)."""
    names = _CONDITION_FIELDS.get(id(constraint))
    if names is None:
        names = _CONDITION_FIELDS[id(constraint)] = frozenset(
            _condition_fields(constraint.condition)
        )
    return names


def _condition_fields(condition: Q) -> set[str]:
    names = set()
    for child in condition.children:
        if isinstance(child, Q):
            names |= _condition_fields(child)
        else:
            key, expected = child
            names.add(key.split("__")[0])
            if isinstance(expected, models.F):
                names.add(expected.name)
    return names


_UNIQUE_FIELDS: dict[int, frozenset[str]] = {}


def _unique_fields(constraint: models.UniqueConstraint) -> frozenset[str]:
    """The fields a unique constraint names, directly or in its expressions
    (``UniqueConstraint("study", Lower("code"))`` names study and code). Kept per constraint
    (the models' constraints live as long as the process)."""
    names = _UNIQUE_FIELDS.get(id(constraint))
    if names is None:
        found = set(constraint.fields)
        for expression in constraint.expressions:
            nodes = [expression] if isinstance(expression, models.F) else expression.flatten()
            found |= {node.name for node in nodes if isinstance(node, models.F)}
        names = _UNIQUE_FIELDS[id(constraint)] = frozenset(found)
    return names


class ConstraintFieldsMixin:
    """Validate the model's database constraints before saving, and report each violation next
    to the field it is about.

    ``Model.validate_constraints`` reports check constraints as non-field errors (a midwife needs
    the message beside the input she has to change) and asks the database for each of them;
    here a check constraint's condition is evaluated in Python when its lookups allow (the
    importer validates thousands of rows), the database otherwise. ``constraint_fields`` maps a
    constraint's ``violation_error_code`` to its field.
    """

    constraint_fields: dict[str, str] = {}

    def validate_constraints(self, exclude=None):
        exclude = set(exclude or ())
        using = router.db_for_write(type(self), instance=self)
        errors: dict[str, list[ValidationError]] = {}
        for constraint in self._meta.constraints:
            try:
                if isinstance(constraint, models.CheckConstraint):
                    if exclude & _constraint_fields(constraint):
                        continue
                    verdict = _condition_holds(constraint.condition, self)
                    if verdict is not _UNSUPPORTED:
                        if verdict is False:
                            raise ValidationError(
                                constraint.get_violation_error_message(),
                                code=constraint.violation_error_code,
                            )
                        continue
                if isinstance(constraint, models.UniqueConstraint) and exclude & _unique_fields(
                    constraint
                ):
                    continue  # as Django's own check would, without building its query first
                constraint.validate(type(self), self, exclude=exclude, using=using)
            except ValidationError as error:
                field = self.constraint_fields.get(error.code, NON_FIELD_ERRORS)
                errors.setdefault(field, []).append(error)
        if errors:
            raise ValidationError(errors)


class Site(models.Model):
    """A clinic or maternity home where mothers are enrolled."""

    name = models.CharField(_("name"), max_length=120, unique=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="sites",
        verbose_name=_("midwives"),
        help_text=_("Midwives who work at this site and see its mothers."),
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]
        verbose_name = _("site")
        verbose_name_plural = _("sites")
        constraints = [
            models.UniqueConstraint(
                Lower("name"),
                name="site_name_unique_ignoring_case",
                violation_error_message=_("A site with this name already exists."),
            )
        ]

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class PlannedSession:
    postpartum_day: int
    slot: str
    planned_date: datetime.date


class Study(ConstraintFieldsMixin, models.Model):
    """A study and its protocol. The defaults are the oxytocin-massage paper's protocol."""

    code = models.CharField(
        _("code"),
        max_length=20,
        unique=True,
        validators=[
            RegexValidator(
                r"^[A-Za-z0-9][A-Za-z0-9_-]*$",
                message=_("Use letters, digits, '-' or '_' only (it appears in web addresses)."),
            )
        ],
    )
    title = models.CharField(_("title"), max_length=300)
    sites = models.ManyToManyField(Site, related_name="studies", verbose_name=_("sites"))
    definition = models.JSONField(
        _("study definition"),
        default=definition_module.paper_definition,
        help_text=_(
            "Design, arms, allocation, intervention schedule, time points and outcomes "
            "(DESIGN.md section 6); fixed once a mother is enrolled."
        ),
    )
    definition_version = models.PositiveIntegerField(
        _("definition version"),
        default=1,
        help_text=_("Counts the changes of the definition; each is kept in the history."),
    )
    allocation_seed = models.CharField(
        _("allocation seed"),
        max_length=64,
        blank=True,
        help_text=_("Draws the permuted blocks of a 'blocks' allocation; never shown to midwives."),
    )
    exclusion_criteria = models.TextField(
        _("exclusion criteria"),
        blank=True,
        help_text=_("One criterion a line; each is checked at enrolment."),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["code"]
        verbose_name = _("study")
        verbose_name_plural = _("studies")
        permissions = [
            ("view_results", _("Can view live results")),
            ("export_data", _("Can export data")),
            ("import_data", _("Can import historical sheets")),
        ]

    def __str__(self) -> str:
        return f"{self.code} — {self.title}"

    @cached_property
    def protocol(self) -> definition_module.StudyDefinition:
        """The definition read and checked (``studies.definition``)."""
        return definition_module.parse(self.definition)

    @property
    def alpha(self) -> Decimal:
        return self.protocol.alpha

    def schedule(self, arm: str) -> definition_module.Schedule | None:
        """The intervention schedule of an arm; ``None`` for an arm without one."""
        return self.protocol.schedule(arm)

    def session_plan(self, delivery_date: datetime.date, arm: str) -> list[PlannedSession]:
        """The sessions a mother of ``arm`` delivered on ``delivery_date`` is due, in order."""
        schedule = self.schedule(arm)
        if schedule is None:
            return []
        return [PlannedSession(*planned) for planned in schedule.plan(delivery_date)]

    def sessions_planned(self, arm: str) -> int:
        schedule = self.schedule(arm)
        return schedule.sessions_planned if schedule else 0

    def clean(self) -> None:
        try:
            definition_module.parse(self.definition)
        except definition_module.DefinitionError as error:
            raise ValidationError(
                {"definition": [f"{key}: {message}" for key, message in error.problems]}
            ) from error

    @cached_property
    def site_ids(self) -> frozenset[int]:
        return frozenset(self.sites.values_list("pk", flat=True))

    def exclusion_criteria_list(self) -> list[str]:
        return [line.strip() for line in self.exclusion_criteria.splitlines() if line.strip()]


class Respondent(ConstraintFieldsMixin, models.Model):
    """A mother enrolled in a study. Identifying details live apart, in RespondentIdentity."""

    class Education(models.TextChoices):
        BASIC = "basic", _("Basic (primary or junior high school)")
        SECONDARY = "secondary", _("Secondary (senior high school)")
        HIGHER = "higher", _("Higher (diploma or university)")

    class Employment(models.TextChoices):
        WORKING = "working", _("Working")
        NOT_WORKING = "not_working", _("Not working")

    class Status(models.TextChoices):
        ENROLLED = "enrolled", _("Enrolled")
        COMPLETED = "completed", _("Completed")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    study = models.ForeignKey(
        Study,
        on_delete=models.PROTECT,
        related_name="respondents",
        verbose_name=_("study"),
        db_index=False,  # the unique (study, code) index serves every lookup by study
    )
    site = models.ForeignKey(
        Site,
        on_delete=models.PROTECT,
        related_name="respondents",
        verbose_name=_("site"),
        db_index=False,  # respondent_site_status below starts with it
    )
    code = models.CharField(
        _("respondent code"),
        max_length=30,
        validators=[
            RegexValidator(
                r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
                message=_("Use letters, digits, '.', '-' or '_' only."),
            )
        ],
        help_text=_("Unique within the study; never a name."),
    )
    arm = models.CharField(
        _("arm"),
        max_length=30,
        default=definition_module.ALL_ARMS,
        help_text=_("The arm's key in the study definition ('all' in a study without arms)."),
    )
    delivery_date = models.DateField(_("delivery date"))
    enrolled_on = models.DateField(_("enrolment date"))
    age_years = models.PositiveSmallIntegerField(
        _("age"),
        validators=[
            MinValueValidator(10, message=_("Age must be at least %(limit_value)s years.")),
            MaxValueValidator(60, message=_("Age must be at most %(limit_value)s years.")),
        ],
        help_text=_("years"),
    )
    parity = models.PositiveSmallIntegerField(
        _("parity"),
        validators=[
            MinValueValidator(1, message=_("Parity counts this child, so it is at least 1.")),
            MaxValueValidator(20),
        ],
        help_text=_("Number of children including this one (1 = primipara)."),
    )
    education = models.CharField(_("education"), max_length=20, choices=Education.choices)
    employment = models.CharField(_("employment"), max_length=20, choices=Employment.choices)
    eligibility_confirmed = models.BooleanField(
        _("eligibility confirmed"),
        default=False,
        help_text=_(
            "The inclusion criteria were checked and none of the exclusion criteria apply."
        ),
    )
    consent_date = models.DateField(_("consent date"), null=True, blank=True)
    consent_taken_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("consent taken by"),
    )
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.ENROLLED
    )
    withdrawn_on = models.DateField(_("withdrawal date"), null=True, blank=True)
    withdrawal_reason = models.TextField(
        _("withdrawal reason"), blank=True, validators=[MaxLengthValidator(TEXT_LIMIT)]
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    version = models.PositiveIntegerField(
        _("version"),
        default=1,
        editable=False,
        help_text=_("Counts the saves; a form saved over a newer version is refused."),
    )
    # Derived from her sessions by services.recount_sessions, in the transaction of every write
    # of a session, so the results and the lists read them from her row instead of counting.
    sessions_planned = models.PositiveIntegerField(
        _("sessions planned"),
        default=0,
        editable=False,
        help_text=_("Derived from her sessions: how many she has, whatever their status."),
    )
    sessions_done = models.PositiveIntegerField(
        _("sessions done"),
        default=0,
        editable=False,
        help_text=_("Derived from her sessions: how many are done."),
    )
    # The counts are not a clinical record: a recount writes no history row.
    history = HistoricalRecords(excluded_fields=DERIVED_SESSION_COUNTS)

    class Meta:
        ordering = ["study", "code"]
        verbose_name = _("respondent")
        verbose_name_plural = _("respondents")
        permissions = [("view_identity", _("Can see names and phone numbers"))]
        constraints = [
            # People read R01 and r01 as the same mother: the code is unique ignoring case (the
            # forms and the importer strip surrounding spaces, and the code's format refuses
            # inner ones).
            models.UniqueConstraint(
                "study",
                Lower("code"),
                name="respondent_code_unique_in_study",
                violation_error_code="duplicate_code",
                violation_error_message=_("This respondent code is already used in this study."),
            ),
            models.CheckConstraint(
                condition=Q(enrolled_on__gte=models.F("delivery_date")),
                name="respondent_enrolled_not_before_delivery",
                violation_error_code="enrolled_before_delivery",
                violation_error_message=_("Enrolment cannot be before the delivery date."),
            ),
            models.CheckConstraint(
                condition=Q(age_years__gte=10, age_years__lte=60),
                name="respondent_age_range",
                violation_error_code="age_range",
                violation_error_message=_("Age must be between 10 and 60 years."),
            ),
            models.CheckConstraint(
                condition=Q(parity__gte=1),
                name="respondent_parity_positive",
                violation_error_code="parity",
                violation_error_message=_("Parity counts this child, so it is at least 1."),
            ),
            models.CheckConstraint(
                condition=~Q(status="withdrawn")
                | (Q(withdrawn_on__isnull=False) & ~Q(withdrawal_reason="")),
                name="respondent_withdrawal_has_date_and_reason",
                violation_error_code="withdrawal_reason",
                violation_error_message=_("A withdrawal needs a date and a reason."),
            ),
        ]
        indexes = [
            models.Index(fields=["study", "site", "status"], name="respondent_worklist"),
            # A midwife's worklist asks for the mothers in the protocol at her sites, whatever
            # the study: without it, every mother of the site was read to find them.
            models.Index(fields=["site", "status"], name="respondent_site_status"),
        ]

    constraint_fields = {
        "duplicate_code": "code",
        "enrolled_before_delivery": "enrolled_on",
        "age_range": "age_years",
        "parity": "parity",
        "withdrawal_reason": "withdrawal_reason",
    }

    def __str__(self) -> str:
        return self.code

    def clean(self) -> None:
        errors = rules.merge(self.rule_errors(timezone.localdate()), self.record_errors())
        if errors:
            raise ValidationError(errors)

    def record_errors(
        self,
        *,
        sheets: dict[str, datetime.date | None] | None = None,
        sessions_done_on: list[datetime.date] | None = None,
    ) -> dict[str, ValidationError]:
        """The rules relating her status and withdrawal to her records: completed only with
        her sheet at the study's last time point (``rules.completion``), nothing dated after
        her withdrawal (``rules.after_withdrawal``). ``sheets`` (time point → date) and
        ``sessions_done_on`` are read from the database when not given (none for a mother
        not saved yet); the importer gives the row's."""
        completed = self.status == self.Status.COMPLETED
        if not (completed or self.withdrawn_on) or not self.study_id:
            return {}
        if sheets is None:
            sheets = (
                dict(self.observations.values_list("timepoint", "observed_on"))
                if self.pk
                else {}
            )
        if sessions_done_on is None:
            sessions_done_on = (
                [
                    timezone.localdate(started_at)
                    for started_at in self.sessions.filter(
                        status=MassageSession.Status.DONE, started_at__isnull=False
                    ).values_list("started_at", flat=True)
                ]
                if self.pk and self.withdrawn_on
                else []
            )
        protocol = self.study.protocol
        return rules.merge(
            rules.completion(status=self.status, protocol=protocol, sheets=sheets),
            rules.after_withdrawal(
                withdrawn_on=self.withdrawn_on,
                protocol=protocol,
                sheets=sheets,
                sessions_done_on=sessions_done_on,
            ),
        )

    def rule_errors(self, today: datetime.date) -> dict[str, ValidationError]:
        """What ``clean`` checks (the site and arm are the study's, ``rules.respondent_dates``
        against ``today``, ``rules.withdrawal_complete``), as ``{field: ValidationError}``: the
        importer judges a whole file against one day through this."""
        errors = {}
        if self.study_id and self.site_id and self.site_id not in self.study.site_ids:
            errors["site"] = ValidationError(
                _("This site does not take part in the study."), code="site_not_in_study"
            )
        if self.study_id and self.arm not in self.study.protocol.arm_keys:
            errors["arm"] = ValidationError(
                _("Choose one of the study's arms."), code="arm_not_in_study"
            )
        errors = rules.merge(
            errors,
            rules.respondent_dates(
                delivery_date=self.delivery_date,
                enrolled_on=self.enrolled_on,
                consent_date=self.consent_date,
                withdrawn_on=self.withdrawn_on,
                today=today,
            ),
            rules.withdrawal_complete(
                status=self.status,
                withdrawn_on=self.withdrawn_on,
                withdrawal_reason=self.withdrawal_reason,
            ),
        )
        return errors

    @property
    def is_primipara(self) -> bool:
        return self.parity == 1

    def postpartum_day_on(self, day: datetime.date) -> int:
        return (day - self.delivery_date).days


class RespondentIdentity(models.Model):
    """Who the mother is. Kept out of the clinical table so de-identified reads never touch it."""

    respondent = models.OneToOneField(
        Respondent,
        on_delete=models.PROTECT,
        primary_key=True,
        related_name="identity",
        verbose_name=_("respondent"),
    )
    full_name = models.CharField(_("name"), max_length=200, blank=True)
    phone = models.CharField(
        _("phone"),
        max_length=30,
        blank=True,
        validators=[
            RegexValidator(
                r"^\+?[0-9][0-9 -]{5,28}$",
                message=_("Enter a phone number of digits, optionally starting with +."),
            )
        ],
    )
    medical_record_number = models.CharField(_("medical record number"), max_length=50, blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("identity")
        verbose_name_plural = _("identities")

    def __str__(self) -> str:
        return str(self.respondent)


class MassageSession(ConstraintFieldsMixin, models.Model):
    """One planned oxytocin massage, and what happened to it."""

    class Status(models.TextChoices):
        PLANNED = "planned", _("Planned")
        DONE = "done", _("Done")
        MISSED = "missed", _("Missed")
        REFUSED = "refused", _("Refused")

    respondent = models.ForeignKey(
        Respondent,
        on_delete=models.PROTECT,
        related_name="sessions",
        verbose_name=_("respondent"),
        db_index=False,  # the unique (respondent, day, slot) index serves it (make bench)
    )
    postpartum_day = models.PositiveSmallIntegerField(
        _("postpartum day"),
        validators=[MaxValueValidator(60)],
        help_text=_("Days since delivery (the day of delivery is day 0)."),
    )
    slot = models.CharField(_("time of day"), max_length=20, choices=Slot.choices)
    planned_date = models.DateField(_("planned date"))
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.PLANNED
    )
    started_at = models.DateTimeField(_("start time"), null=True, blank=True)
    duration_minutes = models.PositiveSmallIntegerField(
        _("duration"),
        null=True,
        blank=True,
        validators=[
            MinValueValidator(1, message=_("A session lasts at least one minute.")),
            MaxValueValidator(240, message=_("At most %(limit_value)s minutes; check the entry.")),
        ],
        help_text=_("minutes"),
    )
    performed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("performed by"),
    )
    notes = models.TextField(_("notes"), blank=True, validators=[MaxLengthValidator(TEXT_LIMIT)])
    source = models.CharField(
        _("source"), max_length=10, choices=Source.choices, default=Source.ENTERED
    )
    version = models.PositiveIntegerField(
        _("version"),
        default=1,
        editable=False,
        help_text=_("Counts the saves; a form saved over a newer version is refused."),
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["respondent", "postpartum_day", SLOT_ORDER]
        verbose_name = _("massage session")
        verbose_name_plural = _("massage sessions")
        constraints = [
            models.UniqueConstraint(
                fields=["respondent", "postpartum_day", "slot"],
                name="session_unique_per_day_and_slot",
                violation_error_code="duplicate_session",
                violation_error_message=_(
                    "This mother already has a session on that day and time of day."
                ),
            ),
            models.CheckConstraint(
                condition=Q(duration_minutes__isnull=True) | Q(duration_minutes__gte=1),
                name="session_duration_positive",
                violation_error_code="duration",
                violation_error_message=_("A session lasts at least one minute."),
            ),
            models.CheckConstraint(
                condition=~Q(status="done")
                | Q(started_at__isnull=False, duration_minutes__isnull=False)
                | Q(started_at__isnull=False, source="imported"),
                name="session_done_has_time_and_duration",
                violation_error_code="done_incomplete",
                violation_error_message=_("A session done needs its start time and duration."),
            ),
        ]
        # No index on (planned_date, status): the worklist reaches sessions through the mother,
        # by the unique index above; one on the date was never used, only written (make bench).

    constraint_fields = {
        "duplicate_session": "slot",
        "duration": "duration_minutes",
        "done_incomplete": "started_at",
    }

    def __str__(self) -> str:
        return f"{self.respondent} · {self.postpartum_day} · {self.get_slot_display()}"

    def clean(self) -> None:
        study = self.respondent.study if self.respondent_id else None
        schedule = study.schedule(self.respondent.arm) if study else None
        errors = rules.session_outcome(
            status=self.status,
            started_at=self.started_at,
            duration_minutes=self.duration_minutes,
            notes=self.notes,
            source=self.source,
            minutes_allowed=(schedule.min_minutes, schedule.max_minutes) if schedule else None,
        )
        if self.respondent_id and self.started_at is not None:
            sheets = {}
            if self.status == self.Status.DONE:
                sheets = dict(
                    Observation.objects.filter(respondent_id=self.respondent_id).values_list(
                        "timepoint", "observed_on"
                    )
                )
            errors = rules.merge(
                errors,
                rules.session_date(
                    status=self.status,
                    started_on=timezone.localdate(self.started_at),
                    started_at=self.started_at,
                    now=timezone.now(),
                    enrolled_on=self.respondent.enrolled_on,
                    sheets=sheets,
                    protocol=study.protocol,
                    arm=self.respondent.arm,
                ),
            )
        if errors:
            raise ValidationError(errors)


class Observation(ConstraintFieldsMixin, models.Model):
    """The observation sheet of one time point: the values of the outcomes the study's
    definition measures there (``values``: outcome key → number or category value)."""

    respondent = models.ForeignKey(
        Respondent,
        on_delete=models.PROTECT,
        related_name="observations",
        verbose_name=_("respondent"),
        db_index=False,  # the unique (respondent, timepoint) index serves it (make bench)
    )
    timepoint = models.CharField(
        _("time point"),
        max_length=30,
        help_text=_("The time point's key in the study definition."),
    )
    observed_on = models.DateField(_("observation date"))
    values = models.JSONField(
        _("values"),
        default=dict,
        blank=True,
        help_text=_("Outcome key to value; an outcome not recorded on the sheet is absent."),
    )
    observed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("observed by"),
    )
    notes = models.TextField(_("notes"), blank=True, validators=[MaxLengthValidator(TEXT_LIMIT)])
    source = models.CharField(
        _("source"), max_length=10, choices=Source.choices, default=Source.ENTERED
    )
    version = models.PositiveIntegerField(
        _("version"),
        default=1,
        editable=False,
        help_text=_("Counts the saves; a form saved over a newer version is refused."),
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["respondent", "observed_on"]
        verbose_name = _("observation sheet")
        verbose_name_plural = _("observation sheets")
        constraints = [
            models.UniqueConstraint(
                fields=["respondent", "timepoint"],
                name="observation_unique_per_timepoint",
                violation_error_code="duplicate_observation",
                violation_error_message=_("This mother already has a sheet for this time point."),
            ),
        ]

    constraint_fields = {"duplicate_observation": "timepoint"}

    def __str__(self) -> str:
        return f"{self.respondent} · {self.timepoint_label}"

    @property
    def timepoint_label(self) -> str:
        point = self.respondent.study.protocol.timepoint(self.timepoint)
        return str(point.label) if point else self.timepoint

    def clean(self) -> None:
        errors: dict = {}
        if self.respondent_id:
            protocol = self.respondent.study.protocol
            errors = rules.merge(
                errors, rules.sheet_values(protocol, timepoint=self.timepoint, values=self.values)
            )
        if self.observed_on and self.respondent_id and "timepoint" not in errors:
            others = dict(
                Observation.objects.filter(respondent_id=self.respondent_id)
                .exclude(pk=self.pk)
                .values_list("timepoint", "observed_on")
            )
            done = [
                timezone.localdate(started_at)
                for started_at in MassageSession.objects.filter(
                    respondent_id=self.respondent_id,
                    status=MassageSession.Status.DONE,
                    started_at__isnull=False,
                ).values_list("started_at", flat=True)
            ]
            errors = rules.merge(
                errors,
                rules.sheet_dates(
                    protocol=self.respondent.study.protocol,
                    arm=self.respondent.arm,
                    timepoint=self.timepoint,
                    observed_on=self.observed_on,
                    delivery_date=self.respondent.delivery_date,
                    today=timezone.localdate(),
                    other_sheets=others,
                    sessions_done_on=done,
                ),
            )
        elif self.observed_on and not self.respondent_id:
            errors = rules.merge(
                errors,
                rules.sheet_dates(
                    protocol=None, arm="", timepoint=self.timepoint,
                    observed_on=self.observed_on, delivery_date=None,
                    today=timezone.localdate(), other_sheets={},
                ),
            )  # fmt: skip
        if errors:
            raise ValidationError(errors)


class ProtocolDeviation(models.Model):
    """A departure from the study's protocol, recorded with the reason it was kept.

    The services compute a mother's deviations from her records after every write
    (``studies.rules.protocol_deviations``) and refuse a write that would add one without a
    reason; so nothing moves a mother outside the protocol silently. A deviation that a later
    correction undoes is marked resolved, never deleted. A mother with an unresolved deviation
    is not per protocol (the respondent list filters on it)."""

    class Kind(models.TextChoices):
        ENROLMENT_DAY = "enrolment_day", _("Enrolled on another postpartum day")
        SESSION_EARLY = "session_early", _("Session done before its planned day")
        SHEET_DAY = "sheet_day", _("Sheet dated on another day than its time point's")

    respondent = models.ForeignKey(
        Respondent,
        on_delete=models.PROTECT,
        related_name="deviations",
        verbose_name=_("respondent"),
    )
    kind = models.CharField(_("deviation"), max_length=30, choices=Kind.choices)
    session = models.ForeignKey(
        MassageSession,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="deviations",
        verbose_name=_("massage session"),
    )
    timepoint = models.CharField(
        _("time point"),
        max_length=30,
        blank=True,
        help_text=_("The time point's key, for a sheet dated on another day; empty otherwise."),
    )
    expected = models.CharField(
        _("protocol"), max_length=30, help_text=_("What the protocol asks (a day or a date).")
    )
    actual = models.CharField(_("recorded"), max_length=30, help_text=_("What was recorded."))
    reason = models.TextField(_("reason"), validators=[MaxLengthValidator(TEXT_LIMIT)])
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("recorded by"),
    )
    recorded_at = models.DateTimeField(_("recorded"), auto_now_add=True)
    resolved_at = models.DateTimeField(
        _("resolved"),
        null=True,
        blank=True,
        help_text=_("When a correction brought the mother back within the protocol."),
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["respondent", "recorded_at"]
        verbose_name = _("protocol deviation")
        verbose_name_plural = _("protocol deviations")
        constraints = [
            models.UniqueConstraint(
                fields=["respondent", "kind", "timepoint"],
                condition=Q(session__isnull=True),
                name="deviation_once_per_respondent_kind_and_timepoint",
            ),
            models.UniqueConstraint(
                fields=["session", "kind"],
                condition=Q(session__isnull=False),
                name="deviation_once_per_session_and_kind",
            ),
            models.CheckConstraint(condition=~Q(reason=""), name="deviation_has_a_reason"),
        ]

    def __str__(self) -> str:
        return f"{self.respondent} · {self.get_kind_display()}"

    @property
    def description(self) -> str:
        """What departed from the protocol, in the reader's language."""
        if self.kind == self.Kind.ENROLMENT_DAY:
            return _(
                "Enrolled on postpartum day %(actual)s; the protocol enrols on day %(expected)s."
            ) % {"actual": self.actual, "expected": self.expected}
        if self.kind == self.Kind.SHEET_DAY:
            protocol = self.respondent.study.protocol
            point = protocol.timepoint(self.timepoint)
            actual = datetime.date.fromisoformat(self.actual)
            expected = datetime.date.fromisoformat(self.expected)
            values = {
                "timepoint": str(point.label) if point else self.timepoint,
                "actual": formats.date_format(actual),
                "expected": formats.date_format(expected),
            }
            if actual < expected:
                return _(
                    "The %(timepoint)s sheet is dated %(actual)s, before its day in the "
                    "protocol (%(expected)s)."
                ) % values
            return _(
                "The %(timepoint)s sheet is dated %(actual)s, after its day in the protocol "
                "(%(expected)s)."
            ) % values
        return _("%(session)s done on %(actual)s, before its planned day (%(expected)s).") % {
            "session": _("Day %(day)s, %(slot)s")
            % {"day": self.session.postpartum_day, "slot": self.session.get_slot_display()},
            "actual": formats.date_format(datetime.date.fromisoformat(self.actual)),
            "expected": formats.date_format(datetime.date.fromisoformat(self.expected)),
        }


class ChoiceOverride(models.Model):
    """The researcher's choice of the test of one outcome's comparison, in place of the one the
    design, the outcome's type and normality choose (DESIGN.md section 7), with the reason.

    One row per study, outcome and comparison; a new choice changes the row, so its history
    (and the audit export) keeps every earlier choice with who, when and why. An empty
    ``test`` gives the comparison back to the automatic choice. Only a test of the design's
    row is accepted (``services.override_test_choice`` checks it with
    ``analysis.choice.allowed_tests``)."""

    class Comparison(models.TextChoices):
        WITHIN = "within", _("Within each arm")
        BETWEEN = "between", _("Between arms")

    study = models.ForeignKey(
        Study, on_delete=models.PROTECT, related_name="choice_overrides", verbose_name=_("study")
    )
    outcome = models.CharField(_("outcome"), max_length=30)
    comparison = models.CharField(_("comparison"), max_length=10, choices=Comparison.choices)
    test = models.CharField(
        _("test"),
        max_length=30,
        blank=True,
        help_text=_("Empty: the test chosen from the design and the normality check."),
    )
    reason = models.TextField(_("reason"), validators=[MaxLengthValidator(TEXT_LIMIT)])
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("chosen by"),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    changed_at = models.DateTimeField(_("changed"), auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["study", "outcome", "comparison"]
        verbose_name = _("test choice")
        verbose_name_plural = _("test choices")
        constraints = [
            models.UniqueConstraint(
                fields=["study", "outcome", "comparison"],
                name="one_choice_per_outcome_and_comparison",
            ),
            models.CheckConstraint(condition=~Q(reason=""), name="choice_has_a_reason"),
        ]

    def __str__(self) -> str:
        return f"{self.study} · {self.outcome} · {self.comparison}: {self.test or '—'}"


class AuditEvent(models.Model):
    """What the history of the clinical records cannot show: an identified export, an import."""

    class Action(models.TextChoices):
        IDENTIFIED_EXPORT = "identified_export", _("Identified export")
        IMPORT = "import", _("Import")

    study = models.ForeignKey(
        Study, on_delete=models.PROTECT, related_name="audit_events", verbose_name=_("study")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("user"),
    )
    action = models.CharField(_("action"), max_length=30, choices=Action.choices)
    detail = models.TextField(_("detail"), blank=True)
    created_at = models.DateTimeField(_("when"), auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")

    def __str__(self) -> str:
        return f"{self.get_action_display()} · {self.created_at:%Y-%m-%d %H:%M}"


class ImportJob(models.Model):
    """One uploaded cohort file on its way from the upload to the import. The task worker
    (studies/tasks.py) checks and imports it; its page reads the state from here, so it survives
    a reload, and only the data manager who uploaded it can see it."""

    class State(models.TextChoices):
        CHECKING = "checking", _("Checking the file")
        READY = "ready", _("Checked, waiting for your confirmation")
        IMPORTING = "importing", _("Importing")
        DONE = "done", _("Imported")
        FAILED = "failed", _("Not imported")
        EXPIRED = "expired", _("Expired")

    # Random and unguessable: the job's address is not a counter another user could walk.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    study = models.ForeignKey(
        Study, on_delete=models.CASCADE, related_name="import_jobs", verbose_name=_("study")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("uploaded by"),
    )
    filename = models.CharField(_("file name"), max_length=255)
    language = models.CharField(_("language"), max_length=10, default="id")
    state = models.CharField(_("state"), max_length=20, choices=State.choices)
    rows_read = models.PositiveIntegerField(_("rows read"), default=0)
    rows_to_write = models.PositiveIntegerField(_("mothers to save"), default=0)
    rows_written = models.PositiveIntegerField(_("mothers saved"), default=0)
    # The preview's figures and its first errors (exchange.MAX_REPORTED_ERRORS): rows, sheets,
    # sessions_done, error_count, errors as [row, column, message].
    report = models.JSONField(_("report"), default=dict, blank=True)
    problem = models.TextField(_("problem"), blank=True)  # a file-level error, in words
    created = models.PositiveIntegerField(_("mothers imported"), default=0)
    created_at = models.DateTimeField(_("uploaded"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("import job")
        verbose_name_plural = _("import jobs")

    def __str__(self) -> str:
        return f"{self.filename} · {self.get_state_display()}"

    @property
    def running(self) -> bool:
        """The worker still has to finish it (the page refreshes itself meanwhile)."""
        return self.state in (self.State.CHECKING, self.State.IMPORTING)
