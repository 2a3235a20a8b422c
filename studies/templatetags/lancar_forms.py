"""Template helpers for forms."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def fields_in_error(form) -> list[tuple]:
    """The form's visible fields that have an error, in the order they are shown, each with the
    id of the input the error summary at the top of a page links to. Anything that is not a
    form has none."""
    if not hasattr(form, "visible_fields") or not getattr(form, "is_bound", False):
        return []
    return [
        # A group of radio buttons has no single input: its link goes to the first button.
        (field, field.id_for_label or f"{field.auto_id}_0")
        for field in form.visible_fields()
        if field.errors
    ]
