"""Cells of the CSV files: formula neutralising on the way out and back in, and the
streaming writer."""

from __future__ import annotations

import csv
import datetime
import io
from collections.abc import Iterable, Iterator
from typing import Any

from django.utils import timezone

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


class _Echo:
    """A file-like object whose ``write`` hands the line back, for ``csv.writer``."""

    def write(self, value: str) -> str:
        return value


DELIMITERS = {"comma": ",", "semicolon": ";"}
# Values the csv module writes as cell() would: None as "", dates as str() (ISO), numbers.
_WRITTEN_AS_IS = frozenset({type(None), int, float, datetime.date})
_TRIGGERS = frozenset(FORMULA_TRIGGERS)  # single characters, tested with value[:1]


class PreparedRows(list):
    """A batch of rows whose cells are already as the CSV needs them (text neutralised,
    booleans as 1/0; None, numbers and dates as they are): ``stream_csv`` writes the batch in
    one call without looking at each value again. The cohort export, the large one, prepares
    its rows itself."""

    __slots__ = ()


def stream_csv(
    rows: Iterable[Iterable[Any]], *, delimiter: str = ",", bom: bool = True, chunk_rows: int = 500
) -> Iterator[str]:
    """CSV text in chunks of ``chunk_rows`` lines (or of a ``PreparedRows`` batch); UTF-8 with
    a BOM opens correctly in Excel."""
    writer = csv.writer(_Echo(), delimiter=delimiter, lineterminator="\r\n")
    batch_buffer = io.StringIO()
    batch_writer = csv.writer(batch_buffer, delimiter=delimiter, lineterminator="\r\n")
    if bom:
        yield "\ufeff"
    chunk: list[str] = []
    for row in rows:
        if type(row) is PreparedRows:
            batch_writer.writerows(row)
            chunk.append(batch_buffer.getvalue())
            batch_buffer.seek(0)
            batch_buffer.truncate()
            yield "".join(chunk)
            chunk = []
            continue
        # cell() inlined for the common types: a call per value was most of a large export.
        chunk.append(
            writer.writerow(
                [
                    value
                    if type(value) in _WRITTEN_AS_IS
                    else ("'" + value if value[:1] in _TRIGGERS else value)
                    if type(value) is str
                    else cell(value)
                    for value in row
                ]
            )
        )
        if len(chunk) >= chunk_rows:
            yield "".join(chunk)
            chunk = []
    if chunk:
        yield "".join(chunk)
