"""No server error from any input: hostile values sent to every URL pattern of the project.

The patterns come from the URLconf (``get_resolver()``), as in the access matrix, and point at
real objects (study PIJAT, the mother R01 at Klinik A with her sessions and her pre-test
sheet, one object of each model the admin shows). For anonymous, a midwife, a researcher and
the data manager the walk sends

- every URL parameter of every pattern replaced by hostile values;
- every query parameter a view reads (a fixed list of the names the app and the admin use)
  set to hostile values, one name at a time and all at once;
- every field of every form a user is shown (collected from the page's HTML, the hidden
  ``version`` included) set to hostile values, the other fields as the page filled them.

Each request runs in a savepoint rolled back afterwards, so every request starts from the
same world. A response must not be a 5xx nor raise; a refused request (any GET, a 4xx, a form
shown again) must leave every table's row count as it was; an accepted POST must leave no
half-written record (a mother without her planned sessions, a record without the history row
of its version).

Every URL parameter, query name and form field gets NUL, a non-ASCII digit and a huge integer;
the other hostile values are taken in turn, one more per parameter, so each run stays short.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from http.cookies import SimpleCookie
from urllib.parse import quote, urljoin, urlsplit

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.apps import apps
from django.conf import settings
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse
from django.urls.resolvers import RoutePattern
from django_tasks_db.models import DBTaskResult

from studies import services
from studies.models import ImportJob, MassageSession, Observation, Respondent

from .conftest import DELIVERY

# Hostile values as they appear in a URL or a form body (percent-encoded where that matters:
# "%FF%FE" is deliberately invalid UTF-8, "%zz" deliberately not an escape at all).
HOSTILE = {
    "nul": "%00",
    "superscript-two": quote("²"),
    "huge": "99999999999999999999",
    "nul-inside": "R01%00x",
    "arabic-five": quote("٥"),
    "fullwidth-two": quote("２"),
    "huge-negative": "-99999999999999999999",
    "negative": "-1",
    "long": "x" * 10_000,
    "dot-dot": quote("../../", safe=""),
    "percent-junk": "%zz%2",
    "bad-utf8": "%FF%FE%C3",
    "markup": quote("<script>'\""),
    "newline": quote("/ok\r\nSet-Cookie: x=1", safe=""),
}
CORE = ("nul", "superscript-two", "huge")
EXTRAS = itertools.cycle([name for name in HOSTILE if name not in CORE])

# Query parameters read by the app's views (grep request.GET; cohort.parse_filters) and by the
# admin (its changelist, list filters, popups, autocomplete), and a few common ones.
APP_QUERY_NAMES = (
    "q",
    "site",
    "status",
    "page",
    "next",
    "delimiter",
    "bom",
    "parity",
    "per_protocol",
    "version",
    "lang",
    "format",
)
ADMIN_QUERY_NAMES = (
    "q",
    "o",
    "p",
    "e",
    "all",
    "site",
    "groups",
    "_changelist_filters",
    "_popup",
    "_to_field",
    "status__exact",
    "site__id__exact",
    "respondent__study__id__exact",
    "term",
    "app_label",
    "model_name",
    "field_name",
)
QUERY_NAMES = tuple(dict.fromkeys(APP_QUERY_NAMES + ADMIN_QUERY_NAMES))

USERS = ("anonymous", "midwife", "researcher", "admin")


def sample() -> tuple[str, ...]:
    """The three values every parameter gets and the next one of the others."""
    return (*CORE, next(EXTRAS))


# --- the project's URL patterns with real values ----------------------------------------------


@dataclass(frozen=True)
class Pattern:
    name: str
    pieces: tuple  # the RoutePattern/RegexPattern of each level, outermost first
    callback: object


def url_patterns(patterns=None, pieces=(), namespaces=()) -> list[Pattern]:
    found = []
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            inner = namespaces + ((pattern.namespace,) if pattern.namespace else ())
            found += url_patterns(pattern.url_patterns, pieces + (pattern.pattern,), inner)
        elif isinstance(pattern, URLPattern):
            levels = pieces + (pattern.pattern,)
            route = "".join(str(level) for level in levels)
            name = ":".join(namespaces + (pattern.name,)) if pattern.name else route
            found.append(Pattern(name, levels, pattern.callback))
    return found


ROUTE_PARAMETER = re.compile(r"<(?:\w+:)?(\w+)>")
REGEX_GROUP = re.compile(r"\((?:\?P<(\w+)>)?[^)]*\)")
ADMIN_MODEL = re.compile(r"^admin/(\w+)/(\w+)/")


def parameters(pattern: Pattern) -> list[str]:
    """The names of a pattern's parameters; unnamed regex groups are ``#0``, ``#1``..."""
    names, position = [], 0
    for level in pattern.pieces:
        if isinstance(level, RoutePattern):
            names += ROUTE_PARAMETER.findall(str(level))
        else:
            for match in REGEX_GROUP.finditer(str(level)):
                names.append(match[1] or f"#{position}")
                position += 0 if match[1] else 1
    return names


def fill(pattern: Pattern, values: dict) -> str:
    """The URL of a pattern with each parameter replaced by ``values[name]``."""
    url, position = "/", itertools.count()

    def group(match):
        return str(values[match[1] or f"#{next(position)}"])

    for level in pattern.pieces:
        text = str(level)
        if isinstance(level, RoutePattern):
            url += ROUTE_PARAMETER.sub(lambda match: str(values[match[1]]), text)
        else:
            text = text.removeprefix("^").removesuffix("$").removesuffix(r"\Z")
            url += REGEX_GROUP.sub(group, text)
    return url


@pytest.fixture
def world(make_respondent, midwife_a, researcher, data_manager, study, site_a):
    respondent = make_respondent("R01", identity={"full_name": "Dewi", "phone": "081234567890"})
    sheet = services.save_observation(
        respondent=respondent,
        timepoint="pre",
        user=midwife_a,
        observed_on=DELIVERY.replace(day=3),  # postpartum day 2, the pre-test day
        values={"feeds": 5, "urinations": 4},
    )
    session = MassageSession.objects.get(respondent=respondent, postpartum_day=2, slot="morning")
    attempt = {"username": "intruder", "ip_address": "192.0.2.1", "user_agent": "test"}
    admin_objects = {
        "auth.group": Group.objects.get(name="midwife"),
        "auth.user": midwife_a,
        "axes.accessattempt": AccessAttempt.objects.create(
            **attempt, get_data="", post_data="", failures_since_start=1
        ),
        "axes.accesslog": AccessLog.objects.create(**attempt),
        "axes.accessfailurelog": AccessFailureLog.objects.create(**attempt),
        "studies.site": site_a,
        "studies.study": study,
        "studies.respondent": respondent,
        "studies.massagesession": session,
        "studies.observation": sheet,
        "django_tasks_database.dbtaskresult": DBTaskResult.objects.create(
            args_kwargs={"args": [], "kwargs": {}},
            task_path="studies.tasks.preview_import",
            backend_name="default",
        ),
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
            study=study, user=data_manager, filename="k.csv", state=ImportJob.State.READY
        ).pk,
    }
    users = {"midwife": midwife_a, "researcher": researcher, "admin": data_manager}
    return values, admin_objects, users


def real_values(pattern: Pattern, values: dict, admin_objects: dict) -> dict:
    values = dict(values)
    model = ADMIN_MODEL.match("".join(str(level) for level in pattern.pieces))
    if model and f"{model[1]}.{model[2]}" in admin_objects:
        obj = admin_objects[f"{model[1]}.{model[2]}"]
        values["object_id"] = values["id"] = obj.pk
        values["#0"] = obj.pk
        history = getattr(obj, "history", None)
        if history is not None:
            values["#1"] = history.order_by("history_id").first().history_id
    return values


# --- sending one request, checked -------------------------------------------------------------


def row_counts_query() -> str:
    """Row counts of every table (clinical data, history, users, audit, admin log) in one
    query; sessions and axes' login records change with every sign-in and are left out."""
    tables = sorted(
        model._meta.db_table
        for model in apps.get_models(include_auto_created=True)
        if model._meta.app_label not in {"sessions", "axes"} and model._meta.managed
    )
    quote_name = connection.ops.quote_name
    return "SELECT " + ", ".join(f"(SELECT COUNT(*) FROM {quote_name(t)})" for t in tables)


def row_counts(sql: str) -> tuple[int, ...]:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return tuple(cursor.fetchone())


def half_written() -> list[str]:
    """Records an interrupted write would leave: a mother without all her planned sessions, a
    clinical record whose current version has no history row."""
    problems = []
    for respondent in Respondent.objects.select_related("study"):
        planned = respondent.study.sessions_planned(respondent.arm)
        if respondent.sessions.count() != planned:
            problems.append(f"{respondent.code} has not {planned} sessions")
    for model in (Respondent, MassageSession, Observation):
        recorded = model.history.filter(id=OuterRef("pk"), version=OuterRef("version"))
        missing = model.objects.exclude(Exists(recorded))
        problems += [
            f"{model.__name__} {pk} without its history"
            for pk in missing.values_list("pk", flat=True)
        ]
    return problems


class Walk:
    """Sends requests as each user, each in a savepoint rolled back afterwards, and collects
    what went wrong instead of stopping at the first fault."""

    def __init__(self, users: dict) -> None:
        self.counts_sql = row_counts_query()
        self.clients = {}
        self.cookies = {}
        for name in USERS:
            client = Client(headers={"accept-language": "en"}, raise_request_exception=True)
            if name in users:
                client.force_login(users[name])
            self.clients[name] = client
            self.cookies[name] = client.cookies.get(settings.SESSION_COOKIE_NAME)
        self.faults: list[str] = []
        self.sent = 0

    def send(self, user: str, method: str, url: str, body: str | None = None):
        """One request; returns the response (None after a server error)."""
        client = self.clients[user]
        # Every request starts signed in as this user: a logout or a sign-in is rolled back
        # below, and so must be the cookie it set.
        client.cookies = SimpleCookie()
        if self.cookies[user] is not None:
            client.cookies[settings.SESSION_COOKIE_NAME] = self.cookies[user].value
        self.sent += 1
        where = f"{method} {url[:200]} {('body ' + body[:200]) if body else ''} as {user}"
        with transaction.atomic():
            before = row_counts(self.counts_sql)
            try:
                if method == "GET":
                    response = client.get(url)
                else:
                    response = client.post(
                        url, body or "", content_type="application/x-www-form-urlencoded"
                    )
                if response.streaming:
                    b"".join(response.streaming_content)
            except Exception as error:  # an uncaught exception is what this test looks for
                self.faults.append(f"{where}: {type(error).__name__}: {error}"[:600])
                transaction.set_rollback(True)
                return None
            if response.status_code >= 500:
                self.faults.append(f"{where}: {response.status_code}")
                transaction.set_rollback(True)
                return None
            accepted = method == "POST" and (
                response.status_code in (301, 302, 303)
                or "attachment" in response.get("Content-Disposition", "")
            )
            if accepted:
                self.faults += [f"{where}: {problem}" for problem in half_written()]
            elif row_counts(self.counts_sql) != before:
                self.faults.append(f"{where}: refused ({response.status_code}) but wrote")
            transaction.set_rollback(True)
        return response

    def report(self) -> str:
        return f"{len(self.faults)} faults in {self.sent} requests:\n" + "\n".join(self.faults[:60])


# --- the walks --------------------------------------------------------------------------------


def test_hostile_url_parameters(world):
    values, admin_objects, users = world
    walk = Walk(users)
    for pattern in url_patterns():
        real = real_values(pattern, values, admin_objects)
        for name in parameters(pattern):
            for hostile in sample():
                url = fill(pattern, {**real, name: HOSTILE[hostile]})
                for user in USERS:
                    walk.send(user, "GET", url)
                walk.send("admin", "POST", url, "")
    assert walk.sent > 1000
    assert not walk.faults, walk.report()


def test_hostile_query_parameters(world):
    values, admin_objects, users = world
    walk = Walk(users)
    extras = itertools.cycle(HOSTILE)
    for pattern in url_patterns():
        url = fill(pattern, real_values(pattern, values, admin_objects))
        assert resolve(urlsplit(url).path).func is pattern.callback, url
        for user in USERS:
            for hostile in CORE:  # every name at once
                query = "&".join(f"{name}={HOSTILE[hostile]}" for name in QUERY_NAMES)
                walk.send(user, "GET", f"{url}?{query}")
            if url.startswith("/admin/"):
                if not pattern.name.endswith("_changelist"):
                    continue  # the admin's other pages read only a few names: sent at once
                names = ADMIN_QUERY_NAMES
            else:
                names = APP_QUERY_NAMES
            plain = walk.send(user, "GET", url)
            if plain is None or plain.status_code != 200:
                continue  # refused before the view reads anything
            # One name at a time, so that a refusal of one cannot hide another's fault.
            for name in names:
                walk.send(user, "GET", f"{url}?{name}={HOSTILE[next(extras)]}")
    assert walk.sent > 1000
    assert not walk.faults, walk.report()


class FormParser(HTMLParser):
    """The POST forms of a page: their action and their fields as the page filled them."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []
        self.form = None
        self.select = None
        self.textarea = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and (attrs.get("method") or "").lower() == "post":
            self.form = {"action": attrs.get("action") or "", "fields": {}, "files": False}
            self.forms.append(self.form)
        if self.form is None or not attrs.get("name"):
            return
        name = attrs["name"]
        fields = self.form["fields"]
        if tag == "input":
            kind = (attrs.get("type") or "text").lower()
            if kind == "file":
                self.form["files"] = True
            elif kind in ("checkbox", "radio"):
                if "checked" in attrs or name not in fields:
                    fields[name] = attrs.get("value") or "on"
            elif kind not in ("submit", "button", "image", "reset"):
                fields[name] = attrs.get("value") or ""
        elif tag == "select":
            self.select = name
            fields.setdefault(name, "")
        elif tag == "option" and self.select:
            if "selected" in attrs or not fields.get(self.select):
                fields[self.select] = attrs.get("value") or ""
        elif tag == "textarea":
            self.textarea = name
            fields[name] = ""

    def handle_data(self, data):
        if self.form is not None and self.textarea:
            self.form["fields"][self.textarea] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self.form = None
        elif tag == "select":
            self.select = None
        elif tag == "textarea":
            self.textarea = None


def test_hostile_form_fields(world):
    values, admin_objects, users = world
    walk = Walk(users)
    forms = {}
    for pattern in url_patterns():
        url = fill(pattern, real_values(pattern, values, admin_objects))
        for user in USERS:
            response = walk.send(user, "GET", url)
            if response is None or response.status_code != 200:
                continue
            if "text/html" not in response.get("Content-Type", ""):
                continue
            parser = FormParser()
            parser.feed(response.content.decode())
            for form in parser.forms:
                action = urljoin(url, form["action"] or url)
                fields = dict(form["fields"])
                if resolve(urlsplit(action).path).url_name != "set_language":
                    fields.setdefault("version", "")  # the hidden version, even where absent
                # A form shown to several users (sign-in, language, the midwife's forms that
                # the data manager also sees) is sent as the first of them.
                key = (urlsplit(action).path, tuple(sorted(fields)))
                forms.setdefault(key, (user, action, fields))
    assert len(forms) >= 20, sorted(forms)

    def post(user, action, fields, hostile_fields, hostile):
        body = "&".join(
            f"{quote(name)}={HOSTILE[hostile] if name in hostile_fields else quote(value)}"
            for name, value in fields.items()
        )
        walk.send(user, "POST", action, body)

    # A correction page first: its fields are filled with valid values, so one hostile field
    # at a time reaches the save. The add and history pages of the same form (the same field
    # names) then get the three values in all fields at once.
    walked = set()
    for user, action, fields in sorted(forms.values(), key=lambda form: "/change/" not in form[1]):
        for hostile in CORE:  # every field at once
            post(user, action, fields, set(fields), hostile)
        if frozenset(fields) in walked:
            continue
        walked.add(frozenset(fields))
        for field in fields:  # one field at a time, the others valid
            for hostile in ("superscript-two", "huge", next(EXTRAS)):
                post(user, action, fields, {field}, hostile)
    # About a thousand: the clinical records have no admin forms (read-only there).
    assert walk.sent > 900
    assert not walk.faults, walk.report()


# --- each fault found, pinned -----------------------------------------------------------------


def list_url(**query) -> str:
    return reverse("studies:respondent_list", args=["PIJAT"]) + (
        "?" + "&".join(f"{name}={value}" for name, value in query.items()) if query else ""
    )


@pytest.mark.parametrize("site", [quote("²"), quote("٥"), "99999999999999999999", "-1", "x"])
def test_a_site_filter_that_is_no_site_id_lists_every_mother(
    client, make_respondent, midwife_a, site, site_a
):
    make_respondent("R01")
    client.force_login(midwife_a)
    response = client.get(list_url(site=site))
    assert response.status_code == 200
    assert "R01" in response.content.decode()
    # A real id still filters.
    response = client.get(list_url(site=site_a.pk + 1000))
    assert response.status_code == 200
    assert "R01" not in response.content.decode()


@pytest.mark.parametrize(
    "url",
    [
        list_url(q="%00"),
        list_url(q="R%00"),
        "/studies/PIJAT/respondents/R01%00/",
        "/studies/PIJAT%00/respondents/",
        "/admin/studies/respondent/?q=%00",
    ],
)
def test_a_nul_character_is_refused_before_the_database(client, make_respondent, data_manager, url):
    make_respondent("R01")
    client.force_login(data_manager)
    response = client.get(url)
    assert response.status_code == 400
    assert "cannot be saved" in response.content.decode()


def test_a_nul_in_a_posted_field_is_refused_and_nothing_is_saved(
    client, make_respondent, midwife_a
):
    mother = make_respondent("R01")
    client.force_login(midwife_a)
    url = reverse("studies:respondent_withdraw", args=["PIJAT", "R01"])
    response = client.post(url, {"withdrawn_on": "2026-06-04", "withdrawal_reason": "a\x00b"})
    assert response.status_code == 400
    assert "cannot be saved" in response.content.decode()
    mother.refresh_from_db()
    assert mother.status == Respondent.Status.ENROLLED and mother.withdrawal_reason == ""


@pytest.mark.parametrize(
    "tail", ["abc/history/", "abc/history/1/", "{pk}/history/abc/", "99999999999999999999/history/"]
)
def test_admin_history_urls_with_an_impossible_id_answer_404(
    client, make_respondent, data_manager, tail
):
    mother = make_respondent("R01")
    client.force_login(data_manager)
    response = client.get(f"/admin/studies/respondent/{tail.format(pk=mother.pk)}")
    assert response.status_code == 404
    response = client.get(f"/admin/studies/respondent/{mother.pk}/history/")
    assert response.status_code == 200
    assert "R01" in response.content.decode()


def test_admin_ids_past_the_database_range_are_refused(client, site_a, data_manager):
    client.force_login(data_manager)
    response = client.get("/admin/studies/respondent/?site=-99999999999999999999")
    assert response.status_code == 302
    assert response["Location"].endswith("?e=1")
    url = f"/admin/studies/site/{site_a.pk}/change/"
    response = client.post(url, {"name": "Klinik Baru", "members": "99999999999999999999"})
    assert response.status_code == 200
    assert "not a valid value" in response.content.decode()
    site_a.refresh_from_db()
    assert site_a.name == "Klinik A"


@pytest.mark.parametrize(
    "target", ["foo", "studies:home", "//evil.example/", "https://evil.example/", "/x\r\ny"]
)
def test_next_that_is_not_a_path_on_this_site_goes_to_the_mother_after_the_save(
    client, make_respondent, midwife_a, target
):
    mother = make_respondent("R01")
    session = mother.sessions.order_by("planned_date", "pk").first()
    client.force_login(midwife_a)
    url = reverse(
        "studies:session_record", args=["PIJAT", "R01", session.postpartum_day, session.slot]
    )
    data = {"status": "missed", "notes": "ibu tidur", "version": session.version, "next": target}
    response = client.post(url, data)
    assert response.status_code == 302
    assert response["Location"] == reverse("studies:respondent_detail", args=["PIJAT", "R01"])
    session.refresh_from_db()
    assert session.status == MassageSession.Status.MISSED


def test_next_that_is_a_path_on_this_site_is_followed(client, make_respondent, midwife_a):
    mother = make_respondent("R01")
    session = mother.sessions.order_by("planned_date", "pk").first()
    client.force_login(midwife_a)
    url = reverse(
        "studies:session_record", args=["PIJAT", "R01", session.postpartum_day, session.slot]
    )
    data = {"status": "missed", "notes": "ibu tidur", "version": session.version, "next": "/"}
    response = client.post(url, data)
    assert response.status_code == 302 and response["Location"] == "/"


ENROLMENT = {
    "code": "P-016",
    "delivery_date": "2026-06-02",
    "enrolled_on": "2026-06-04",
    "age_years": "24",
    "parity": "1",
    "education": "secondary",
    "employment": "working",
    "consent_date": "2026-06-04",
    "on_start_day": "on",
    "breastfeeding": "on",
    "consent_obtained": "on",
}


@pytest.mark.parametrize("version", ["3", "0", "-1", "99999999999999999999", "abc"])
def test_a_version_on_the_enrolment_form_is_refused(client, study, site_a, midwife_a, version):
    client.force_login(midwife_a)
    exclusions = {f"exclusion_{i}": "on" for i, _ in enumerate(study.exclusion_criteria_list())}
    data = {**ENROLMENT, **exclusions, "site": site_a.pk, "version": version}
    response = client.post(reverse("studies:respondent_enrol", args=["PIJAT"]), data)
    assert response.status_code == 200
    assert "refers to a saved version that does not exist" in response.content.decode()
    assert not Respondent.objects.exists()
    # Without a version the same form enrols her.
    data["version"] = ""
    response = client.post(reverse("studies:respondent_enrol", args=["PIJAT"]), data)
    assert response.status_code == 302
    assert Respondent.objects.get().code == "P-016"


@pytest.mark.parametrize("version", ["-1", "99999999999999999999", "abc", "4.5"])
def test_an_odd_version_on_a_correction_is_refused(client, make_respondent, midwife_a, version):
    mother = make_respondent("R01")
    client.force_login(midwife_a)
    url = reverse("studies:observation_record", args=["PIJAT", "R01", "pre"])
    data = {"observed_on": "2026-06-02", "value_feeds": "6", "value_urinations": "5"}
    response = client.post(url, {**data, "version": version})
    assert response.status_code == 200
    assert "refers to a saved version that does not exist" in response.content.decode()
    assert not Observation.objects.filter(respondent=mother).exists()
