"""Every results table as a Word document (.docx) for a thesis or an article: numbered and
titled as Indonesian theses print them ("Tabel 4.1 Distribusi frekuensi karakteristik responden
…", chapter 4 being a thesis's results chapter), in the active language, with SPSS's decimals.

The tables are the results page's own (``manuscript.tables`` and ``manuscript.extra_table``),
whose cells are already formatted strings: this module only lays them out, so the document can
never print a figure the page does not. Layout follows the thesis (APA) table: lines above and
below the table and under the header row, no vertical lines, Times New Roman 12 with single
line spacing in the table, footnotes under each table and the conclusion after the tables.
"""

from __future__ import annotations

import io
from collections.abc import Iterable

from django.utils import timezone, translation
from django.utils.translation import gettext as _
from docx import Document
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt

from . import manuscript
from .cohort import PARITY_LABELS, CohortFilters

CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
# A thesis's results chapter ("BAB IV HASIL PENELITIAN DAN PEMBAHASAN"): its tables are 4.1, 4.2 …
CHAPTER = 4
FONT = "Times New Roman"
TABLE_SIZE = Pt(12)
NOTE_SIZE = Pt(10)
# Border widths in eighths of a point (OOXML's unit): a 1 pt rule above and below the table,
# a ½ pt rule under the header, as APA and Indonesian thesis guides draw them.
OUTER_RULE = 8
HEADER_RULE = 4
# Word's spelling language for each interface language.
WORD_LANGUAGES = {"id": "id-ID", "en": "en-US"}


def document_tables(document: dict, fmt: manuscript.Formatter) -> list[manuscript.Table]:
    """Every table of the results page, in the page's order: the paper's tables
    (``manuscript.tables``) and then the further analyses."""
    tables = manuscript.tables(document, fmt)
    if manuscript.paired(document):
        tables.append(manuscript.extra_table(document, fmt))
    return tables


def numbered_label(index: int) -> str:
    """The thesis label of the ``index``-th table (1-based) of the results chapter:
    "Tabel 4.1" / "Table 4.1"."""
    return _("Table %(chapter)s.%(number)s") % {"chapter": CHAPTER, "number": index}


def numbered_caption(index: int, table: manuscript.Table) -> str:
    """ "Tabel 4.1 Distribusi frekuensi karakteristik responden (N = 15)": label and title,
    without the page's own table number."""
    return f"{numbered_label(index)} {table.title}"


def filters_text(filters: CohortFilters | None) -> str:
    """The results page's filters in words ("" when the whole cohort is analysed)."""
    if filters is None:
        return ""
    parts = []
    if filters.site is not None:
        parts.append(_("Site: %(site)s") % {"site": filters.site.name})
    if filters.parity:
        parts.append(_("Parity: %(parity)s") % {"parity": PARITY_LABELS[filters.parity]})
    if filters.per_protocol:
        parts.append(_("Per protocol: only mothers with every planned session done"))
    return "; ".join(parts)


def conclusions(document: dict, fmt: manuscript.Formatter) -> list[str]:
    """The results page's conclusion, the sentences of every outcome in its order."""
    return manuscript.conclusions(document, fmt)


def tables_docx(
    *,
    study,
    document: dict,
    fmt: manuscript.Formatter,
    filters: CohortFilters | None = None,
) -> io.BytesIO:
    """The .docx of every results table of ``document`` (the results document of
    ``cohort.results_document``, labels in the active language), rewound for reading.

    ``fmt`` is the formatter of the page (its decimal separator is the user's), so the cells
    read exactly as on the results page. Word tables: one per table part (Table 4 has two,
    SPSS's Ranks and Test Statistics), each under the table's numbered caption."""
    word = Document()
    _page_and_fonts(word)
    word.core_properties.title = _("Results tables of study %(code)s") % {"code": study.code}
    word.core_properties.language = WORD_LANGUAGES.get(translation.get_language() or "", "")

    heading = word.add_paragraph()
    run = heading.add_run(study.title)
    run.bold = True
    heading.add_run(f" ({study.code})")
    subtitle = word.add_paragraph(
        _("Computed on %(day)s from every sheet and session saved so far.")
        % {"day": timezone.localdate().isoformat()}
    )
    if text := filters_text(filters):
        subtitle.add_run(" " + _("Filters: %(filters)s.") % {"filters": text})

    for index, table in enumerate(document_tables(document, fmt), start=1):
        _add_table(word, index, table)

    word.add_paragraph(_("Conclusion"), style="Heading 2")
    for sentence in conclusions(document, fmt):
        word.add_paragraph(sentence)

    out = io.BytesIO()
    word.save(out)
    out.seek(0)
    return out


# --- layout ----------------------------------------------------------------------------------


def _page_and_fonts(word) -> None:
    """A4 with an Indonesian thesis's margins (4 cm binding side, 3 cm elsewhere), Times New
    Roman 12 throughout, Word's spelling language set to the user's."""
    section = word.sections[0]
    section.orientation = WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = Cm(21), Cm(29.7)
    section.left_margin = Cm(4)
    section.top_margin = section.right_margin = section.bottom_margin = Cm(3)
    language = WORD_LANGUAGES.get(translation.get_language() or "", "")
    for name in ("Normal", "Heading 2", "Caption"):
        style = word.styles[name]
        _set_font(style.font, style.element, size=TABLE_SIZE, language=language)
        style.font.color.rgb = None
        style.font.italic = False
        style.font.bold = name != "Normal"
    word.styles["Caption"].paragraph_format.keep_with_next = True


def _set_font(font, element, *, size, language: str = "") -> None:
    """Times New Roman for every script (Word picks the East Asian font for some
    characters, and its theme font unless told otherwise)."""
    font.name = FONT
    font.size = size
    rpr = element.get_or_add_rPr()
    fonts = rpr.get_or_add_rFonts()
    for attribute in ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs"):
        fonts.set(qn(attribute), FONT)
    for attribute in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
        fonts.attrib.pop(qn(attribute), None)
    if language:
        lang = rpr.find(qn("w:lang"))
        if lang is None:
            lang = OxmlElement("w:lang")
            rpr.append(lang)
        lang.set(qn("w:val"), language)


def _add_table(word, index: int, table: manuscript.Table) -> None:
    """The numbered caption above, then each part: its caption, the Word table, its
    footnotes."""
    caption = word.add_paragraph(style="Caption")
    label = caption.add_run(numbered_label(index))
    label.bold = True
    title = caption.add_run(" " + table.title)
    title.bold = False
    for part in table.parts:
        if part.caption:
            heading = word.add_paragraph()
            heading.paragraph_format.keep_with_next = True
            heading.paragraph_format.space_after = Pt(0)
            run = heading.add_run(part.caption)
            run.italic = True
            if part.caption_note:
                heading.add_run(part.caption_note).font.superscript = True
        _add_grid(word, part)
        for note in part.footnotes:
            paragraph = word.add_paragraph()
            _single_spaced(paragraph)
            paragraph.add_run(note).font.size = NOTE_SIZE
        word.add_paragraph()  # the blank line a thesis leaves after a table


def _add_grid(word, part: manuscript.TablePart) -> None:
    rows = [part.header, *part.rows]
    columns = max(len(row) for row in rows)
    grid = word.add_table(rows=len(rows), cols=columns)
    grid.alignment = WD_TABLE_ALIGNMENT.CENTER
    grid.autofit = True
    _table_borders(grid)
    for row_index, (cells, row) in enumerate(zip(rows, grid.rows, strict=True)):
        header = row_index == 0
        if header:
            _repeat_as_header(row)
        for column, cell in enumerate(cells):
            target = row.cells[column]
            paragraph = target.paragraphs[0]
            _single_spaced(paragraph)
            if column >= part.label_columns:
                paragraph.alignment = WD_ALIGN_PARAGRAPH.RIGHT
            run = paragraph.add_run(cell.text)
            run.bold = header
            _table_font(run)
            if cell.note:
                note = paragraph.add_run(cell.note)
                note.font.superscript = True
                note.bold = header
                _table_font(note)
            if header:
                _cell_bottom_rule(target)


def _single_spaced(paragraph) -> None:
    fmt = paragraph.paragraph_format
    fmt.line_spacing = 1.0
    fmt.space_before = Pt(0)
    fmt.space_after = Pt(0)


def _table_font(run) -> None:
    run.font.name = FONT
    run.font.size = TABLE_SIZE


def _border(tag: str, size: int | None) -> OxmlElement:
    edge = OxmlElement(tag)
    if size is None:
        edge.set(qn("w:val"), "nil")
    else:
        edge.set(qn("w:val"), "single")
        edge.set(qn("w:sz"), str(size))
        edge.set(qn("w:space"), "0")
        edge.set(qn("w:color"), "000000")
    return edge


def _borders(tag: str, sizes: Iterable[tuple[str, int | None]]) -> OxmlElement:
    element = OxmlElement(tag)
    for edge, size in sizes:
        element.append(_border(f"w:{edge}", size))
    return element


def _table_borders(grid) -> None:
    """Top and bottom rules, nothing between rows or columns (w:tblBorders, placed where the
    schema orders it: after the width, alignment and indent, before the layout)."""
    borders = _borders(
        "w:tblBorders",
        [
            ("top", OUTER_RULE),
            ("left", None),
            ("bottom", OUTER_RULE),
            ("right", None),
            ("insideH", None),
            ("insideV", None),
        ],
    )
    grid._tbl.tblPr.insert_element_before(
        borders,
        "w:shd",
        "w:tblLayout",
        "w:tblCellMar",
        "w:tblLook",
        "w:tblCaption",
        "w:tblDescription",
        "w:tblPrChange",
    )


def _cell_bottom_rule(cell) -> None:
    tc_pr = cell._tc.get_or_add_tcPr()
    tc_pr.insert_element_before(
        _borders("w:tcBorders", [("bottom", HEADER_RULE)]),
        "w:shd",
        "w:noWrap",
        "w:tcMar",
        "w:textDirection",
        "w:tcFitText",
        "w:vAlign",
        "w:hideMark",
        "w:headers",
        "w:cellIns",
        "w:cellDel",
        "w:cellMerge",
        "w:tcPrChange",
    )


def _repeat_as_header(row) -> None:
    """The header row repeats on the next page when a table breaks across pages."""
    tr_pr = row._tr.get_or_add_trPr()
    tr_pr.append(OxmlElement("w:tblHeader"))
