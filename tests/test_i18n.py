"""The Indonesian catalogue is complete and compiled, and pages speak the user's language."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.utils import translation

LOCALE = Path(settings.BASE_DIR) / "locale"
PLACEHOLDER = re.compile(r"%\(\w+\)[sdfi]|%[sdfi]|\{\w*\}")


def catalogue(language: str) -> polib.POFile:
    return polib.pofile(str(LOCALE / language / "LC_MESSAGES" / "django.po"))


def msgstrs(entry: polib.POEntry) -> list[str]:
    return list(entry.msgstr_plural.values()) if entry.msgid_plural else [entry.msgstr]


def test_indonesian_catalogue_has_no_untranslated_or_fuzzy_entry():
    po = catalogue("id")
    assert len(po) > 100
    untranslated = [entry.msgid for entry in po if not all(msgstrs(entry))]
    fuzzy = [entry.msgid for entry in po if "fuzzy" in entry.flags and not entry.obsolete]
    assert untranslated == []
    assert fuzzy == []


def test_indonesian_translations_keep_every_placeholder():
    mismatched = [
        entry.msgid
        for entry in catalogue("id")
        for text in msgstrs(entry)
        if sorted(PLACEHOLDER.findall(text)) != sorted(PLACEHOLDER.findall(entry.msgid))
    ]
    assert mismatched == []


@pytest.mark.parametrize("language", ["id", "en"])
def test_compiled_catalogue_matches_the_source(language):
    """The committed .mo is rebuilt from the .po: every entry translates through Django."""
    po = catalogue(language)
    mo = polib.mofile(str(LOCALE / language / "LC_MESSAGES" / "django.mo"))
    compiled = {(entry.msgctxt, entry.msgid): entry for entry in mo}
    for entry in po.translated_entries():
        assert (entry.msgctxt, entry.msgid) in compiled, entry.msgid
        assert compiled[(entry.msgctxt, entry.msgid)].msgstr == entry.msgstr, entry.msgid


def test_django_translates_a_project_string_into_indonesian():
    entry = catalogue("id").find("Sign in")
    assert entry is not None and entry.msgstr and entry.msgstr != "Sign in"
    with translation.override("id"):
        assert translation.gettext("Sign in") == entry.msgstr


@pytest.mark.django_db
def test_login_page_follows_the_browser_language(client, client_id):
    indonesian = catalogue("id").find("Sign in").msgstr
    page_id = client_id.get("/accounts/login/").content.decode()
    page_en = client.get("/accounts/login/").content.decode()
    assert f'<h1 class="h3 mb-3">{indonesian}</h1>' in page_id
    assert '<html lang="id"' in page_id
    assert '<h1 class="h3 mb-3">Sign in</h1>' in page_en


@pytest.mark.django_db
def test_language_switch_persists_across_requests(client_id):
    indonesian = catalogue("id").find("Sign in").msgstr
    response = client_id.post("/i18n/setlang/", {"language": "en", "next": "/accounts/login/"})
    assert response.status_code == 302
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    page = client_id.get("/accounts/login/").content.decode()
    assert '<h1 class="h3 mb-3">Sign in</h1>' in page
    assert indonesian not in page


@pytest.mark.django_db
def test_midwife_worklist_is_in_indonesian(client_id, midwife_a):
    client_id.force_login(midwife_a)
    page = client_id.get("/").content.decode()
    po = catalogue("id")
    navigation = po.find("Sign out")
    assert navigation is not None and navigation.msgstr in page
    assert ">Sign out<" not in page


# The names the code translates with (studies/*.py, clinic/*.py): the first argument, when it
# is a literal, is a message a person reads.
GETTEXT_NAMES = {
    "_",
    "gettext",
    "gettext_lazy",
    "gettext_noop",
    "ngettext",
    "ngettext_lazy",
    "pgettext",
    "pgettext_lazy",
}


def messages_in_code() -> dict[str, str]:
    """Every literal message passed to a gettext function in the project's Python code (the
    messages raised in code: validation errors, flash messages, system reasons), with where."""
    found = {}
    base = Path(settings.BASE_DIR)
    for folder in ("studies", "clinic"):
        for path in sorted((base / folder).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.Call) or not node.args:
                    continue
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                if name not in GETTEXT_NAMES:
                    continue
                index = 1 if name.startswith("pgettext") else 0
                if len(node.args) <= index:
                    continue
                argument = node.args[index]
                if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                    found.setdefault(argument.value, f"{path.relative_to(base)}:{node.lineno}")
    return found


def test_every_message_raised_in_code_has_an_indonesian_translation():
    """Not only the catalogue's own entries: every message the code can raise or show is in the
    catalogue, translated and not fuzzy (a message added without `make messages`, or a
    translation left empty, shows in English on an Indonesian page)."""
    po = catalogue("id")
    entries = {entry.msgid: entry for entry in po if not entry.obsolete}
    found = messages_in_code()
    assert len(found) > 100
    missing = [f"{where}: {msgid!r}" for msgid, where in found.items() if msgid not in entries]
    untranslated = [
        f"{where}: {msgid!r}"
        for msgid, where in found.items()
        if msgid in entries
        and (not all(msgstrs(entries[msgid])) or "fuzzy" in entries[msgid].flags)
    ]
    assert missing == []
    assert untranslated == []


@pytest.mark.parametrize(
    "message",
    [
        "The enrolment date cannot be in the future.",
        "Consent must be given on or before the enrolment date.",
        "The withdrawal date cannot be in the future.",
        "Post-test sheet recorded.",
        "Not saved yet. Please correct:",
    ],
)
def test_messages_the_issue_saw_in_english_are_indonesian(message):
    with translation.override("id"):
        assert translation.gettext(message) != message
