"""Live results for researchers and the data manager: the page, ``results.json`` and the
manuscript tables as CSV. Each view is selector → analysis → render, computed on every request
(never cached): a sheet saved a moment ago is in the next figure."""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.formats import get_format
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from . import charts, cohort, manuscript
from .access import ANALYSTS, get_visible_study, role_required
from .models import Respondent


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
    for name in cohort.OUTCOMES:
        outcome = document["outcomes"][name]
        outcomes.append(
            {
                "name": name,
                "label": outcome["label"],
                "conclusion": manuscript.conclusion(document, name, fmt),
                "notices": notices[name],
                "charts": charts.outcome_charts(
                    name,
                    outcome["label"],
                    [record[f"pre_{name}"] for record in data.records],
                    [record[f"post_{name}"] for record in data.records],
                    hours=study.observation_hours,
                    sep=fmt.sep,
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
            "adherence": fmt.fixed(None if adherence is None else 100 * adherence, 1),
            "notices": notices[""],
            "left_out": manuscript.left_out_rows(document),
            "outcomes": outcomes,
            "tables": manuscript.tables(document, fmt),
            "extra_table": manuscript.extra_table(document, fmt),
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


@role_required(*ANALYSTS)
@require_GET
@never_cache
def results_table_csv(request, study_code: str, number: int):
    """One of the paper's tables as CSV, titled and formatted in the user's language. A decimal
    comma comes with semicolon-separated columns, as spreadsheets in that locale expect."""
    study = get_visible_study(request.user, study_code)
    if number not in manuscript.TABLE_NUMBERS:
        raise Http404(_("No such table."))
    try:
        filters = cohort.parse_filters(study, request.GET)
    except cohort.FilterError as error:
        return HttpResponse(str(error), status=400, content_type="text/plain; charset=utf-8")
    document = cohort.results_document(cohort.load_cohort(study, filters))
    fmt = _formatter()
    table = manuscript.manuscript_table(document, fmt, number)
    delimiter = ";" if fmt.sep == "," else ","
    # The byte-order mark lets spreadsheet programs read the file as UTF-8 (α, −, ≥).
    body = "\ufeff" + manuscript.table_csv(table, delimiter=delimiter)
    response = HttpResponse(body, content_type="text/csv; charset=utf-8")
    filename = f"{study.code}-{slugify(table.label)}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
