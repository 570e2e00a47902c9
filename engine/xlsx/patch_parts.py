"""Edits a write makes to package parts other than the sheet: styles and workbook.

- styles.xml: a date written into a cell whose format is not a date gets a cell
  format with the built-in short date, and a write with a `fill` gets a cell format
  with that fill (see `engine.xlsx.styles`).
- workbook.xml: when the written sheet contains formulas, `<calcPr fullCalcOnLoad="1">`
  is set, so Excel recalculates every formula on opening instead of showing results
  cached before the write. It is one attribute; the rest of the part stays as it is.

- the sheet's table parts: a column written right next to an Excel Table, header
  included, joins it (`ref`, `autoFilter ref` and a new `tableColumn`).

Every other part is copied byte for byte.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import zipfile
from collections.abc import Mapping
from xml.sax.saxutils import quoteattr

from lxml import etree

from engine.model import column_letter
from engine.xlsx.patch_cells import CellValue, CellWrite, as_write
from engine.xlsx.patch_package import (
    MAX_PART_BYTES,
    SheetPart,
    check_member_size,
    workbook_part_names,
)
from engine.xlsx.patch_scan import SheetScan
from engine.xlsx.styles import StyleBook, StyleError

log = logging.getLogger(__name__)

Cells = Mapping[tuple[int, int], CellValue | CellWrite]

_CALC_PR = re.compile(rb"<(?:[\w.-]+:)?calcPr\b[^>]*?(/?)>")
_FULL_CALC = re.compile(rb"\sfullCalcOnLoad\s*=\s*[\"'](1|true)[\"']")
# calcPr follows these elements in CT_Workbook, in this order.
_BEFORE_CALC = (
    b"</sheets>",
    b"</functionGroups>",
    b"</externalReferences>",
    b"</definedNames>",
)


def styled_cells(
    archive: zipfile.ZipFile, scan: SheetScan, cells: Cells, workbook: str
) -> tuple[Cells, dict[str, bytes]]:
    """Return the cells with the style each needs, and the new styles part if any."""
    # Only dates and CellWrites can need a style; the test inline in the
    # comprehension skips a call per cell of a million-cell write.
    needs_style = [
        target for target, item in cells.items()
        if isinstance(item, _MAY_NEED_STYLE) and _wants_style(item)
    ]  # fmt: skip
    if not needs_style:
        return cells, {}
    parts = workbook_part_names(archive, workbook)
    if "styles" not in parts:
        # TODO: a workbook without a styles part gets no date formats or fills.
        return cells, {}
    check_member_size(archive.getinfo(parts["styles"]), MAX_PART_BYTES, workbook)
    try:
        book = StyleBook(archive.read(parts["styles"]))
    except (StyleError, etree.XMLSyntaxError) as error:
        log.warning("%s: cells written without new formats: %s", workbook, error)
        return cells, {}
    overlay: dict[tuple[int, int], CellWrite] = {}
    # A column's cells mostly share their current format, fill and kind of value,
    # so each combination is looked up in the style book once.
    derived: dict[tuple[int, str | None, bool], int] = {}
    for target in needs_style:
        write = as_write(cells[target])
        current = _current_style(scan, target)
        key = (current, write.fill, isinstance(write.value, dt.date))
        style = derived.get(key)
        if style is None:
            style = derived[key] = _derived_style(book, *key)
        if style != current or write.style is not None:
            overlay[target] = CellWrite(write.value, style)
    if not overlay:
        return cells, {}
    merged = dict(cells)
    merged.update(overlay)
    changed = {parts["styles"]: book.to_bytes()} if book.changed else {}
    return merged, changed


_MAY_NEED_STYLE = (dt.date, CellWrite)


def _derived_style(book: StyleBook, current: int, fill: str | None, date: bool) -> int:
    style = current
    if fill is not None:
        style = book.with_fill(style, fill)
    if date and not book.is_date(style):
        style = book.with_date_format(style)
    return style


def _wants_style(item: CellValue | CellWrite) -> bool:
    if not isinstance(item, CellWrite):
        return isinstance(item, dt.date)
    if item.style is not None:
        return False
    return item.fill is not None or isinstance(item.value, dt.date)


def _current_style(scan: SheetScan, target: tuple[int, int]) -> int:
    state = scan.cells.get(target)
    style = state.style if state is not None and state.exists else None
    if style is None:
        style = scan.column_styles.get(target[1])
    return int(style) if style and style.isdigit() else 0


def full_calc_part(
    archive: zipfile.ZipFile, scan: SheetScan, workbook: str
) -> dict[str, bytes]:
    """Return workbook.xml with fullCalcOnLoad set when the sheet contains formulas."""
    if not scan.has_formulas:
        return {}
    name = workbook_part_names(archive, workbook)["workbook"]
    check_member_size(archive.getinfo(name), MAX_PART_BYTES, workbook)
    xml = archive.read(name)
    updated = with_full_calc(xml)
    return {} if updated == xml else {name: updated}


def with_full_calc(xml: bytes) -> bytes:
    """Return the workbook XML with fullCalcOnLoad="1" on calcPr (added if absent)."""
    match = _CALC_PR.search(xml)
    if match is not None:
        tag = match.group(0)
        if _FULL_CALC.search(tag):
            return xml
        end = len(tag) - (2 if match.group(1) else 1)
        new_tag = tag[:end].rstrip() + b' fullCalcOnLoad="1"' + tag[end:]
        return xml[: match.start()] + new_tag + xml[match.end() :]
    prefix = re.search(rb"<([\w.-]+:)?workbook[\s>]", xml)
    p = (prefix.group(1) or b"") if prefix else b""
    positions = [xml.rfind(b"</" + p + close[2:]) for close in _BEFORE_CALC]
    anchor = max(positions)
    if anchor < 0:
        return xml
    anchor = xml.index(b">", anchor) + 1
    return xml[:anchor] + b"<" + p + b'calcPr fullCalcOnLoad="1"/>' + xml[anchor:]


_TABLE_REF = re.compile(
    rb"(<(?:[\w.-]+:)?table\b[^>]*?\sref\s*=\s*[\"'])([^\"']+)([\"'])"
)
_FILTER_REF = re.compile(
    rb"(<(?:[\w.-]+:)?autoFilter\b[^>]*?\sref\s*=\s*[\"'])([^\"']+)([\"'])"
)
_COLUMNS = re.compile(rb"<((?:[\w.-]+:)?)tableColumns\b[^>]*>")
_COLUMN_ID = re.compile(rb"<(?:[\w.-]+:)?tableColumn\b[^>]*?\sid\s*=\s*[\"'](\d+)[\"']")


def table_parts(
    archive: zipfile.ZipFile, sheet: SheetPart, cells: Cells, workbook: str
) -> dict[str, bytes]:
    """Return the table parts widened by the columns a write adds right next to them.

    Columns join a table when their header cells (the table's first row, from one
    column right of the table on, without gaps) are written with text in this
    write. Excel would otherwise show the column outside the table, or ask to
    repair a table whose header row and `tableColumns` disagree.
    """
    parts = {}
    for table in sheet.tables:
        names = []
        while table.header_rows:
            header = cells.get((table.first_row, table.last_column + 1 + len(names)))
            name = as_write(header).value if header is not None else None
            if not isinstance(name, str) or not name.strip():
                break
            names.append(name)
        if not names:
            continue
        check_member_size(archive.getinfo(table.part), MAX_PART_BYTES, workbook)
        xml: bytes | None = archive.read(table.part)
        for offset, name in enumerate(names, start=1):
            xml = widen_table(xml, table.last_column + offset, name) if xml else None
        if xml is not None:
            parts[table.part] = xml
    return parts


def widen_table(xml: bytes, column: int, name: str) -> bytes | None:
    """Return the table XML with `column` added as a column named `name`."""
    columns = _COLUMNS.search(xml)
    if columns is None or not _TABLE_REF.search(xml):
        return None
    prefix = columns.group(1)
    ids = [int(found) for found in _COLUMN_ID.findall(xml)]
    escaped = quoteattr(name.replace("\n", "_x000a_"))
    new_column = (
        b"<"
        + prefix
        + b'tableColumn id="'
        + str(max(ids, default=0) + 1).encode()
        + b'" name='
        + escaped.encode()
        + b"/>"
    )
    close = xml.index(b"</" + prefix + b"tableColumns>", columns.end())
    xml = xml[:close] + new_column + xml[close:]
    opening = columns.group(0)
    count = re.search(rb'(\scount\s*=\s*["\'])(\d+)(["\'])', opening)
    if count:
        new_opening = (
            opening[: count.start(2)]
            + str(len(ids) + 1).encode()
            + opening[count.end(2) :]
        )
        xml = xml[: columns.start()] + new_opening + xml[columns.end() :]
    letter = column_letter(column).encode()
    for pattern in (_TABLE_REF, _FILTER_REF):
        xml = pattern.sub(
            lambda m: m.group(1) + _widened_ref(m.group(2), letter) + m.group(3),
            xml,
            count=1,
        )
    return xml


def _widened_ref(ref: bytes, letter: bytes) -> bytes:
    first, _, last = ref.partition(b":")
    row = (last or first).lstrip(b"$ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    return first + b":" + letter + row
