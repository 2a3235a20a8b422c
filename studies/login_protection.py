"""Login protection that a shared clinic Wi-Fi survives, plugged into django-axes.

Everyone at one clinic reaches the server from one address, so axes' single limit for both the
username and the address would let one midwife's typos lock out her colleagues. Here:

- a username is locked after ``AXES_FAILURE_LIMIT`` failures from anywhere;
- an address is locked only after ``LANCAR_LOGIN_ADDRESS_FAILURE_LIMIT`` failures (much higher),
  whichever usernames they tried;
- a successful sign-in clears that username's failures only, never another account's;
- the client address comes from ``REMOTE_ADDR``, or behind ``LANCAR_TRUSTED_PROXY_COUNT``
  reverse proxies from the ``X-Forwarded-For`` entry the outermost trusted proxy appended: the
  entries to its left were sent by the client and prove nothing;
- the username axes stores (and ``lancar.auth`` logs) is capped, so a 300-character username
  neither overflows axes' 255-character column nor floods the log.

The settings point axes at this module: ``AXES_HANDLER``, ``AXES_CLIENT_IP_CALLABLE`` and
``AXES_USERNAME_CALLABLE``.
"""

from __future__ import annotations

import ipaddress

from axes.attempts import get_cool_off_threshold
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import QuerySet, Sum
from django.http import HttpRequest

# Django's usernames are at most 150 characters: anything longer is kept to that and marked, so
# it is never mistaken for a real account and still counts towards its own lockout.
USERNAME_KEPT_CHARACTERS = 150
TRUNCATION_MARKER = "…[truncated]"


def capped_username(username: object) -> str | None:
    """The attempted username as it is stored and logged: NUL spelled out (PostgreSQL refuses
    it in text) and at most ``USERNAME_KEPT_CHARACTERS`` characters plus a marker."""
    if username is None:
        return None
    text = str(username).replace("\x00", "\\x00")
    if len(text) > USERNAME_KEPT_CHARACTERS:
        return text[:USERNAME_KEPT_CHARACTERS] + TRUNCATION_MARKER
    return text


def attempted_username(request: HttpRequest, credentials: dict | None = None) -> str | None:
    """``AXES_USERNAME_CALLABLE``: axes' own rule (credentials first, then the posted form),
    capped."""
    field = get_user_model().USERNAME_FIELD
    if credentials:
        return capped_username(credentials.get(field))
    data = getattr(request, "data", None) or request.POST
    return capped_username(data.get(field))


def _valid_address(value: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address((value or "").strip()))
    except ValueError:
        return None


def client_ip(request: HttpRequest | None) -> str | None:
    """``AXES_CLIENT_IP_CALLABLE``, also used by the ``lancar.auth`` log: the address the
    lockout counts against.

    With no trusted proxy (the default) it is the connection's own address; any
    ``X-Forwarded-For`` header is ignored, since anyone can send one. With N trusted proxies
    each appends the address it received the request from, so the client is the N-th entry from
    the right. A header with fewer entries, or an entry that is not an address, means the
    request did not come the configured way: the connection's address is used then.
    """
    if request is None:
        return None
    remote = _valid_address(request.META.get("REMOTE_ADDR"))
    proxies = settings.LANCAR_TRUSTED_PROXY_COUNT
    if proxies <= 0:
        return remote
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    hops = [hop for hop in hops if hop]
    if len(hops) < proxies:
        return remote
    return _valid_address(hops[-proxies]) or remote


def _failures(attempts: QuerySet) -> int:
    return attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0


class LancarAxesHandler(AxesDatabaseHandler):
    """Axes' database handler with a limit per username and a separate, higher limit per
    address; a success resets the username's own failures only."""

    def _recent_attempts(self, request: HttpRequest) -> QuerySet:
        return AccessAttempt.objects.filter(attempt_time__gte=get_cool_off_threshold(request))

    def get_failures(self, request, credentials: dict | None = None) -> int:
        """The count axes compares with ``AXES_FAILURE_LIMIT``: the username's failures within
        the cool-off time, or the limit itself once the address has reached its own limit."""
        recent = self._recent_attempts(request)
        username = get_client_username(request, credentials)
        by_username = _failures(recent.filter(username=username)) if username is not None else 0
        address = getattr(request, "axes_ip_address", None)
        if address is not None:
            by_address = _failures(recent.filter(ip_address=address))
            if by_address >= settings.LANCAR_LOGIN_ADDRESS_FAILURE_LIMIT:
                return max(by_username, settings.AXES_FAILURE_LIMIT)
        return by_username

    def reset_user_attempts(self, request: HttpRequest, credentials: dict | None = None) -> int:
        """On success (``AXES_RESET_ON_SUCCESS``) forget this username's failures; axes' own
        rule also deletes every failure from the same address, other accounts' included."""
        username = get_client_username(request, credentials)
        if username is None:
            return 0
        count, _deleted = AccessAttempt.objects.filter(username=username).delete()
        return count
