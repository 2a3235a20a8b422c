"""The cohort as an SPSS data file (``cohort.sav``, written by pyreadstat): the variables of
``spss.variables`` — the same names, labels, value labels and measurement levels that
``cohort.sps`` declares — so a researcher opens it in SPSS or PSPP with nothing to recode.

Numbers are numbers, dates are SPSS dates, text is text, every coded column has a numbered copy
with value labels, and an empty cell is system-missing (an empty string for text)."""

from __future__ import annotations

import os
import tempfile
from typing import IO

import pandas as pd
import pyreadstat
from django.utils.translation import gettext as _

from ..models import Study
from .exports import cohort_values
from .spss import Variable, variables

CONTENT_TYPE = "application/x-spss-sav"


def _column(variable: Variable, values: list) -> pd.Series:
    """One variable's values as pyreadstat writes them: text as str ("" when empty), dates as
    nanosecond datetimes (NaT when empty), numbers as float (NaN when empty); NaT and NaN are
    written system-missing. Dates go as datetime64[ns] rather than ``datetime.date`` objects:
    a column of dates that are all empty would otherwise be written as text, and pyreadstat
    misreads pandas' second-resolution datetimes as days after 1970."""
    if variable.is_text:
        return pd.Series(["" if v is None else str(v) for v in values], dtype=object)
    if variable.is_date:
        return pd.to_datetime(pd.Series(values, dtype=object)).astype("datetime64[ns]")
    return pd.Series([float("nan") if v is None else float(v) for v in values], dtype="float64")


def cohort_frame(study: Study, *, identified: bool = False) -> tuple[pd.DataFrame, list[Variable]]:
    """The cohort export's rows (``exchange.cohort_values``) under the variables of
    ``spss.variables``, the coded copies filled from their text columns (a value outside the
    categories is system-missing)."""
    rows = cohort_values(study, identified=identified)
    header = next(rows)
    data = list(rows)
    described = variables(study, identified=identified)
    positions = {name: index for index, name in enumerate(header)}
    columns = {}
    for variable in described:
        if variable.codes:
            source = [row[positions[variable.codes]] for row in data]
            values = [variable.code_of.get(value) for value in source]
        else:
            values = [row[positions[variable.name]] for row in data]
        columns[variable.name] = _column(variable, values)
    return pd.DataFrame(columns, index=range(len(data))), described


def cohort_sav(study: Study, *, identified: bool = False) -> IO[bytes]:
    """The cohort as a .sav file on disk, rewound for reading (handed to a response, which
    closes it once sent)."""
    frame, described = cohort_frame(study, identified=identified)
    handle, path = tempfile.mkstemp(suffix=".sav")
    os.close(handle)
    try:
        pyreadstat.write_sav(
            frame,
            path,
            file_label=(_("Lancar: the cohort of study %(code)s") % {"code": study.code})[:64],
            column_labels={v.name: v.label for v in described},
            variable_value_labels={
                v.name: {float(code): label for code, label in v.value_labels.items()}
                for v in described
                if v.value_labels
            },
            variable_measure={v.name: v.level for v in described},
            variable_format={v.name: v.format for v in described if not v.is_text},
        )
        out = open(path, "rb")  # noqa: SIM115 — closed by the response
    finally:
        os.unlink(path)  # the open handle keeps the data until the response closes it
    return out
