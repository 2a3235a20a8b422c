"""Data exchange: the CSV exports a data manager downloads and the all-or-nothing cohort import
(DESIGN.md sections 4.3 and 4.4), split by job:

- ``cells``: a cell's text (formulas neutralised on the way out, restored on the way in, text
  quoted), the streaming CSV writer and the results tables' cells;
- ``columns``: the cohort table's columns and the data dictionary;
- ``exports``: the rows of each export, streamed from the database;
- ``imports``: reading and checking a cohort file, every row or none;
- ``bulk``: writing an import's rows and their history in bulk;
- ``spss``: the SPSS syntax that reads the cohort export;
- ``xlsx``: the exports and the results tables as spreadsheets.

Exports are generators of rows, so a view can stream them and 100,000 mothers cost no more
memory than 100. Text cells that a spreadsheet would run as a formula are neutralised on the way
out with a leading apostrophe, and the importer takes that apostrophe off again, so an export
re-imports unchanged. The names other modules use are imported here.
"""

from .bulk import SLOT_HOURS
from .cells import (
    DELIMITERS,
    FORMULA_TRIGGERS,
    Number,
    cell,
    csv_field,
    default_delimiter,
    neutralise,
    restore,
    stream_csv,
    table_rows,
)
from .columns import (
    COHORT_COLUMNS,
    EXTRA_COLUMNS,
    IDENTITY_COLUMNS,
    KNOWN_COLUMNS,
    cohort_columns,
    dictionary,
    dictionary_rows,
    extra_columns,
    known_columns,
)
from .exports import (
    EXPORTS,
    IDENTIFIABLE,
    SHEETS,
    audit_rows,
    cohort_header,
    cohort_rows,
    cohort_template_rows,
    cohort_values,
    export_counts,
    observation_rows,
    outcome_cell,
    session_rows,
)
from .imports import (
    MAX_REPORTED_ERRORS,
    ImportFileError,
    ImportReport,
    RowError,
    decode,
    file_too_large,
    import_cohort,
    read_cohort,
)
from .spss import spss_syntax

__all__ = [
    "COHORT_COLUMNS",
    "DELIMITERS",
    "EXPORTS",
    "EXTRA_COLUMNS",
    "FORMULA_TRIGGERS",
    "IDENTIFIABLE",
    "IDENTITY_COLUMNS",
    "KNOWN_COLUMNS",
    "SHEETS",
    "Number",
    "MAX_REPORTED_ERRORS",
    "SLOT_HOURS",
    "ImportFileError",
    "ImportReport",
    "RowError",
    "audit_rows",
    "cell",
    "cohort_columns",
    "cohort_header",
    "cohort_rows",
    "cohort_template_rows",
    "cohort_values",
    "csv_field",
    "default_delimiter",
    "decode",
    "dictionary",
    "dictionary_rows",
    "export_counts",
    "extra_columns",
    "known_columns",
    "outcome_cell",
    "file_too_large",
    "import_cohort",
    "neutralise",
    "observation_rows",
    "read_cohort",
    "restore",
    "session_rows",
    "spss_syntax",
    "stream_csv",
    "table_rows",
]
