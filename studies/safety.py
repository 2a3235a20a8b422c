"""Input no view may trust, refused the same way everywhere.

Three kinds of input used to reach a server error, each closed here once:

- text the database refuses: PostgreSQL rejects a NUL character in any text, so a NUL in a
  URL path, a query string or a posted field is answered 400 by ``UnstorableInputMiddleware``
  before any view or lookup sees it (Django's form fields refuse NUL, path converters and
  ``request.GET`` do not);
- numbers from query parameters: ``str.isdigit()`` accepts "²", which ``int()`` refuses, and
  a number past the column's range overflows SQLite's integers, so ``int_param`` reads ASCII
  digits within the database's range and nothing else;
- choices from query parameters: ``choice_param`` returns one of the allowed values or the
  default, so a view never passes an unknown value on.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping

from django import forms
from django.core.exceptions import ValidationError
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

# NUL (refused by PostgreSQL in any text) and lone surrogates (not encodable as UTF-8).
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
ASCII_INTEGER = re.compile(r"-?[0-9]+")


def integer_range(internal_type: str = "BigIntegerField") -> tuple[int, int]:
    """The smallest and largest value a column of this Django field type holds in the default
    database (a BigAutoField id, a PositiveIntegerField version...)."""
    return connection.ops.integer_field_range(internal_type)


def int_param(
    params: Mapping[str, str],
    name: str,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    internal_type: str = "BigIntegerField",
) -> int | None:
    """The whole number in ``params[name]`` (a request's GET or POST), or None when it is
    absent or not a number the database can hold: ASCII digits only ("²" and "٥" are digits to
    ``str.isdigit`` but not numbers the page offered), within ``minimum``..``maximum`` and the
    range of ``internal_type``'s column."""
    value = str(params.get(name) or "").strip()
    if not ASCII_INTEGER.fullmatch(value) or len(value) > 20:
        return None
    number = int(value)
    low, high = integer_range(internal_type)
    if minimum is not None:
        low = max(low, minimum)
    if maximum is not None:
        high = min(high, maximum)
    return number if low <= number <= high else None


def choice_param(params: Mapping[str, str], name: str, choices: Iterable[str], default=""):
    """``params[name]`` when it is one of ``choices``, otherwise ``default``."""
    value = params.get(name)
    return value if isinstance(value, str) and value in set(choices) else default


def out_of_range(text: str, internal_type: str = "BigIntegerField") -> bool:
    """Whether ``text`` is a whole number the database cannot hold (SQLite raises
    OverflowError on it in lookups Django does not guard, such as a related id or ``__in``)."""
    text = text.strip()
    if not ASCII_INTEGER.fullmatch(text):
        return False
    low, high = integer_range(internal_type)
    return not low <= int(text) <= high


class BoundedModelMultipleChoiceField(forms.ModelMultipleChoiceField):
    """A multiple choice of records (the admin's sites, members, groups) that refuses an id
    past the database's range as an invalid choice instead of sending it to the database."""

    def _check_values(self, value):
        for pk in value if isinstance(value, (list, tuple)) else ():
            if isinstance(pk, str) and out_of_range(pk):
                raise ValidationError(
                    self.error_messages["invalid_pk_value"],
                    code="invalid_pk_value",
                    params={"pk": pk},
                )
        return super()._check_values(value)


def require_key(field, value) -> object:
    """The primary key ``value`` (from a URL) as ``field`` holds it; 404 when it is not one
    ("abc" for a numeric id, a number past the column's range), as for a missing record."""
    try:
        key = field.to_python(value)
        field.run_validators(key)
    except (ValidationError, ValueError, TypeError, OverflowError):
        raise Http404(_("No such record.")) from None
    return key


def has_unstorable_text(request: HttpRequest) -> bool:
    """Whether the path, a query parameter or a posted field (name or value) holds text the
    database cannot store. Uploaded files are the importer's to check."""
    texts = [request.path_info]
    sources = [request.GET]
    if request.method == "POST":
        sources.append(request.POST)
    for source in sources:
        for key, values in source.lists():
            texts.append(key)
            texts.extend(values)
    return any(UNSTORABLE.search(text) for text in texts)


class UnstorableInputMiddleware:
    """Answer 400 with a translated message to a request carrying text the database refuses,
    before a view or a database lookup sees it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if has_unstorable_text(request):
            message = _(
                "The address or the form contains a character that cannot be saved (such as "
                "a NUL character). Go back, check what was typed or pasted, and try again."
            )
            return render(request, "400.html", {"message": message}, status=400)
        return self.get_response(request)
