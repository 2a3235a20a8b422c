"""The access matrix: every URL pattern of the project × five kinds of user × GET and POST,
checked against the explicit table below.

The patterns come from the URLconf itself (``get_resolver()``), so a new view, a new admin
model or a new auth URL has no row until someone writes one, and
``test_every_url_pattern_has_a_row`` fails until then. The admin site is walked in full, model
by model: it is the data manager's tool and everybody else must be sent to its login page.

The URLs point at real objects: study PIJAT, a mother R01 at Klinik A with her planned sessions
and her pre-test sheet. The POSTs carry no data, so a permitted user at most sees the form
again with its errors; a refused user must be refused (403, 404 or a login redirect). After
every request, GET or POST, the row counts of every table (clinical data, history, users,
audit, admin log) must be unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.apps import apps
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.http import HttpResponse
from django.test import Client
from django.urls import (
    URLPattern,
    URLResolver,
    get_resolver,
    include,
    path,
    resolve,
    reverse,
)
from django.urls.resolvers import RoutePattern
from django_tasks_db.models import DBTaskResult

from studies import services
from studies.access import Role, role_required
from studies.models import ImportJob, MassageSession, Respondent

from .conftest import DELIVERY

USERS = ("anonymous", "midwife_a", "midwife_b", "researcher", "admin")

# Outcomes, one per user in the order of USERS:
#   200, 403, 404, 405  the response has that status code
#   login        302 to /accounts/login/?next=<this URL> (the app's own views)
#   admin-login  302 to /admin/login/?next=<this URL> (the admin site)
#   302          any other redirect (after a form, a language switch, a logout)
OUTCOMES = {"200", "302", "403", "404", "405", "login", "admin-login"}


def staff(admin_get: str, admin_post: str) -> tuple[str, str]:
    """An admin-site page: only the data manager (staff) gets past the admin's own login."""
    others = "admin-login " * 4
    return others + admin_get, others + admin_post


# Key: the URL name ("namespace:name"), or the route for the few unnamed admin patterns.
# Value: (GET outcomes, POST outcomes), each for anonymous, midwife A, midwife B, researcher,
# admin. The mother R01 belongs to site A: midwife B gets 404 (her existence is not revealed).
# fmt: off
MATRIX: dict[str, tuple[str, str]] = {
    # --- sign-in, sign-out, language (Django's views) ----------------------- GET | POST
    "login":        ("200 200 200 200 200",       "200 200 200 200 200"),
    "logout":       ("405 405 405 405 405",       "302 302 302 302 302"),
    "set_language": ("302 302 302 302 302",       "302 302 302 302 302"),

    # --- the app: anonymous → login; wrong role → 403; other site → 404 ----------------------
    #                                anon  mw_a mw_b res  admin  | anon  mw_a mw_b res  admin
    "studies:home":                ("login 200 200 200 200",     "login 405 405 405 405"),
    "studies:respondent_list":     ("login 200 200 200 200",     "login 405 405 405 405"),
    "studies:respondent_detail":   ("login 200 404 200 200",     "login 405 405 405 405"),
    "studies:respondent_enrol":    ("login 200 200 403 200",     "login 200 200 403 200"),
    "studies:respondent_edit":     ("login 200 404 403 200",     "login 200 404 403 200"),
    "studies:respondent_withdraw": ("login 200 404 403 200",     "login 200 404 403 200"),
    # R01 is not withdrawn: there is no withdrawal to correct (404 for those allowed); the
    # page itself is tested with a withdrawn mother in tests/test_ward.py.
    "studies:withdrawal_correct":  ("login 404 404 403 404",     "login 404 404 403 404"),
    "studies:session_record":      ("login 200 404 403 200",     "login 200 404 403 200"),
    "studies:observation_record":  ("login 200 404 403 200",     "login 200 404 403 200"),
    "studies:results":             ("login 403 403 200 200",     "login 403 403 405 405"),
    "studies:results_json":        ("login 403 403 200 200",     "login 403 403 405 405"),
    # An empty POST is refused with a message and nothing saved: back to the results page.
    "studies:results_test_choice": ("login 403 403 405 405",     "login 403 403 302 302"),
    "studies:results_table_csv":   ("login 403 403 200 200",     "login 403 403 405 405"),
    "studies:results_table_xlsx":  ("login 403 403 200 200",     "login 403 403 405 405"),
    "studies:results_tables_docx": ("login 403 403 200 200",     "login 403 403 405 405"),
    "studies:export_index":        ("login 403 403 403 200",     "login 403 403 403 405"),
    "studies:designer_index":      ("login 403 403 403 200",     "login 403 403 403 405"),
    "studies:designer_new":        ("login 403 403 403 200",     "login 403 403 403 200"),
    "studies:designer_edit":       ("login 403 403 403 200",     "login 403 403 403 200"),
    "studies:export_spss":         ("login 403 403 403 200",     "login 403 403 403 405"),
    "studies:export_sav":          ("login 403 403 403 200",     "login 403 403 403 302"),
    # An unconfirmed POST (no "names and phone numbers" tick) goes back to the export page.
    "studies:export_csv":          ("login 403 403 403 200",     "login 403 403 403 302"),
    "studies:export_xlsx":         ("login 403 403 403 200",     "login 403 403 403 302"),
    "studies:import_upload":       ("login 403 403 403 200",     "login 403 403 403 200"),
    # The import's empty template (a header row): whoever may import; GET only.
    "studies:import_template":     ("login 403 403 403 200",     "login 403 403 403 405"),
    # The data manager's own import, still being checked: its page; a confirmation is refused
    # (back to the page, nothing queued). Another data manager's import answers 404 (tested in
    # tests/test_import_tasks.py).
    "studies:import_job":          ("login 403 403 403 200",     "login 403 403 403 405"),
    "studies:import_confirm":      ("login 403 403 403 405",     "login 403 403 403 302"),

    # --- the admin site: staff only; the data manager's own column ------------ GET | POST --
    "admin:index":                 staff("200", "200"),
    # The login page answers everyone; signed-in staff are sent on to the index.
    "admin:login":                 ("200 200 200 200 302",       "200 200 200 200 200"),
    # Non-staff are sent to the index (→ login); Django's logout takes POST only, then goes
    # to the login page.
    "admin:logout":                ("302 302 302 302 405",       "302 302 302 302 302"),
    "admin:password_change":       staff("200", "200"),
    "admin:password_change_done":  staff("200", "405"),
    # Autocomplete without its parameters is refused; it serves GET only.
    "admin:autocomplete":          staff("403", "405"),
    "admin:jsi18n":                staff("200", "405"),
    # Mothers have no public page to "view on site".
    "admin:view_on_site":          staff("404", "404"),
    "admin:app_list":              staff("200", "200"),
    "admin/(?P<url>.*)$":          staff("404", "404"),

    # Groups (the roles): the data manager sees them; roles change through add_user.
    "admin:auth_group_changelist": staff("200", "200"),
    "admin:auth_group_add":        staff("403", "403"),
    "admin:auth_group_history":    staff("200", "200"),
    "admin:auth_group_delete":     staff("403", "403"),
    "admin:auth_group_change":     staff("200", "403"),
    "admin/auth/group/<path:object_id>/": staff("302", "302"),

    # Users: the data manager manages them, but never deletes one (history points at users).
    "admin:auth_user_changelist":      staff("200", "200"),
    "admin:auth_user_add":             staff("200", "200"),
    "admin:auth_user_history":         staff("200", "200"),
    "admin:auth_user_delete":          staff("403", "403"),
    "admin:auth_user_change":          staff("200", "200"),
    "admin:auth_user_password_change": staff("200", "200"),
    "admin/auth/user/<path:object_id>/": staff("302", "302"),

    # Login attempts recorded by django-axes: no role has access in the admin
    # (a locked account is released by the cool-off or `manage.py axes_reset_username`).
    "admin:axes_accessattempt_changelist":     staff("403", "403"),
    "admin:axes_accessattempt_add":            staff("403", "403"),
    "admin:axes_accessattempt_history":        staff("403", "403"),
    "admin:axes_accessattempt_delete":         staff("403", "403"),
    "admin:axes_accessattempt_change":         staff("403", "403"),
    "admin/axes/accessattempt/<path:object_id>/": staff("302", "302"),
    "admin:axes_accesslog_changelist":         staff("403", "403"),
    "admin:axes_accesslog_add":                staff("403", "403"),
    "admin:axes_accesslog_history":            staff("403", "403"),
    "admin:axes_accesslog_delete":             staff("403", "403"),
    "admin:axes_accesslog_change":             staff("403", "403"),
    "admin/axes/accesslog/<path:object_id>/":  staff("302", "302"),
    "admin:axes_accessfailurelog_changelist":  staff("403", "403"),
    "admin:axes_accessfailurelog_add":         staff("403", "403"),
    "admin:axes_accessfailurelog_history":     staff("403", "403"),
    "admin:axes_accessfailurelog_delete":      staff("403", "403"),
    "admin:axes_accessfailurelog_change":      staff("403", "403"),
    "admin/axes/accessfailurelog/<path:object_id>/": staff("302", "302"),

    # Background tasks (django-tasks-db): no role has access in the admin; an import's state
    # is shown on its own page (studies:import_job).
    "admin:django_tasks_database_dbtaskresult_changelist": staff("403", "403"),
    "admin:django_tasks_database_dbtaskresult_add":        staff("403", "403"),
    "admin:django_tasks_database_dbtaskresult_history":    staff("403", "403"),
    "admin:django_tasks_database_dbtaskresult_delete":     staff("403", "403"),
    "admin:django_tasks_database_dbtaskresult_change":     staff("403", "403"),
    "admin/django_tasks_database/dbtaskresult/<path:object_id>/": staff("302", "302"),

    # Sites and studies: managed by the data manager, never deleted (mothers point at them).
    "admin:studies_site_changelist":        staff("200", "200"),
    "admin:studies_site_add":               staff("200", "200"),
    "admin:studies_site_history":           staff("200", "200"),
    "admin:studies_site_simple_history":    staff("200", "403"),
    "admin:studies_site_delete":            staff("403", "403"),
    "admin:studies_site_change":            staff("200", "200"),
    "admin/studies/site/<path:object_id>/": staff("302", "302"),
    "admin:studies_study_changelist":       staff("200", "200"),
    "admin:studies_study_add":              staff("200", "200"),
    "admin:studies_study_history":          staff("200", "200"),
    "admin:studies_study_simple_history":   staff("200", "403"),
    "admin:studies_study_delete":           staff("403", "403"),
    "admin:studies_study_change":           staff("200", "200"),
    "admin/studies/study/<path:object_id>/": staff("302", "302"),

    # Clinical records: read-only in the admin (written through the app's forms and services),
    # their history readable, never reverted from the admin, never hard-deleted.
    "admin:studies_respondent_changelist":      staff("200", "200"),
    "admin:studies_respondent_add":             staff("403", "403"),
    "admin:studies_respondent_history":         staff("200", "200"),
    "admin:studies_respondent_simple_history":  staff("200", "403"),
    "admin:studies_respondent_delete":          staff("403", "403"),
    "admin:studies_respondent_change":          staff("200", "403"),
    "admin/studies/respondent/<path:object_id>/": staff("302", "302"),
    "admin:studies_massagesession_changelist":     staff("200", "200"),
    "admin:studies_massagesession_add":            staff("403", "403"),
    "admin:studies_massagesession_history":        staff("200", "200"),
    "admin:studies_massagesession_simple_history": staff("200", "403"),
    "admin:studies_massagesession_delete":         staff("403", "403"),
    "admin:studies_massagesession_change":         staff("200", "403"),
    "admin/studies/massagesession/<path:object_id>/": staff("302", "302"),
    "admin:studies_observation_changelist":      staff("200", "200"),
    "admin:studies_observation_add":             staff("403", "403"),
    "admin:studies_observation_history":         staff("200", "200"),
    "admin:studies_observation_simple_history":  staff("200", "403"),
    "admin:studies_observation_delete":          staff("403", "403"),
    "admin:studies_observation_change":          staff("200", "403"),
    "admin/studies/observation/<path:object_id>/": staff("302", "302"),
}
# fmt: on


@dataclass(frozen=True)
class Pattern:
    key: str  # the URL name, or the route when the pattern has none
    route: str
    pieces: tuple  # the RoutePattern/RegexPattern of each level, outermost first
    callback: object


def url_patterns(patterns=None, pieces=(), namespaces=()) -> list[Pattern]:
    """Every pattern of the project's URLconf, with the namespaces it is reached through."""
    found = []
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            inner = namespaces + ((pattern.namespace,) if pattern.namespace else ())
            found += url_patterns(pattern.url_patterns, pieces + (pattern.pattern,), inner)
        elif isinstance(pattern, URLPattern):
            levels = pieces + (pattern.pattern,)
            route = "".join(str(level) for level in levels)
            key = ":".join(namespaces + (pattern.name,)) if pattern.name else route
            found.append(Pattern(key, route, levels, pattern.callback))
    return found


def rows_missing_and_stale() -> tuple[list[str], list[str]]:
    keys = [pattern.key for pattern in url_patterns()]
    assert len(keys) == len(set(keys)), "two patterns share a key"
    return sorted(set(keys) - set(MATRIX)), sorted(set(MATRIX) - set(keys))


def test_every_url_pattern_has_a_row():
    missing, stale = rows_missing_and_stale()
    assert missing == [], f"URL patterns without a row in the access matrix: {missing}"
    assert stale == [], f"access-matrix rows for URL patterns that no longer exist: {stale}"
    for key, (get, post) in MATRIX.items():
        for outcomes in (get.split(), post.split()):
            assert len(outcomes) == len(USERS) and set(outcomes) <= OUTCOMES, key


@role_required(Role.ADMIN)
def view_without_a_row(request, study_code):
    return HttpResponse("new")


urlpatterns = [
    path("studies/<str:study_code>/new/", view_without_a_row, name="view_without_a_row"),
    path("", include("clinic.urls")),
]


@pytest.mark.urls("tests.test_access_matrix")
def test_a_new_url_without_a_row_is_reported():
    assert rows_missing_and_stale() == (["view_without_a_row"], [])


# --- building real URLs -----------------------------------------------------------------------

ROUTE_PARAMETER = re.compile(r"<(?:\w+:)?(\w+)>")
NAMED_GROUP = re.compile(r"\(\?P<(\w+)>[^)]*\)")
UNNAMED_GROUP = re.compile(r"\((?!\?)[^)]*\)")
ADMIN_MODEL = re.compile(r"^admin/(\w+)/(\w+)/")


def fill(pattern: Pattern, values: dict, positional: list) -> str:
    """The URL of a pattern with its parameters replaced by real values."""
    url = "/"
    remaining = iter(positional)
    for level in pattern.pieces:
        text = str(level)
        if isinstance(level, RoutePattern):  # a path() route
            url += ROUTE_PARAMETER.sub(lambda match: str(values[match[1]]), text)
        else:  # a re_path() regex
            text = text.removeprefix("^").removesuffix("$").removesuffix(r"\Z")
            text = NAMED_GROUP.sub(lambda match: str(values[match[1]]), text)
            url += UNNAMED_GROUP.sub(lambda match: str(next(remaining)), text)
    return url


@pytest.fixture
def world(make_respondent, midwife_a, midwife_b, researcher, data_manager, study, site_a):
    """Real objects for every parameter: the mother R01 at site A, her sessions and her
    pre-test sheet, and one object of each model the admin shows."""
    respondent = make_respondent("R01")
    sheet = services.save_observation(
        respondent=respondent,
        timepoint="pre",
        user=midwife_a,
        observed_on=DELIVERY.replace(day=3),  # postpartum day 2, the pre-test day
        values={"feeds": 5, "urinations": 4},
    )
    session = MassageSession.objects.get(respondent=respondent, postpartum_day=2, slot="morning")
    # Not one of the users: a sign-in resets that user's recorded attempts.
    attempt = {"username": "intruder", "ip_address": "192.0.2.1", "user_agent": "test"}
    admin_objects = {
        "auth.group": Group.objects.get(name="midwife"),
        "auth.user": midwife_a,
        "axes.accessattempt": AccessAttempt.objects.create(
            **attempt, get_data="", post_data="", failures_since_start=1
        ),
        "axes.accesslog": AccessLog.objects.create(**attempt),
        "axes.accessfailurelog": AccessFailureLog.objects.create(**attempt),
        "django_tasks_database.dbtaskresult": DBTaskResult.objects.create(
            args_kwargs={"args": [], "kwargs": {}},
            task_path="studies.tasks.preview_import",
            backend_name="default",
        ),
        "studies.site": site_a,
        "studies.study": study,
        "studies.respondent": respondent,
        "studies.massagesession": session,
        "studies.observation": sheet,
    }
    values = {
        "study_code": study.code,
        "respondent_code": respondent.code,
        "day": session.postpartum_day,
        "slot": session.slot,
        "timepoint": sheet.timepoint,
        "kind": "cohort",
        "number": 2,
        "app_label": "studies",
        "content_type_id": ContentType.objects.get_for_model(Respondent).pk,
        "object_id": respondent.pk,
        "url": "no-such-page/",
        "job_id": ImportJob.objects.create(
            study=study, user=data_manager, filename="k.csv", state=ImportJob.State.CHECKING
        ).pk,
    }
    users = {
        "midwife_a": midwife_a,
        "midwife_b": midwife_b,
        "researcher": researcher,
        "admin": data_manager,
    }
    return values, admin_objects, users


def url_for(pattern: Pattern, values: dict, admin_objects: dict) -> str:
    values = dict(values)
    positional = []
    model = ADMIN_MODEL.match(pattern.route)
    if model and f"{model[1]}.{model[2]}" in admin_objects:
        obj = admin_objects[f"{model[1]}.{model[2]}"]
        values["object_id"] = values["id"] = obj.pk
        history = getattr(obj, "history", None)
        if history is not None:
            positional = [obj.pk, history.order_by("history_id").first().history_id]
    url = fill(pattern, values, positional)
    assert resolve(url).func is pattern.callback, f"{url} does not reach {pattern.key}"
    return url


# --- one request, classified ------------------------------------------------------------------


def outcome(response, url: str) -> str:
    if response.status_code != 302:
        return str(response.status_code)
    location = urlsplit(response["Location"])
    next_page = parse_qs(location.query).get("next")
    if location.path == reverse("login") and next_page == [url]:
        return "login"
    if location.path == reverse("admin:login") and next_page == [url]:
        return "admin-login"
    return "302"


def row_counts_query() -> str:
    """One query that counts the rows of every table whose change would matter: clinical data,
    their history, users, roles and site memberships, the audit events and the admin log.
    Sessions and axes' login records change with every sign-in and are left out."""
    tables = sorted(
        model._meta.db_table
        for model in apps.get_models(include_auto_created=True)
        if model._meta.app_label not in {"sessions", "axes"} and model._meta.managed
    )
    quote = connection.ops.quote_name
    return "SELECT " + ", ".join(f"(SELECT COUNT(*) FROM {quote(table)})" for table in tables)


def row_counts(sql: str) -> tuple[int, ...]:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return tuple(cursor.fetchone())


def test_access_matrix(world, capsys):
    values, admin_objects, users = world
    counts_sql = row_counts_query()
    clients = {name: Client(headers={"accept-language": "en"}) for name in USERS}
    mismatches = []
    cells = 0
    for pattern in url_patterns():
        url = url_for(pattern, values, admin_objects)
        get, post = MATRIX[pattern.key]
        for method, expected_row in (("GET", get.split()), ("POST", post.split())):
            for user_name, expected in zip(USERS, expected_row, strict=True):
                client = clients[user_name]
                if user_name in users and "_auth_user_id" not in client.session:
                    client.force_login(users[user_name])  # again after a logout cell
                before = row_counts(counts_sql)
                response = client.get(url) if method == "GET" else client.post(url, {})
                actual = outcome(response, url)
                cells += 1
                cell = f"{method} {url} as {user_name}"
                if actual != expected:
                    mismatches.append(f"{cell}: expected {expected}, got {actual}")
                if row_counts(counts_sql) != before:
                    mismatches.append(f"{cell}: the database changed")
    with capsys.disabled():  # the size of the matrix is part of the report, so always shown
        print(
            f"\naccess matrix: {cells} cells checked "
            f"({len(MATRIX)} URL patterns × {len(USERS)} users × GET, POST)"
        )
    assert not mismatches, "\n".join(mismatches)
    assert cells == len(MATRIX) * len(USERS) * 2
    assert cells >= 900
