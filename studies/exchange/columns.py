"""The cohort table's columns (DESIGN.md 4.4) and the data dictionary that describes them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.utils import translation
from django.utils.translation import gettext_lazy

from .. import analysis
from ..models import (
    Respondent,
    RespondentIdentity,
)

# --- the cohort table ------------------------------------------------------------------------

# DESIGN.md 4.4, in this order; the export writes them first.
COHORT_COLUMNS = (
    "respondent_code",
    "site",
    "delivery_date",
    "enrolled_on",
    "age_years",
    "parity",
    "education",
    "employment",
    "pre_feeds",
    "pre_urinations",
    "post_feeds",
    "post_urinations",
    "sessions_completed",
    "status",
    "withdrawal_reason",
)
OPTIONAL_COLUMNS = frozenset(
    {"site", "sessions_completed", "status", "withdrawal_reason"}
)  # may be absent from an imported file
# Written after the contract's columns. The importer reads the dated ones back and ignores the
# derived ones (it recomputes them).
EXTRA_COLUMNS = (
    "withdrawn_on",
    "consent_date",
    "eligibility_confirmed",
    "pre_observed_on",
    "post_observed_on",
    "sessions_planned",
    "age_group",
    "parity_group",
)
DERIVED_COLUMNS = frozenset({"sessions_planned", "age_group", "parity_group"})
IDENTITY_COLUMNS = ("full_name", "phone", "medical_record_number")
KNOWN_COLUMNS = frozenset(COHORT_COLUMNS + EXTRA_COLUMNS + IDENTITY_COLUMNS)


# --- the words a file may use for a choice ---------------------------------------------------

# Besides a choice's key and its labels in both languages, what Indonesian sheets write for it:
# the school levels the label itself names (SD, SMP, SMA …). Only unambiguous words: each names
# one choice.
SHORT_FORMS = {
    Respondent.Education.BASIC: ("SD", "SMP", "MI", "MTs"),
    Respondent.Education.SECONDARY: ("SMA", "SMK", "MA"),
    Respondent.Education.HIGHER: ("Diploma", "D3", "D4", "S1", "S2", "S3", "Perguruan tinggi"),
}


def choice_key(word: str) -> str:
    """How a choice's word is compared: case, underscores and runs of spaces ignored."""
    return " ".join(word.replace("_", " ").split()).casefold()


def choice_words(choices_class) -> dict[str, tuple[str, ...]]:
    """Every word a cohort file may write for each choice of ``choices_class``, by value: the
    key, the label in Indonesian and in English, the label's words before its parenthesis
    (``Dasar``, ``Basic``) and the short forms above (``SMA``). The importer and the data
    dictionary both read this, so the dictionary lists what the importer accepts."""
    words = {}
    for value, label in choices_class.choices:
        found = [value]
        for language in ("id", "en"):
            with translation.override(language):
                text = str(label)
            found += [text, text.split(" (")[0]]
        found += SHORT_FORMS.get(value, ())
        unique = {}
        for word in found:
            unique.setdefault(choice_key(word), word)
        words[value] = tuple(unique.values())
    return words


# --- the data dictionary ---------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    name: str
    label: Any  # a lazy translation
    type: str
    allowed: str = ""
    unit: Any = ""


def dictionary() -> list[Column]:
    """Every cohort column: its label (translated on output), type, allowed values and unit."""

    def choices(choices_class) -> str:
        # "basic (Dasar (SD atau SMP), Dasar, …) / secondary (…)": the key and every other word
        # the importer accepts for it.
        return " / ".join(
            f"{value} ({', '.join(others)})" if others else value
            for value, (_key, *others) in choice_words(choices_class).items()
        )

    def field_label(model, name):
        return model._meta.get_field(name).verbose_name

    r = Respondent
    return [
        Column(
            "respondent_code",
            field_label(r, "code"),
            "text",
            gettext_lazy("unique within the study"),
        ),
        Column(
            "site", field_label(r, "site"), "text", gettext_lazy("one of the study's site names")
        ),
        Column("delivery_date", field_label(r, "delivery_date"), "date", "YYYY-MM-DD"),
        Column(
            "enrolled_on",
            field_label(r, "enrolled_on"),
            "date",
            gettext_lazy("not before delivery"),
        ),
        Column("age_years", field_label(r, "age_years"), "integer", "10–60", gettext_lazy("years")),
        Column("parity", field_label(r, "parity"), "integer", "≥ 1 (1 = primipara)"),
        Column("education", field_label(r, "education"), "category", choices(r.Education)),
        Column("employment", field_label(r, "employment"), "category", choices(r.Employment)),
        Column(
            "pre_feeds",
            gettext_lazy("feeds before the massage"),
            "integer",
            "0–40",
            gettext_lazy("per 24 h"),
        ),
        Column(
            "pre_urinations",
            gettext_lazy("urinations before the massage"),
            "integer",
            "0–40",
            gettext_lazy("per 24 h"),
        ),
        Column(
            "post_feeds",
            gettext_lazy("feeds after the massage"),
            "integer",
            "0–40",
            gettext_lazy("per 24 h"),
        ),
        Column(
            "post_urinations",
            gettext_lazy("urinations after the massage"),
            "integer",
            "0–40",
            gettext_lazy("per 24 h"),
        ),
        Column(
            "sessions_completed", gettext_lazy("sessions done"), "integer", "0–sessions_planned"
        ),
        Column("status", field_label(r, "status"), "category", choices(r.Status)),
        Column("withdrawal_reason", field_label(r, "withdrawal_reason"), "text"),
        Column("withdrawn_on", field_label(r, "withdrawn_on"), "date", "YYYY-MM-DD"),
        Column("consent_date", field_label(r, "consent_date"), "date", "YYYY-MM-DD"),
        Column(
            "eligibility_confirmed", field_label(r, "eligibility_confirmed"), "boolean", "0 / 1"
        ),
        Column("pre_observed_on", gettext_lazy("date of the pre-test sheet"), "date", "YYYY-MM-DD"),
        Column(
            "post_observed_on", gettext_lazy("date of the post-test sheet"), "date", "YYYY-MM-DD"
        ),
        Column(
            "sessions_planned", gettext_lazy("sessions planned"), "integer", gettext_lazy("derived")
        ),
        Column("age_group", gettext_lazy("age group"), "category", " / ".join(analysis.AGE_GROUPS)),
        Column(
            "parity_group",
            gettext_lazy("parity group"),
            "category",
            " / ".join(analysis.PARITY_GROUPS),
        ),
        Column(
            "full_name",
            field_label(RespondentIdentity, "full_name"),
            "text",
            gettext_lazy("identified export only"),
        ),
        Column(
            "phone",
            field_label(RespondentIdentity, "phone"),
            "text",
            gettext_lazy("identified export only"),
        ),
        Column(
            "medical_record_number",
            field_label(RespondentIdentity, "medical_record_number"),
            "text",
            gettext_lazy("identified export only"),
        ),
    ]


def dictionary_rows() -> Iterator[list[Any]]:
    yield ["column", "label_id", "label_en", "type", "allowed", "unit"]
    for column in dictionary():
        labels = []
        for language in ("id", "en"):
            with translation.override(language):
                labels.append(str(column.label))
        with translation.override("en"):
            yield [column.name, *labels, column.type, str(column.allowed), str(column.unit)]
