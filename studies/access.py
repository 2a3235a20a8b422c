"""Who may see and do what: the one place where roles and sites are enforced.

Every view of this project declares its roles with ``@role_required(...)``. The middleware below
refuses any project view that did not declare them, so a new view cannot forget the check.
Site scoping (a midwife sees only her sites' mothers) goes through ``visible_respondents`` and
``get_visible_respondent``; another site's mother answers 404, so her existence is not revealed.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.signals import user_logged_in
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Exists, OuterRef
from django.db.models.functions import Lower
from django.dispatch import receiver
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _

from .kept_entries import keep_entry
from .models import Respondent, Site, Study

logger = logging.getLogger("lancar.access")


class Role(models.TextChoices):
    MIDWIFE = "midwife", _("Midwife")
    RESEARCHER = "researcher", _("Researcher")
    ADMIN = "admin", _("Data manager")


ALL_ROLES = frozenset(Role.values)
WRITERS = frozenset({Role.MIDWIFE, Role.ADMIN})
ANALYSTS = frozenset({Role.RESEARCHER, Role.ADMIN})

# Views from these modules come with Django's own protection (login, logout, language switch,
# static files) and need no role declaration; so does the admin site, which checks staff status
# and model permissions on every page (see EXEMPT_NAMESPACES).
EXEMPT_NAMESPACES = frozenset({"admin"})
EXEMPT_VIEW_MODULES = (
    "django.contrib.auth.views",
    "django.views.i18n",
    "django.views.static",
    "django.contrib.staticfiles.",
)


def roles_of(user) -> frozenset[str]:
    """The user's roles; a superuser is treated as the data manager."""
    if not user.is_authenticated or not user.is_active:
        return frozenset()
    cached = getattr(user, "_lancar_roles", None)
    if cached is None:
        names = set(user.groups.filter(name__in=Role.values).values_list("name", flat=True))
        if user.is_superuser:
            names.add(Role.ADMIN)
        cached = frozenset(names)
        user._lancar_roles = cached
    return cached


class RoleModelBackend(ModelBackend):
    """Django's model backend, reading the signed-in user and her roles in one query (every
    request needs both)."""

    def get_user(self, user_id):
        memberships = get_user_model().groups.through.objects.filter(user_id=OuterRef("pk"))
        users = get_user_model()._default_manager.annotate(
            **{
                f"_lancar_is_{role}": Exists(memberships.filter(group__name=role))
                for role in Role.values
            }
        )
        try:
            user = users.get(pk=user_id)
        except get_user_model().DoesNotExist:
            return None
        if not self.user_can_authenticate(user):
            return None
        names = {role for role in Role.values if getattr(user, f"_lancar_is_{role}")}
        if user.is_superuser:
            names.add(Role.ADMIN)
        user._lancar_roles = frozenset(names)
        return user


def has_role(user, *roles: str) -> bool:
    return bool(roles_of(user) & set(roles))


def primary_role(user) -> str | None:
    """The role that decides the home page: the widest one the user holds."""
    held = roles_of(user)
    for role in (Role.ADMIN, Role.RESEARCHER, Role.MIDWIFE):
        if role in held:
            return role
    return None


def role_required(*roles: str) -> Callable:
    """Declare which roles may use a view. Anonymous users go to the login page; others get 403."""
    allowed = frozenset(roles)
    unknown = allowed - ALL_ROLES
    if not allowed or unknown:
        raise ValueError(f"role_required needs roles from {sorted(ALL_ROLES)}, got {roles}")

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not request.user.is_authenticated:
                keep_entry(request)  # a form sent after the idle timeout is shown again
                return redirect_to_login(request.get_full_path())
            if not roles_of(request.user) & allowed:
                logger.warning(
                    "refused %s %s to user %s (roles %s)",
                    request.method,
                    request.path,
                    request.user.pk,
                    sorted(roles_of(request.user)),
                )
                raise PermissionDenied
            return view(request, *args, **kwargs)

        wrapped.lancar_roles = allowed
        return wrapped

    return decorator


def _is_exempt(view_func: Callable) -> bool:
    module = getattr(view_func, "__module__", "") or ""
    view_class = getattr(view_func, "view_class", None)
    if view_class is not None:
        module = view_class.__module__
    return module.startswith(EXEMPT_VIEW_MODULES)


# --- idle timeout ----------------------------------------------------------------------------
# A session ends SESSION_COOKIE_AGE after it was last saved. Saving it on every request (Django's
# SESSION_SAVE_EVERY_REQUEST) costs a write per page; renewing it once a minute keeps the idle
# timeout to within a minute for one write per minute of work.

SESSION_RENEWED = "lancar_renewed"
SESSION_RENEW_EVERY = 60  # seconds


@receiver(user_logged_in, dispatch_uid="lancar.access.session_renewed")
def mark_session_renewed(sender, request, user, **kwargs) -> None:
    if request is not None and hasattr(request, "session"):
        request.session[SESSION_RENEWED] = int(time.time())


class IdleTimeoutMiddleware:
    """Renew a signed-in session (and its cookie) at most once a minute."""

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session = request.session
        renewed = session.get(SESSION_RENEWED) if session.session_key is not None else None
        # Only sessions opened by a sign-in carry the mark: a stray cookie creates nothing.
        if isinstance(renewed, int):
            now = int(time.time())
            if not 0 <= now - renewed < SESSION_RENEW_EVERY:
                session[SESSION_RENEWED] = now
        return self.get_response(request)


class RoleRequiredMiddleware:
    """Fail closed: a project view without ``@role_required`` is refused, not served."""

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        match = request.resolver_match
        if match is not None and EXEMPT_NAMESPACES & set(match.namespaces):
            return None
        if getattr(view_func, "lancar_roles", None) or _is_exempt(view_func):
            return None
        logger.error("view %r declares no roles; refusing %s", view_func, request.path)
        raise PermissionDenied


def visible_studies(user) -> models.QuerySet[Study]:
    """Studies the user works on: all of them for researchers and admins, her sites' for a
    midwife."""
    roles = roles_of(user)
    if roles & ANALYSTS:
        return Study.objects.all()
    if Role.MIDWIFE in roles:
        return Study.objects.filter(sites__members=user).distinct()
    return Study.objects.none()


def visible_sites(user, study: Study | None = None) -> models.QuerySet[Site]:
    roles = roles_of(user)
    if roles & ANALYSTS:
        sites = Site.objects.all()
    elif Role.MIDWIFE in roles:
        sites = Site.objects.filter(members=user)
    else:
        return Site.objects.none()
    if study is not None:
        sites = sites.filter(studies=study)
    return sites


def visible_respondents(user, study: Study | None = None) -> models.QuerySet[Respondent]:
    """Mothers the user may see. A midwife who is also a researcher sees as a researcher."""
    roles = roles_of(user)
    respondents = Respondent.objects.all()
    if study is not None:
        respondents = respondents.filter(study=study)
    if roles & ANALYSTS:
        return respondents
    if Role.MIDWIFE in roles:
        return respondents.filter(site__members=user)
    return respondents.none()


def get_visible_study(user, code: str) -> Study:
    try:
        return visible_studies(user).get(code=code)
    except Study.DoesNotExist:
        raise Http404(_("No such study.")) from None


def get_visible_respondent(
    user, study_code: str, code: str, *, with_identity: bool = False
) -> Respondent:
    """One mother with her study and site (and, if asked, her identity) in one query; 404 when
    the study or she does not exist *or* she belongs to a site the user cannot see. Her study
    is ``respondent.study``."""
    respondents = visible_respondents(user).select_related("study", "site")
    if with_identity:
        respondents = respondents.select_related("identity")
    if Role.MIDWIFE in roles_of(user):
        # Whether she works at the mother's site, for can_write without another query.
        respondents = respondents.annotate(
            _lancar_user_is_member=Exists(
                Site.members.through.objects.filter(site_id=OuterRef("site_id"), user_id=user.pk)
            )
        )
    try:
        # By the code as people read it (R01 is r01), through the unique index on the code's
        # lower case.
        return respondents.alias(code_lower=Lower("code")).get(
            study__code=study_code, code_lower=code.lower()
        )
    except Respondent.DoesNotExist:
        get_visible_study(user, study_code)  # "No such study" when that is what is wrong
        raise Http404(_("No such respondent.")) from None


def can_see_identity(user) -> bool:
    """Names and phone numbers: the midwives who care for the mother and the data manager."""
    roles = roles_of(user)
    return Role.ADMIN in roles or (Role.MIDWIFE in roles and Role.RESEARCHER not in roles)


def can_write(user, respondent: Respondent | None = None) -> bool:
    roles = roles_of(user)
    if Role.ADMIN in roles:
        return True
    if Role.MIDWIFE not in roles:
        return False
    if respondent is None:
        return True
    member = getattr(respondent, "_lancar_user_is_member", None)
    if member is None:
        member = respondent.site.members.filter(pk=user.pk).exists()
    return member


def require_write(user, respondent: Respondent | None = None) -> None:
    if not can_write(user, respondent):
        raise PermissionDenied
