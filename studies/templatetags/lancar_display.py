"""Presentation helpers: how a status looks, in one place, so templates hold no status
literals."""

from __future__ import annotations

from django import template

from studies.models import MassageSession, Respondent

register = template.Library()

RESPONDENT_BADGES = {
    Respondent.Status.ENROLLED: "primary",
    Respondent.Status.COMPLETED: "success",
    Respondent.Status.WITHDRAWN: "secondary",
}
SESSION_BADGES = {
    MassageSession.Status.DONE: "success",
    MassageSession.Status.PLANNED: "light",
}


@register.filter
def status_badge(record) -> str:
    """The Bootstrap badge colour of a mother's or a session's status: a withdrawn mother
    grey, a completed one green; a session done green, planned light, missed or refused red."""
    if isinstance(record, Respondent):
        return RESPONDENT_BADGES.get(record.status, "secondary")
    return SESSION_BADGES.get(getattr(record, "status", ""), "danger")


@register.filter
def is_overdue(session, today) -> bool:
    """A planned session whose day has passed."""
    return session.status == MassageSession.Status.PLANNED and session.planned_date < today


@register.filter
def is_withdrawn(respondent) -> bool:
    return respondent.status == Respondent.Status.WITHDRAWN


@register.filter
def is_planned(session) -> bool:
    return session.status == MassageSession.Status.PLANNED


@register.filter
def arm_label(respondent) -> str:
    """Her arm's label in a study with two or more arms; nothing in a one-group study."""
    protocol = respondent.study.protocol
    return protocol.arm_label(respondent.arm) if protocol.has_arms else ""
