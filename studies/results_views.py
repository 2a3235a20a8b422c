"""Live results for researchers and the data manager: the page, ``results.json`` and the
manuscript tables as CSV and .xlsx. Each view is selector → analysis → render, computed on every
request (never cached): a sheet saved a moment ago is in the next figure."""

from __future__ import annotations

from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import get_format
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from . import charts, cohort, exchange, manuscript, manuscript_docx, services
from .access import ANALYSTS, get_visible_study, role_required
from .exchange import xlsx
from .models import TEXT_LIMIT, ChoiceOverride, Respondent
from .safety import choice_param


def _formatter() -> manuscript.Formatter:
    return manuscript.Formatter(get_format("DECIMAL_SEPARATOR"))


@role_required(*ANALYSTS)
@require_GET
@never_cache
def results(request, study_code: str):
    study = get_visible_study(request.user, study_code)
    sites = list(study.sites.all())
    context = {
        "study": study,
        "sites": sites,
        "parity_choices": [(key, str(cohort.PARITY_LABELS[key])) for key in cohort.PARITY_LABELS],
        "params": request.GET,
        "computed_at": timezone.now(),
    }
    try:
        filters = cohort.parse_filters(study, request.GET, sites=sites)
    except cohort.FilterError as error:
        context["filter_error"] = str(error)
        return render(request, "studies/results.html", context, status=400)
    data = cohort.load_cohort(study, filters)
    document = cohort.results_document(data)
    fmt = _formatter()
    notices = manuscript.notices(document)
    outcomes = []
    paired = manuscript.paired(document)
    for name, outcome in document["outcomes"].items():
        outcomes.append(
            {
                "name": name,
                "label": outcome["label"],
                "conclusions": manuscript.outcome_conclusions(document, name, fmt),
                "notices": notices.get(name, []),
                "charts": (
                    charts.outcome_charts(
                        name,
                        outcome["label"],
                        data.column(f"{study.protocol.baseline.key}_{name}"),
                        data.column(f"{study.protocol.last_timepoint.key}_{name}"),
                        hours=study.protocol.observation_hours,
                        sep=fmt.sep,
                    )
                    if name in paired
                    else charts.design_charts(document, name, data.columns, sep=fmt.sep)
                ),
            }
        )
    progress = document["progress"]
    adherence = progress["session_adherence"]
    context.update(
        {
            "filters": filters,
            "query": urlencode(filters.as_query()),
            "document": document,
            "progress": progress,
            "adherence": fmt.percent(None if adherence is None else 100 * adherence),
            "notices": notices[""],
            "left_out": manuscript.left_out_rows(document),
            "outcomes": outcomes,
            # The test chosen for each outcome, why, and the researcher's override form.
            "choices": [
                (name, outcome)
                for name, outcome in document["outcomes"].items()
                if outcome.get("chosen")
            ],
            "test_labels": {key: str(label) for key, label in cohort.TEST_LABELS.items()},
            "tables": manuscript.tables(document, fmt),
            "extra_table": manuscript.extra_table(document, fmt) if paired else None,
            "paired_design": bool(paired),
            "statuses": dict(Respondent.Status.choices),
        }
    )
    return render(request, "studies/results.html", context)


@role_required(*ANALYSTS)
@require_GET
@never_cache
def results_json(request, study_code: str):
    """The results document of DESIGN.md 4.5: unrounded numbers, null for what is undefined."""
    study = get_visible_study(request.user, study_code)
    try:
        filters = cohort.parse_filters(study, request.GET)
    except cohort.FilterError as error:
        return JsonResponse({"error": str(error)}, status=400)
    document = cohort.results_document(cohort.load_cohort(study, filters))
    return JsonResponse(document, json_dumps_params={"allow_nan": False})


def _table(request, study_code: str, number: int, fmt: manuscript.Formatter):
    """The study and one manuscript table for the request's filters, or a 400 response."""
    study = get_visible_study(request.user, study_code)
    try:
        filters = cohort.parse_filters(study, request.GET)
    except cohort.FilterError as error:
        return study, HttpResponse(str(error), status=400, content_type="text/plain; charset=utf-8")
    document = cohort.results_document(cohort.load_cohort(study, filters))
    table = manuscript.manuscript_table(document, fmt, number)
    if table is None:
        raise Http404(_("No such table."))
    return study, table


def _table_filename(study, table: manuscript.Table, extension: str, *options: str) -> str:
    """The study, the table, the options and the day: ``PIJAT-tabel-4-semicolon-2026-11-30``."""
    parts = [study.code, slugify(table.label), *options, timezone.localdate().isoformat()]
    return "-".join(parts) + "." + extension


@role_required(*ANALYSTS)
@require_GET
@never_cache
def results_table_csv(request, study_code: str, number: int):
    """One of the paper's tables as CSV, titled in the user's language. The separator is the
    user's choice (``delimiter``; by default the one a spreadsheet in the user's language
    expects) and the decimal mark follows it: a comma with semicolon-separated columns, a point
    with comma-separated ones. Footnote letters have their own cells, so numbers stay numbers;
    text is quoted."""
    delimiter = choice_param(
        request.GET, "delimiter", exchange.DELIMITERS, default=exchange.default_delimiter()
    )
    decimal_separator = "," if delimiter == "semicolon" else "."
    study, table = _table(request, study_code, number, manuscript.Formatter(decimal_separator))
    if isinstance(table, HttpResponse):
        return table
    rows = exchange.table_rows(table, decimal_separator=decimal_separator)
    # The byte-order mark lets spreadsheet programs read the file as UTF-8 (α, −, ≥).
    body = "".join(exchange.stream_csv(rows, delimiter=exchange.DELIMITERS[delimiter]))
    response = HttpResponse(body, content_type="text/csv; charset=utf-8")
    filename = _table_filename(study, table, "csv", delimiter)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@role_required(*ANALYSTS)
@require_GET
@never_cache
def results_table_xlsx(request, study_code: str, number: int):
    """One of the paper's tables as an .xlsx sheet in the user's language: numbers as numbers
    shown with the table's decimals, footnote letters in their own cells."""
    fmt = _formatter()
    study, table = _table(request, study_code, number, fmt)
    if isinstance(table, HttpResponse):
        return table
    rows = exchange.table_rows(table, decimal_separator=fmt.sep)
    sheet = xlsx.workbook(rows, title=table.label, decimal_separator=fmt.sep, header=False)
    response = FileResponse(sheet, content_type=xlsx.CONTENT_TYPE, as_attachment=True)
    filename = _table_filename(study, table, "xlsx")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@role_required(*ANALYSTS)
@require_GET
@never_cache
def results_tables_docx(request, study_code: str):
    """Every results table as a Word document for the manuscript, in the user's language and
    under the results page's filters: numbered as a thesis's results chapter (Tabel 4.1 …),
    SPSS's decimals, the conclusion after the tables."""
    study = get_visible_study(request.user, study_code)
    try:
        filters = cohort.parse_filters(study, request.GET)
    except cohort.FilterError as error:
        return HttpResponse(str(error), status=400, content_type="text/plain; charset=utf-8")
    document = cohort.results_document(cohort.load_cohort(study, filters))
    body = manuscript_docx.tables_docx(
        study=study, document=document, fmt=_formatter(), filters=filters
    )
    response = FileResponse(body, content_type=manuscript_docx.CONTENT_TYPE, as_attachment=True)
    # "PIJAT-tabel-2026-11-30.docx": the study, the word "tables" in the user's language, the day.
    filename = "-".join([study.code, slugify(_("tables")), timezone.localdate().isoformat()])
    response["Content-Disposition"] = f'attachment; filename="{filename}.docx"'
    return response


class TestChoiceForm(forms.Form):
    """The researcher's choice of one outcome's test (the partial
    ``studies/results/_choice.html``); the service checks that the test is of the design's
    row."""

    outcome = forms.CharField(max_length=30, widget=forms.HiddenInput)
    comparison = forms.ChoiceField(
        label=gettext_lazy("Comparison"), choices=ChoiceOverride.Comparison.choices
    )
    test = forms.ChoiceField(
        label=gettext_lazy("Test"),
        required=False,
        choices=[("", gettext_lazy("Automatic (from the design and normality)"))]
        + list(cohort.TEST_LABELS.items()),
    )
    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        max_length=TEXT_LIMIT,
        widget=forms.Textarea(attrs={"rows": 2, "required": True}),
        help_text=gettext_lazy("Kept in the audit trail with your name and the time."),
    )


TestChoiceForm.__test__ = False  # a form, not a pytest class


@role_required(*ANALYSTS)
@require_POST
def results_test_choice(request, study_code: str):
    """Record the researcher's choice of one outcome's test with its reason (researchers and
    the data manager), then back to the results page, which says the choice and the reason.
    A refused choice (a test outside the design's row, no reason) changes nothing and says
    why."""
    study = get_visible_study(request.user, study_code)
    form = TestChoiceForm(request.POST)
    target = reverse("studies:results", kwargs={"study_code": study.code})
    if not form.is_valid():
        problems = [
            f"{form.fields[name].label or name}: {' '.join(errors)}"
            for name, errors in form.errors.items()
        ]
        messages.error(
            request,
            _("The test choice was not saved. %(problems)s") % {"problems": " ".join(problems)},
        )
        return redirect(target)
    data = form.cleaned_data
    try:
        services.override_test_choice(
            study=study,
            outcome=data["outcome"],
            comparison=data["comparison"],
            test=data["test"],
            reason=data["reason"],
            user=request.user,
        )
    except ValidationError as error:
        messages.error(
            request,
            _("The test choice was not saved. %(problems)s")
            % {"problems": " ".join(error.messages)},
        )
        return redirect(target)
    messages.success(request, _("The test choice was saved with its reason."))
    return redirect(f"{target}#choice-{data['outcome']}")
