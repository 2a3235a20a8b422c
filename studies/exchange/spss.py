"""The cohort for SPSS and PSPP: one description of its variables (:func:`variables`) that both
the syntax reading the cohort CSV (``cohort.sps``, :func:`spss_syntax`) and the SPSS data file
(``cohort.sav``, :mod:`.sav`) are written from, so their names, formats, labels, value labels
and measurement levels cannot drift apart."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _

from ..models import TEXT_LIMIT, Respondent, RespondentIdentity, Site, Study
from .cells import neutralise
from .columns import COHORT_COLUMNS, EXTRA_COLUMNS, IDENTITY_COLUMNS, dictionary


def _text_format(characters: int) -> str:
    """A string format wide enough for any value the model allows: SPSS and PSPP count a
    string's width in bytes of the file's encoding (up to 4 per character in UTF-8), and the
    export may put an apostrophe before a cell a spreadsheet would run as a formula."""
    return f"A{4 * (characters + 1)}"


SPSS_FORMATS = {
    "respondent_code": _text_format(Respondent._meta.get_field("code").max_length),
    "site": _text_format(Site._meta.get_field("name").max_length),
    "delivery_date": "SDATE10",
    "enrolled_on": "SDATE10",
    "age_years": "F3.0",
    "parity": "F2.0",
    "education": "A10",
    "employment": "A12",
    "pre_feeds": "F2.0",
    "pre_urinations": "F2.0",
    "post_feeds": "F2.0",
    "post_urinations": "F2.0",
    "sessions_completed": "F2.0",
    "status": "A10",
    "withdrawal_reason": _text_format(TEXT_LIMIT),
    "withdrawn_on": "SDATE10",
    "consent_date": "SDATE10",
    "eligibility_confirmed": "F1.0",
    "pre_observed_on": "SDATE10",
    "post_observed_on": "SDATE10",
    "sessions_planned": "F2.0",
    "age_group": "A6",
    "parity_group": "A10",
    **{
        name: _text_format(RespondentIdentity._meta.get_field(name).max_length or TEXT_LIMIT)
        for name in IDENTITY_COLUMNS
    },
}
# A column the table above does not name (a study definition's own outcome, say) takes its
# format and level from its type in the data dictionary.
FORMATS_BY_TYPE = {"integer": "F8.0", "number": "F8.2", "date": "SDATE10", "boolean": "F1.0"}
LEVELS_BY_TYPE = {"integer": "scale", "number": "scale", "date": "scale"}

# Coded copies of the text columns: (numeric copy, measurement level, the text column).
CODED = (
    ("site_n", "nominal", "site"),
    ("education_n", "ordinal", "education"),
    ("employment_n", "nominal", "employment"),
    ("status_n", "nominal", "status"),
    ("age_group_n", "ordinal", "age_group"),
    ("parity_group_n", "nominal", "parity_group"),
)
LEVELS = ("nominal", "ordinal", "scale")


@dataclass(frozen=True)
class Variable:
    """One variable of the cohort for SPSS.

    ``format`` is SPSS's print format (``A44`` text of 44 bytes, ``F2.0`` a whole number,
    ``SDATE10`` a date printed 2026/06/01); ``level`` is ``nominal``, ``ordinal`` or
    ``scale``; ``value_labels`` maps each code to its label in the active language. A coded
    copy (``codes`` names the text column it codes) is not a column of the CSV: the syntax
    RECODEs it from the text, the .sav writes it with the code of each text value
    (``code_of``)."""

    name: str
    label: str
    format: str
    level: str
    value_labels: dict[Any, str] = field(default_factory=dict)
    codes: str = ""
    code_of: dict[str, int] = field(default_factory=dict)

    @property
    def is_text(self) -> bool:
        return self.format.startswith("A")

    @property
    def is_date(self) -> bool:
        return "DATE" in self.format


def _categories(study: Study, column: str) -> list[tuple[str, str]]:
    """(value in the cohort export, label) of each category of a coded column, in code
    order."""
    from ..cohort import characteristic_labels

    if column == "site":
        return [(site.name, site.name) for site in study.sites.order_by("name")]
    choices = {
        "education": Respondent.Education,
        "employment": Respondent.Employment,
        "status": Respondent.Status,
    }
    if column in choices:
        return [(value, str(label)) for value, label in choices[column].choices]
    heading = {"age_group": "age_group", "parity_group": "parity"}[column]
    _title, mapping = characteristic_labels()[heading]
    return [(key, str(label)) for key, label in mapping.items()]


def variables(study: Study, *, identified: bool = False) -> list[Variable]:
    """The cohort's variables for SPSS, labels in the active language: every column of the
    cohort export (``exchange.columns``, identities last when ``identified``), then the coded
    copies of its text categories (site, education, employment, status, age group, parity
    group: ``<column>_n`` numbered 1, 2 … in the categories' order, with value labels).

    The data dictionary gives the variable labels; measurement levels are scale for numbers
    and dates, nominal for text and flags, ordinal for ordered categories (education, age
    group)."""
    described = {column.name: column for column in dictionary()}
    columns = list(COHORT_COLUMNS + EXTRA_COLUMNS) + (list(IDENTITY_COLUMNS) if identified else [])
    found = []
    for name in columns:
        column = described.get(name)
        kind = column.type if column else "text"
        spss_format = SPSS_FORMATS.get(name) or FORMATS_BY_TYPE.get(kind, _text_format(TEXT_LIMIT))
        value_labels = {}
        if kind == "boolean":
            value_labels = {0: _("No"), 1: _("Yes")}
        found.append(
            Variable(
                name,
                str(column.label) if column else name,
                spss_format,
                LEVELS_BY_TYPE.get(kind, "nominal"),
                value_labels,
            )
        )
    for numeric, level, column in CODED:
        if column not in columns:
            continue
        categories = _categories(study, column)
        found.append(
            Variable(
                numeric,
                str(described[column].label),
                f"F{len(str(len(categories)))}.0",
                level,
                {code: label for code, (_value, label) in enumerate(categories, 1)},
                codes=column,
                code_of={value: code for code, (value, _label) in enumerate(categories, 1)},
            )
        )
    return found


# --- SPSS syntax -----------------------------------------------------------------------------


def _spss_text(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def _value(variable: Variable, value: Any) -> str:
    return _spss_text(value) if variable.is_text else str(value)


def spss_syntax(study: Study, *, delimiter: str = ",", filename: str = "") -> str:
    """SPSS syntax that reads the cohort CSV with the variables of :func:`variables` (labels,
    value labels, measurement levels) and runs the paper's analysis (FREQUENCIES, DESCRIPTIVES
    and NPAR TESTS /WILCOXON)."""
    from ..cohort import OUTCOMES, outcome_label

    filename = filename or f"{study.code}-cohort.csv"
    every = variables(study)
    columns = [variable for variable in every if not variable.codes]
    coded = [variable for variable in every if variable.codes]
    by_name = {variable.name: variable for variable in every}
    # Messages outside the f-strings: makemessages cannot read a gettext call inside one.
    title = _("Lancar: the cohort of study %(code)s") % {"code": study.code}
    where = _("Put this file next to %(file)s, or write its full path below.") % {"file": filename}
    withdrawn = _("Withdrawn mothers are left out of the analysis, as in Lancar.")
    lines = [
        f"* {title}.",
        f"* {where}.",
        "GET DATA",
        "  /TYPE=TXT",
        f"  /FILE={_spss_text(filename)}",
        "  /ENCODING='UTF8'",
        "  /ARRANGEMENT=DELIMITED",
        f"  /DELIMITERS={_spss_text(delimiter)}",
        "  /QUALIFIER='\"'",
        "  /FIRSTCASE=2",
        "  /VARIABLES=",
        *[f"    {variable.name} {variable.format}" for variable in columns],
        "  .",
        "CACHE.",
        "EXECUTE.",
        "",
        "VARIABLE LABELS",
        "  "
        + "\n  /".join(f"{variable.name} {_spss_text(variable.label)}" for variable in columns)
        + ".",
        "",
    ]
    for variable in columns:
        if variable.value_labels:
            lines.append(_value_labels(variable))
    for variable in coded:
        # The export puts an apostrophe before a text a spreadsheet would run as a formula (a
        # site named "-Klinik"): both spellings get the code.
        recode = " ".join(
            "("
            + " ".join(_spss_text(v) for v in dict.fromkeys((value, neutralise(value))))
            + f"={code})"
            for value, code in variable.code_of.items()
        )
        lines += [
            f"RECODE {variable.codes} {recode} INTO {variable.name}."
            if recode
            else f"COMPUTE {variable.name} = $SYSMIS.",
            f"VARIABLE LABELS {variable.name} {_spss_text(variable.label)}.",
        ]
        if variable.value_labels:
            lines.append(_value_labels(variable))
        lines += [
            f"VARIABLE LEVEL {variable.name} ({variable.level.upper()}).",
            f"FORMATS {variable.name} ({variable.format}).",
        ]
    for level in LEVELS:
        names = [v.name for v in columns if v.level == level]
        if names:
            lines.append(f"VARIABLE LEVEL {' '.join(names)} ({level.upper()}).")
    lines += [
        "EXECUTE.",
        "",
        f"* {withdrawn}.",
        "SELECT IF (status <> 'withdrawn').",
        "EXECUTE.",
        "",
        "FREQUENCIES VARIABLES="
        + " ".join(
            name
            for name in ("age_group_n", "parity_group_n", "education_n", "employment_n")
            if name in by_name
        )
        + " /ORDER=ANALYSIS.",
        "",
    ]
    for outcome in OUTCOMES:
        pre, post = f"pre_{outcome}", f"post_{outcome}"
        lines += [
            "* "
            + _(
                "%(outcome)s: only the mothers with both a pre-test and a post-test value, "
                "as on Lancar's results page (Tables 2-4 speak of the same mothers)"
            )
            % {"outcome": outcome_label(outcome)}
            + ".",
            "TEMPORARY.",
            f"SELECT IF (NOT MISSING({pre}) AND NOT MISSING({post})).",
            f"DESCRIPTIVES VARIABLES={pre} {post} /STATISTICS=MEAN STDDEV MIN MAX.",
            "NPAR TESTS",
            f"  /WILCOXON={pre} WITH {post} (PAIRED)",
            "  /MISSING ANALYSIS.",
            "",
        ]
    return "\n".join(lines)


def _value_labels(variable: Variable) -> str:
    return (
        f"VALUE LABELS {variable.name} "
        + " ".join(
            f"{_value(variable, code)} {_spss_text(label)}"
            for code, label in variable.value_labels.items()
        )
        + "."
    )
