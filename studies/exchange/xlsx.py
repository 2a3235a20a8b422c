"""The exports and the results tables as .xlsx workbooks (openpyxl in write-only mode, so a
large export costs little memory): codes and phone numbers as text cells (their leading zeros
kept), dates as dates, counts as numbers, and no cell a formula."""

from __future__ import annotations

import datetime
import re
import tempfile
from collections.abc import Iterable
from decimal import Decimal
from typing import IO, Any

from django.utils import timezone
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font

from .cells import FORMULA_TRIGGERS, Number

CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"


def _number_format(text: str, decimal_separator: str) -> str:
    """The display format of a number as the table prints it: its decimals, and no leading zero
    where SPSS prints none (",915")."""
    whole, _sep, decimals = text.lstrip("-").partition(decimal_separator)
    return ("0" if whole else "") + ("." + "0" * len(decimals) if decimals else "")


def _cell(sheet, value: Any, decimal_separator: str, bold: bool = False) -> Any:
    """One cell with its type: text stays text even when it starts with "=" (openpyxl would
    write it as a formula), numbers and dates are typed."""
    if type(value) is Number:
        cell = WriteOnlyCell(sheet, float(value.replace(decimal_separator, ".")))
        cell.number_format = _number_format(value, decimal_separator)
        return cell
    if isinstance(value, bool):
        value = int(value)
    if value is None or isinstance(value, (int, float, Decimal)):
        cell = WriteOnlyCell(sheet, value)
    elif isinstance(value, datetime.datetime):
        if timezone.is_aware(value):
            value = timezone.make_naive(value)  # the local time, as the page shows it
        cell = WriteOnlyCell(sheet, value)
        cell.number_format = DATETIME_FORMAT
    elif isinstance(value, datetime.date):
        cell = WriteOnlyCell(sheet, value)
        cell.number_format = DATE_FORMAT
    else:
        # Control characters have no place in the file format: shown as "?" rather than lost.
        text = ILLEGAL_CHARACTERS_RE.sub("?", str(value))
        cell = WriteOnlyCell(sheet, text)
        cell.data_type = "s"  # never a formula
        # Excel's own mark for "typed with an apostrophe": editing the cell keeps it text.
        cell.quotePrefix = text.startswith(FORMULA_TRIGGERS)
    if bold:
        cell.font = Font(bold=True)
    return cell


def workbook(
    rows: Iterable[Iterable[Any]], *, title: str, decimal_separator: str = ".", header: bool = True
) -> IO[bytes]:
    """One sheet named ``title`` holding ``rows`` (the first in bold when ``header``), as an
    .xlsx file on disk, rewound for reading. ``decimal_separator`` is the one of the ``Number``
    cells."""
    book = Workbook(write_only=True)
    # A sheet name: at most 31 characters, none of [ ] : * ? / or a backslash.
    sheet = book.create_sheet(re.sub(r"[][:*?/\\]", "", title)[:31] or "data")
    for index, row in enumerate(rows):
        bold = header and index == 0
        sheet.append([_cell(sheet, value, decimal_separator, bold) for value in row])
    # Handed to the response, which closes it once sent (a with-block would close it here).
    out = tempfile.TemporaryFile()  # noqa: SIM115
    book.save(out)
    out.seek(0)
    return out
