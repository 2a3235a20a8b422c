"""Nothing typed is lost when the session has expired: a form sent after the idle timeout is
kept in the new (anonymous) session under the page it was sent to, and after signing in the
form page shows it again, filled in, for the midwife to check and save. Nothing is saved on her
behalf: she confirms it, signed in.

The session survives the sign-in: ``django.contrib.auth.login`` gives it a new key (and the CSRF
token a new value) but keeps its data when nobody was signed in before."""

from __future__ import annotations

from django.http import HttpRequest

SESSION_KEY = "lancar_kept_entries"
# Not kept: the CSRF token (rotated at sign-in; the form page renders a new one), the submit
# button, and the page to return to (the form page carries it again).
NOT_KEPT = frozenset({"csrfmiddlewaretoken", "submit"})
# A form of this app is a few hundred characters; a session is not a file store.
MAX_CHARACTERS = 20_000
MAX_ENTRIES = 5


def keep_entry(request: HttpRequest) -> bool:
    """Keep what an anonymous POST carried, under its path. Uploads are not kept (the file is
    not in the session); an oversized post is not kept either. Returns whether it was kept."""
    if request.method != "POST" or request.FILES:
        return False
    values = {name: request.POST.getlist(name) for name in request.POST if name not in NOT_KEPT}
    if not values or sum(len(v) for vs in values.values() for v in vs) > MAX_CHARACTERS:
        return False
    kept = dict(request.session.get(SESSION_KEY, {}))
    kept.pop(request.path, None)
    kept[request.path] = values
    request.session[SESSION_KEY] = dict(list(kept.items())[-MAX_ENTRIES:])
    return True


def take_entry(request: HttpRequest) -> dict[str, str] | None:
    """The entry kept for this page, removed from the session (it is shown once), as initial
    values for the page's form; None when there is none."""
    kept = request.session.get(SESSION_KEY)
    if not kept or request.path not in kept:
        return None
    kept = dict(kept)
    values = kept.pop(request.path)
    request.session[SESSION_KEY] = kept
    # One value per field: the forms of the midwife's pages have no multiple choices.
    return {name: items[-1] for name, items in values.items() if items}
