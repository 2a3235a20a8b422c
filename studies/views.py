"""Thin views: access check → selector or service → template."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from . import selectors, services
from .access import (
    ALL_ROLES,
    WRITERS,
    Role,
    can_see_identity,
    can_write,
    get_visible_respondent,
    get_visible_study,
    primary_role,
    require_write,
    role_required,
    visible_respondents,
    visible_sites,
    visible_studies,
)
from .forms import WithdrawForm, add_model_errors
from .models import Respondent, RespondentIdentity


@role_required(*ALL_ROLES)
def home(request):
    """The home page for the user's role: a midwife's worklist, or the studies overview."""
    today = timezone.localdate()
    if primary_role(request.user) == Role.MIDWIFE:
        respondents = visible_respondents(request.user)
        due = list(selectors.sessions_due(respondents, today))
        context = {
            "today": today,
            "due_today": [session for session in due if session.planned_date == today],
            "overdue": [session for session in due if session.planned_date < today],
            "active": selectors.with_progress(
                respondents.filter(status=Respondent.Status.ENROLLED)
            ).order_by("enrolled_on", "code"),
            "sites": visible_sites(request.user),
        }
        return render(request, "studies/worklist.html", context)
    studies = selectors.study_counts(visible_studies(request.user)).prefetch_related("sites")
    return render(request, "studies/study_overview.html", {"studies": studies})


@role_required(*ALL_ROLES)
def respondent_list(request, study_code: str):
    study = get_visible_study(request.user, study_code)
    respondents = selectors.with_progress(visible_respondents(request.user, study))
    query = request.GET.get("q", "").strip()
    if query:
        respondents = respondents.filter(code__icontains=query)
    page = Paginator(respondents.order_by("code"), 50).get_page(request.GET.get("page"))
    return render(
        request,
        "studies/respondent_list.html",
        {"study": study, "page": page, "query": query},
    )


@role_required(*ALL_ROLES)
def respondent_detail(request, study_code: str, respondent_code: str):
    study = get_visible_study(request.user, study_code)
    respondent = get_visible_respondent(request.user, study, respondent_code)
    show_identity = can_see_identity(request.user)
    identity = None
    if show_identity:
        identity = RespondentIdentity.objects.filter(respondent=respondent).first()
    context = {
        "study": study,
        "respondent": respondent,
        "identity": identity,
        "show_identity": show_identity,
        "sessions": respondent.sessions.select_related("performed_by").order_by(
            "postpartum_day", "planned_date", "slot"
        ),
        "observations": respondent.observations.order_by("phase"),
        "history": selectors.respondent_history(respondent, include_identity=show_identity),
        "can_write": can_write(request.user, respondent),
    }
    return render(request, "studies/respondent_detail.html", context)


@role_required(*WRITERS)
@require_http_methods(["GET", "POST"])
def respondent_withdraw(request, study_code: str, respondent_code: str):
    study = get_visible_study(request.user, study_code)
    respondent = get_visible_respondent(request.user, study, respondent_code)
    require_write(request.user, respondent)
    form = WithdrawForm(request.POST or None, respondent=respondent)
    if request.method == "POST" and form.is_valid():
        try:
            services.withdraw_respondent(
                respondent=respondent,
                user=request.user,
                reason=form.cleaned_data["withdrawal_reason"],
                on=form.cleaned_data["withdrawn_on"],
            )
        except ValidationError as error:
            add_model_errors(form, error)
        else:
            messages.success(request, _("%(code)s has been withdrawn.") % {"code": respondent.code})
            return redirect(
                "studies:respondent_detail", study_code=study.code, respondent_code=respondent.code
            )
    return render(
        request,
        "studies/respondent_withdraw.html",
        {"study": study, "respondent": respondent, "form": form},
    )
