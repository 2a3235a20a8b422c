"""Every sign-in, failed sign-in, sign-out and lockout goes to the ``lancar.auth`` log with the
username and the client's address (never the password), so a data manager can see who
signed in and spot someone guessing passwords.

Imported from ``StudiesConfig.ready()``: the receivers connect when the app is ready.
"""

from __future__ import annotations

import logging

from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest

from .login_protection import capped_username
from .login_protection import client_ip as lockout_client_ip

logger = logging.getLogger("lancar.auth")


def client_ip(request: HttpRequest | None) -> str:
    """The address the lockout counts against (the same function axes calls), or "-" outside a
    request."""
    return lockout_client_ip(request) or "-"


# Usernames are typed by whoever is at the form: %r keeps a newline or a control character in
# one from forging a second log line, and capped_username keeps a huge one from flooding the log.


@receiver(user_logged_in, dispatch_uid="lancar.auth.logged_in")
def log_login(sender, request, user, **kwargs) -> None:
    logger.info("login succeeded: username=%r ip=%s", user.get_username(), client_ip(request))


@receiver(user_login_failed, dispatch_uid="lancar.auth.login_failed")
def log_login_failure(sender, credentials, request=None, **kwargs) -> None:
    # Django has already masked the password in ``credentials``; only the username is logged.
    username = capped_username(credentials.get("username", ""))
    locked = " (account locked)" if getattr(request, "axes_locked_out", False) else ""
    logger.warning("login failed%s: username=%r ip=%s", locked, str(username), client_ip(request))


@receiver(user_logged_out, dispatch_uid="lancar.auth.logged_out")
def log_logout(sender, request, user, **kwargs) -> None:
    username = user.get_username() if user is not None else ""
    logger.info("logout: username=%r ip=%s", username, client_ip(request))


@receiver(user_locked_out, dispatch_uid="lancar.auth.locked_out")
def log_lockout(sender, request, username, ip_address, **kwargs) -> None:
    logger.warning(
        "account locked after repeated failures: username=%r ip=%s", username, ip_address
    )
