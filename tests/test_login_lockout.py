"""Login protection a shared clinic Wi-Fi survives (issue 12, items 3 and 4): a username locks
after repeated failures from anywhere, an address only at a much higher count, one account's
success never clears another's failures, the client address comes from a configured number of
trusted proxies, and a huge or odd username reaches no server error. Real HTTP through the test
client at both login pages, on whichever database the suite runs."""

import logging

import pytest
from axes.models import AccessAttempt
from django.db.models import Sum
from django.test import RequestFactory

from studies.login_protection import TRUNCATION_MARKER, client_ip

from .conftest import PASSWORD

LOGIN_PAGES = ["/accounts/login/", "/admin/login/"]
CLINIC_WIFI = "198.51.100.7"
PROXY = "10.0.0.2"


@pytest.fixture(autouse=True)
def fast_hasher(settings):
    """Dozens of sign-ins per test: a fast hasher keeps them quick (users are created after
    this fixture, so their passwords use it too)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def colleague(make_user, site_a):
    """A second account at the same clinic; staff, so it can sign in at the admin page too."""
    return make_user("pengelola_a", "admin", [site_a])


def post_login(client, page, username, password, address=CLINIC_WIFI, **headers):
    return client.post(
        page, {"username": username, "password": password}, REMOTE_ADDR=address, **headers
    )


def failures(**filters) -> int:
    return (
        AccessAttempt.objects.filter(**filters).aggregate(total=Sum("failures_since_start"))[
            "total"
        ]
        or 0
    )


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


@pytest.mark.parametrize("page", LOGIN_PAGES)
def test_a_username_locks_after_failures_from_many_addresses(client, page, colleague, settings):
    for attempt in range(settings.AXES_FAILURE_LIMIT):
        response = post_login(client, page, "pengelola_a", "wrong", address=f"203.0.113.{attempt}")
        assert response.status_code in (200, 429)
    assert failures(username="pengelola_a") == settings.AXES_FAILURE_LIMIT
    # The right password from yet another address does not help while the username is locked.
    response = post_login(client, page, "pengelola_a", PASSWORD, address="192.0.2.200")
    assert response.status_code == 429
    assert "Account locked" in response.content.decode()
    assert not signed_in(client)


@pytest.mark.parametrize("page", LOGIN_PAGES)
def test_one_persons_typos_do_not_lock_a_colleague_on_the_same_address(
    client, page, midwife_a, colleague, settings
):
    for _attempt in range(settings.AXES_FAILURE_LIMIT + 2):
        post_login(client, page, "bidan_a", "typo")
    assert failures(username="bidan_a", ip_address=CLINIC_WIFI) == settings.AXES_FAILURE_LIMIT + 2
    response = post_login(client, page, "pengelola_a", PASSWORD)
    assert response.status_code == 302
    assert signed_in(client)
    assert client.session["_auth_user_id"] == str(colleague.pk)
    # bidan_a herself stays locked.
    other = client.__class__()
    response = post_login(other, page, "bidan_a", PASSWORD)
    assert response.status_code == 429
    assert not signed_in(other)


@pytest.mark.parametrize("page", LOGIN_PAGES)
def test_an_address_locks_only_at_the_much_higher_count(client, page, colleague, settings):
    settings.LANCAR_LOGIN_ADDRESS_FAILURE_LIMIT = 12
    # Many different usernames, each below its own limit: someone trying names from one address.
    for attempt in range(11):
        post_login(client, page, f"guess{attempt % 3}", "wrong")
    assert failures(ip_address=CLINIC_WIFI) == 11
    response = post_login(client, page, "pengelola_a", PASSWORD)
    assert response.status_code == 302, "11 failures must not lock the address yet"
    client.post("/accounts/logout/", REMOTE_ADDR=CLINIC_WIFI)
    post_login(client, page, "guess-last", "wrong")
    assert failures(ip_address=CLINIC_WIFI) == 12
    response = post_login(client, page, "pengelola_a", PASSWORD)
    assert response.status_code == 429
    assert "Account locked" in response.content.decode()
    assert not signed_in(client)
    # The account itself is not locked: from another address it signs in.
    response = post_login(client, page, "pengelola_a", PASSWORD, address="192.0.2.50")
    assert response.status_code == 302
    assert signed_in(client)


def test_the_address_limit_defaults_to_fifty_and_the_username_limit_to_five():
    from django.conf import settings

    assert settings.LANCAR_LOGIN_ADDRESS_FAILURE_LIMIT == 50
    assert settings.AXES_FAILURE_LIMIT == 5
    assert settings.LANCAR_TRUSTED_PROXY_COUNT == 0


@pytest.mark.parametrize("page", LOGIN_PAGES)
def test_a_success_never_clears_another_accounts_failures(
    client, page, midwife_a, colleague, settings
):
    limit = settings.AXES_FAILURE_LIMIT
    for _attempt in range(limit - 1):
        post_login(client, page, "bidan_a", "wrong")
    response = post_login(client.__class__(), page, "pengelola_a", PASSWORD)
    assert response.status_code == 302
    assert failures(username="bidan_a") == limit - 1
    # bidan_a's last allowed failure still locks her.
    post_login(client, page, "bidan_a", "wrong")
    assert failures(username="bidan_a") == limit
    response = post_login(client, page, "bidan_a", PASSWORD)
    assert response.status_code == 429
    assert not signed_in(client)


@pytest.mark.parametrize("page", LOGIN_PAGES)
def test_a_success_clears_the_usernames_own_failures(client, page, colleague, settings):
    limit = settings.AXES_FAILURE_LIMIT
    for _attempt in range(limit - 1):
        post_login(client, page, "pengelola_a", "wrong")
    assert post_login(client, page, "pengelola_a", PASSWORD).status_code == 302
    assert failures(username="pengelola_a") == 0
    client.post("/accounts/logout/", REMOTE_ADDR=CLINIC_WIFI)
    for _attempt in range(limit - 1):
        assert post_login(client, page, "pengelola_a", "wrong").status_code == 200
    assert post_login(client, page, "pengelola_a", PASSWORD).status_code == 302


# --- the client address behind reverse proxies ------------------------------------------------


def attempt_address(client, page, caplog, **headers) -> tuple[str, str]:
    """Fail once; return the address axes stored and the one the lancar.auth log wrote."""
    caplog.set_level(logging.INFO, logger="lancar")
    caplog.clear()
    response = post_login(client, page, "nobody", "wrong", address=PROXY, **headers)
    assert response.status_code == 200
    [attempt] = AccessAttempt.objects.all()
    [record] = [r for r in caplog.records if r.name == "lancar.auth"]
    logged = record.getMessage().rsplit("ip=", 1)[1]
    AccessAttempt.objects.all().delete()
    return attempt.ip_address, logged


@pytest.mark.parametrize("page", LOGIN_PAGES)
def test_x_forwarded_for_is_ignored_without_trusted_proxies(client, page, caplog, db):
    stored, logged = attempt_address(
        client, page, caplog, HTTP_X_FORWARDED_FOR="203.0.113.9, 192.0.2.1"
    )
    assert (stored, logged) == (PROXY, PROXY)


@pytest.mark.parametrize("page", LOGIN_PAGES)
def test_one_trusted_proxy_gives_the_right_most_hop(client, page, caplog, settings, db):
    settings.LANCAR_TRUSTED_PROXY_COUNT = 1
    # The client sent "6.6.6.6" itself; the proxy appended the address it saw.
    stored, logged = attempt_address(
        client, page, caplog, HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.9"
    )
    assert (stored, logged) == ("203.0.113.9", "203.0.113.9")


@pytest.mark.parametrize("page", LOGIN_PAGES)
def test_spoofed_left_most_values_do_not_escape_the_address_lock(client, page, settings, db):
    settings.LANCAR_TRUSTED_PROXY_COUNT = 1
    settings.LANCAR_LOGIN_ADDRESS_FAILURE_LIMIT = 6
    for attempt in range(6):
        post_login(
            client,
            page,
            f"guess{attempt}",
            "wrong",
            address=PROXY,
            HTTP_X_FORWARDED_FOR=f"192.0.2.{attempt}, 203.0.113.9",
        )
    assert list(AccessAttempt.objects.values_list("ip_address", flat=True).distinct()) == [
        "203.0.113.9"
    ]
    forwarded = "192.0.2.99, 203.0.113.9"
    response = post_login(
        client, page, "anyone", "wrong", address=PROXY, HTTP_X_FORWARDED_FOR=forwarded
    )
    assert response.status_code == 429


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (0, "203.0.113.9", PROXY),
        (1, "203.0.113.9", "203.0.113.9"),
        (1, "1.2.3.4,203.0.113.9", "203.0.113.9"),
        (2, "6.6.6.6, 203.0.113.9, 10.0.0.1", "203.0.113.9"),
        (2, "203.0.113.9", PROXY),  # fewer hops than proxies: not the configured path
        (1, "not-an-address", PROXY),
        (1, "", PROXY),
        (1, "2001:DB8::1", "2001:db8::1"),
    ],
)
def test_client_ip_counts_trusted_proxies_from_the_right(settings, proxies, forwarded, expected):
    settings.LANCAR_TRUSTED_PROXY_COUNT = proxies
    request = RequestFactory().get("/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected


# --- odd usernames (item 4) -------------------------------------------------------------------


@pytest.mark.parametrize("page", LOGIN_PAGES)
def test_a_huge_username_is_capped_stored_logged_and_still_locks(
    client, page, caplog, settings, db
):
    caplog.set_level(logging.INFO, logger="lancar")
    username = "u" * 300
    capped = "u" * 150 + TRUNCATION_MARKER
    for _attempt in range(settings.AXES_FAILURE_LIMIT):
        response = post_login(client, page, username, "wrong")
        assert response.status_code in (200, 429)
    [attempt] = AccessAttempt.objects.all()
    assert attempt.username == capped
    assert attempt.failures_since_start == settings.AXES_FAILURE_LIMIT
    messages = [r.getMessage() for r in caplog.records if r.name == "lancar.auth"]
    assert messages[0] == f"login failed: username={capped!r} ip={CLINIC_WIFI}"
    assert all("u" * 151 not in message for message in messages)
    response = post_login(client, page, username, "wrong")
    assert response.status_code == 429
    assert "Account locked" in response.content.decode()


@pytest.mark.parametrize("page", LOGIN_PAGES)
@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("bidan\x00a", "wrong"),
        ("bidan_a", "pass\x00word"),
        ("bid\x01an\x1b[31m", "pa\x7fss\x08"),
        ("\x00" * 300, "\x00"),
    ],
)
def test_control_characters_at_the_login_pages_reach_no_server_error(
    client, page, midwife_a, username, password
):
    response = post_login(client, page, username, password)
    body = response.content.decode()
    if "\x00" in username + password:
        # studies.safety refuses text with NUL anywhere in a request, before any view.
        assert response.status_code == 400
        assert "NUL character" in body
    else:
        # The form comes back with an error: a failed sign-in.
        assert response.status_code == 200
        assert "correct username and password" in body
        assert 'name="username"' in body
    assert not signed_in(client)
    # Whatever axes stored is text the database accepted, never with a NUL in it.
    assert all(
        "\x00" not in (stored or "")
        for stored in AccessAttempt.objects.values_list("username", flat=True)
    )
