"""Cells of the CSV files: formula neutralising on the way out and back in, the quoting of text
fields, and the streaming writer."""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any

from django.utils import timezone
from django.utils.formats import get_format

# --- cells -----------------------------------------------------------------------------------

# A text cell starting with one of these runs as a formula in Excel or LibreOffice (or, for the
# apostrophe, would lose its first character on the way back in).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "'")


def neutralise(text: str) -> str:
    """Make a text cell inert in a spreadsheet: a leading apostrophe before a trigger."""
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def restore(text: str) -> str:
    """The importer's half of :func:`neutralise`."""
    return text[1:] if text.startswith("'") else text


LINE_BREAKS = re.compile(r"\r\n|\r|\n")


def one_line(text: str) -> str:
    """Text with each line break replaced by a space. SPSS's and PSPP's CSV reader ends a case at
    a line break even inside a quoted field, so the cohort table (the one that statistics
    packages read, through cohort.sps) carries its text on one line, in the .xlsx as in the CSV."""
    return LINE_BREAKS.sub(" ", text) if "\n" in text or "\r" in text else text


def cell(value: Any) -> str | int | float:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, datetime.datetime):
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, str):
        return neutralise(value)
    return value


DELIMITERS = {"comma": ",", "semicolon": ";"}


def default_delimiter() -> str:
    """The separator a spreadsheet in the active language expects: where the decimal mark is a
    comma (Indonesian), Excel and LibreOffice split a CSV at semicolons."""
    return "semicolon" if get_format("DECIMAL_SEPARATOR") == "," else "comma"


class Number(str):
    """A number already formatted for the file (``",915"`` in a table with decimal commas):
    written as it is, unquoted, so a spreadsheet reads it as a number."""

    __slots__ = ()


def quote(text: str) -> str:
    """A text field, always quoted: a spreadsheet's import dialog then keeps the separators
    inside it and the leading zeros of a code ("0016") when it reads quoted fields as text."""
    return '"' + text.replace('"', '""') + '"'


# Written unquoted, as str() gives them: numbers (and already formatted numbers) and dates.
_AS_IS = frozenset({int, float, Decimal, Number, datetime.date})
_TRIGGERS = frozenset(FORMULA_TRIGGERS)  # single characters, tested with value[:1]


def csv_field(value: Any) -> str:
    """One CSV field: text quoted and neutralised, numbers and dates bare, None empty, a flag as
    1 or 0 (numbers, so a spreadsheet can sum them)."""
    kind = type(value)
    if kind is str:
        return quote("'" + value if value[:1] in _TRIGGERS else value)
    if kind in _AS_IS:
        return str(value)
    if value is None:
        return ""
    if kind is bool:
        return "1" if value else "0"
    if kind is datetime.datetime:
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, (int, float, Decimal)):
        return str(value)
    return quote(neutralise(str(value)))


class PreparedRows(list):
    """A batch of rows whose cells are already the CSV's fields (``csv_field`` applied, text
    quoted): ``stream_csv`` joins them without looking at each value again. The cohort export,
    the large one, prepares its rows itself. ``decimals`` are the positions of the fields that
    may hold a decimal point (written as a comma in a semicolon file)."""

    __slots__ = ("decimals",)

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.decimals: frozenset[int] = frozenset()


def stream_csv(
    rows: Iterable[Iterable[Any]], *, delimiter: str = ",", bom: bool = True, chunk_rows: int = 500
) -> Iterator[str]:
    """CSV text in chunks of ``chunk_rows`` lines (or of a ``PreparedRows`` batch), every text
    field quoted and numbers and dates bare; UTF-8 with a BOM opens correctly in Excel. In a
    semicolon file (the separator of languages whose decimal mark is a comma) a number with
    decimals is written with a decimal comma, as a spreadsheet there reads it (12,5)."""
    if bom:
        yield "\ufeff"
    comma = delimiter == ";"
    chunk: list[str] = []
    for row in rows:
        if type(row) is PreparedRows:
            if comma and row.decimals:
                for fields in row:
                    for position in row.decimals:
                        fields[position] = fields[position].replace(".", ",")
            chunk.extend(delimiter.join(fields) + "\r\n" for fields in row)
            yield "".join(chunk)
            chunk = []
            continue
        fields = [csv_field(value) for value in row]
        if comma:
            fields = [
                field.replace(".", ",") if type(value) in (float, Decimal) else field
                for field, value in zip(fields, row, strict=False)
            ]
        # One empty field is written "" as the csv module does: a bare line would read as no row.
        line = delimiter.join(fields) if fields != [""] else '""'
        chunk.append(line + "\r\n")
        if len(chunk) >= chunk_rows:
            yield "".join(chunk)
            chunk = []
    if chunk:
        yield "".join(chunk)


# --- the results tables ----------------------------------------------------------------------


def table_rows(table, *, decimal_separator: str) -> list[list[Any]]:
    """A manuscript table (``studies.manuscript.Table``) as rows of cells for a CSV or a
    spreadsheet: the title, then each part's caption, header, rows and footnotes, parts apart by
    an empty row. A footnote letter gets its own cell, right of its number (a number cell
    holding "-2,670b" would be text to a spreadsheet); the numbers come as ``Number`` (the
    text formatted with ``decimal_separator``, which must be the table's)."""
    number = re.compile(r"-?\d*" + re.escape(decimal_separator) + r"?\d+")

    def value(cell) -> Any:
        text = str(cell.text)  # never a lazy translation: the writers take plain text only
        if not text:
            return None  # an empty cell, not an empty text
        return Number(text) if number.fullmatch(text) else text

    rows: list[list[Any]] = [[str(table.heading)]]
    for index, part in enumerate(table.parts):
        if index:
            rows.append([])
        if part.caption:
            caption = str(part.caption)
            rows.append([caption, str(part.caption_note)] if part.caption_note else [caption])
        # A column with any footnote letter is followed by a column of its letters.
        noted = {
            column
            for row in [part.header, *part.rows]
            for column, cell in enumerate(row)
            if cell.note
        }
        for row in [part.header, *part.rows]:
            cells: list[Any] = []
            for column, cell in enumerate(row):
                cells.append(value(cell))
                if column in noted:
                    cells.append(str(cell.note) if cell.note else None)
            rows.append(cells)
        rows.extend([str(note)] for note in part.footnotes)
    return rows
