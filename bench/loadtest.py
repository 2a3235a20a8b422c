"""Load test: midwives recording sessions and sheets against gunicorn on PostgreSQL.

    make loadtest                          # 20 midwives for 60 seconds
    make loadtest LOAD_SECONDS=10          # the short run CI does
    .venv/bin/python -m bench.loadtest --users 20 --seconds 60 --workers 4

Each run drops and recreates the database named in LOAD_DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/lancar_load), migrates it, collects the static files, and
sets up one study with a site, a midwife and eight mothers per virtual user, spread over the
protocol (delivered 2 to 5 days ago: sessions due today, overdue ones, post-test sheets due
today). Then gunicorn serves the production settings (debug off) with several workers. Each
virtual midwife signs in once; when all have, the clock starts and she loops without pause:
from the worklist, open a form (a sheet or a session, in protocol order per mother, with
today's or an earlier date), post it, follow the redirect; about a quarter of her saves are
corrections (with a reason) of something she saved before, made from the mother's page. The
client plays the TLS-terminating proxy of a real deployment (it sends
``X-Forwarded-Proto: https``), so the secure-cookie, CSRF and HSTS settings are the
production ones.

Every save acknowledged with a 302 is remembered with a token written into its notes.
Afterwards the database must hold each acknowledged save exactly once: one history record
with that token and those values, the right number of history records per session and
sheet, and the current row equal to the last acknowledged save.

Prints latency per request type and writes the figures to artifacts/loadtest.json. Exits
non-zero on any 5xx, 4xx or connection error, on any save refused, on an acknowledged save
missing, duplicated or altered, on a save stored although the server refused it, or when
nothing was requested or saved.
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import json
import math
import os
import random
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from html import unescape
from html.parser import HTMLParser
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/lancar_load"
SOCKET_DATABASE_URL = "postgres://postgres@%2Fvar%2Frun%2Fpostgresql/{name}"
STUDY_CODE = "LOAD"
TOKEN_PREFIX = "load-"
SLOT_HOURS = {"morning": 8, "afternoon": 15, "evening": 19}


# --- the database -----------------------------------------------------------------------------


def _start_postgres() -> None:
    """Start the local cluster if it is installed but down (CI containers do not boot it)."""
    clusters = Path("/etc/postgresql")
    if clusters.is_dir():
        for version in sorted(path.name for path in clusters.iterdir()):
            subprocess.run(
                ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"],
                check=False,
                capture_output=True,
            )


def fresh_database(url: str) -> str:
    """Drop and recreate the database of ``url``; returns the URL to use (the Unix socket when
    the server asks a TCP login for a password)."""
    import psycopg
    from psycopg import sql

    name = urlsplit(url).path.lstrip("/")
    started = False
    deadline = time.monotonic() + 30
    while True:
        try:
            admin = psycopg.connect(url, dbname="postgres", autocommit=True, connect_timeout=5)
            break
        except psycopg.OperationalError as error:
            if "password" in str(error) and "%2F" not in url:
                url = SOCKET_DATABASE_URL.format(name=name)
                continue
            if not started:
                _start_postgres()
                started = True
            if time.monotonic() > deadline:
                raise SystemExit(f"PostgreSQL is not reachable: {error}") from error
            time.sleep(1)
    with admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return url


# --- the data the midwives start from ---------------------------------------------------------


@dataclass
class Mother:
    code: str
    tasks: list[tuple[str, str, dict]]  # in protocol order: kind, record, the date (and time)


@dataclass
class Midwife:
    index: int
    username: str
    password: str
    user_id: int
    mothers: list[Mother]


def set_up_study(users: int, mothers: int) -> tuple[list[Midwife], datetime.datetime]:
    """One study; per midwife a site of her own and ``mothers`` mothers spread over the stages
    of the protocol (delivered 2 to 5 days ago), so that her worklist holds sessions due today,
    overdue ones and post-test sheets due today, as a clinic's would. Each mother comes with
    what there is to record for her by now."""
    from django.db import transaction
    from django.utils import timezone

    from studies import services

    now = timezone.localtime().replace(tzinfo=None)
    today = now.date()
    sites = [f"Load site {index:02d}" for index in range(1, users + 1)]
    rng = random.Random(0)
    midwives = []
    with transaction.atomic():
        study = services.create_study(code=STUDY_CODE, title="Load test", site_names=sites)
        site_by_name = {site.name: site for site in study.sites.all()}
        protocol = study.protocol
        first_sheet, last_sheet = protocol.baseline, protocol.last_timepoint
        stages = range(protocol.enrolment_day, last_sheet.day + 1)
        for index, site_name in enumerate(sites, start=1):
            username = f"bidan{index:02d}"
            password = secrets.token_urlsafe(18)
            user, _created = services.assign_role(
                username=username, role="midwife", site_names=[site_name], password=password
            )
            planned = []
            for number in range(mothers):
                delivered = today - datetime.timedelta(days=stages[number % len(stages)])
                enrolled = delivered + datetime.timedelta(days=protocol.enrolment_day)
                respondent = services.enrol_respondent(
                    study=study,
                    site=site_by_name[site_name],
                    user=user,
                    code=f"L{index:02d}-{number + 1:03d}",
                    delivery_date=delivered,
                    enrolled_on=enrolled,
                    consent_date=enrolled,
                    age_years=rng.randint(18, 40),
                    parity=rng.randint(1, 4),
                    education=rng.choice(["basic", "secondary", "higher"]),
                    employment=rng.choice(["working", "not_working"]),
                    eligibility_confirmed=True,
                )
                tasks = [("sheet", first_sheet.key, {"observed_on": enrolled})]
                for session in respondent.sessions.order_by("postpartum_day", "pk"):
                    started = datetime.datetime.combine(
                        session.planned_date,
                        datetime.time(SLOT_HOURS[session.slot], rng.randint(0, 29)),
                    )
                    if started < now - datetime.timedelta(minutes=1):  # not one still ahead
                        values = {
                            "started_on": started.date(),
                            "started_time": started.strftime("%H:%M"),
                        }
                        record = f"{session.postpartum_day}/{session.slot}"
                        tasks.append(("session", record, values))
                post_on = delivered + datetime.timedelta(days=last_sheet.day)
                if post_on <= today:
                    tasks.append(("sheet", last_sheet.key, {"observed_on": post_on}))
                planned.append(Mother(respondent.code, tasks))
            midwives.append(Midwife(index, username, password, user.pk, planned))
    return midwives, now


# --- the server -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_gunicorn(port: int, workers: int, env: dict, log_path: Path) -> subprocess.Popen:
    log = log_path.open("w")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "clinic.wsgi",
            "--workers",
            str(workers),
            "--bind",
            f"127.0.0.1:{port}",
            "--no-control-socket",
            "--error-logfile",
            "-",
        ],
        cwd=BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited with {server.returncode}; see {log_path}")
        try:
            if Browser(port, Log()).request("ready", "GET", "/accounts/login/").status == 200:
                return server
        except OSError:
            pass
        time.sleep(0.5)
    server.terminate()
    raise SystemExit(f"gunicorn did not answer within 60 s; see {log_path}")


# --- the client -------------------------------------------------------------------------------


class Log:
    """What all the virtual midwives saw, shared between their threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[tuple[str, int | str, float, float]] = []  # kind, status, s, end
        self.acknowledged: list[Save] = []
        self.refused: set[str] = set()  # tokens of saves answered with anything but a redirect
        self.unanswered: set[str] = set()  # tokens of saves that got no answer at all
        self.messages: Counter[str] = Counter()
        self.failures: list[str] = []

    def request(self, kind: str, status: int | str, seconds: float) -> None:
        with self.lock:
            self.requests.append((kind, status, seconds, time.monotonic()))


@dataclass
class Response:
    status: int
    location: str
    body: str


class Browser:
    """One midwife's phone: its cookies, and the timing of every request it makes."""

    def __init__(self, port: int, log: Log) -> None:
        self.port = port
        self.origin = f"https://127.0.0.1:{port}"
        self.log = log
        self.cookies: dict[str, str] = {}

    def request(self, kind: str, method: str, path: str, fields: dict | None = None) -> Response:
        headers = {
            "Host": f"127.0.0.1:{self.port}",
            # What the TLS-terminating proxy in front of gunicorn adds in production.
            "X-Forwarded-Proto": "https",
            "Accept-Language": "id",
            "User-Agent": "lancar-loadtest",
        }
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        body = None
        if fields is not None:
            body = urlencode(fields).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Origin"] = self.origin
            headers["Referer"] = self.origin + path
        started = time.perf_counter()
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            connection.request(method, path, body, headers)
            answer = connection.getresponse()
            content = answer.read()
        except (OSError, http.client.HTTPException):
            self.log.request(kind, "error", time.perf_counter() - started)
            raise
        finally:
            connection.close()
        self.log.request(kind, answer.status, time.perf_counter() - started)
        for header in answer.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                if morsel["max-age"] == "0" or not morsel.value:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.coded_value
        location = answer.getheader("Location", "")
        if location:
            parts = urlsplit(location)
            location = parts.path + (f"?{parts.query}" if parts.query else "")
        return Response(answer.status, location, content.decode("utf-8", "replace"))


class FormReader(HTMLParser):
    """The fields a browser would submit for each form of a page, with their current values."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[dict[str, str]] = []
        self._fields: dict[str, str] | None = None
        self._textarea: str | None = None
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self._fields = {}
            if (attrs.get("method") or "").lower() == "post":
                self.forms.append(self._fields)
            return
        name = attrs.get("name")
        if self._fields is None:
            return
        if tag == "input" and name:
            kind = (attrs.get("type") or "text").lower()
            if kind in ("submit", "button", "reset", "image", "file"):
                return
            if kind in ("checkbox", "radio") and "checked" not in attrs:
                return
            self._fields[name] = attrs.get("value") or ("on" if kind == "checkbox" else "")
        elif tag == "textarea" and name:
            self._textarea = name
            self._fields[name] = ""
        elif tag == "select" and name:
            self._select = name
        elif (
            tag == "option"
            and self._select
            and ("selected" in attrs or self._select not in self._fields)
        ):
            self._fields[self._select] = attrs.get("value") or ""

    def handle_data(self, data):
        if self._textarea and self._fields is not None:
            self._fields[self._textarea] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self._fields = None
        elif tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None


def form_fields(page: str, marker: str) -> dict[str, str]:
    """The POST form of ``page`` that has a field named ``marker``."""
    reader = FormReader()
    reader.feed(page)
    for fields in reader.forms:
        if marker in fields and "csrfmiddlewaretoken" in fields:
            return dict(fields)
    raise LookupError(f"no form with a {marker} field")


ERROR_TEXT = re.compile(r'class="[^"]*(?:invalid-feedback|alert-danger)[^"]*"[^>]*>(.*?)</', re.S)


def error_messages(page: str) -> list[str]:
    return [unescape(re.sub(r"<[^>]+>", "", text)).strip() for text in ERROR_TEXT.findall(page)]


@dataclass
class Save:
    """A save the server acknowledged with a redirect."""

    user_id: int
    kind: str  # "session" or "sheet"
    respondent: str
    record: str  # "<day>/<slot>" or the sheet's time point
    token: str
    correction: bool
    values: dict = field(default_factory=dict)
    reason: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.respondent, self.record)


class VirtualMidwife:
    def __init__(self, midwife: Midwife, port: int, log: Log, corrections: float) -> None:
        self.midwife = midwife
        self.browser = Browser(port, log)
        self.log = log
        self.corrections = corrections
        self.rng = random.Random(midwife.index)
        self.pending = {mother.code: deque(mother.tasks) for mother in midwife.mothers}
        self.saved: dict[tuple[str, str, str], Save] = {}
        self.count = 0

    def run(self, signed_in: threading.Barrier, window: dict) -> None:
        """Sign in, wait for the others (so that booting workers and password hashing stay out
        of the figures), then save until the window closes."""
        try:
            try:
                ready = self.sign_in()
            finally:
                signed_in.wait()
            while ready and time.monotonic() < window["deadline"]:
                try:
                    self.step()
                except (OSError, http.client.HTTPException):
                    time.sleep(0.2)  # already counted as an error; carry on like a person would
        except Exception as error:  # reported at the end, and it fails the run
            with self.log.lock:
                self.log.failures.append(f"{self.midwife.username}: {error!r}")

    def sign_in(self) -> bool:
        page = self.browser.request("GET login", "GET", "/accounts/login/")
        fields = form_fields(page.body, "username")
        fields.update(username=self.midwife.username, password=self.midwife.password)
        answer = self.browser.request("POST login", "POST", "/accounts/login/", fields)
        if answer.status != 302:
            with self.log.lock:
                self.log.failures.append(f"{self.midwife.username}: login answered {answer.status}")
            return False
        self.browser.request("GET worklist", "GET", answer.location)
        return True

    def step(self) -> None:
        waiting = [code for code, tasks in self.pending.items() if tasks]
        if self.saved and (not waiting or self.rng.random() < self.corrections):
            self.correct(self.saved[self.rng.choice(list(self.saved))])
        else:
            respondent = self.rng.choice(waiting)
            kind, record, values = self.pending[respondent].popleft()
            self.save(kind, respondent, record, values, correction=False)

    def correct(self, previous: Save) -> None:
        """A correction from the mother's page: same date and time, other values, a reason."""
        self.browser.request(
            "GET respondent", "GET", f"/studies/{STUDY_CODE}/respondents/{previous.respondent}/"
        )
        when = {
            name: value
            for name, value in previous.values.items()
            if name in ("started_on", "started_time", "observed_on")
        }
        self.save(previous.kind, previous.respondent, previous.record, when, correction=True)

    def save(self, kind: str, respondent: str, record: str, when: dict, correction: bool) -> None:
        """Open the form, fill it in, post it, follow the redirect; remember what was
        acknowledged."""
        self.count += 1
        token = f"{TOKEN_PREFIX}{self.midwife.index:02d}-{self.count:05d}"
        base = f"/studies/{STUDY_CODE}/respondents/{respondent}"
        path = f"{base}/sessions/{record}/" if kind == "session" else f"{base}/sheets/{record}/"
        values = dict(when, notes=token)
        if kind == "session":
            values.update(status="done", duration_minutes=self.rng.randint(15, 20))
        elif record == "pre":
            values.update(
                value_feeds=self.rng.randint(4, 7), value_urinations=self.rng.randint(4, 5)
            )
        else:
            values.update(
                value_feeds=self.rng.randint(8, 17), value_urinations=self.rng.randint(7, 14)
            )
        reason = f"Koreksi {token}" if correction else ""
        label = f"{kind}{' correction' if correction else ''}"
        opened = self.browser.request(
            f"GET {kind} form", "GET", path + ("" if correction else "?next=" + quote("/"))
        )
        if opened.status != 200:
            return
        fields = form_fields(opened.body, "notes")
        fields.update({name: str(value) for name, value in values.items()})
        if correction:
            fields["reason"] = reason
        try:
            answer = self.browser.request(f"POST {label}", "POST", path, fields)
        except (OSError, http.client.HTTPException):
            with self.log.lock:
                self.log.unanswered.add(token)
            raise
        if answer.status != 302:
            with self.log.lock:
                self.log.refused.add(token)
                for message in error_messages(answer.body)[:1] or [f"HTTP {answer.status}"]:
                    self.log.messages[f"POST {label}: {message[:160]}"] += 1
            return
        done = Save(
            self.midwife.user_id, kind, respondent, record, token, correction, values, reason
        )
        self.saved[done.key] = done
        with self.log.lock:
            self.log.acknowledged.append(done)
        self.browser.request(
            "GET worklist" if not correction else "GET respondent", "GET", answer.location
        )


# --- checking the database afterwards ---------------------------------------------------------


def verify(log: Log) -> dict:
    """Every acknowledged save is in the database exactly once, with its values."""
    from django.utils import timezone

    from studies.models import MassageSession, Observation, Respondent

    respondents = dict(Respondent.objects.filter(study__code=STUDY_CODE).values_list("pk", "code"))
    history = {"session": defaultdict(list), "sheet": defaultdict(list)}
    per_record = {"session": Counter(), "sheet": Counter()}
    current = {}
    for row in MassageSession.history.filter(respondent_id__in=respondents):
        record = (respondents[row.respondent_id], f"{row.postpartum_day}/{row.slot}")
        per_record["session"][record] += 1
        if row.notes.startswith(TOKEN_PREFIX):
            history["session"][row.notes].append(row)
    for row in Observation.history.filter(respondent_id__in=respondents):
        record = (respondents[row.respondent_id], row.timepoint)
        per_record["sheet"][record] += 1
        if row.notes.startswith(TOKEN_PREFIX):
            history["sheet"][row.notes].append(row)
    rows = Counter()
    for row in MassageSession.objects.filter(respondent_id__in=respondents):
        record = ("session", respondents[row.respondent_id], f"{row.postpartum_day}/{row.slot}")
        rows[record] += 1
        current[record] = row
    for row in Observation.objects.filter(respondent_id__in=respondents):
        record = ("sheet", respondents[row.respondent_id], row.timepoint)
        rows[record] += 1
        current[record] = row

    def differences(save: Save, row) -> list[str]:
        expected = {"notes": save.token}
        if save.kind == "session":
            day, slot = save.record.split("/")
            started = datetime.datetime.combine(
                save.values["started_on"],
                datetime.time.fromisoformat(save.values["started_time"]),
            )
            expected.update(
                postpartum_day=int(day),
                slot=slot,
                status="done",
                started_at=timezone.make_aware(started),
                duration_minutes=save.values["duration_minutes"],
                performed_by_id=save.user_id,
            )
        else:
            expected.update(
                timepoint=save.record,
                observed_on=save.values["observed_on"],
                values={
                    name.removeprefix("value_"): value
                    for name, value in save.values.items()
                    if name.startswith("value_")
                },
            )
        found = {name: getattr(row, name) for name in expected}
        if respondents.get(row.respondent_id) != save.respondent:
            found["respondent"] = respondents.get(row.respondent_id)
            expected["respondent"] = save.respondent
        return [
            f"{name} {found[name]!r} != {value!r}"
            for name, value in expected.items()
            if found[name] != value
        ]

    problems: list[str] = []
    bad_tokens: set[str] = set()
    missing = duplicated = altered = 0
    last: dict[tuple[str, str, str], Save] = {}
    saves_per_record: Counter = Counter()
    for save in log.acknowledged:
        last[save.key] = save
        saves_per_record[save.key] += 1
        found = history[save.kind].get(save.token, [])
        if len(found) != 1:
            bad_tokens.add(save.token)
            if found:
                duplicated += 1
            else:
                missing += 1
            problems.append(f"{save.token}: {len(found)} history records of this save")
            if not found:
                continue
        row = found[0]
        wrong = differences(save, row)
        if row.history_user_id != save.user_id:
            wrong.append(f"history user {row.history_user_id} != {save.user_id}")
        if (row.history_change_reason or "") != save.reason:
            wrong.append(f"reason {row.history_change_reason!r} != {save.reason!r}")
        if wrong:
            altered += 1
            bad_tokens.add(save.token)
            problems.append(f"{save.token}: " + "; ".join(wrong))
    for key, save in last.items():
        row = current.get(key)
        wrong = ["no row"] if row is None else differences(save, row)
        if wrong:
            altered += 1
            bad_tokens.add(save.token)
            problems.append(f"{save.token}: the current {save.kind} row: " + "; ".join(wrong))
    duplicated_rows = [key for key, count in rows.items() if count > 1]
    if duplicated_rows:
        duplicated += len(duplicated_rows)
        problems.append(f"more than one row: {duplicated_rows[:5]}")

    # Saves without an acknowledgement in the database: a save that got no answer may or may
    # not have landed; one the server refused must not have.
    acknowledged = {save.token for save in log.acknowledged}
    unacknowledged = {
        token: (kind, rows_[0])
        for kind, by_token in history.items()
        for token, rows_ in by_token.items()
        if token not in acknowledged
    }
    saved_though_refused = sorted(set(unacknowledged) & log.refused)
    unanswered_landed = sorted(set(unacknowledged) & log.unanswered)
    stray = sorted(set(unacknowledged) - log.refused - log.unanswered)
    if saved_though_refused:
        problems.append(f"stored although refused: {', '.join(saved_though_refused[:5])}")
    if stray:
        problems.append(f"stored but never sent: {', '.join(stray[:5])}")

    # History records per session and sheet: a session has its planning record plus one per
    # save, a sheet one per save.
    landed_per_record: Counter = Counter()
    for kind, row in (unacknowledged[token] for token in unanswered_landed):
        record = f"{row.postpartum_day}/{row.slot}" if kind == "session" else row.timepoint
        landed_per_record[(kind, respondents[row.respondent_id], record)] += 1
    for kind, counts in per_record.items():
        for (respondent, record), count in counts.items():
            key = (kind, respondent, record)
            expected = saves_per_record[key] + landed_per_record[key] + (kind == "session")
            if count != expected:
                duplicated += count > expected
                missing += count < expected
                problems.append(
                    f"{kind} {respondent} {record}: {count} history records, expected {expected}"
                )

    def counted(kind: str, correction: bool) -> int:
        return sum(s.kind == kind and s.correction == correction for s in log.acknowledged)

    return {
        "acknowledged": len(log.acknowledged),
        "sessions": counted("session", False),
        "session_corrections": counted("session", True),
        "sheets": counted("sheet", False),
        "sheet_corrections": counted("sheet", True),
        "verified": len(acknowledged - bad_tokens),
        "missing": missing,
        "duplicated": duplicated,
        "altered": altered,
        "refused": len(log.refused),
        "saved_though_refused": len(saved_though_refused),
        "unanswered": len(log.unanswered),
        "unanswered_landed": len(unanswered_landed),
        "stray": len(stray),
        "problems": problems[:50],
    }


# --- the report -------------------------------------------------------------------------------


def percentile(sorted_values: list[float], share: float) -> float:
    """Nearest-rank percentile."""
    return sorted_values[max(0, math.ceil(share * len(sorted_values)) - 1)]


def figures(requests: list[tuple[str, int | str, float, float]], seconds: float) -> dict:
    def summary(entries) -> dict:
        timings = sorted(entry[2] * 1000 for entry in entries)
        return {
            "requests": len(entries),
            "throughput_rps": round(len(entries) / seconds, 2),
            "p50_ms": round(percentile(timings, 0.50), 1),
            "p95_ms": round(percentile(timings, 0.95), 1),
            "max_ms": round(timings[-1], 1),
            "status_counts": dict(sorted(Counter(str(entry[1]) for entry in entries).items())),
        }

    by_kind = defaultdict(list)
    for entry in requests:
        by_kind[entry[0]].append(entry)
    return {
        "all": summary(requests) if requests else {"requests": 0},
        "by_type": {kind: summary(entries) for kind, entries in sorted(by_kind.items())},
    }


def print_table(result: dict) -> None:
    header = (
        f"{'request':<26}{'count':>7}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}  status"
    )
    print(header)
    print("-" * len(header))
    rows = list(result["by_type"].items()) + [("all", result["all"])]
    for kind, row in rows:
        statuses = " ".join(f"{status}×{count}" for status, count in row["status_counts"].items())
        print(
            f"{kind:<26}{row['requests']:>7}{row['throughput_rps']:>8.1f}{row['p50_ms']:>9.1f}"
            f"{row['p95_ms']:>9.1f}{row['max_ms']:>9.1f}  {statuses}"
        )


def _shown(path: Path) -> Path:
    return path.relative_to(BASE_DIR) if path.is_relative_to(BASE_DIR) else path


# --- the run ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=20, help="concurrent midwives (20)")
    parser.add_argument("--seconds", type=float, default=60, help="length of the run (60)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (4)")
    parser.add_argument("--mothers", type=int, default=8, help="mothers per midwife (8)")
    parser.add_argument(
        "--corrections", type=float, default=0.25, help="share of saves that are corrections"
    )
    parser.add_argument(
        "--database-url", default=os.environ.get("LOAD_DATABASE_URL", DEFAULT_DATABASE_URL)
    )
    parser.add_argument("--output", type=Path, default=BASE_DIR / "artifacts" / "loadtest.json")
    args = parser.parse_args(argv)

    database_url = fresh_database(args.database_url)
    env = dict(
        os.environ,
        DATABASE_URL=database_url,
        DJANGO_SETTINGS_MODULE="clinic.settings",
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
    )
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    print(f"database {database_url.rsplit('/', 1)[-1]}: migrating, collecting static files")
    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    started = time.perf_counter()
    midwives, now = set_up_study(args.users, args.mothers)
    print(
        f"set up {args.users} midwives × {args.mothers} mothers in "
        f"{time.perf_counter() - started:.1f} s; it is {now:%Y-%m-%d %H:%M} in the clinic"
    )
    from django.db import connections

    connections.close_all()

    args.output.parent.mkdir(parents=True, exist_ok=True)
    port = free_port()
    server_log = args.output.with_name("loadtest-gunicorn.log")
    server = start_gunicorn(port, args.workers, env, server_log)
    log = Log()
    try:
        users = [VirtualMidwife(midwife, port, log, args.corrections) for midwife in midwives]
        print(
            f"gunicorn on 127.0.0.1:{port} with {args.workers} workers; "
            f"{args.users} midwives for {args.seconds:g} s"
        )
        window: dict[str, float] = {}

        def open_window() -> None:
            window["start"] = time.monotonic()
            window["deadline"] = window["start"] + args.seconds

        signed_in = threading.Barrier(len(users), action=open_window)
        began = datetime.datetime.now(datetime.UTC)
        threads = [threading.Thread(target=user.run, args=(signed_in, window)) for user in users]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - window["start"]
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()

    signing_in = [entry for entry in log.requests if entry[3] <= window["start"]]
    timed = [entry for entry in log.requests if entry[3] > window["start"]]
    result = {
        "users": args.users,
        "seconds": args.seconds,
        "elapsed_seconds": round(elapsed, 2),  # until the last save under way had finished
        "workers": args.workers,
        "mothers_per_midwife": args.mothers,
        "database": "postgresql",
        "started": began.isoformat(timespec="seconds"),
        **figures(timed, elapsed),
        "sign_in": figures(signing_in, elapsed)["all"],  # its req/s means nothing
    }
    result["writes"] = verify(log)
    print()
    sign_in = result["sign_in"]
    if signing_in:
        print(
            f"sign-in before the timed window: {sign_in['requests']} requests, "
            f"p50 {sign_in['p50_ms']:.0f} ms, max {sign_in['max_ms']:.0f} ms"
        )
    if timed:
        print_table(result)
    writes = result["writes"]
    print(
        f"\nsaves acknowledged {writes['acknowledged']} (sessions {writes['sessions']}, "
        f"session corrections {writes['session_corrections']}, sheets {writes['sheets']}, "
        f"sheet corrections {writes['sheet_corrections']}); in the database exactly once: "
        f"{writes['verified']}; missing {writes['missing']}, duplicated {writes['duplicated']}, "
        f"altered {writes['altered']}; refused by the server {writes['refused']}, "
        f"unanswered {writes['unanswered']}"
    )
    for message, count in log.messages.most_common(5):
        print(f"  refused ×{count}: {message}")
    for problem in writes["problems"][:10]:
        print(f"  problem: {problem}")

    statuses = Counter(str(entry[1]) for entry in log.requests)
    failures = list(log.failures)
    server_errors = sum(count for status, count in statuses.items() if status.startswith("5"))
    if server_errors:
        failures.append(f"{server_errors} responses with a 5xx status")
    client_errors = sum(count for status, count in statuses.items() if status.startswith("4"))
    if client_errors:
        # Every page the script opens is one the midwife may open: a 403 here is a session or
        # CSRF token one worker did not recognise.
        failures.append(f"{client_errors} responses with a 4xx status")
    if writes["refused"]:
        # The script enters only valid data on records nobody else edits.
        failures.append(f"{writes['refused']} saves refused (the form came back with an error)")
    if statuses.get("error"):
        failures.append(f"{statuses['error']} requests without an answer")
    if not timed:
        failures.append("no requests were made")
    if not writes["acknowledged"]:
        failures.append("no save was acknowledged")
    if writes["missing"] or writes["duplicated"] or writes["altered"]:
        failures.append("acknowledged saves are missing, duplicated or altered")
    if writes["saved_though_refused"] or writes["stray"]:
        failures.append("saves the server refused (or never received) are in the database")
    result["failures"] = failures
    result["ok"] = not failures
    args.output.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"\nfigures written to {_shown(args.output)}")
    for failure in failures:
        print(f"FAIL: {failure}")
    if failures and server_log.exists():
        print(f"(gunicorn's log: {_shown(server_log)})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
