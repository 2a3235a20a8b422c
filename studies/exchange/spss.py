"""SPSS syntax that reads the cohort CSV with labels and runs the design's analysis. The
variables, their labels and value labels come from one function (``spss_variables``)."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext as _

from ..models import TEXT_LIMIT, Respondent, Site, Study
from .columns import dictionary
from .exports import cohort_header

# --- SPSS syntax -----------------------------------------------------------------------------


def _text_format(characters: int) -> str:
    """A string format wide enough for any value the model allows: SPSS and PSPP count a
    string's width in bytes of the file's encoding (up to 4 per character in UTF-8), and the
    export may put an apostrophe before a cell a spreadsheet would run as a formula."""
    return f"A{4 * (characters + 1)}"


# The formats of the mother's own columns; the outcome and sheet-date columns follow the study's
# definition (spss_variables).
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
}
SPSS_CATEGORIES = {
    # numeric copy, measurement level, the categories in order
    "education": ("education_n", "ORDINAL", Respondent.Education),
    "employment": ("employment_n", "NOMINAL", Respondent.Employment),
    "age_group": ("age_group_n", "ORDINAL", None),
    "parity_group": ("parity_group_n", "NOMINAL", None),
}


@dataclass(frozen=True)
class SpssVariable:
    """One variable of the cohort file as SPSS reads it: ``name``, input ``format`` (F3.0,
    SDATE10, A484 …), ``label`` (active language), ``values`` (value → label, for a
    category read as a number: binary and ordinal outcomes) and measurement ``level``
    (SCALE, ORDINAL, NOMINAL or "" when SPSS decides)."""

    name: str
    format: str
    label: str
    values: tuple[tuple[int, str], ...] = ()
    level: str = ""


def _outcome_format(outcome) -> str:
    """A number wide enough for the outcome's range and decimals (F5.1 for 0–500.0)."""
    if not outcome.numeric:
        return f"F{max(len(str(value)) for value in outcome.category_values) + 1}.0"
    digits = max(len(str(int(abs(bound)))) for bound in (outcome.min, outcome.max))
    sign = 1 if outcome.min < 0 else 0
    if outcome.decimals:
        return f"F{digits + sign + 1 + outcome.decimals}.{outcome.decimals}"
    return f"F{digits + sign}.0"


def spss_variables(study: Study) -> list[SpssVariable]:
    """Every column of the cohort export (``cohort_header``) as an SPSS variable, in order, with
    its label from the data dictionary; outcome columns with their format and level (SCALE for
    numbers, ORDINAL / NOMINAL with value labels for ordinal and binary outcomes) and ``arm``
    with its arms' labels (the numeric copy ``arm_n`` is made by the syntax)."""
    protocol = study.protocol
    labels = {column.name: str(column.label) for column in dictionary(protocol)}
    outcomes = {name: protocol.outcome(key) for name, _point, key in protocol.cohort_value_columns}
    variables = []
    for name in cohort_header(study):
        outcome = outcomes.get(name)
        if outcome is not None:
            level = (
                "SCALE"
                if outcome.numeric
                else ("ORDINAL" if outcome.type == "ordinal" else "NOMINAL")
            )
            values = tuple((c.value, str(c.label)) for c in outcome.categories)
            variables.append(
                SpssVariable(name, _outcome_format(outcome), labels[name], values, level)
            )
        elif name.endswith("_observed_on"):
            variables.append(SpssVariable(name, "SDATE10", labels[name]))
        else:
            level = "SCALE" if name in ("age_years", "parity") else ""
            variables.append(SpssVariable(name, SPSS_FORMATS[name], labels[name], level=level))
    return variables


def _spss_text(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def spss_syntax(study: Study, *, delimiter: str = ",", filename: str = "") -> str:
    """SPSS syntax that reads the cohort CSV with labels and measurement levels and runs the
    design's analysis: FREQUENCIES, DESCRIPTIVES, and NPAR TESTS /WILCOXON from the baseline to
    the last time point (one group) or /M-W by arm at the last time point (two groups). A
    semicolon file is read with a decimal comma."""
    from ..cohort import characteristic_labels

    protocol = study.protocol
    filename = filename or f"{study.code}-cohort.csv"
    variables = spss_variables(study)
    labels = {variable.name: variable.label for variable in variables}
    group_labels = characteristic_labels()
    # Messages outside the f-strings: makemessages cannot read a gettext call inside one.
    title = _("Lancar: the cohort of study %(code)s") % {"code": study.code}
    where = _("Put this file next to %(file)s, or write its full path below.") % {"file": filename}
    withdrawn = _("Withdrawn mothers are left out of the analysis, as in Lancar.")
    lines = [
        f"* {title}.",
        f"* {where}.",
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
        *[f"    {variable.name} {variable.format}" for variable in variables],
        "  .",
        "CACHE.",
        "EXECUTE.",
        "",
        "VARIABLE LABELS",
        "  "
        + "\n  /".join(f"{variable.name} {_spss_text(variable.label)}" for variable in variables)
        + ".",
        "",
    ]
    for variable in variables:
        if variable.values:
            lines.append(
                f"VALUE LABELS {variable.name} "
                + " ".join(f"{value} {_spss_text(label)}" for value, label in variable.values)
                + "."
            )
    categories_of = dict(SPSS_CATEGORIES)
    if protocol.has_arms:
        categories_of["arm"] = ("arm_n", "NOMINAL", None)
    for column, (numeric, level, choices_class) in categories_of.items():
        if column == "arm":
            categories = [(arm.key, str(arm.label)) for arm in protocol.arms]
        elif choices_class is not None:
            categories = [(value, str(label)) for value, label in choices_class.choices]
        else:
            _title, mapping = group_labels[
                {"age_group": "age_group", "parity_group": "parity"}[column]
            ]
            categories = [(key, str(label)) for key, label in mapping.items()]
        recode = " ".join(
            f"({_spss_text(value)}={index})" for index, (value, _label) in enumerate(categories, 1)
        )
        lines += [
            f"RECODE {column} {recode} INTO {numeric}.",
            f"VARIABLE LABELS {numeric} {_spss_text(labels[column])}.",
            f"VALUE LABELS {numeric} "
            + " ".join(
                f"{index} {_spss_text(label)}"
                for index, (_value, label) in enumerate(categories, 1)
            )
            + ".",
            f"VARIABLE LEVEL {numeric} ({level}).",
            f"FORMATS {numeric} (F1.0).",
        ]
    for level in ("SCALE", "ORDINAL", "NOMINAL"):
        names = [variable.name for variable in variables if variable.level == level]
        if names:
            lines.append(f"VARIABLE LEVEL {' '.join(names)} ({level}).")
    lines += [
        "EXECUTE.",
        "",
        f"* {withdrawn}.",
        "SELECT IF (status <> 'withdrawn').",
        "EXECUTE.",
        "",
        "FREQUENCIES VARIABLES="
        + ("arm_n " if protocol.has_arms else "")
        + "age_group_n parity_group_n education_n employment_n /ORDER=ANALYSIS.",
        "",
    ]
    first, last = protocol.baseline.key, protocol.last_timepoint.key
    for outcome in protocol.outcomes:
        if not outcome.numeric and outcome.type != "ordinal":
            continue
        label = str(outcome.label)
        if protocol.has_arms:
            if last not in outcome.timepoints:
                continue
            post = f"{last}_{outcome.key}"
            lines += [
                "* "
                + _("%(outcome)s: the arms compared at the last time point (Mann–Whitney U)")
                % {"outcome": label}
                + ".",
                f"DESCRIPTIVES VARIABLES={post} /STATISTICS=MEAN STDDEV MIN MAX.",
                "NPAR TESTS",
                f"  /M-W={post} BY arm_n (1 2)",
                "  /MISSING ANALYSIS.",
                "",
            ]
            continue
        if first == last or not {first, last} <= set(outcome.timepoints):
            continue
        pre, post = f"{first}_{outcome.key}", f"{last}_{outcome.key}"
        lines += [
            "* "
            + _(
                "%(outcome)s: only the mothers with both a pre-test and a post-test value, "
                "as on Lancar's results page (Tables 2-4 speak of the same mothers)"
            )
            % {"outcome": label}
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
