"""The cohort for SPSS and PSPP: one description of its variables (:func:`variables`) that both
the syntax reading the cohort CSV (``cohort.sps``, :func:`spss_syntax`) and the SPSS data file
(``cohort.sav``, :mod:`.sav`) are written from, so their names, formats, labels, value labels
and measurement levels cannot drift apart."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.utils.text import capfirst
from django.utils.translation import gettext as _

from ..analysis import design as analysis_design
from ..analysis.design import comparisons
from ..models import TEXT_LIMIT, Respondent, RespondentIdentity, Site, Study
from .cells import neutralise
from .columns import IDENTITY_COLUMNS, dictionary
from .exports import cohort_header


def _text_format(characters: int) -> str:
    """A string format wide enough for any value the model allows: SPSS and PSPP count a
    string's width in bytes of the file's encoding (up to 4 per character in UTF-8), and the
    export may put an apostrophe before a cell a spreadsheet would run as a formula."""
    return f"A{4 * (characters + 1)}"


SPSS_FORMATS = {
    "respondent_code": _text_format(Respondent._meta.get_field("code").max_length),
    "site": _text_format(Site._meta.get_field("name").max_length),
    "arm": _text_format(Respondent._meta.get_field("arm").max_length),
    "delivery_date": "SDATE10",
    "enrolled_on": "SDATE10",
    "age_years": "F3.0",
    "parity": "F2.0",
    "education": "A10",
    "employment": "A12",
    "sessions_completed": "F2.0",
    "status": "A10",
    "withdrawal_reason": _text_format(TEXT_LIMIT),
    "withdrawn_on": "SDATE10",
    "consent_date": "SDATE10",
    "eligibility_confirmed": "F1.0",
    "sessions_planned": "F2.0",
    "age_group": "A6",
    "parity_group": "A10",
    **{
        name: _text_format(RespondentIdentity._meta.get_field(name).max_length or TEXT_LIMIT)
        for name in IDENTITY_COLUMNS
    },
}
# The outcome and sheet-date columns follow the study's definition (:func:`variables`); any other
# column the table above does not name takes its format and level from its dictionary type.
FORMATS_BY_TYPE = {"integer": "F8.0", "number": "F8.2", "date": "SDATE10", "boolean": "F1.0"}
LEVELS_BY_TYPE = {"integer": "scale", "number": "scale", "date": "scale"}

# Coded copies of the text columns: (numeric copy, measurement level, the text column).
CODED = (
    ("site_n", "nominal", "site"),
    ("arm_n", "nominal", "arm"),
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
    if column == "arm":
        return [(arm.key, str(arm.label)) for arm in study.protocol.arms]
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


def _outcome_format(outcome) -> str:
    """A number wide enough for the outcome's range and decimals (F5.1 for 0–500.0)."""
    if not outcome.numeric:
        return f"F{max(len(str(value)) for value in outcome.category_values) + 1}.0"
    digits = max(len(str(int(abs(bound)))) for bound in (outcome.min, outcome.max))
    sign = 1 if outcome.min < 0 else 0
    if outcome.decimals:
        return f"F{digits + sign + 1 + outcome.decimals}.{outcome.decimals}"
    return f"F{digits + sign}.0"


def variables(study: Study, *, identified: bool = False) -> list[Variable]:
    """The cohort's variables for SPSS, labels in the active language: every column of the
    cohort export (``exports.cohort_header``, identities last when ``identified``), then the
    coded copies of its text categories (site, arm when the study has arms, education,
    employment, status, age group, parity group: ``<column>_n`` numbered 1, 2 … in the
    categories' order, with value labels).

    The data dictionary gives the variable labels; the study definition gives each outcome's
    format (its range and decimals), level (scale for numbers, ordinal or nominal for
    categories) and value labels; dates and other numbers are scale, text and flags nominal,
    ordered categories (education, age group) ordinal."""
    protocol = study.protocol
    described = {column.name: column for column in dictionary(protocol)}
    outcomes = {name: protocol.outcome(key) for name, _point, key in protocol.cohort_value_columns}
    columns = cohort_header(study, identified=identified)
    found = []
    for name in columns:
        column = described.get(name)
        outcome = outcomes.get(name)
        kind = column.type if column else "text"
        if outcome is not None:
            level = "scale" if outcome.numeric else (
                "ordinal" if outcome.type == "ordinal" else "nominal"
            )
            value_labels = {c.value: str(c.label) for c in outcome.categories}
            found.append(
                Variable(name, str(column.label) if column else name, _outcome_format(outcome),
                         level, value_labels)
            )  # fmt: skip
            continue
        if name.endswith("_observed_on"):
            spss_format = "SDATE10"
        else:
            spss_format = SPSS_FORMATS.get(name) or FORMATS_BY_TYPE.get(
                kind, _text_format(TEXT_LIMIT)
            )
        value_labels = {0: _("No"), 1: _("Yes")} if kind == "boolean" else {}
        level = "scale" if spss_format == "SDATE10" else LEVELS_BY_TYPE.get(kind, "nominal")
        found.append(
            Variable(name, str(column.label) if column else name, spss_format, level, value_labels)
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
    value labels, measurement levels) and runs the tests of the design that the results page
    computes (DESIGN.md §7; :func:`_outcome_syntax`): FREQUENCIES, the arms' baseline
    comparison, and per outcome DESCRIPTIVES, EXAMINE, NPAR TESTS, T-TEST and CROSSTABS. A
    semicolon file is read with a decimal comma."""
    protocol = study.protocol
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
        _comment(title),
        _comment(where),
        *(["SET DECIMAL=COMMA."] if delimiter == ";" else []),
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
        _comment(withdrawn),
        "SELECT IF (status <> 'withdrawn').",
        "EXECUTE.",
        "",
        "FREQUENCIES VARIABLES="
        + " ".join(
            name
            for name in ("arm_n", "age_group_n", "parity_group_n", "education_n", "employment_n")
            if name in by_name
        )
        + " /ORDER=ANALYSIS.",
        "",
    ]
    if protocol.has_arms:
        baseline = [
            name
            for name in ("age_group_n", "parity_group_n", "education_n", "employment_n")
            if name in by_name
        ]
        lines += [
            _comment(_("The arms compared on the mothers' characteristics (chi-square)")),
            f"CROSSTABS /TABLES=arm_n BY {' '.join(baseline)} /STATISTICS=CHISQ.",
            "",
        ]
    for outcome in protocol.outcomes:
        lines += _outcome_syntax(protocol, outcome)
    return "\n".join(lines)


def _outcome_syntax(protocol, outcome) -> list[str]:
    """The tests of one outcome that the results page computes (``analysis.design``), as SPSS
    syntax, over the same mothers (those with a value at every time point where the outcome is
    measured): Tests of Normality (EXAMINE) where the choice rests on them; within each arm
    NPAR TESTS /WILCOXON and T-TEST PAIRS (last minus first, as the page), /MCNEMAR,
    /FRIEDMAN or /COCHRAN; between the arms T-TEST GROUPS and NPAR TESTS /M-W (numbers, the
    change included) or CROSSTABS /STATISTICS=CHISQ (yes/no)."""
    plan = comparisons(protocol.design.key, outcome.type, outcome.timepoints)
    if not plan["within"] and not plan["between"]:
        return []
    binary = outcome.type == "binary"
    names = [f"{point}_{outcome.key}" for point in outcome.timepoints]
    first, last = names[0], names[-1]
    analysed, change = f"analysed_{outcome.key}", f"change_{outcome.key}"
    label = str(outcome.label)
    lines = [
        _comment(
            _(
                "%(outcome)s: only the mothers with a value at every time point where it is "
                "measured, as on Lancar's results page (every table speaks of the same mothers)"
            )
            % {"outcome": label}
        ),
        f"COMPUTE {analysed} = NMISS({', '.join(names)}) = 0.",
        f"FILTER BY {analysed}.",
    ]
    if not binary:
        lines.append(f"DESCRIPTIVES VARIABLES={' '.join(names)} /STATISTICS=MEAN STDDEV MIN MAX.")
    uses_change = not binary and (
        plan["normality"]["change"] or analysis_design.CHANGE in plan["between"]
    )
    if uses_change:
        # Computed here, not a column of the cohort: left unlabelled, so the .sps and the .sav
        # declare the same labels (tests/test_sav.py).
        lines.append(f"COMPUTE {change} = {last} - {first}.")
    tested = [f"{point}_{outcome.key}" for point in plan["normality"]["points"]]
    if plan["normality"]["change"]:
        tested.append(change)
    if tested:
        by = " BY arm_n" if protocol.has_arms else ""
        lines.append(f"EXAMINE VARIABLES={' '.join(tested)}{by} /PLOT NPPLOT.")
    if plan["within"]:
        split = protocol.has_arms
        if split:
            lines += ["SORT CASES BY arm_n.", "SPLIT FILE LAYERED BY arm_n."]
        if plan["within"] == "paired" and binary:
            lines.append(f"NPAR TESTS /MCNEMAR={first} WITH {last} (PAIRED).")
        elif plan["within"] == "paired":
            lines += [
                "NPAR TESTS",
                f"  /WILCOXON={first} WITH {last} (PAIRED)",
                "  /MISSING ANALYSIS.",
                f"T-TEST PAIRS={last} WITH {first} (PAIRED).",
            ]
        elif binary:
            lines.append(f"NPAR TESTS /COCHRAN={' '.join(names)}.")
        else:
            lines.append(f"NPAR TESTS /FRIEDMAN={' '.join(names)}.")
        if split:
            lines.append("SPLIT FILE OFF.")
    for key in plan["between"]:
        variable = change if key == analysis_design.CHANGE else f"{key}_{outcome.key}"
        if binary:
            lines.append(f"CROSSTABS /TABLES=arm_n BY {variable} /STATISTICS=CHISQ.")
        else:
            lines += [
                f"T-TEST GROUPS=arm_n(1 2) /VARIABLES={variable}.",
                f"NPAR TESTS /M-W={variable} BY arm_n (1 2).",
            ]
    return [*lines, "FILTER OFF.", ""]


def _comment(text: str) -> str:
    """One comment line of the syntax: "* Text." with its first letter capitalised and one
    full stop at its end (SPSS ends a comment at a line's final period), whether or not the
    text (a translation) already ends with one; on one line."""
    words = " ".join(str(text).split()).rstrip(".").rstrip()
    return f"* {capfirst(words)}."


def _value_labels(variable: Variable) -> str:
    return (
        f"VALUE LABELS {variable.name} "
        + " ".join(
            f"{_value(variable, code)} {_spss_text(label)}"
            for code, label in variable.value_labels.items()
        )
        + "."
    )
