"""SPSS syntax that reads the cohort CSV with labels and runs the paper's analysis."""

from __future__ import annotations

from django.utils.translation import gettext as _

from ..models import TEXT_LIMIT, Respondent, Site, Study
from .columns import COHORT_COLUMNS, EXTRA_COLUMNS, dictionary

# --- SPSS syntax -----------------------------------------------------------------------------


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
}
SPSS_CATEGORIES = {
    # numeric copy, measurement level, the categories in order
    "education": ("education_n", "ORDINAL", Respondent.Education),
    "employment": ("employment_n", "NOMINAL", Respondent.Employment),
    "age_group": ("age_group_n", "ORDINAL", None),
    "parity_group": ("parity_group_n", "NOMINAL", None),
}


def _spss_text(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def spss_syntax(study: Study, *, delimiter: str = ",", filename: str = "") -> str:
    """SPSS syntax that reads the cohort CSV with labels and measurement levels and runs the
    paper's analysis (FREQUENCIES, DESCRIPTIVES and NPAR TESTS /WILCOXON)."""
    from ..cohort import OUTCOMES, characteristic_labels, outcome_label

    filename = filename or f"{study.code}-cohort.csv"
    labels = {column.name: str(column.label) for column in dictionary()}
    group_labels = characteristic_labels()
    # Messages outside the f-strings: makemessages cannot read a gettext call inside one.
    title = _("Lancar: the cohort of study %(code)s") % {"code": study.code}
    where = _("Put this file next to %(file)s, or write its full path below.") % {
        "file": filename
    }
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
        *[f"    {name} {SPSS_FORMATS[name]}" for name in COHORT_COLUMNS + EXTRA_COLUMNS],
        "  .",
        "CACHE.",
        "EXECUTE.",
        "",
        "VARIABLE LABELS",
        "  "
        + "\n  /".join(
            f"{name} {_spss_text(labels[name])}" for name in COHORT_COLUMNS + EXTRA_COLUMNS
        )
        + ".",
        "",
    ]
    for column, (numeric, level, choices_class) in SPSS_CATEGORIES.items():
        if choices_class is not None:
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
    scale = " ".join(
        ["age_years", "parity", "pre_feeds", "pre_urinations", "post_feeds", "post_urinations"]
    )
    lines += [
        f"VARIABLE LEVEL {scale} (SCALE).",
        "EXECUTE.",
        "",
        f"* {withdrawn}.",
        "SELECT IF (status <> 'withdrawn').",
        "EXECUTE.",
        "",
        "FREQUENCIES VARIABLES=age_group_n parity_group_n education_n employment_n"
        " /ORDER=ANALYSIS.",
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
