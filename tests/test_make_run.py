"""`make run`, the command a clinic runs on its laptop, serves production-safe over plain HTTP on
127.0.0.1: debug off (the app's own 404 page, never Django's debug page), a secret key generated
once into a 0600 file, static files by whitenoise, and a sign-in that works over http. Ctrl+C
leaves no process behind (the server and the task worker both end)."""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


class Browser:
    """A cookie-keeping HTTP client that follows no redirect, so each answer can be checked."""

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    def __init__(self, base: str):
        self.base = base
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.cookies), self._NoRedirect
        )

    def request(self, path: str, data: dict | None = None):
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        request = urllib.request.Request(
            self.base + path, data=body, headers={"Accept-Language": "en"}
        )
        try:
            response = self.opener.open(request, timeout=20)
        except urllib.error.HTTPError as error:
            response = error
        return response.status, dict(response.headers), response.read().decode("utf-8")


@pytest.mark.skipif(not Path("/usr/bin/make").exists(), reason="make is not installed")
def test_make_run_serves_production_safe_over_local_http(tmp_path):
    port = free_port()
    key_file = tmp_path / "secret_key"
    credentials = tmp_path / "credentials.txt"
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DJANGO_", "DATABASE_URL", "LANCAR_", "MAKE", "MFLAGS"))
    }
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'fresh.sqlite3'}",
        PORT=str(port),
        SECRET_KEY_FILE=str(key_file),
        CREDENTIALS_FILE=str(credentials),
        LANCAR_IMPORT_DIR=str(tmp_path / "imports"),
    )
    server = subprocess.Popen(
        ["make", "--no-print-directory", "run"],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: Ctrl+C reaches all of it
    )
    base = f"http://127.0.0.1:{port}"
    client = Browser(base)
    try:
        deadline = time.monotonic() + 180
        while True:
            assert server.poll() is None, server.stdout.read()
            try:
                status, _headers, login_page = client.request("/accounts/login/")
                break
            except OSError:
                assert time.monotonic() < deadline, "make run did not start serving"
                time.sleep(0.5)
        assert status == 200

        # The key was generated once, readable by its owner only.
        assert key_file.stat().st_mode & 0o777 == 0o600
        assert len(key_file.read_text().strip()) >= 50

        # Static files come from collectstatic's manifest, served (compressed) by whitenoise.
        stylesheet = re.search(r'href="(/static/css/lancar\.[0-9a-f]{12}\.css)"', login_page)
        assert stylesheet, "stylesheet is not the hashed copy of collectstatic"
        status, headers, css = client.request(stylesheet.group(1))
        assert status == 200 and ".session-progress" in css
        assert "max-age=315360000" in headers.get("Cache-Control", "")

        # Signing in works over plain http: the cookies are not HTTPS-only.
        rows = [line.split("\t") for line in credentials.read_text().splitlines()[1:]]
        username, _role, password = next(row for row in rows if row[1] == "midwife")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login_page).group(1)
        status, headers, _body = client.request(
            "/accounts/login/",
            {"csrfmiddlewaretoken": token, "username": username, "password": password},
        )
        assert (status, headers.get("Location")) == (302, "/")
        assert "Strict-Transport-Security" not in headers
        status, _headers, worklist = client.request("/")
        assert status == 200 and "Today's worklist" in worklist
        assert username in worklist

        # Debug is off: an unknown address answers with the app's own page.
        status, _headers, missing = client.request("/no-such-page/")
        assert status == 404
        assert "There is nothing here, or it is not in your sites." in missing
        assert "URLconf" not in missing and "DEBUG = True" not in missing
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGINT)  # what Ctrl+C in the terminal sends
        try:
            server.wait(timeout=60)
        finally:
            output = server.stdout.read()
    deadline = time.monotonic() + 30
    while group_alive(server.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    left_running = group_alive(server.pid)
    if left_running:
        os.killpg(server.pid, signal.SIGKILL)  # the test's own processes, not to outlive it
    assert not left_running, "a process of make run was left running\n" + output
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0, "the port is still served"


def test_local_http_is_for_this_machine_only_and_production_keeps_https(tmp_path):
    from clinic import local_secret
    from tests.test_settings import manage

    key_file = local_secret.ensure(tmp_path / "key")
    first = key_file.read_text()
    assert local_secret.ensure(key_file).read_text() == first  # generated once, then kept
    show = (
        "from django.conf import settings as s; "
        f"print(s.SECRET_KEY == open({str(key_file)!r}).read().strip(), "
        "s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT)"
    )
    local = manage(
        "shell",
        "-v0",
        "-c",
        show,
        DJANGO_DEBUG="0",
        LANCAR_LOCAL_HTTP="1",
        LANCAR_SECRET_KEY_FILE=str(key_file),
    )
    assert local.returncode == 0, local.stderr
    assert local.stdout.split() == ["True", "False", "False", "False"]

    # Without LANCAR_LOCAL_HTTP the same key file gives the HTTPS-only production settings.
    production = manage(
        "shell", "-v0", "-c", show, DJANGO_DEBUG="0", LANCAR_SECRET_KEY_FILE=str(key_file)
    )
    assert production.returncode == 0, production.stderr
    assert production.stdout.split() == ["True", "True", "True", "True"]

    # A server answering to a public name cannot switch HTTPS off with it.
    public = manage(
        "check",
        DJANGO_DEBUG="0",
        LANCAR_LOCAL_HTTP="1",
        DJANGO_SECRET_KEY="k" * 60,
        DJANGO_ALLOWED_HOSTS="lancar.example.org",
    )
    assert public.returncode != 0
    assert "LANCAR_LOCAL_HTTP is for a server on this machine only" in public.stderr
