"""The study designer (issue 14, DESIGN.md §6): the data manager writes a study's definition in
the app — design, arms, allocation, schedules, time points, outcomes — previews the sheets and
session plans it makes, and saves it through ``services.create_study`` or, for a study that
exists, ``services.change_definition`` (a new version, with a reason, refused when it would
orphan saved values). Only ``studies.definition.parse`` judges a definition."""

from __future__ import annotations

import re

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_safe

from . import definition as definition_module
from . import services
from .access import Role, role_required
from .designer_forms import (
    LISTS,
    ArmForm,
    DesignForm,
    OutcomeForm,
    ReasonForm,
    ScheduleForm,
    TimePointForm,
    definition_from_forms,
    initial_from_definition,
)
from .models import Slot, Study

TEMPLATE = "studies/designer/form.html"


@role_required(Role.ADMIN)
@require_safe
def designer_index(request):
    """Every study with its design and definition version, and the way to a new one."""
    studies = Study.objects.order_by("code")
    rows = []
    for study in studies:
        try:
            design = study.protocol.design.label
        except definition_module.DefinitionError:
            design = "—"
        rows.append((study, design))
    return render(request, "studies/designer/index.html", {"rows": rows})


@role_required(Role.ADMIN)
@require_http_methods(["GET", "HEAD", "POST"])
def designer_new(request):
    """A new study: the paper's definition to start from; "Preview" shows the sheets and
    session plans, "Save" creates the study."""
    protocol = definition_module.parse(definition_module.paper_definition())
    return _designer(request, study=None, protocol=protocol)


@role_required(Role.ADMIN)
@require_http_methods(["GET", "HEAD", "POST"])
def designer_edit(request, study_code):
    """A study's definition, changed as a new version with a reason."""
    study = get_object_or_404(Study, code=study_code)
    return _designer(request, study=study, protocol=study.protocol)


def _designer(request, *, study, protocol):
    creating = study is None
    design_initial, list_initials = initial_from_definition(protocol)
    data = request.POST if request.method == "POST" else None
    design_form = DesignForm(data, creating=creating, initial=design_initial, prefix="study")
    formsets = {
        prefix: formset_class(data, initial=list_initials[prefix], prefix=prefix)
        for prefix, formset_class in LISTS
    }
    reason_form = ReasonForm(data, prefix="change") if not creating else None
    context = {
        "study": study,
        "design_form": design_form,
        "formsets": [(prefix, formsets[prefix]) for prefix, _cls in LISTS],
        "reason_form": reason_form,
        "problems": [],
        "preview": None,
        "history": _history(study) if study else [],
    }
    if request.method != "POST":
        context["preview"] = _preview(protocol)
        return render(request, TEMPLATE, context)

    forms_valid = design_form.is_valid() & all(  # every form validated, so each shows its errors
        [formset.is_valid() for formset in formsets.values()]
    )
    if not forms_valid:
        context["problems"] = _placed([("", _("Correct the marked fields."))])
        return render(request, TEMPLATE, context)
    mapping, rows = definition_from_forms(design_form, formsets)
    if study is not None:
        mapping["sites"] = [site.name for site in study.sites.order_by("name")]
    elif mapping.get("allocation") == "by_site":
        mapping["sites"] = _lines(design_form.cleaned_data["sites"])
    try:
        new_protocol = definition_module.parse(mapping)
    except definition_module.DefinitionError as error:
        context["problems"] = _placed(error.problems, rows, formsets)
        _mark_rows(rows, error.problems, formsets)
        return render(request, TEMPLATE, context)

    context["preview"] = _preview(new_protocol)
    if "preview" in request.POST:
        return render(request, TEMPLATE, context)
    try:
        if creating:
            fields = design_form.cleaned_data
            saved = services.create_study(
                code=fields["code"],
                title=fields["title"].strip(),
                site_names=_lines(fields["sites"]),
                definition=mapping,
                exclusion_criteria=fields["exclusion_criteria"].strip(),
                user=request.user,
            )
            messages.success(request, _("Study %(code)s created.") % {"code": saved.code})
        else:
            if not reason_form.is_valid():
                context["problems"] = _placed(
                    [("reason", _("Say why the definition is changed."))], rows, formsets
                )
                return render(request, TEMPLATE, context)
            saved = services.change_definition(
                study=study,
                definition=mapping,
                user=request.user,
                reason=reason_form.cleaned_data["reason"],
            )
            messages.success(
                request,
                _("The definition of %(code)s is now version %(version)s.")
                % {"code": saved.code, "version": saved.definition_version},
            )
    except services.DefinitionFrozen as error:
        context["frozen"] = True
        context["problems"] = _placed([("", message) for message in error.messages])
        return render(request, TEMPLATE, context)
    except ValidationError as error:
        context["problems"] = _placed(_service_problems(error), rows, formsets)
        return render(request, TEMPLATE, context)
    return redirect("studies:designer_index")


def _lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


# The designer's sections, as the page titles them, and the form of one row of each.
SECTIONS = {
    "arms": (gettext_lazy("Arms"), ArmForm),
    "sessions": (gettext_lazy("Intervention sessions per arm"), ScheduleForm),
    "timepoints": (gettext_lazy("Time points"), TimePointForm),
    "outcomes": (gettext_lazy("Outcomes"), OutcomeForm),
}
_KEY = re.compile(r"^(?P<name>[a-z_]+)(?:\[(?P<index>\d+)\])?(?:\.(?P<rest>.+))?$")


def _field_label(form_class, path: str) -> str:
    """The label of the field of a row that a definition key's tail names (``max``,
    ``label.en`` → "Name (English)", ``categories[1].value`` → the categories field);
    the tail itself when no field stands for it."""
    head = re.sub(r"\[\d+\]$", "", path.split(".")[0])
    parts = path.split(".")
    fields = form_class.base_fields
    if head in ("label", "unit") and len(parts) > 1 and f"{head}_{parts[1]}" in fields:
        return str(fields[f"{head}_{parts[1]}"].label)
    if head == "label" and "label_id" in fields:
        return f"{fields['label_id'].label} / {fields['label_en'].label}"
    if head == "minutes" and "min_minutes" in fields:
        return f"{fields['min_minutes'].label} / {fields['max_minutes'].label}"
    if head in fields:
        return str(fields[head].label)
    return path


def _row_number(form, formset) -> int | None:
    """The number the page shows above a row (1, 2, …): its place among the formset's rows,
    blank rows included, which the definition's indexes skip."""
    if form is None or formset is None:
        return None
    return next((number for number, row in enumerate(formset.forms, 1) if row is form), None)


def problem_place(key: str, rows: dict | None = None, formsets: dict | None = None) -> str:
    """Where a definition problem is, in the page's words and the reader's language: a study
    field's label ("Significance level (α)" for ``alpha``), or a section, the row number the page
    shows (from 1) and the field's label ("Outcomes, row 2: Maximum" for ``outcomes[1].max``).
    ``rows`` maps a definition key's row (``outcomes[1]``, ``sessions.intervention``) to its
    form and ``formsets`` the sections to their formsets (``definition_from_forms``); without
    them a row is numbered from its index. An unknown key is returned as it is."""
    match = _KEY.match(key or "")
    if not match:
        return key or ""
    name, index, rest = match["name"], match["index"], match["rest"]
    rows, formsets = rows or {}, formsets or {}
    if name in DesignForm.base_fields and index is None and rest is None:
        return capfirst(str(DesignForm.base_fields[name].label))
    if name == "arm_by_site":
        place = f"{SECTIONS['arms'][0]}: {ArmForm.base_fields['sites'].label}"
        return f"{place} ({rest})" if rest else place
    if name == "reason":
        return capfirst(str(ReasonForm.base_fields["reason"].label))
    if name not in SECTIONS:
        return key
    section, form_class = SECTIONS[name]
    if name == "sessions":
        if rest is None:
            return str(section)
        arm, _dot, field = rest.partition(".")
        number = _row_number(rows.get(f"sessions.{arm}"), formsets.get(name))
        place = _("%(section)s, row %(row)s") % {"section": section, "row": number or arm}
        return f"{place}: {_field_label(form_class, field)}" if field else place
    if index is None:
        return str(section) if rest is None else f"{section}: {rest}"
    number = _row_number(rows.get(f"{name}[{index}]"), formsets.get(name)) or int(index) + 1
    place = _("%(section)s, row %(row)s") % {"section": section, "row": number}
    return f"{place}: {_field_label(form_class, rest)}" if rest else place


def _placed(problems, rows: dict | None = None, formsets: dict | None = None) -> list:
    """``(key, place, message)`` of each ``(key, message)`` problem (:func:`problem_place`)."""
    return [(key, problem_place(key, rows, formsets), message) for key, message in problems]


def _mark_rows(rows: dict, problems: list[tuple[str, str]], formsets: dict) -> None:
    """Show each problem beside the row it is about (``outcomes[1].max`` → the second
    outcome's row), named by the field's label."""
    for key, message in problems:
        for prefix, form in rows.items():
            if key == prefix or key.startswith(prefix + "."):
                name = prefix.split("[")[0].split(".")[0]
                field = key[len(prefix) + 1 :]
                if field:
                    form.add_error(None, f"{_field_label(SECTIONS[name][1], field)}: {message}")
                else:
                    form.add_error(None, message)
                break


def _service_problems(error: ValidationError) -> list[tuple[str, str]]:
    if not hasattr(error, "error_dict"):
        return [("", message) for message in error.messages]
    problems = []
    for field, field_messages in error.message_dict.items():
        for message in field_messages:
            key, sep, text = message.partition(": ")
            if field == "definition" and sep:
                problems.append((key, text))
            else:
                problems.append((field if field != "__all__" else "", message))
    return problems


def _preview(protocol: definition_module.StudyDefinition) -> dict:
    """What the definition makes: the observation sheet of every time point and the session
    plan of every arm (postpartum day and time of day)."""
    slot_labels = dict(Slot.choices)
    sheets = [(point, protocol.outcomes_at(point.key)) for point in protocol.timepoints]
    plans = []
    for arm_key in protocol.arm_keys:
        schedule = protocol.schedule(arm_key)
        sessions = []
        if schedule is not None:
            sessions = [
                (day, slot_labels.get(slot, slot))
                for day in range(schedule.first_day, schedule.last_day + 1)
                for slot in schedule.slots
            ]
        plans.append((arm_key, protocol.arm_label(arm_key), schedule, sessions))
    return {"protocol": protocol, "sheets": sheets, "plans": plans}


def _history(study: Study) -> list:
    """The study's versions, newest first: who, when, which version and why."""
    return list(
        study.history.select_related("history_user").order_by("-history_date", "-history_id")
    )
