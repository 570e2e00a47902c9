"""Cell values as SpreadsheetML, and the rewriting of one `<row>` element.

Text is always an inline string (`t="inlineStr"`), so the shared-string table stays
untouched and text starting with `=` can never turn into a formula. Numbers are
written as exact decimal strings and dates as serial numbers of the workbook's date
system (1900 or 1904).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass
from decimal import Decimal

from lxml import etree

from engine.model import column_letter

CellValue = str | Decimal | int | dt.date | None

MAX_TEXT_LENGTH = 32_767
# Excel stores numbers as IEEE doubles; larger magnitudes cannot be typed in.
MAX_NUMBER = Decimal("9.99999999999999E+307")
_XML_SPACE = "{http://www.w3.org/XML/1998/namespace}space"
_EXCEL_ESCAPE = re.compile(r"_(?=x[0-9A-Fa-f]{4}_)|[\x00-\x08\x0b\x0c\x0e-\x1f\r\ufffe\uffff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_EXCEL_UNESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
# Attribute values of <c> (r, s, t, cm, vm, ph) never contain ">", so the start tag
# ends at the first ">".
_CELL_TAG = r"<{prefix}c(?=[\s/>])(?:[^>]*?\sr\s*=\s*[\"']\$?([A-Za-z]{{1,3}}))?"
_SPANS = re.compile(rb"(\sspans\s*=\s*[\"'])([^\"']*)([\"'])")
_XML_TEXT = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_column_numbers: dict[bytes, int] = {}
_cell_patterns: dict[bytes, re.Pattern[bytes]] = {}


@dataclass(frozen=True, slots=True)
class CellWrite:
    """A value to write, with an optional cell style (index into `cellXfs`)."""

    value: CellValue
    style: int | None = None
    # A solid fill colour as ARGB hex, such as "FFC6EFCE"; the writer turns it into
    # a cell format derived from the cell's current one and sets `style`.
    fill: str | None = None


def as_write(value: CellValue | CellWrite) -> CellWrite:
    return value if isinstance(value, CellWrite) else CellWrite(value)


def sets_cell(item: CellValue | CellWrite) -> bool:
    """Return True when the write sets a value or a style, not only clears a cell.

    A write of a million cells reads each one several times, so the hot paths take
    plain values as they are instead of making a `CellWrite` each, as `as_write` does.
    """
    if isinstance(item, CellWrite):
        return item.value is not None or item.style is not None
    return item is not None


def excel_escape(text: str) -> str:
    """Encode text the way Excel stores it: `_xHHHH_` for characters XML 1.0 forbids.

    A literal `_x0041_` in the text is stored as `_x005F_x0041_` so Excel does not
    decode it to `A`.
    """

    def replace(match: re.Match[str]) -> str:
        found = match.group()
        return "_x005F_" if found == "_" else f"_x{ord(found):04X}_"

    return _EXCEL_ESCAPE.sub(replace, text)


def excel_unescape(text: str) -> str:
    return _EXCEL_UNESCAPE.sub(lambda match: chr(int(match.group(1), 16)), text)


def number_text(number: Decimal | int) -> str:
    """Return the exact decimal string for `<v>`, without an exponent."""
    if isinstance(number, int):
        return str(number)
    if not number:
        return "0"
    # str() is faster and gives format(number, "f") unless it uses an exponent.
    text = str(number)
    if "E" in text:
        text = format(number, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


@functools.lru_cache(maxsize=4096)
def serial_text(value: dt.date, date1904: bool) -> str | None:
    """Return the `<v>` text of a date, or None before the epoch.

    Cached because a sheet's date column often repeats one date (the day of a pass).
    """
    serial = date_serial(value, date1904)
    return None if serial is None else number_text(serial)


def date_serial(value: dt.date, date1904: bool) -> Decimal | None:
    """Return Excel's serial number for a date or datetime, or None before the epoch."""
    day = value.date() if isinstance(value, dt.datetime) else value
    if date1904:
        serial = (day - dt.date(1904, 1, 1)).days
        if serial < 0:
            return None
    else:
        # Excel counts 29 February 1900, a day that never existed.
        serial = (day - dt.date(1899, 12, 31)).days
        if day >= dt.date(1900, 3, 1):
            serial += 1
        if serial < 1:
            return None
    result = Decimal(serial)
    if isinstance(value, dt.datetime):
        micros = ((value.hour * 60 + value.minute) * 60 + value.second) * 1_000_000
        fraction = Decimal(micros + value.microsecond) / Decimal(86_400_000_000)
        result += fraction.quantize(Decimal("1E-11"))
    return result


def value_problem(value: CellValue) -> str | None:
    """Return why `value` cannot be written to a cell, or None when it can."""
    if isinstance(value, str):
        if len(value) > MAX_TEXT_LENGTH:
            return (
                f"text of {len(value):,} characters is longer than the "
                f"{MAX_TEXT_LENGTH:,} characters an Excel cell holds"
            )
        if _SURROGATE.search(value) is not None:
            return "text contains an unpaired UTF-16 surrogate, which is not valid Unicode"
        return None
    if isinstance(value, Decimal):
        if not value.is_finite():
            return f"number {value} is not finite"
        if abs(value) > MAX_NUMBER:
            return f"number {value} is outside the range Excel can store"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_NUMBER:
        return f"number {value} is outside the range Excel can store"
    if value is not None and not isinstance(value, (str, Decimal, int, dt.date)):
        return f"value {value!r} of type {type(value).__name__} cannot be written to a cell"
    return None


@dataclass(frozen=True, slots=True)
class RowContext:
    """Sheet facts that every row edit needs."""

    namespace_decls: bytes
    prefix: bytes
    date1904: bool
    column_styles: dict[int, str]


def parse_row(row_xml: bytes, context: RowContext) -> etree._Element:
    """Parse one `<row>` element with the sheet's namespace declarations in scope."""
    wrapper = etree.fromstring(
        b"<wrapper" + context.namespace_decls + b">" + row_xml + b"</wrapper>", _PARSER
    )
    return wrapper[0]


def serialize_row(row: etree._Element) -> bytes:
    wrapper = row.getparent()
    text = etree.tostring(wrapper, encoding="utf-8")
    return text[text.index(b">") + 1 : text.rindex(b"</wrapper>")]


def row_cells(row: etree._Element) -> list[tuple[int, etree._Element]]:
    """Return (column, cell) pairs of a row, counting cells without `r` implicitly."""
    cell_tag = _qualified(row, "c")
    cells = []
    column = 0
    for cell in row:
        if cell.tag != cell_tag:
            continue
        ref = cell.get("r")
        column = _column_of(ref) if ref else column + 1
        cells.append((column, cell))
    return cells


def cell_positions(row_xml: bytes, prefix: bytes) -> list[tuple[int, int]]:
    """Return (column, offset of the `<c` tag) for every cell, without parsing the row.

    Cell start tags are found by pattern: text content cannot contain a raw `<`.
    """
    pattern = _cell_patterns.get(prefix)
    if pattern is None:
        pattern = re.compile(_CELL_TAG.format(prefix=re.escape(prefix.decode())).encode())
        _cell_patterns[prefix] = pattern
    positions = []
    column = 0
    for match in pattern.finditer(row_xml):
        letters = match.group(1)
        column = column_number(letters) if letters else column + 1
        positions.append((column, match.start()))
    return positions


def last_cell_if_all_explicit(row_xml: bytes, prefix: bytes) -> tuple[int, int] | None:
    """Return (column, offset) of the row's last cell if every cell starts with `r`.

    Excel writes `r` first in every cell. A row without cells returns (0, -1). When a
    cell lacks a leading `r`, this returns None because positions must be counted.
    """
    opener = b"<" + prefix + b"c"
    with_ref = opener + b' r="'
    total = (
        row_xml.count(opener + b" ") + row_xml.count(opener + b">") + row_xml.count(opener + b"/")
    )
    if row_xml.count(with_ref) != total:
        return None
    if total == 0:
        return 0, -1
    offset = row_xml.rindex(with_ref)
    start = offset + len(with_ref)
    end = start
    while end < len(row_xml) and 65 <= (row_xml[end] & 0xDF) <= 90:
        end += 1
    return column_number(row_xml[start:end]), offset


def column_number(letters: bytes) -> int:
    number = _column_numbers.get(letters)
    if number is None:
        number = 0
        for char in letters.upper():
            number = number * 26 + char - 64
        _column_numbers[letters] = number
    return number


def insert_new_cells(
    row_xml: bytes,
    number: int,
    writes: dict[int, CellValue | CellWrite],
    positions: list[tuple[int, int]],
    context: RowContext,
) -> bytes | None:
    """Insert cells that do not exist yet by splicing bytes; None when the row needs
    a full parse (a target cell exists, or the row carries an extLst)."""
    if positions and any(column in writes for column, _ in positions):
        return None
    if b"extLst" in row_xml:
        return None
    start_end = row_xml.index(b">") + 1
    self_closing = row_xml[start_end - 2 : start_end] == b"/>"
    start_tag = row_xml[: start_end - 2] + b">" if self_closing else row_xml[:start_end]
    body = b"" if self_closing else row_xml[start_end : row_xml.rindex(b"</")]
    closing = b"</" + context.prefix + b"row>" if self_closing else row_xml[row_xml.rindex(b"</") :]
    row_style = _row_style(start_tag)

    pieces: list[bytes] = []
    cells: list[str] = []  # new cells waiting to be encoded before the next piece
    cursor = 0
    offsets = [offset - start_end for _, offset in positions]
    columns = [column for column, _ in positions]
    # Cells right of every existing cell go at the end of the row, as most do.
    last_column = max(columns, default=0)
    row_text = str(number)
    written = []
    for column in sorted(writes):
        value = writes[column]
        style_index = None
        if isinstance(value, CellWrite):
            value, style_index = value.value, value.style
        if value is None and style_index is None:
            continue
        written.append(column)
        if column > last_column:
            insert_at = len(body)
        else:
            following = next(i for i, c in enumerate(columns) if c > column)
            insert_at = offsets[following]
        if insert_at != cursor:
            if cells:
                pieces.append("".join(cells).encode())
                cells.clear()
            pieces.append(body[cursor:insert_at])
            cursor = insert_at
        style = row_style or context.column_styles.get(column)
        cells.append(_cell_text(row_text, column, value, style_index, style, context))
    if cells:
        pieces.append("".join(cells).encode())
    pieces.append(body[cursor:])
    return _widen_spans_bytes(start_tag, written) + b"".join(pieces) + closing


def _row_style(start_tag: bytes) -> str | None:
    if not re.search(rb"\scustomFormat\s*=\s*[\"'](?:1|true)[\"']", start_tag):
        return None
    style = re.search(rb"\ss\s*=\s*[\"'](\d+)[\"']", start_tag)
    return style.group(1).decode() if style else None


def new_cell_xml(
    number: int, column: int, write: CellWrite, style: str | None, context: RowContext
) -> bytes:
    """Return the bytes of a new `<c>` element; the same markup edit_row produces."""
    return _cell_text(str(number), column, write.value, write.style, style, context).encode()


@functools.lru_cache(maxsize=4096)
def _cell_markup(
    prefix: bytes, column: int, style_index: int | None, style: str | None
) -> tuple[str, str, str]:
    """Return the text of a new cell before its row number, after it, and the
    number's closing tags; a column's cells share them."""
    p = prefix.decode()
    if style_index is not None:
        attribute = f' s="{style_index}"'
    elif style is not None and style != "0":
        attribute = f' s="{style}"'
    else:
        attribute = ""
    return f'<{p}c r="{column_letter(column)}', f'"{attribute}', f"</{p}v></{p}c>"


@functools.lru_cache(maxsize=16)
def _value_opening(prefix: bytes) -> str:
    return f"><{prefix.decode()}v>"


def _cell_text(
    row_text: str,
    column: int,
    value: CellValue,
    style_index: int | None,
    style: str | None,
    context: RowContext,
) -> str:
    """Return the markup of a new `<c>` element, as text to be encoded as UTF-8."""
    opening, attributes, closing = _cell_markup(context.prefix, column, style_index, style)
    kind = type(value)
    if kind is Decimal:
        text = number_text(value)
    elif value is None:
        return f"{opening}{row_text}{attributes}/>"
    elif kind is str or isinstance(value, str):
        p = context.prefix.decode()
        text = excel_escape(value).translate(_XML_TEXT)
        return (
            f'{opening}{row_text}{attributes} t="inlineStr"><{p}is><{p}t xml:space="preserve">'
            f"{text}</{p}t></{p}is></{p}c>"
        )
    elif isinstance(value, bool):
        p = context.prefix.decode()
        return f'{opening}{row_text}{attributes} t="b"><{p}v>{int(value)}{closing}'
    elif isinstance(value, (Decimal, int)):
        text = number_text(value)
    else:
        serial = serial_text(value, context.date1904)
        assert serial is not None, "dates before the epoch are rejected earlier"
        text = serial
    return f"{opening}{row_text}{attributes}{_value_opening(context.prefix)}{text}{closing}"


def _widen_spans_bytes(start_tag: bytes, columns: list[int]) -> bytes:
    match = _SPANS.search(start_tag)
    if match is None or not columns:
        return start_tag
    widened = widen_spans(match.group(2).decode("ascii", "replace"), columns)
    if widened is None:
        return start_tag
    return start_tag[: match.start(2)] + widened.encode() + start_tag[match.end(2) :]


def edit_row(row: etree._Element, number: int, writes: dict[int, CellWrite], context: RowContext) -> None:
    """Write values into a parsed row: existing cells keep their style, new cells are
    inserted in column order with the row or column style."""
    cells = dict(row_cells(row))
    row_style = row.get("s") if row.get("customFormat") in ("1", "true") else None
    for column in sorted(writes):
        write = writes[column]
        cell = cells.get(column)
        if cell is None:
            if write.value is None and write.style is None:
                continue
            cell = _insert_cell(row, number, column, cells)
            cells[column] = cell
            style = row_style or context.column_styles.get(column)
            if style is not None and style != "0":
                cell.set("s", style)
        _set_value(cell, write, context.date1904)
    _widen_spans(row, [column for column in writes if column in cells])


def _insert_cell(
    row: etree._Element, number: int, column: int, cells: dict[int, etree._Element]
) -> etree._Element:
    cell = etree.Element(_qualified(row, "c"))
    cell.set("r", f"{column_letter(column)}{number}")
    following = [cells[c] for c in sorted(cells) if c > column]
    if following:
        following[0].addprevious(cell)
    elif cells:
        cells[max(cells)].addnext(cell)
    else:
        row.insert(0, cell)
    return cell


def _set_value(cell: etree._Element, write: CellWrite, date1904: bool) -> None:
    for child in list(cell):
        if _local(child) != "extLst":
            cell.remove(child)
    for attribute in ("t", "vm", "cm"):
        cell.attrib.pop(attribute, None)
    if write.style is not None:
        cell.set("s", str(write.style))

    value = write.value
    if value is None:
        return
    if isinstance(value, str):
        cell.set("t", "inlineStr")
        inline = etree.SubElement(cell, _qualified(cell, "is"))
        text = etree.SubElement(inline, _qualified(cell, "t"))
        text.set(_XML_SPACE, "preserve")
        text.text = excel_escape(value)
    elif isinstance(value, bool):
        cell.set("t", "b")
        etree.SubElement(cell, _qualified(cell, "v")).text = "1" if value else "0"
    elif isinstance(value, (Decimal, int)):
        etree.SubElement(cell, _qualified(cell, "v")).text = number_text(value)
    else:
        serial = date_serial(value, date1904)
        assert serial is not None, "dates before the epoch are rejected earlier"
        etree.SubElement(cell, _qualified(cell, "v")).text = number_text(serial)
    # Move a kept extLst behind the new value, where the schema puts it.
    for child in list(cell):
        if _local(child) == "extLst":
            cell.append(child)


def _widen_spans(row: etree._Element, columns: list[int]) -> None:
    spans = row.get("spans")
    if not spans or not columns:
        return
    widened = widen_spans(spans, columns)
    if widened is not None:
        row.set("spans", widened)


def widen_spans(spans: str, columns: list[int]) -> str | None:
    """Return `spans` (such as `1:5` or `1:3 7:9`) widened to cover `columns`."""
    low_text, colon, high_text = spans.partition(":")
    if colon and low_text.isdigit() and high_text.isdigit():
        # The usual single range, such as "1:10".
        low = min(int(low_text), *columns)
        high = max(int(high_text), *columns)
        return f"{low}:{high}"
    try:
        ranges = [[int(part) for part in item.split(":")] for item in spans.split()]
    except ValueError:
        return None
    if not ranges or any(len(pair) != 2 for pair in ranges):
        return None
    ranges[0][0] = min(ranges[0][0], *columns)
    ranges[-1][1] = max(ranges[-1][1], *columns)
    for column in columns:
        if not any(low <= column <= high for low, high in ranges):
            for pair in reversed(ranges):
                if pair[0] < column:
                    pair[1] = column
                    break
    return " ".join(f"{low}:{high}" for low, high in ranges)


def new_row_xml(number: int, context: RowContext) -> bytes:
    return b"<" + context.prefix + b'row r="' + str(number).encode() + b'"/>'


def _qualified(el: etree._Element, local: str) -> str:
    namespace = etree.QName(el).namespace
    return f"{{{namespace}}}{local}" if namespace else local


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def _column_of(ref: str) -> int:
    return column_number(ref.lstrip("$").rstrip("0123456789$").encode("ascii", "replace"))
