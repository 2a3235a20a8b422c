from __future__ import annotations

import datetime

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Submit
from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from .changes import number_text
from .models import MassageSession, Observation, Respondent, RespondentIdentity, Slot, Study
from .safety import integer_range
from .services import ANY_VERSION, StaleRecordError, require_current


def add_model_errors(
    form: forms.Form, error: ValidationError, aliases: dict[str, str] | None = None
) -> None:
    """Show a service's validation errors beside the form's fields, the rest above the form.
    ``aliases`` names the form field that stands for a model field (``started_at`` is entered as
    a date and a time)."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field, errors in error.error_dict.items():
        field = (aliases or {}).get(field, field)
        if field == DEVIATION_FIELD and hasattr(form, "ask_deviation_reason"):
            form.ask_deviation_reason()
        form.add_error(field if field in form.fields else None, errors)


DEVIATION_FIELD = "deviation_reason"


class DeviationMixin:
    """A form whose save may move the mother outside the protocol. The service refuses such a
    save without a reason; the form then asks for one (keeping what was typed), and the next
    save records the protocol deviation with it."""

    def add_deviation_field_if_sent(self) -> None:
        if DEVIATION_FIELD in self.data:
            self.ask_deviation_reason()

    def ask_deviation_reason(self) -> None:
        self.fields[DEVIATION_FIELD] = forms.CharField(
            label=_("Reason for the protocol deviation"),
            help_text=_(
                "Recorded as a protocol deviation on her page; the list's per-protocol "
                "filter then leaves her out."
            ),
            max_length=2000,
            required=False,
            widget=forms.Textarea(attrs={"rows": 2}),
        )

    def deviation_reason(self) -> str:
        return (getattr(self, "cleaned_data", {}).get(DEVIATION_FIELD) or "").strip()


def date_input() -> forms.DateInput:
    """A new date picker for each field of each form: a widget's attributes are changed while a
    form renders (crispy marks a field in error ``is-invalid``), so one shared instance would
    carry one request's error state into every later form."""
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def time_input() -> forms.TimeInput:
    """A new time picker for each field of each form (see :func:`date_input`)."""
    return forms.TimeInput(attrs={"type": "time"}, format="%H:%M")


class SignInForm(AuthenticationForm):
    """Django's sign-in form in the words a midwife expects: "Kata sandi", and one error that
    does not repeat the field's name ("nama pengguna nama pengguna" in Django's own
    Indonesian)."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": _(
            "Please enter a correct username and password. Note that both fields may be "
            "case-sensitive."
        ),
        "inactive": _("This account is inactive."),
    }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["username"].label = _("User name")
        self.fields["password"].label = _("Password")


class WithdrawForm(forms.Form):
    def __init__(self, *args, respondent: Respondent, **kwargs) -> None:
        kwargs["initial"] = {"withdrawn_on": timezone.localdate(), **kwargs.get("initial", {})}
        super().__init__(*args, **kwargs)
        self.respondent = respondent
        # Both are required by the model's rule (a withdrawal needs a date and a reason), which
        # the service applies and reports beside these fields; the browser is told as well.
        self.fields["withdrawn_on"] = model_field(Respondent, "withdrawn_on", widget=date_input())
        self.fields["withdrawal_reason"] = model_field(
            Respondent, "withdrawal_reason", max_length=2000
        )
        for field in self.fields.values():
            field.widget.attrs["required"] = True
        self.fields["withdrawal_reason"].widget.attrs["rows"] = 3
        self.helper = FormHelper()
        self.helper.attrs = {"novalidate": ""}
        self.helper.add_input(Submit("submit", _("Withdraw"), css_class="btn-danger w-100"))


def model_field(model, name: str, **kwargs) -> forms.Field:
    """The form field a model field defines: its label, validators, help text and choices."""
    field = model._meta.get_field(name).formfield(**kwargs)
    # The model's range validators carry the clinical message ("A count cannot be negative.");
    # the generic bounds a form field adds for a positive integer would speak first.
    field.validators = [
        validator
        for validator in field.validators
        if not isinstance(validator, (MinValueValidator, MaxValueValidator))
    ]
    return field


REASON_HELP = _("Required when you change a saved record; it is kept in the history.")


def reason_field() -> forms.CharField:
    # Required, but checked in LancarForm.clean(): a stale form reports that first.
    return forms.CharField(
        label=_("Reason for the change"),
        help_text=REASON_HELP,
        max_length=500,
        required=False,
        widget=forms.TextInput(attrs={"required": True}),
    )


class LancarForm(forms.Form):
    """Crispy rendering with one submit button; fields bound to labels by Django. ``version``
    carries the version of the record the form was opened on (empty: there was none), so a save
    over someone else's newer save is refused."""

    submit_label = _("Save")
    # Bounded to the column's range: a larger number must not reach a history lookup.
    version = forms.IntegerField(
        required=False,
        widget=forms.HiddenInput,
        min_value=0,
        max_value=integer_range("PositiveIntegerField")[1],
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.add_input(Submit("submit", self.submit_label, css_class="btn-success w-100"))

    record = None  # the saved record this form changes, if any

    def clean(self):
        data = super().clean()
        unknown = self.record is None and self.expected_version() not in (ANY_VERSION, None)
        if "version" in self.errors or unknown:
            # Not a version this form was opened on (text, negative, past the column's range,
            # or any version when there is no record yet); the hidden field's own error is not
            # shown, so say it above the form.
            self.add_error(
                None,
                ValidationError(
                    _("This form refers to a saved version that does not exist; reload the page."),
                    code="unknown_version",
                ),
            )
            self.refresh_version(self.record.version if self.record is not None else None)
            return data
        try:
            require_current(self.record, self.expected_version())
        except StaleRecordError as error:
            self.add_error(None, error)
            self.refresh_version(self.record.version if self.record is not None else None)
            return data
        if "reason" in self.fields and not (data.get("reason") or "").strip():
            self.add_error("reason", forms.Field.default_error_messages["required"])
        return data

    def expected_version(self):
        """The version the form was opened on. A client that sends no version at all (a script)
        is not checked for concurrent edits; the pages always send it."""
        if "version" not in self.data:
            return ANY_VERSION
        return getattr(self, "cleaned_data", {}).get("version")

    def refresh_version(self, version: int | None) -> None:
        """After a refused stale save: keep what was typed, now based on the current version,
        so saving again deliberately keeps this entry."""
        self.data = self.data.copy()
        self.data["version"] = "" if version is None else str(version)


class WithdrawalCorrectionForm(LancarForm):
    """A correction of a withdrawal's date and reason, with a reason for the change."""

    def __init__(self, *args, respondent: Respondent, **kwargs) -> None:
        self.respondent = respondent
        self.record = respondent
        initial = {
            "withdrawn_on": respondent.withdrawn_on,
            "withdrawal_reason": respondent.withdrawal_reason,
            "version": respondent.version,
        }
        kwargs["initial"] = {**initial, **kwargs.get("initial", {})}
        super().__init__(*args, **kwargs)
        self.fields["withdrawn_on"] = model_field(Respondent, "withdrawn_on", widget=date_input())
        self.fields["withdrawal_reason"] = model_field(
            Respondent, "withdrawal_reason", max_length=2000
        )
        self.fields["withdrawal_reason"].widget.attrs["rows"] = 3
        self.fields["reason"] = reason_field()
        self.helper.attrs = {"novalidate": ""}

    def correction_values(self) -> dict:
        data = self.cleaned_data
        return {
            "withdrawn_on": data.get("withdrawn_on"),
            "withdrawal_reason": data.get("withdrawal_reason", ""),
            "reason": data.get("reason", ""),
            "expected_version": self.expected_version(),
        }


IDENTITY_FIELDS = ("full_name", "phone", "medical_record_number")
RESPONDENT_FIELDS = (
    "code",
    "site",
    "delivery_date",
    "enrolled_on",
    "age_years",
    "parity",
    "education",
    "employment",
    "consent_date",
)


class RespondentForm(DeviationMixin, LancarForm):
    """Enrolment (with the eligibility checklist) or, given ``respondent``, a correction of the
    enrolment details (with a reason)."""

    def __init__(
        self,
        *args,
        study: Study,
        sites,
        respondent: Respondent | None = None,
        show_identity: bool = True,
        **kwargs,
    ) -> None:
        self.study = study
        self.respondent = respondent
        self.record = respondent
        if respondent is not None:
            initial = {name: getattr(respondent, name) for name in RESPONDENT_FIELDS}
            initial["version"] = respondent.version
            identity = RespondentIdentity.objects.filter(respondent=respondent).first()
            if identity is not None:
                initial.update({name: getattr(identity, name) for name in IDENTITY_FIELDS})
        else:
            today = timezone.localdate()
            initial = {
                "enrolled_on": today,
                "consent_date": today,
                "delivery_date": today
                - datetime.timedelta(days=study.protocol.enrolment_day),
            }
        # What the caller gives (an entry kept over a sign-in) stands over the defaults.
        kwargs["initial"] = {**initial, **kwargs.get("initial", {})}
        super().__init__(*args, **kwargs)
        for name in RESPONDENT_FIELDS:
            if name == "site":
                self.fields[name] = model_field(
                    Respondent,
                    name,
                    queryset=sites,
                    error_messages={
                        "invalid_choice": _("Choose one of your sites in this study."),
                    },
                )
            else:
                self.fields[name] = model_field(Respondent, name)
        for name in ("delivery_date", "enrolled_on", "consent_date"):
            self.fields[name].widget = date_input()
        self.fields["consent_date"].required = True
        sites = list(sites)
        if len(sites) == 1:
            self.fields["site"].initial = sites[0].pk
        if show_identity:
            for name in IDENTITY_FIELDS:
                self.fields[name] = model_field(RespondentIdentity, name)
        if respondent is None:
            self._add_arm_choice()
            self._add_checklist()
        else:
            self.fields["reason"] = reason_field()
            self.add_deviation_field_if_sent()

    @property
    def arm_chosen_here(self) -> bool:
        """Whether the enrolling midwife picks the arm: only under ``chosen`` allocation with two
        or more arms. ``by_site`` and ``blocks`` decide it (services.allocate_arm), and the arm
        is revealed only once the mother is enrolled."""
        protocol = self.study.protocol
        return protocol.has_arms and protocol.allocation == "chosen"

    def _add_arm_choice(self) -> None:
        if not self.arm_chosen_here:
            return
        self.fields["arm"] = forms.ChoiceField(
            label=_("Arm"),
            choices=[(arm.key, str(arm.label)) for arm in self.study.protocol.arms],
            widget=forms.RadioSelect,
            error_messages={"required": _("Choose the mother's arm.")},
        )

    def _add_checklist(self) -> None:
        required = _("This criterion must be met to enrol the mother.")
        checklist = {
            "on_start_day": _("On the enrolment date the mother is on postpartum day %(day)s.")
            % {"day": self.study.protocol.enrolment_day},
            "breastfeeding": _("The mother is breastfeeding her baby."),
            "consent_obtained": _("The mother gave informed consent to take part."),
        }
        for index, criterion in enumerate(self.study.exclusion_criteria_list()):
            checklist[f"exclusion_{index}"] = _("Does not apply: %(criterion)s") % {
                "criterion": criterion
            }
        for name, label in checklist.items():
            self.fields[name] = forms.BooleanField(
                label=label, required=True, error_messages={"required": required}
            )

    def clean(self):
        data = super().clean()
        delivered, enrolled = data.get("delivery_date"), data.get("enrolled_on")
        if self.respondent is None and delivered and enrolled:
            day = (enrolled - delivered).days
            # A delivery after the enrolment has no postpartum day ("day -2"): the model's rule
            # (enrolment not before delivery) names that error.
            if day >= 0 and day != self.study.protocol.enrolment_day:
                self.add_error(
                    "enrolled_on",
                    ValidationError(
                        _(
                            "On this date the mother is on postpartum day %(actual)s; "
                            "this study enrols on day %(day)s."
                        ),
                        code="not_start_day",
                        params={"actual": day, "day": self.study.protocol.enrolment_day},
                    ),
                )
        return data

    def respondent_values(self) -> dict:
        values = {name: self.cleaned_data[name] for name in RESPONDENT_FIELDS}
        if "arm" in self.fields:
            values["arm"] = self.cleaned_data["arm"]
        return values

    def identity_values(self) -> dict | None:
        if "full_name" not in self.fields:
            return None
        return {name: self.cleaned_data[name] for name in IDENTITY_FIELDS}


# When a session of each time of day usually starts, for a session recorded after its day.
SLOT_START = {
    Slot.MORNING: datetime.time(8, 0),
    Slot.AFTERNOON: datetime.time(15, 0),
    Slot.EVENING: datetime.time(19, 0),
}


def planned_start(session: MassageSession, study: Study) -> dict:
    """The date and start time a new session's form proposes. Done late (after its planned
    day): the planned day at the slot's usual hour. Otherwise today, started the protocol's
    shortest session ago: a midwife opens the form when the massage has ended."""
    now = timezone.localtime()
    if session.planned_date < now.date():
        return {"started_on": session.planned_date, "started_time": SLOT_START[session.slot]}
    schedule = study.schedule(session.respondent.arm)
    started = now - datetime.timedelta(minutes=schedule.min_minutes if schedule else 0)
    if started.date() != now.date():
        started = now.replace(hour=0, minute=0)
    return {
        "started_on": started.date(),
        "started_time": started.time().replace(second=0, microsecond=0),
    }


class SessionForm(DeviationMixin, LancarForm):
    """What happened to one massage session. The date and time are entered in the clinic's time
    zone (Asia/Jakarta)."""

    def __init__(
        self, *args, session: MassageSession, preset_status: str | None = None, **kwargs
    ) -> None:
        self.session = session
        self.record = session
        self.correcting = session.status != MassageSession.Status.PLANNED
        study = session.respondent.study
        if self.correcting:
            started = session.started_at and timezone.localtime(session.started_at)
            initial = {
                "status": session.status,
                "started_on": started.date() if started else None,
                "started_time": started.time().replace(second=0, microsecond=0)
                if started
                else None,
                "duration_minutes": session.duration_minutes,
                "notes": session.notes,
            }
        else:
            initial = {"status": MassageSession.Status.DONE, **planned_start(session, study)}
        if preset_status and preset_status != MassageSession.Status.DONE:
            # A shortcut (the worklist's "Missed"): only the status differs; the version stays,
            # or the first save would be refused as someone else's.
            initial.update(status=preset_status, started_on=None, started_time=None)
        # The record's version unless the caller's entry (kept over a sign-in) was opened on an
        # older one: a save meanwhile by someone else is then reported, not overwritten.
        kwargs["initial"] = {**initial, "version": session.version, **kwargs.get("initial", {})}
        super().__init__(*args, **kwargs)
        self.fields["status"] = forms.ChoiceField(
            label=capfirst(MassageSession._meta.get_field("status").verbose_name),
            choices=[
                choice
                for choice in MassageSession.Status.choices
                if choice[0] != MassageSession.Status.PLANNED
            ]
            # Back to planned only as a correction (with its reason): recorded by mistake.
            + (
                [(MassageSession.Status.PLANNED, _("Not done yet: back to planned"))]
                if self.correcting
                else []
            ),
            widget=forms.RadioSelect,
        )
        self.fields["started_on"] = forms.DateField(
            label=_("Date"), required=False, widget=date_input()
        )
        self.fields["started_time"] = forms.TimeField(
            label=_("Start time"), required=False, widget=time_input()
        )
        self.fields["duration_minutes"] = model_field(MassageSession, "duration_minutes")
        schedule = study.schedule(session.respondent.arm)
        if schedule is not None:
            self.fields["duration_minutes"].help_text = _(
                "minutes; the protocol asks for %(low)s–%(high)s"
            ) % {"low": schedule.min_minutes, "high": schedule.max_minutes}
        self.fields["duration_minutes"].widget.attrs.update({"inputmode": "numeric"})
        self.fields["notes"] = model_field(MassageSession, "notes")
        self.fields["notes"].widget.attrs["rows"] = 2
        self.fields["notes"].help_text = _(
            "Required for a missed or refused session and for a duration outside the protocol."
        )
        if self.correcting:
            self.fields["reason"] = reason_field()
        self.add_deviation_field_if_sent()

    def clean(self):
        data = super().clean()
        day, time = data.get("started_on"), data.get("started_time")
        # Without both, started_at is None and the model's rule (a session done needs its
        # start) reports it: the rule is stated there once.
        data["started_at"] = (
            timezone.make_aware(datetime.datetime.combine(day, time)) if day and time else None
        )
        return data

    def started_at_field(self) -> str:
        """The input that a model error about ``started_at`` belongs beside."""
        data = getattr(self, "cleaned_data", {})
        return (
            "started_time"
            if data.get("started_on") and not data.get("started_time")
            else "started_on"
        )

    def session_values(self) -> dict:
        data = self.cleaned_data
        return {
            "status": data["status"],
            "started_at": data["started_at"],
            "duration_minutes": data.get("duration_minutes"),
            "notes": data.get("notes", ""),
            "reason": data.get("reason", ""),
            "expected_version": self.expected_version(),
            "deviation_reason": self.deviation_reason(),
        }


def value_field_name(outcome_key: str) -> str:
    """The sheet form's field of one outcome: ``value_<outcome key>``."""
    return f"value_{outcome_key}"


def _range_text(outcome) -> str:
    """"0–500 ml": the accepted range and the unit, as the sheet shows them under a number."""
    unit = f" {outcome.unit}" if outcome.unit and str(outcome.unit) else ""
    return f"{number_text(outcome.min)}–{number_text(outcome.max)}{unit}"


def _html_number(number) -> str:
    """A bound for an HTML attribute: a point, never a comma, whatever the language."""
    return format(number.normalize(), "f")


def outcome_field(outcome) -> forms.Field:
    """The input of one outcome on a sheet, from its type (``studies.definition``): a count a
    number input with the tally buttons (static/js/tally.js), a continuous value or a score a
    decimal input (typed with "," or "."), a binary or ordinal outcome large radio buttons with
    its categories' labels. The value is checked by ``Outcome.check`` in the form's
    ``clean()``: the definition states each rule once."""
    label = capfirst(str(outcome.label))
    if not outcome.numeric:
        return forms.ChoiceField(
            label=label,
            choices=[(str(category.value), str(category.label)) for category in outcome.categories]
            + [("", _("Not recorded"))],
            required=False,
            widget=forms.RadioSelect,
        )
    attrs = {
        "inputmode": "numeric" if outcome.decimals == 0 else "decimal",
        "autocomplete": "off",
        "data-min": _html_number(outcome.min),
        "data-max": _html_number(outcome.max),
    }
    if outcome.type == "count":
        # A number input keeps the browser's own steppers; the tally buttons read its max.
        widget = forms.NumberInput(
            attrs={
                **attrs,
                "min": _html_number(outcome.min),
                "max": _html_number(outcome.max),
                "step": "1",
                "data-tally": "1",
            }
        )
    else:
        # Text, not type=number: a phone's Indonesian keyboard types "12,5", which a number
        # input would silently empty.
        widget = forms.TextInput(attrs=attrs)
    unit = str(outcome.unit) if outcome.unit and str(outcome.unit) else ""
    return forms.CharField(
        label=f"{label} ({unit})" if unit else label,
        required=False,
        max_length=30,
        strip=True,
        widget=widget,
        help_text=_("From %(range)s.") % {"range": _range_text(outcome)}
        + (
            " "
            + _("Up to %(places)s decimal places; a comma or a point.")
            % {"places": outcome.decimals}
            if outcome.decimals
            else ""
        ),
    )


class ObservationForm(DeviationMixin, LancarForm):
    """The observation sheet of one time point, generated from the study definition: one field
    ``value_<outcome key>`` for each outcome measured there (``protocol.outcomes_at``). A date
    other than the time point's day asks for the reason of the protocol deviation."""

    def __init__(self, *args, respondent: Respondent, timepoint: str, **kwargs) -> None:
        self.protocol = respondent.study.protocol
        self.timepoint = timepoint
        self.outcomes = self.protocol.outcomes_at(timepoint)
        self.existing = Observation.objects.filter(
            respondent=respondent, timepoint=timepoint
        ).first()
        self.record = self.existing
        if self.existing is not None:
            initial = {
                name: getattr(self.existing, name) for name in ("observed_on", "notes", "version")
            }
            for outcome in self.outcomes:
                value = self.existing.values.get(outcome.key)
                initial[value_field_name(outcome.key)] = "" if value is None else str(value)
        else:
            initial = {"observed_on": timezone.localdate()}
        kwargs["initial"] = {**initial, **kwargs.get("initial", {})}
        super().__init__(*args, **kwargs)
        self.fields["observed_on"] = model_field(Observation, "observed_on", widget=date_input())
        for outcome in self.outcomes:
            self.fields[value_field_name(outcome.key)] = outcome_field(outcome)
        self.fields["notes"] = model_field(Observation, "notes")
        self.fields["notes"].widget.attrs["rows"] = 2
        if self.existing is not None:
            self.fields["reason"] = reason_field()
        self.add_deviation_field_if_sent()

    def value_fields(self) -> list:
        """The bound fields of the outcomes, in the definition's order."""
        return [self[value_field_name(outcome.key)] for outcome in self.outcomes]

    def first_value_field(self) -> str:
        return value_field_name(self.outcomes[0].key) if self.outcomes else "observed_on"

    def clean(self):
        data = super().clean()
        values = {}
        for outcome in self.outcomes:
            name = value_field_name(outcome.key)
            if name in self.errors:
                continue
            stored, message = outcome.check(data.get(name))
            if message:
                self.add_error(name, ValidationError(message, code="value"))
            elif stored is not None:
                values[outcome.key] = stored
        data["values"] = values
        return data

    def sheet_values(self) -> dict:
        data = self.cleaned_data
        return {
            "observed_on": data.get("observed_on"),
            "values": data.get("values", {}),
            "notes": data.get("notes", ""),
            "reason": data.get("reason", ""),
            "expected_version": self.expected_version(),
            "deviation_reason": self.deviation_reason(),
        }


class IdentifiedExportForm(forms.Form):
    """Names and phone numbers leave the system only when the data manager confirms it."""

    confirm = forms.BooleanField(
        label=_(
            "I need the mothers' names, phone numbers and record numbers in this file, and I "
            "will keep it as securely as the clinic's records."
        ),
        required=True,
    )
    delimiter = forms.ChoiceField(
        label=_("Separator"),
        choices=[("comma", _("Comma (,)")), ("semicolon", _("Semicolon (;)"))],
        initial="comma",
    )
    bom = forms.ChoiceField(
        label=_("Encoding"),
        choices=[("1", _("UTF-8 with BOM (Excel)")), ("0", _("UTF-8 without BOM"))],
        initial="1",
    )


class ImportUploadForm(forms.Form):
    file = forms.FileField(
        label=_("Cohort CSV file"),
        help_text=_(
            "UTF-8, comma or semicolon separated, with the columns of the template above (those "
            "of the cohort export)."
        ),
    )
