"""Thin views: access check → selector or service → template."""

from __future__ import annotations

import datetime

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import (
    FileResponse,
    Http404,
    HttpResponse,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone, translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from . import exchange, kept_entries, selectors, services, tasks
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
from .exchange import sav, xlsx
from .forms import (
    IdentifiedExportForm,
    ImportUploadForm,
    ObservationForm,
    RespondentForm,
    SessionForm,
    WithdrawalCorrectionForm,
    WithdrawForm,
    add_model_errors,
)
from .models import (
    AuditEvent,
    ImportJob,
    MassageSession,
    Observation,
    Respondent,
    RespondentIdentity,
    Slot,
)
from .safety import choice_param, int_param


@role_required(*ALL_ROLES)
@require_safe
def home(request):
    """The home page for the user's role: a midwife's worklist, or the studies overview."""
    today = timezone.localdate()
    if primary_role(request.user) == Role.MIDWIFE:
        respondents = visible_respondents(request.user)
        due = list(selectors.sessions_due(respondents, today))
        sheets = selectors.sheets_due(respondents, today)
        studies = list(visible_studies(request.user))
        context = {
            "today": today,
            "due_today": [session for session in due if session.planned_date == today],
            "overdue": [session for session in due if session.planned_date < today],
            "sheets_today": [sheet for sheet in sheets if sheet.due_on == today],
            "sheets_overdue": [sheet for sheet in sheets if sheet.due_on < today],
            "overdue_count": sum(1 for session in due if session.planned_date < today)
            + sum(1 for sheet in sheets if sheet.due_on < today),
            "active": selectors.with_progress(
                respondents.filter(status=Respondent.Status.ENROLLED)
            ).order_by("enrolled_on", "code"),
            "sites": visible_sites(request.user),
            "studies": studies,
            # A site running two studies: each item says which one it belongs to.
            "several_studies": len(studies) > 1,
        }
        return render(request, "studies/worklist.html", context)
    studies = selectors.study_counts(visible_studies(request.user)).prefetch_related("sites")
    return render(request, "studies/study_overview.html", {"studies": studies})


PROTOCOL_FILTERS = {
    "per_protocol": gettext_lazy("Per protocol"),
    "deviation": gettext_lazy("With a protocol deviation"),
}


@role_required(*ALL_ROLES)
@require_safe
def respondent_list(request, study_code: str):
    study = get_visible_study(request.user, study_code)
    respondents = selectors.with_progress(visible_respondents(request.user, study))
    sites = visible_sites(request.user, study)
    query = request.GET.get("q", "").strip()
    site = int_param(request.GET, "site", minimum=1)
    status = choice_param(request.GET, "status", Respondent.Status.values)
    if query:
        respondents = respondents.filter(code__icontains=query)
    if site is not None:
        respondents = respondents.filter(site_id=site)
    if status:
        respondents = respondents.filter(status=status)
    protocol = choice_param(request.GET, "protocol", PROTOCOL_FILTERS)
    if protocol:
        respondents = respondents.filter(has_deviation=protocol == "deviation")
    page = Paginator(respondents.order_by("code"), 50).get_page(
        int_param(request.GET, "page", minimum=1)
    )
    filters = request.GET.copy()
    filters.pop("page", None)
    return render(
        request,
        "studies/respondent_list.html",
        {
            "study": study,
            "page": page,
            "query": query,
            "sites": sites,
            "site": "" if site is None else str(site),
            "status": status,
            "statuses": Respondent.Status.choices,
            "protocol": protocol,
            "protocol_filters": PROTOCOL_FILTERS.items(),
            "filters": filters.urlencode(),
            "can_enrol": can_write(request.user) and sites.exists(),
        },
    )


def _kept_entry(request) -> dict:
    """The entry this form page kept when it was sent after the session had expired (studies/
    kept_entries.py), shown again once, to check and save; otherwise nothing."""
    kept = kept_entries.take_entry(request) if request.method == "GET" else None
    if not kept:
        return {}
    messages.info(
        request,
        _("Your entry was kept while you signed in again. It is not saved yet: check it and save."),
    )
    return kept


def _to_respondent(study, respondent):
    return redirect(
        "studies:respondent_detail", study_code=study.code, respondent_code=respondent.code
    )


@role_required(*WRITERS)
@require_http_methods(["GET", "POST"])
def respondent_enrol(request, study_code: str):
    study = get_visible_study(request.user, study_code)
    require_write(request.user)
    form = RespondentForm(
        request.POST or None,
        study=study,
        sites=visible_sites(request.user, study),
        show_identity=can_see_identity(request.user),
        initial=_kept_entry(request),
    )
    if request.method == "POST" and form.is_valid():
        try:
            respondent = services.enrol_respondent(
                study=study,
                user=request.user,
                identity=form.identity_values(),
                eligibility_confirmed=True,
                **form.respondent_values(),
            )
        except ValidationError as error:
            twin = _same_enrolment(study, request.user, form.respondent_values())
            if twin is not None:  # the same form sent twice (a double tap, a retry)
                messages.info(request, _("%(code)s was already enrolled.") % {"code": twin.code})
                return _to_respondent(study, twin)
            add_model_errors(form, error)
        else:
            messages.success(request, enrolled_message(study, respondent))
            return _to_respondent(study, respondent)
    return render(
        request,
        "studies/respondent_form.html",
        {"study": study, "form": form, "plan_text": enrolment_plan_text(study)},
    )


def enrolled_message(study, respondent) -> str:
    """What the midwife reads after enrolling: the arm (revealed now, never before) and the
    sessions her arm's schedule planned, or that it plans none."""
    protocol = study.protocol
    count = study.sessions_planned(respondent.arm)
    if not protocol.has_arms:
        return _("%(code)s is enrolled; %(count)s sessions are planned.") % {
            "code": respondent.code,
            "count": count,
        }
    arm = protocol.arm_label(respondent.arm)
    if count:
        return _("%(code)s is enrolled in the arm %(arm)s; %(count)s sessions are planned.") % {
            "code": respondent.code,
            "arm": arm,
            "count": count,
        }
    return _("%(code)s is enrolled in the arm %(arm)s; this arm has no sessions.") % {
        "code": respondent.code,
        "arm": arm,
    }


def enrolment_plan_text(study) -> str:
    """The enrolment page's line under its title: the enrolment day, and what saving plans. A
    study without arms names its sessions; with arms, the plan follows the arm, which the
    midwife chooses or (by site, by blocks) learns only once the mother is enrolled."""
    protocol = study.protocol
    day = _("Enrolment is on postpartum day %(day)s.") % {"day": protocol.enrolment_day}
    if not protocol.has_arms:
        schedule = protocol.schedule(protocol.arm_keys[0])
        if schedule is None:
            return day + " " + _("This study plans no sessions; the sheets are due on their days.")
        return (
            day
            + " "
            + _("Saving plans her %(count)s sessions (%(label)s).")
            % {"count": schedule.sessions_planned, "label": schedule.label}
        )
    if protocol.allocation == "chosen":
        return day + " " + _("Choose her arm; saving plans the sessions of that arm, if any.")
    return day + " " + _("Her arm is given when she is enrolled, with its sessions, if any.")


def _same_enrolment(study, user, values: dict):
    """The mother this user enrolled moments ago with these very details, if any."""
    created = Respondent.history.filter(
        study_id=study.pk,
        code=values["code"],
        history_type="+",
        history_user=user,
        history_date__gte=timezone.now() - datetime.timedelta(minutes=10),
    ).values_list("id", flat=True)
    return Respondent.objects.filter(
        pk__in=list(created),
        site=values["site"],
        delivery_date=values["delivery_date"],
        enrolled_on=values["enrolled_on"],
        age_years=values["age_years"],
    ).first()


@role_required(*WRITERS)
@require_http_methods(["GET", "POST"])
def respondent_edit(request, study_code: str, respondent_code: str):
    respondent = get_visible_respondent(request.user, study_code, respondent_code)
    study = respondent.study
    require_write(request.user, respondent)
    if refused := _refuse_withdrawn(request, study, respondent):
        return refused
    form = RespondentForm(
        request.POST or None,
        study=study,
        sites=visible_sites(request.user, study),
        respondent=respondent,
        show_identity=can_see_identity(request.user),
        initial=_kept_entry(request),
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.update_respondent(
                respondent=respondent,
                user=request.user,
                reason=form.cleaned_data["reason"],
                identity=form.identity_values(),
                expected_version=form.expected_version(),
                deviation_reason=form.deviation_reason(),
                **form.respondent_values(),
            )
        except services.StaleRecordError as error:
            form.add_error(None, error)
            respondent.refresh_from_db()
            form.refresh_version(respondent.version)
        except ValidationError as error:
            add_model_errors(form, error)
            respondent.refresh_from_db()
        else:
            messages.success(
                request, _("The correction for %(code)s is saved.") % {"code": respondent.code}
            )
            return _to_respondent(study, respondent)
    return render(
        request,
        "studies/respondent_form.html",
        {"study": study, "form": form, "respondent": respondent},
    )


@role_required(*WRITERS)
@require_http_methods(["GET", "POST"])
def session_record(request, study_code: str, respondent_code: str, day: int, slot: str):
    respondent = get_visible_respondent(request.user, study_code, respondent_code)
    study = respondent.study
    require_write(request.user, respondent)
    if refused := _refuse_withdrawn(request, study, respondent):
        return refused
    session = get_object_or_404(
        MassageSession.objects.select_related("respondent__study"),
        respondent=respondent,
        postpartum_day=day,
        slot=slot,
    )
    preset = choice_param(request.GET, "status", MassageSession.Status.values)
    form = SessionForm(
        request.POST or None, session=session, preset_status=preset, initial=_kept_entry(request)
    )
    if request.method == "POST" and form.is_valid():
        try:
            # The session as saved: its status is the new one (the form's instance still holds
            # the status it was opened with).
            saved = services.record_session(
                session=session, user=request.user, **form.session_values()
            )
        except services.StaleRecordError as error:
            form.add_error(None, error)
            session.refresh_from_db()
            form.refresh_version(session.version)
        except ValidationError as error:
            add_model_errors(form, error, aliases={"started_at": form.started_at_field()})
        else:
            messages.success(request, session_saved_message(saved))
            return _back_after_save(request, study, respondent)
    return render(
        request,
        "studies/session_form.html",
        {
            "study": study,
            "respondent": respondent,
            "session": session,
            "form": form,
            "next": _safe_next(request),
        },
    )


@role_required(*WRITERS)
@require_http_methods(["GET", "POST"])
def observation_record(request, study_code: str, respondent_code: str, timepoint: str):
    respondent = get_visible_respondent(request.user, study_code, respondent_code)
    study = respondent.study
    require_write(request.user, respondent)
    point = study.protocol.timepoint(timepoint)
    if point is None:
        raise Http404(_("No such observation sheet."))
    if refused := _refuse_withdrawn(request, study, respondent):
        return refused
    form = ObservationForm(
        request.POST or None,
        respondent=respondent,
        timepoint=point.key,
        initial=_kept_entry(request),
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.save_observation(
                respondent=respondent, timepoint=point.key, user=request.user, **form.sheet_values()
            )
        except services.StaleRecordError as error:
            form.add_error(None, error)
            current = Observation.objects.filter(respondent=respondent, timepoint=point.key).first()
            form.refresh_version(current.version if current else None)
        except ValidationError as error:
            # The sheet's rule "at least one value" speaks of all of them: beside the first.
            add_model_errors(form, error, aliases={"values": form.first_value_field()})
        else:
            messages.success(
                request,
                _("Observation sheet for %(code)s saved: %(phase)s.")
                % {"phase": point.label, "code": respondent.code},
            )
            return _back_after_save(request, study, respondent)
    return render(
        request,
        "studies/observation_form.html",
        {
            "study": study,
            "respondent": respondent,
            "timepoint": point,
            "phase_label": str(point.label),
            "form": form,
            "next": _safe_next(request),
        },
    )


def session_saved_message(session: MassageSession) -> str:
    """What the midwife reads after a save: which mother, which day and time, and how it
    went ("Sesi pagi hari ke-2 untuk D17 tersimpan: selesai.")."""
    return _("The %(slot)s session of day %(day)s for %(code)s is saved: %(status)s.") % {
        "slot": session.get_slot_display().lower(),
        "day": session.postpartum_day,
        "code": session.respondent.code,
        "status": session.get_status_display().lower(),
    }


def _refuse_withdrawn(request, study, respondent) -> HttpResponseRedirect | None:
    """A form opened (GET) for a withdrawn mother: her page with a message saying why, instead
    of a form that could only be refused once filled in. ``None`` when the form may open. A
    POST still goes to the service, whose check (``services._require_active``) is the rule."""
    if request.method != "GET" or respondent.status != Respondent.Status.WITHDRAWN:
        return None
    messages.error(
        request,
        _(
            "%(code)s has been withdrawn: nothing more can be recorded or corrected for her. "
            "Only her withdrawal can be corrected."
        )
        % {"code": respondent.code},
    )
    return _to_respondent(study, respondent)


def _back_after_save(request, study, respondent) -> HttpResponseRedirect:
    """Back where the form was opened from (the worklist), otherwise to the mother's page."""
    return HttpResponseRedirect(_safe_next(request) or _to_respondent(study, respondent).url)


def _safe_next(request) -> str:
    """Where to go after saving: back to the worklist when the form was opened from it. Only a
    path on this site is followed; anything else ("foo", which redirect() would try to reverse
    as a URL name after the save, a control character, another host) means the mother's page."""
    target = str(request.POST.get("next") or request.GET.get("next") or "")
    if (
        target.startswith("/")
        and not target.startswith(("//", "/\\"))
        and target.isprintable()
        and url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
    ):
        return target
    return ""


@role_required(*ALL_ROLES)
@require_safe
def respondent_detail(request, study_code: str, respondent_code: str):
    show_identity = can_see_identity(request.user)
    respondent = get_visible_respondent(
        request.user, study_code, respondent_code, with_identity=show_identity
    )
    study = respondent.study
    identity = None
    if show_identity:
        try:
            identity = respondent.identity
        except RespondentIdentity.DoesNotExist:
            identity = None
    sessions = sorted(
        respondent.sessions.select_related("performed_by"),
        key=lambda session: (session.postpartum_day, Slot.values.index(session.slot)),
    )
    sheets = {sheet.timepoint: sheet for sheet in respondent.observations.all()}
    protocol = study.protocol
    context = {
        "study": study,
        "respondent": respondent,
        "identity": identity,
        "show_identity": show_identity,
        "sessions": sessions,
        "timeline": selectors.respondent_timeline(respondent, sessions, sheets),
        "arm_label": protocol.arm_label(respondent.arm) if protocol.has_arms else "",
        "schedule": protocol.schedule(respondent.arm),
        "today": timezone.localdate(),
        "sessions_done": sum(session.status == MassageSession.Status.DONE for session in sessions),
        "history": selectors.respondent_history(respondent, include_identity=show_identity),
        "deviations": list(
            respondent.deviations.select_related("session", "recorded_by").order_by(
                "recorded_at", "pk"
            )
        ),
        "can_write": can_write(request.user, respondent),
    }
    return render(request, "studies/respondent_detail.html", context)


@role_required(*WRITERS)
@require_http_methods(["GET", "POST"])
def respondent_withdraw(request, study_code: str, respondent_code: str):
    respondent = get_visible_respondent(request.user, study_code, respondent_code)
    study = respondent.study
    require_write(request.user, respondent)
    if refused := _refuse_withdrawn(request, study, respondent):
        return refused
    form = WithdrawForm(request.POST or None, respondent=respondent, initial=_kept_entry(request))
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


@role_required(*WRITERS)
@require_http_methods(["GET", "POST"])
def withdrawal_correct(request, study_code: str, respondent_code: str):
    """Correct a withdrawn mother's withdrawal (its date and reason), with a reason for the
    change: the one thing still written for her."""
    respondent = get_visible_respondent(request.user, study_code, respondent_code)
    study = respondent.study
    require_write(request.user, respondent)
    if respondent.status != Respondent.Status.WITHDRAWN:
        raise Http404(_("This mother has not been withdrawn."))
    form = WithdrawalCorrectionForm(
        request.POST or None, respondent=respondent, initial=_kept_entry(request)
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.correct_withdrawal(
                respondent=respondent, user=request.user, **form.correction_values()
            )
        except services.StaleRecordError as error:
            form.add_error(None, error)
            respondent.refresh_from_db()
            form.refresh_version(respondent.version)
        except ValidationError as error:
            add_model_errors(form, error)
            respondent.refresh_from_db()
        else:
            messages.success(
                request,
                _("The withdrawal of %(code)s is corrected.") % {"code": respondent.code},
            )
            return _to_respondent(study, respondent)
    return render(
        request,
        "studies/withdrawal_form.html",
        {"study": study, "respondent": respondent, "form": form},
    )


# --- data exchange (admin only) --------------------------------------------------------------


def _export_options(params) -> tuple[str, bool]:
    """The separator's name and the byte-order mark; the separator defaults to the one a
    spreadsheet in the user's language expects (a semicolon in Indonesian)."""
    delimiter = choice_param(
        params, "delimiter", exchange.DELIMITERS, default=exchange.default_delimiter()
    )
    bom = choice_param(params, "bom", ("0", "1"), default="1") == "1"
    return delimiter, bom


def export_filename(study, kind: str, extension: str, *options: str) -> str:
    """A download's name from its study, kind, options and the day, so two variants never
    overwrite each other: ``PIJAT-cohort-identified-semicolon-2026-11-30.csv``."""
    parts = [study.code, kind, *[option for option in options if option]]
    return "-".join([*parts, timezone.localdate().isoformat()]) + "." + extension


def _attachment(response, filename: str):
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


def _csv_options(delimiter: str, bom: bool) -> tuple[str, str]:
    return delimiter, "" if bom else "no-bom"


@role_required(Role.ADMIN)
@require_safe
def export_index(request, study_code: str):
    study = get_visible_study(request.user, study_code)
    counts = exchange.export_counts(study)
    kinds = [
        (kind, counts[kind], kind in exchange.IDENTIFIABLE)
        for kind in ("cohort", "observations", "sessions", "audit", "dictionary")
    ]
    return render(
        request,
        "studies/export_index.html",
        {
            "study": study,
            "kinds": kinds,
            "form": IdentifiedExportForm(initial={"delimiter": exchange.default_delimiter()}),
            "delimiter": exchange.default_delimiter(),
        },
    )


def _export_request(request, study, kind: str):
    """What an export's request asks for: ``(identified, params)``, or a response that refuses
    it. De-identified by default (GET); names and phone numbers only on a confirmed POST, which
    is itself written to the audit trail."""
    if kind not in exchange.EXPORTS:
        raise Http404(_("No such export."))
    if request.method != "POST":
        return False, request.GET
    form = IdentifiedExportForm(request.POST)
    if not form.is_valid() or kind not in exchange.IDENTIFIABLE:
        messages.error(request, _("Confirm that you need names and phone numbers."))
        return redirect("studies:export_index", study_code=study.code)
    AuditEvent.objects.create(
        study=study,
        user=request.user,
        action=AuditEvent.Action.IDENTIFIED_EXPORT,
        detail=_("%(kind)s export with names and phone numbers") % {"kind": kind},
    )
    return True, request.POST


@role_required(Role.ADMIN)
@require_http_methods(["GET", "POST"])
def export_csv(request, study_code: str, kind: str):
    """One export as CSV, streamed. De-identified by default (GET); names and phone numbers
    only on a confirmed POST, which is itself written to the audit trail."""
    study = get_visible_study(request.user, study_code)
    asked = _export_request(request, study, kind)
    if isinstance(asked, HttpResponse):
        return asked
    identified, params = asked
    delimiter, bom = _export_options(params)
    rows = exchange.EXPORTS[kind](study, identified=identified)
    response = StreamingHttpResponse(
        exchange.stream_csv(rows, delimiter=exchange.DELIMITERS[delimiter], bom=bom),
        content_type="text/csv; charset=utf-8",
    )
    options = ("identified" if identified else "", *_csv_options(delimiter, bom))
    return _attachment(response, export_filename(study, kind, "csv", *options))


@role_required(Role.ADMIN)
@require_http_methods(["GET", "POST"])
def export_xlsx(request, study_code: str, kind: str):
    """One export as an .xlsx workbook: codes and phones as text, dates as dates, counts as
    numbers. Identified only on a confirmed POST, as the CSV."""
    study = get_visible_study(request.user, study_code)
    asked = _export_request(request, study, kind)
    if isinstance(asked, HttpResponse):
        return asked
    identified, _params = asked
    rows = exchange.SHEETS[kind](study, identified=identified)
    response = FileResponse(
        xlsx.workbook(rows, title=kind), content_type=xlsx.CONTENT_TYPE, as_attachment=True
    )
    options = ("identified" if identified else "",)
    return _attachment(response, export_filename(study, kind, "xlsx", *options))


@role_required(Role.ADMIN)
@require_safe
def export_spss(request, study_code: str):
    """The SPSS syntax for the cohort CSV downloaded with the same options: it reads that
    file by the name it was downloaded under."""
    study = get_visible_study(request.user, study_code)
    delimiter, bom = _export_options(request.GET)
    options = _csv_options(delimiter, bom)
    syntax = exchange.spss_syntax(
        study,
        delimiter=exchange.DELIMITERS[delimiter],
        filename=export_filename(study, "cohort", "csv", *options),
    )
    response = HttpResponse(syntax, content_type="text/plain; charset=utf-8")
    return _attachment(response, export_filename(study, "cohort", "sps", *options))


@role_required(Role.ADMIN)
@require_http_methods(["GET", "POST"])
def export_sav(request, study_code: str):
    """The cohort as an SPSS data file (.sav) with the variables, labels and measurement levels
    that cohort.sps declares. De-identified by default (GET); names and phone numbers only on
    a confirmed POST, written to the audit trail, as the CSV."""
    study = get_visible_study(request.user, study_code)
    asked = _export_request(request, study, "cohort")
    if isinstance(asked, HttpResponse):
        return asked
    identified, _params = asked
    response = FileResponse(
        sav.cohort_sav(study, identified=identified),
        content_type=sav.CONTENT_TYPE,
        as_attachment=True,
    )
    options = ("identified" if identified else "",)
    return _attachment(response, export_filename(study, "cohort", "sav", *options))


# Seconds between two reloads of an import's page while the worker is on it.
IMPORT_REFRESH_SECONDS = 2


@role_required(Role.ADMIN)
@require_http_methods(["GET", "POST"])
def import_upload(request, study_code: str):
    """Upload a cohort file: it waits on disk, private, while the task worker checks it; the
    data manager is sent to the import's own page (studies/tasks.py)."""
    study = get_visible_study(request.user, study_code)
    form = ImportUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            job = tasks.start_preview(
                study=study,
                user=request.user,
                upload=form.cleaned_data["file"],
                language=translation.get_language() or settings.LANGUAGE_CODE,
            )
        except exchange.ImportFileError as error:
            form.add_error("file", str(error))
        else:
            return redirect("studies:import_job", study_code=study.code, job_id=job.pk)
    return render(
        request,
        "studies/import.html",
        {"study": study, "form": form, "delimiter": exchange.default_delimiter()},
    )


@role_required(Role.ADMIN)
@require_safe
def import_template(request, study_code: str):
    """The import's empty template: the cohort export's header alone (every column the importer
    reads, ``exchange.cohort_template_rows``), with the separator and encoding chosen as for an
    export."""
    study = get_visible_study(request.user, study_code)
    delimiter, bom = _export_options(request.GET)
    response = HttpResponse(
        "".join(
            exchange.stream_csv(
                exchange.cohort_template_rows(study),
                delimiter=exchange.DELIMITERS[delimiter],
                bom=bom,
            )
        ),
        content_type="text/csv; charset=utf-8",
    )
    return _attachment(
        response, export_filename(study, "cohort-template", "csv", *_csv_options(delimiter, bom))
    )


def _own_import(request, study_code: str, job_id) -> tuple:
    """The study and one of the signed-in data manager's own imports in it; anyone else's
    import answers 404, as if it did not exist."""
    study = get_visible_study(request.user, study_code)
    job = get_object_or_404(ImportJob, pk=job_id, study=study, user=request.user)
    return study, job


@role_required(Role.ADMIN)
@require_safe
def import_job(request, study_code: str, job_id):
    """An import's page: its progress while the worker is on it (the page reloads itself, no
    script needed), then the preview with the confirmation, then the result."""
    study, job = _own_import(request, study_code, job_id)
    errors = [
        {"row": row, "column": column, "message": message}
        for row, column, message in job.report.get("errors", [])
    ]
    response = render(
        request,
        "studies/import_job.html",
        {
            "study": study,
            "job": job,
            "errors": errors,
            "more_errors": job.report.get("error_count", 0) - len(errors),
        },
    )
    if job.running:
        # The HTTP form of <meta http-equiv="refresh">: the page follows the worker, no script.
        response["Refresh"] = str(IMPORT_REFRESH_SECONDS)
    return response


@role_required(Role.ADMIN)
@require_POST
def import_confirm(request, study_code: str, job_id):
    """Confirm a checked import. A second confirmation (a double tap, another tab) imports
    nothing and says so."""
    study, job = _own_import(request, study_code, job_id)
    if not tasks.confirm(job):
        job.refresh_from_db()
        if job.state in (ImportJob.State.IMPORTING, ImportJob.State.DONE):
            messages.warning(request, _("This file was already confirmed; it is imported once."))
        else:
            messages.error(request, _("This file cannot be imported now; see below why."))
    return redirect("studies:import_job", study_code=study.code, job_id=job.pk)
