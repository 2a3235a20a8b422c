"""The cohort table's columns (DESIGN.md 4.4) and the data dictionary that describes them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .. import analysis, definition
from ..models import (
    Respondent,
    RespondentIdentity,
)

# --- the cohort table ------------------------------------------------------------------------

# DESIGN.md 4.4: the mother's columns before the outcome columns, and after them.
BEFORE_VALUES = (
    "delivery_date",
    "enrolled_on",
    "age_years",
    "parity",
    "education",
    "employment",
)
AFTER_VALUES = ("sessions_completed", "status", "withdrawal_reason")
OPTIONAL_COLUMNS = frozenset(
    {"site", "sessions_completed", "status", "withdrawal_reason"}
)  # may be absent from an imported file (``arm`` too, when the site decides it)
# Written after the contract's columns, by the mother's time points. The importer reads the dated
# ones back and ignores the derived ones (it recomputes them).
DERIVED_COLUMNS = frozenset({"sessions_planned", "age_group", "parity_group"})
IDENTITY_COLUMNS = ("full_name", "phone", "medical_record_number")


def cohort_columns(protocol: definition.StudyDefinition) -> tuple[str, ...]:
    """The cohort CSV's columns of DESIGN.md 4.4 for a study's definition, in order: ``arm``
    after ``site`` when the study has two or more arms, and ``<timepoint>_<outcome>`` for every
    time point and every outcome measured there (``protocol.cohort_value_columns``)."""
    return (
        "respondent_code",
        "site",
        *(("arm",) if protocol.has_arms else ()),
        *BEFORE_VALUES,
        *(column for column, _point, _outcome in protocol.cohort_value_columns),
        *AFTER_VALUES,
    )


def extra_columns(protocol: definition.StudyDefinition) -> tuple[str, ...]:
    """The export's columns after the contract's: withdrawal and consent, the date of each time
    point's sheet, then the derived ones."""
    return (
        "withdrawn_on",
        "consent_date",
        "eligibility_confirmed",
        *(f"{point}_observed_on" for point in protocol.timepoint_keys),
        "sessions_planned",
        "age_group",
        "parity_group",
    )


def known_columns(protocol: definition.StudyDefinition) -> frozenset[str]:
    """Every column a cohort file of this study may carry."""
    return frozenset(cohort_columns(protocol) + extra_columns(protocol) + IDENTITY_COLUMNS)


PAPER = definition.parse(definition.paper_definition())
# The paper's study (DESIGN.md 4.4, exactly): the columns its files have always had.
COHORT_COLUMNS = cohort_columns(PAPER)
EXTRA_COLUMNS = extra_columns(PAPER)
KNOWN_COLUMNS = known_columns(PAPER)


# --- the words a file may use for a choice ---------------------------------------------------

# Besides a choice's key and its labels in both languages, what Indonesian clinics write for
# it: school levels (SD, SMP, SMA, and their older names SLTP, SLTA, SMU), diplomas and degrees
# (D3, S1), "ibu rumah tangga" (IRT) for a mother who does not work outside the home, the usual
# occupations for one who does. Only unambiguous words: each names one choice (a student,
# "pelajar", may or may not work, so it is not read as either).
SHORT_FORMS = {
    Respondent.Education.BASIC: (
        "SD", "SMP", "SLTP", "MI", "MTs", "Paket A", "Paket B", "Sekolah dasar",
    ),
    Respondent.Education.SECONDARY: (
        "SMA", "SMK", "SLTA", "MA", "SMU", "STM", "SMEA", "Paket C",
    ),
    Respondent.Education.HIGHER: (
        "D3", "S1", "Perguruan tinggi", "Diploma", "D1", "D2", "D4", "DIII", "S2", "S3",
        "Sarjana", "Akademi", "Universitas",
    ),
    Respondent.Employment.WORKING: (
        "PNS", "Swasta", "Wiraswasta", "ASN", "Karyawan", "Karyawati", "Pegawai", "Honorer",
        "Guru", "Petani", "Pedagang", "Buruh", "Kerja",
    ),
    Respondent.Employment.NOT_WORKING: (
        "Ibu rumah tangga", "IRT", "Belum bekerja", "Tidak kerja",
    ),
    Respondent.Status.WITHDRAWN: ("Mundur", "Drop out"),
}  # fmt: skip


def choice_key(word: str) -> str:
    """How a choice's word is compared: case, underscores and runs of spaces ignored (the
    definition's rule for categories and arms, ``definition.word_key``)."""
    return definition.word_key(word)


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


HINTED_SHORT_FORMS = 3  # short forms a message names per choice (the dictionary lists all)


def choice_hint(choices_class) -> str:
    """What a file may write for each choice, for a message, in the active language: the
    label's words before its parenthesis, the first short forms and the key (``Bekerja, PNS,
    Swasta, Wiraswasta … (working) / Tidak bekerja, Ibu rumah tangga, IRT, … (not_working)``).
    The data dictionary lists every word."""
    hints = []
    for value, label in choices_class.choices:
        words = [str(label).split(" (")[0]]
        for word in SHORT_FORMS.get(value, ()):
            if choice_key(word) not in map(choice_key, words):
                words.append(word)
        shown = words[: HINTED_SHORT_FORMS + 1]
        more = " …" if len(words) > len(shown) else ""
        hints.append(f"{', '.join(shown)}{more} ({value})")
    return " / ".join(hints)


# --- the data dictionary ---------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    name: str
    label: Any  # a lazy translation
    type: str
    allowed: str = ""
    unit: Any = ""


class _Lazy:
    """Text computed when shown (in the language active then)."""

    def __init__(self, function, *args) -> None:
        self.function, self.args = function, args

    def __str__(self) -> str:
        return str(self.function(*self.args))


class _OutcomeAt:
    """An outcome column's label: the outcome's and the time point's (“Breastfeeding frequency
    (Pre-test)”), in the active language."""

    def __init__(self, outcome_label, point_label) -> None:
        self.outcome_label, self.point_label = outcome_label, point_label

    def __str__(self) -> str:
        return f"{self.outcome_label} ({self.point_label})"


class _SheetDate:
    def __init__(self, point_label) -> None:
        self.point_label = point_label

    def __str__(self) -> str:
        return _("date of the %(timepoint)s sheet") % {"timepoint": self.point_label}


def outcome_type(outcome: definition.Outcome) -> str:
    """The dictionary's type of an outcome's column: ``integer`` (no decimals), ``number``,
    or ``category`` (binary, ordinal: the category's number)."""
    if not outcome.numeric:
        return "category"
    return "integer" if outcome.decimals == 0 else "number"


def outcome_allowed(outcome: definition.Outcome) -> str:
    """What an outcome's cell may hold: its range (``0–500``, one decimal place written
    ``0.0–500.0``) or its categories (``0 (Tidak lancar) / 1 (Lancar)``, labels in the active
    language)."""
    if outcome.numeric:
        places = outcome.decimals
        return f"{outcome.min:.{places}f}–{outcome.max:.{places}f}"
    return " / ".join(f"{c.value} ({c.label})" for c in outcome.categories)


def dictionary(protocol: definition.StudyDefinition | None = None) -> list[Column]:
    """Every cohort column of a study's definition (the paper's by default): its label
    (translated on output), type, allowed values and unit, in the export's order."""
    protocol = protocol or PAPER

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
        *(
            [
                Column(
                    "arm",
                    field_label(r, "arm"),
                    "category",
                    _Lazy(
                        lambda: " / ".join(f"{arm.key} ({arm.label})" for arm in protocol.arms)
                    ),
                )
            ]
            if protocol.has_arms
            else []
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
        *(
            Column(
                name,
                _OutcomeAt(protocol.outcome(outcome).label, protocol.timepoint(point).label),
                outcome_type(protocol.outcome(outcome)),
                _Lazy(outcome_allowed, protocol.outcome(outcome)),
                protocol.outcome(outcome).unit or "",
            )
            for name, point, outcome in protocol.cohort_value_columns
        ),
        Column(
            "sessions_completed",
            gettext_lazy("sessions done"),
            "integer",
            "0–sessions_planned",
        ),
        Column("status", field_label(r, "status"), "category", choices(r.Status)),
        Column("withdrawal_reason", field_label(r, "withdrawal_reason"), "text"),
        Column("withdrawn_on", field_label(r, "withdrawn_on"), "date", "YYYY-MM-DD"),
        Column("consent_date", field_label(r, "consent_date"), "date", "YYYY-MM-DD"),
        Column(
            "eligibility_confirmed", field_label(r, "eligibility_confirmed"), "boolean", "0 / 1"
        ),
        *(
            Column(
                f"{point.key}_observed_on",
                _SheetDate(point.label),
                "date",
                "YYYY-MM-DD",
            )
            for point in protocol.timepoints
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


def dictionary_rows(protocol: definition.StudyDefinition | None = None) -> Iterator[list[Any]]:
    """The data dictionary export: one row per cohort column with its label in both languages,
    type, allowed values (range or categories) and unit, these two in the active language."""
    yield ["column", "label_id", "label_en", "type", "allowed", "unit"]
    for column in dictionary(protocol):
        labels = []
        for language in ("id", "en"):
            with translation.override(language):
                labels.append(str(column.label))
        # What is allowed (categories, arms, notes) and the unit read in the reader's language.
        yield [column.name, *labels, column.type, str(column.allowed), str(column.unit)]
