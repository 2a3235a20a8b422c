"""How a record's change reads in the history and in a refused stale save: one function,
:func:`field_changes`, turns two saved versions of a record into ``(field, old, new)`` lines,
a sheet's values one line per outcome ("Breastfeeding frequency: 5 → 6")."""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.utils import formats, timezone
from django.utils.text import capfirst

IGNORED_FIELDS = frozenset({"id", "created_at", "respondent", "version"})


def number_text(number) -> str:
    """A number as people write it in the active language: 40, not 40.0; 12,5 in Indonesian."""
    if number is None:
        return ""
    if isinstance(number, float | Decimal):
        text = format(Decimal(str(number)).normalize(), "f")
    else:
        text = str(number)
    return formats.number_format(text) if "." in text else text


def value_text(outcome, value, *, unit: bool = False) -> str:
    """One outcome's value as a sheet shows it: a category's label ("Lancar"), or the number
    (with its unit when ``unit``); "—" when not recorded. ``outcome`` may be ``None`` (an
    outcome no longer in the definition): the value as stored."""
    if value is None or value == "":
        return "—"
    if outcome is None:
        return str(value)
    if not outcome.numeric:
        return outcome.category_label(value)
    text = number_text(value)
    if unit and outcome.unit and str(outcome.unit):
        text = f"{text} {outcome.unit}"
    return text


def saved_instance(record):
    """The object a history record (simple-history's) describes, as that version saved it. Like
    ``record.instance``, without its lookup of the live row for the fields the history leaves
    out (a mother's session counts, derived data), one query per record: those keep their
    defaults here, and no history reads them."""
    return record.instance_type(
        **{field.attname: getattr(record, field.attname) for field in record.tracked_fields}
    )


def _display(instance, field_name: str, value, names: dict) -> str:
    if value is None or value == "":
        return "—"
    field = instance._meta.get_field(field_name)
    if field.choices:
        return str(dict(field.flatchoices).get(value, value))
    if field.is_relation and field.related_model is get_user_model():
        if value not in names:  # not loaded beforehand (a refused stale save): one lookup
            user = field.related_model.objects.filter(pk=value).first()
            names[value] = (user.get_full_name() or user.get_username()) if user else "—"
        return names[value]  # who did it by name, not the row id
    if isinstance(value, datetime.datetime):
        return formats.date_format(timezone.localtime(value), "SHORT_DATETIME_FORMAT")
    if isinstance(value, datetime.date):
        return formats.date_format(value, "SHORT_DATE_FORMAT")
    return str(value)


def _protocol_of(instance):
    respondent = getattr(instance, "respondent", None)
    return respondent.study.protocol if respondent is not None else None


def field_changes(
    new_record, old_record, *, names: dict | None = None, protocol=None
) -> list[tuple[str, str, str]]:
    """``(field label, old, new)`` for every field that differs between two historical
    records of one object (simple-history's ``diff_against``). A sheet's ``values`` (outcome
    key → value) give one line per outcome that changed, named by the outcome's label and shown
    as the sheet shows it (a category's label). ``names``: user id → name for fields that point
    at a person; ``protocol``: the study definition (read from the record when not given)."""
    names = {} if names is None else names
    changes = []
    instance = saved_instance(new_record)
    for change in new_record.diff_against(old_record).changes:
        if change.field in IGNORED_FIELDS:
            continue
        if change.field == "values":
            protocol = protocol or _protocol_of(instance)
            old, new = change.old or {}, change.new or {}
            keys = [outcome.key for outcome in protocol.outcomes] if protocol else []
            keys += sorted((set(old) | set(new)) - set(keys))
            for key in keys:
                if old.get(key) == new.get(key):
                    continue
                outcome = protocol.outcome(key) if protocol else None
                label = capfirst(str(outcome.label)) if outcome else key
                changes.append(
                    (label, value_text(outcome, old.get(key)), value_text(outcome, new.get(key)))
                )
            continue
        field = instance._meta.get_field(change.field)
        changes.append(
            (
                str(field.verbose_name),
                _display(instance, change.field, change.old, names),
                _display(instance, change.field, change.new, names),
            )
        )
    return changes
