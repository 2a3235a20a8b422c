"""The study designer (issue 14, DESIGN.md §6): the data manager writes a study's definition in
the app — design, arms, allocation, schedules, time points, outcomes — previews the sheets and
session plans it makes, and saves it through ``services.create_study`` or, for a study that
exists, ``services.change_definition`` (a new version, with a reason, refused when it would
orphan saved values). Only ``studies.definition.parse`` judges a definition."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_safe

from . import definition as definition_module
from . import services
from .access import Role, role_required
from .designer_forms import (
    LISTS,
    DesignForm,
    ReasonForm,
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
        context["problems"] = [("", _("Correct the marked fields."))]
        return render(request, TEMPLATE, context)
    mapping, rows = definition_from_forms(design_form, formsets)
    if study is not None:
        mapping["sites"] = [site.name for site in study.sites.order_by("name")]
    elif mapping.get("allocation") == "by_site":
        mapping["sites"] = _lines(design_form.cleaned_data["sites"])
    try:
        new_protocol = definition_module.parse(mapping)
    except definition_module.DefinitionError as error:
        context["problems"] = error.problems
        _mark_rows(rows, error.problems)
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
                context["problems"] = [("reason", _("Say why the definition is changed."))]
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
        context["problems"] = [("", message) for message in error.messages]
        return render(request, TEMPLATE, context)
    except ValidationError as error:
        context["problems"] = _service_problems(error)
        return render(request, TEMPLATE, context)
    return redirect("studies:designer_index")


def _lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def _mark_rows(rows: dict, problems: list[tuple[str, str]]) -> None:
    """Show each problem beside the row it is about (``outcomes[1].max`` → the second
    outcome's row)."""
    for key, message in problems:
        for prefix, form in rows.items():
            if key == prefix or key.startswith(prefix + "."):
                form.add_error(None, f"{key}: {message}")
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
