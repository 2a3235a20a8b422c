"""The study designer's forms (issue 14, DESIGN.md §6): the study, its arms, the intervention
schedule of each arm, the time points and the outcomes, each list a formset with blank rows to
fill. The forms only collect text: :func:`definition_from_forms` turns them into a definition
mapping, and ``studies.definition.parse`` alone decides what is right, naming each problem by
its key (``outcomes[2].max``), so the designer, the YAML file and the database share one rule.
"""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from . import definition as definition_module

INTEGER = re.compile(r"^-?\d+$")
DECIMAL = re.compile(r"^-?\d+([.,]\d+)?$")
EXTRA_ROWS = 2  # blank rows under each list, to add an arm, a time point or an outcome


def _text(**kwargs) -> forms.CharField:
    return forms.CharField(required=False, max_length=kwargs.pop("max_length", 200), **kwargs)


def _small(label) -> forms.CharField:
    return _text(label=label, max_length=20, widget=forms.TextInput(attrs={"inputmode": "decimal"}))


class DesignForm(forms.Form):
    """The study's design; ``code``, ``title`` and ``sites`` only when it is created."""

    code = _text(
        label=_("Code"),
        max_length=20,
        help_text=_("Letters, digits, '-' or '_'; it appears in web addresses."),
    )
    title = _text(label=_("Title"), max_length=300)
    sites = _text(
        label=_("Sites"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("One site a line."),
    )
    exclusion_criteria = _text(
        label=_("Exclusion criteria"),
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("One criterion a line; each is checked at enrolment."),
    )
    design = forms.ChoiceField(label=_("Design"), choices=())
    alpha = _small(_("Significance level (α)"))
    allocation = forms.ChoiceField(
        label=_("Allocation"),
        choices=(
            ("chosen", _("Chosen by the enrolling midwife")),
            ("by_site", _("By site (each site runs one arm)")),
            ("blocks", _("Permuted blocks, stratified by site")),
        ),
        help_text=_("Used by two-group designs."),
    )

    def __init__(self, *args, creating: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        designs = definition_module.DESIGNS.values()
        self.fields["design"].choices = [(design.key, design.label) for design in designs]
        if not creating:
            for name in ("code", "title", "sites", "exclusion_criteria"):
                del self.fields[name]


class ArmForm(forms.Form):
    key = _text(label=_("Key"), max_length=30)
    label_id = _text(label=_("Name (Indonesian)"))
    label_en = _text(label=_("Name (English)"))
    sites = _text(
        label=_("Its sites (allocation by site)"),
        max_length=2000,
        help_text=_("Site names separated by commas."),
    )


class ScheduleForm(forms.Form):
    arm = _text(
        label=_("Arm key"), max_length=30, help_text=_("'all' in a one-group study without arms.")
    )
    label_id = _text(label=_("Intervention (Indonesian)"))
    label_en = _text(label=_("Intervention (English)"))
    first_day = _small(_("First postpartum day"))
    days = _small(_("Days"))
    per_day = _small(_("Sessions a day"))
    min_minutes = _small(_("Shortest session (minutes)"))
    max_minutes = _small(_("Longest session (minutes)"))


class TimePointForm(forms.Form):
    key = _text(label=_("Key"), max_length=30)
    day = _small(_("Postpartum day of the sheet"))
    label_id = _text(label=_("Name (Indonesian)"))
    label_en = _text(label=_("Name (English)"))


class OutcomeForm(forms.Form):
    key = _text(label=_("Key"), max_length=30)
    label_id = _text(label=_("Name (Indonesian)"))
    label_en = _text(label=_("Name (English)"))
    type = forms.ChoiceField(
        label=_("Type"),
        required=False,
        choices=(
            ("count", _("Count")),
            ("continuous", _("Continuous (measured)")),
            ("score", _("Score")),
            ("ordinal", _("Ordinal (categories in order)")),
            ("binary", _("Binary (yes/no)")),
        ),
    )
    unit_id = _text(label=_("Unit (Indonesian)"), max_length=50)
    unit_en = _text(label=_("Unit (English)"), max_length=50)
    min = _small(_("Minimum"))
    max = _small(_("Maximum"))
    decimals = _small(_("Decimal places"))
    adequate_at_least = _small(_("Adequate at least (optional)"))
    categories = _text(
        label=_("Categories (ordinal, binary)"),
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_(
            "One a line: value = Indonesian label / English label, e.g. 1 = Lancar / Smooth"
        ),
    )
    timepoints = _text(
        label=_("Measured at (time point keys)"),
        max_length=500,
        help_text=_("Separated by commas; empty = at every time point."),
    )


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason for the change"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Kept in the study's history with who and when."),
    )


def _formset(form_class):
    return forms.formset_factory(form_class, extra=EXTRA_ROWS, max_num=30, absolute_max=40)


ArmFormSet = _formset(ArmForm)
ScheduleFormSet = _formset(ScheduleForm)
TimePointFormSet = _formset(TimePointForm)
OutcomeFormSet = _formset(OutcomeForm)
LISTS = (  # prefix, formset class
    ("arms", ArmFormSet),
    ("sessions", ScheduleFormSet),
    ("timepoints", TimePointFormSet),
    ("outcomes", OutcomeFormSet),
)


def _number(text: str) -> Any:
    """A typed number as YAML would read it; anything else stays text for ``parse`` to name."""
    text = (text or "").strip()
    if INTEGER.match(text):
        return int(text)
    if DECIMAL.match(text):
        return float(text.replace(",", "."))
    return text


def _label(data: dict, field: str = "label") -> dict[str, str]:
    return {"id": data.get(f"{field}_id", ""), "en": data.get(f"{field}_en", "")}


def _filled_rows(formset) -> list[tuple[forms.Form, dict]]:
    """The rows with anything typed in them, in order (blank rows are not part of the study)."""
    rows = []
    for form in formset.forms:
        data = form.cleaned_data if form.is_valid() else {}
        if any(str(value).strip() for name, value in data.items() if name != "type"):
            rows.append((form, data))
    return rows


def definition_from_forms(design_form: DesignForm, formsets: dict) -> tuple[dict, dict]:
    """``(definition mapping, row forms by key prefix)`` from the designer's bound forms; every
    formset must have been validated. ``row forms`` maps ``"outcomes[1]"`` to the form of that
    outcome, so a problem can be shown beside its row."""
    design = design_form.cleaned_data
    data: dict[str, Any] = {
        "design": design["design"],
        "alpha": _number(design["alpha"]),
        "allocation": design["allocation"],
    }
    rows: dict[str, forms.Form] = {}
    arms, arm_by_site = [], {}
    for index, (form, row) in enumerate(_filled_rows(formsets["arms"])):
        rows[f"arms[{index}]"] = form
        arms.append({"key": row["key"], "label": _label(row)})
        for site in row["sites"].split(","):
            if site.strip():
                arm_by_site[site.strip()] = row["key"]
    data["arms"] = arms
    if design["allocation"] == "by_site":
        data["arm_by_site"] = arm_by_site
    sessions = {}
    for form, row in _filled_rows(formsets["sessions"]):
        key = row["arm"].strip() or definition_module.ALL_ARMS
        rows[f"sessions.{key}"] = form
        sessions[key] = {
            "first_day": _number(row["first_day"]),
            "days": _number(row["days"]),
            "per_day": _number(row["per_day"]),
            "minutes": [_number(row["min_minutes"]), _number(row["max_minutes"])],
            "label": _label(row),
        }
    data["sessions"] = sessions
    timepoints = []
    for index, (form, row) in enumerate(_filled_rows(formsets["timepoints"])):
        rows[f"timepoints[{index}]"] = form
        timepoints.append({"key": row["key"], "day": _number(row["day"]), "label": _label(row)})
    data["timepoints"] = timepoints
    outcomes = []
    for index, (form, row) in enumerate(_filled_rows(formsets["outcomes"])):
        rows[f"outcomes[{index}]"] = form
        outcomes.append(_outcome(row))
    data["outcomes"] = outcomes
    data["characteristics"] = "default"
    return data, rows


def _outcome(row: dict) -> dict[str, Any]:
    kind = row["type"] or "count"
    outcome: dict[str, Any] = {"key": row["key"], "label": _label(row), "type": kind}
    if kind in definition_module.NUMERIC_TYPES:
        if row["unit_id"].strip() or row["unit_en"].strip():
            outcome["unit"] = _label(row, "unit")
        outcome["min"] = _number(row["min"])
        outcome["max"] = _number(row["max"])
        if row["decimals"].strip():
            outcome["decimals"] = _number(row["decimals"])
        if row["adequate_at_least"].strip():
            outcome["adequate_at_least"] = _number(row["adequate_at_least"])
    else:
        categories = []
        for line in row["categories"].splitlines():
            if not line.strip():
                continue
            value, _sep, labels = line.partition("=")
            label_id, _sep, label_en = labels.partition("/")
            categories.append({
                "value": _number(value),
                "label": {"id": label_id.strip(), "en": (label_en or label_id).strip()},
            })  # fmt: skip
        outcome["categories"] = categories
    if row["timepoints"].strip():
        outcome["timepoints"] = [k.strip() for k in row["timepoints"].split(",") if k.strip()]
    return outcome


def initial_from_definition(protocol: definition_module.StudyDefinition) -> tuple[dict, dict]:
    """``(design form initial, formset initials by prefix)`` showing a definition."""
    design = {
        "design": protocol.design.key,
        "alpha": str(definition_module.plain_number(protocol.alpha)),
        "allocation": protocol.allocation,
    }
    by_arm: dict[str, list[str]] = {}
    for site, arm in protocol.arm_by_site.items():
        by_arm.setdefault(arm, []).append(site)
    lists = {
        "arms": [
            {"key": a.key, "label_id": a.label.id, "label_en": a.label.en,
             "sites": ", ".join(by_arm.get(a.key, []))}
            for a in protocol.arms
        ],
        "sessions": [
            {"arm": key, "label_id": s.label.id, "label_en": s.label.en,
             "first_day": s.first_day, "days": s.days, "per_day": s.per_day,
             "min_minutes": s.min_minutes, "max_minutes": s.max_minutes}
            for key, s in protocol.sessions.items()
        ],
        "timepoints": [
            {"key": p.key, "day": p.day, "label_id": p.label.id, "label_en": p.label.en}
            for p in protocol.timepoints
        ],
        "outcomes": [_outcome_initial(o) for o in protocol.outcomes],
    }  # fmt: skip
    return design, lists


def _outcome_initial(outcome: definition_module.Outcome) -> dict[str, Any]:
    plain = definition_module.plain_number
    row: dict[str, Any] = {
        "key": outcome.key,
        "label_id": outcome.label.id,
        "label_en": outcome.label.en,
        "type": outcome.type,
        "timepoints": "" if outcome.measured_everywhere else ", ".join(outcome.timepoints),
    }
    if outcome.numeric:
        row.update(
            unit_id=outcome.unit.id if outcome.unit else "",
            unit_en=outcome.unit.en if outcome.unit else "",
            min=plain(outcome.min),
            max=plain(outcome.max),
            decimals=outcome.decimals,
            adequate_at_least=""
            if outcome.adequate_at_least is None
            else plain(outcome.adequate_at_least),
        )
    else:
        row["categories"] = "\n".join(
            f"{c.value} = {c.label.id} / {c.label.en}" for c in outcome.categories
        )
    return row
