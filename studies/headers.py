"""Response headers that keep a shared phone from holding on to a signed-in user's pages.

The Content-Security-Policy and the Permissions-Policy come from maintained packages
(django-csp, django-permissions-policy) configured in the settings; this module adds the one
rule they do not cover.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.utils.cache import add_never_cache_headers


class NoStoreForSignedInMiddleware:
    """Every response to a signed-in user (pages, JSON, CSV and other downloads, the admin) is
    sent with ``Cache-Control: no-store``: after sign-out the browser's cache, its back button
    and a shared phone keep no names. Static files are served earlier by whitenoise and keep
    their caching; so do anonymous pages."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        # The user as the request ends: the sign-in response itself is already for her, the
        # sign-out response no longer is (it carries nothing of hers).
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            add_never_cache_headers(response)
        return response
