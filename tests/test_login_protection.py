"""Login protection beyond the lockout itself (tests/test_views.py) and the deployment check
(tests/test_settings.py): the sign-in log, the 30-minute idle timeout and the password rules."""

import datetime
import logging
import subprocess
import sys
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from studies import services

from .conftest import PASSWORD

CLIENT_IP = "198.51.100.7"


def auth_records(caplog) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "lancar.auth"]


def login(client, username: str, password: str):
    return client.post(
        reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=CLIENT_IP
    )


# --- the sign-in log ------------------------------------------------------------------------


def test_successful_login_is_logged_with_username_and_address(client, caplog, midwife_a):
    caplog.set_level(logging.INFO, logger="lancar")
    response = login(client, "bidan_a", PASSWORD)
    assert response.status_code == 302
    [record] = auth_records(caplog)
    assert record.levelno == logging.INFO
    assert record.getMessage() == f"login succeeded: username='bidan_a' ip={CLIENT_IP}"
    assert PASSWORD not in caplog.text


@pytest.mark.parametrize("username", ["bidan_a", "nobody_here"])
def test_failed_login_is_logged_without_the_password(client, caplog, midwife_a, username):
    caplog.set_level(logging.INFO, logger="lancar")
    response = login(client, username, "Wrong-Secret-Guess-42")
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    [record] = auth_records(caplog)
    assert record.levelno == logging.WARNING
    assert record.getMessage() == f"login failed: username='{username}' ip={CLIENT_IP}"
    # Not in our log line, and not in any other logger's line either.
    assert "Wrong-Secret-Guess-42" not in caplog.text


def test_logout_is_logged(client, caplog, midwife_a):
    login(client, "bidan_a", PASSWORD)
    caplog.clear()
    response = client.post(reverse("logout"), REMOTE_ADDR=CLIENT_IP)
    assert response.status_code == 302
    assert [record.getMessage() for record in auth_records(caplog)] == [
        f"logout: username='bidan_a' ip={CLIENT_IP}"
    ]


def test_lockout_and_attempts_while_locked_are_logged(client, caplog, midwife_a, settings):
    caplog.set_level(logging.INFO, logger="lancar")
    for _attempt in range(settings.AXES_FAILURE_LIMIT):
        login(client, "bidan_a", "wrong-password")
    # The right password no longer helps while the account is locked.
    response = login(client, "bidan_a", PASSWORD)
    assert response.status_code == 429
    failed = f"login failed: username='bidan_a' ip={CLIENT_IP}"
    locked = f"account locked after repeated failures: username='bidan_a' ip={CLIENT_IP}"
    failed_locked = f"login failed (account locked): username='bidan_a' ip={CLIENT_IP}"
    # The last allowed failure locks the account; each attempt while locked is logged again.
    assert [record.getMessage() for record in auth_records(caplog)] == [
        *[failed] * (settings.AXES_FAILURE_LIMIT - 1),
        locked,
        failed_locked,
        locked,
        failed_locked,
    ]


def test_a_username_cannot_forge_a_second_log_line(client, caplog, midwife_a):
    caplog.set_level(logging.INFO, logger="lancar")
    login(client, "x\nlogin succeeded: username='pengelola'", "wrong-password")
    [record] = auth_records(caplog)
    assert "\n" not in record.getMessage()
    assert record.getMessage().startswith('login failed: username="x\\nlogin succeeded')


def test_the_lancar_log_reaches_the_console():
    """What an operator sees under gunicorn or systemd: the settings route ``lancar.*`` loggers
    to the console (stderr), at INFO."""
    result = subprocess.run(
        [
            sys.executable,
            str(Path(settings.BASE_DIR) / "manage.py"),
            "shell",
            "-v0",
            "-c",
            "import logging; logging.getLogger('lancar.auth').info('probe %s', 42)",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "INFO lancar.auth: probe 42" in result.stderr


# --- idle timeout ---------------------------------------------------------------------------


def test_session_ends_after_30_idle_minutes_and_activity_keeps_it(client, midwife_a):
    home = reverse("studies:home")
    start = datetime.datetime(2026, 6, 3, 8, 0, tzinfo=datetime.UTC)
    with time_machine.travel(start, tick=False) as traveller:
        response = login(client, "bidan_a", PASSWORD)
        assert response.status_code == 302
        assert response.cookies["sessionid"]["max-age"] == 30 * 60
        # Each request restarts the 30 minutes: a midwife working steadily stays signed in.
        for _request in range(3):
            traveller.shift(datetime.timedelta(minutes=29))
            response = client.get(home)
            assert response.status_code == 200
            assert "Today's worklist" in response.content.decode()
        traveller.shift(datetime.timedelta(minutes=30, seconds=1))
        response = client.get(home)
        assert response.status_code == 302
        assert response["Location"] == f"{reverse('login')}?next={home}"


def test_the_session_is_renewed_at_most_once_a_minute(client, midwife_a):
    """Renewing costs a write: pages within a minute of the last renewal do not write the
    session, the first one after it does (and so restarts the 30 minutes)."""
    home = reverse("studies:home")
    start = datetime.datetime(2026, 6, 3, 8, 0, tzinfo=datetime.UTC)
    with time_machine.travel(start, tick=False) as traveller:
        assert login(client, "bidan_a", PASSWORD).status_code == 302
        traveller.shift(datetime.timedelta(seconds=30))
        with CaptureQueriesContext(connection) as quiet:
            assert client.get(home).status_code == 200
        assert not [q for q in quiet if "UPDATE" in q["sql"] and "django_session" in q["sql"]]
        assert "sessionid" not in client.get(home).cookies
        traveller.shift(datetime.timedelta(seconds=31))
        with CaptureQueriesContext(connection) as renewing:
            response = client.get(home)
        assert [q for q in renewing if "UPDATE" in q["sql"] and "django_session" in q["sql"]]
        assert response.cookies["sessionid"]["max-age"] == 30 * 60
        # 30 minutes after that renewal, and not before, the session has ended.
        traveller.shift(datetime.timedelta(minutes=29, seconds=59))
        assert client.get(home).status_code == 200
        traveller.shift(datetime.timedelta(minutes=30, seconds=1))
        assert client.get(home).status_code == 302


def test_a_role_taken_away_takes_effect_on_the_next_request(client, midwife_a):
    """Roles are read with the user on every request, never kept in the session."""
    client.force_login(midwife_a)
    assert client.get(reverse("studies:home")).status_code == 200
    midwife_a.groups.clear()
    assert client.get(reverse("studies:home")).status_code == 403


def test_a_stray_session_cookie_creates_no_session(client, db):
    from django.contrib.sessions.models import Session

    client.cookies["sessionid"] = "no-such-session-key-0123456789abcdef"
    client.get(reverse("login"))
    assert not Session.objects.exists()


# --- password rules -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("Short-1", "This password is too short. It must contain at least 10 characters."),
        ("qwertyuiop", "This password is too common."),
        ("83920175462", "This password is entirely numeric."),
        ("bidan_siti", "The password is too similar to the username."),
    ],
)
def test_weak_passwords_are_refused(study, password, message):
    with pytest.raises(ValidationError) as caught:
        services.assign_role(
            username="bidan_siti", role="midwife", site_names=["Klinik A"], password=password
        )
    assert message in caught.value.messages
    assert not get_user_model().objects.filter(username="bidan_siti").exists()


def test_a_weak_password_does_not_replace_a_good_one(study, midwife_a):
    with pytest.raises(ValidationError):
        services.assign_role(
            username="bidan_a", role="midwife", site_names=["Klinik A"], password="qwertyuiop"
        )
    midwife_a.refresh_from_db()
    assert midwife_a.check_password(PASSWORD)
    assert not midwife_a.check_password("qwertyuiop")
