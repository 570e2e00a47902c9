"""Reading a sheet's rows from its XML part in the zip stream, as calamine types them.

python-calamine keeps the whole sheet in memory (1.3 GiB at Excel's row limit), so the
data rows are read here instead, a block of rows at a time. A block of cells written
the way Excel writes them (`<c r="B2" s="1" t="s"><v>3</v></c>`) is read by one
regular expression. Any other block (cells without `r`, prefixed tags, CDATA) is
parsed with lxml. Values follow python-calamine: shared strings, numbers as
float, dates by the cell's number format in the workbook's date system, '' for empty
cells, errors and formulas without a cached value.

The merged ranges are stored after the cell data. A stream made with `merges_first`
inflates the part once to read them before the rows; any other picks them up from the
part's tail when the rows are read to the end (`SheetStream.merges_found`).
"""

from __future__ import annotations

import codecs
import datetime as dt
import html
import logging
import re
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lxml import etree

from engine.findings import EngineError, Finding
from engine.xlsx.sheetscan import (
    MAIN_NS,
    MAX_DENSE_CELLS,
    PKG_REL_NS,
    FormulaCell,
    IncompleteWorkbook,
    Package,
    member_path,
)

if TYPE_CHECKING:
    from engine.xlsx.rowpick import Picked, RowPicker

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 22
NUMBER, DATETIME, TIMEDELTA = 0, 1, 2
BUILTIN_FORMATS = {**dict.fromkeys((*range(14, 23), 45, 47), DATETIME), 46: TIMEDELTA}
EXCEL_EPOCH = dt.datetime(1899, 12, 30)
MS_PER_DAY = 86_400_000

# One cell in Excel's own layout: r first, then the other attributes, then the body.
FAST_CELL = re.compile(
    r'<c r="([A-Z]{1,3})([0-9]+)"(?: s="([0-9]+)")?(?: t="([A-Za-z]+)")?([^>]*?)'
    r"(?:/>|><v>([^<]*)</v></c>|>(.*?)</c>)", re.DOTALL)
ATTRIBUTE = re.compile(r'\s([\w:.-]+)="([^"]*)"')
TAG_PREFIX = re.compile(r"<([A-Za-z_][\w.-]*:)?worksheet[\s>]")
SHEET_DATA_START = re.compile(r"<(?:[\w.-]+:)?sheetData\b[^>]*?(/?)>")
SHEET_DATA_END = re.compile(r"</(?:[\w.-]+:)?sheetData>")
DECLARATION = re.compile(r'xmlns(?::[\w.-]+)?="[^"]*"')
MERGE_REF = re.compile(r'<(?:[\w.-]+:)?mergeCell\b[^>]*?\bref="([^"]+)"')
SHARED_ITEM = re.compile(r"<(?:[\w.-]+:)?si\b[^>]*?(?:/>|>(.*?)</(?:[\w.-]+:)?si>)", re.DOTALL)
PLAIN_ITEM = re.compile(r'<si><t(?: xml:space="preserve")?>([^<]*)</t></si>')
PHONETIC = re.compile(r"<(?:[\w.-]+:)?rPh\b.*?</(?:[\w.-]+:)?rPh>", re.DOTALL)
TEXT_RUN = re.compile(r"<(?:[\w.-]+:)?t(?:\s[^>]*)?>([^<]*)</(?:[\w.-]+:)?t>")
PLAIN_TEXT = re.compile(r"<t(?:\s[^>]*)?>([^<]*)</t>\Z")
ESCAPED_CHAR = re.compile(r"_x([0-9A-Fa-f]{4})_")
FORMULA = re.compile(r"<(?:[\w.-]+:)?f\b[^>]*?(?:/>|>([^<]*)</(?:[\w.-]+:)?f>)")
CACHED = re.compile(r"<(?:[\w.-]+:)?v\b[^>]*?(?:/>|>([^<]*)</(?:[\w.-]+:)?v>)")
INLINE = re.compile(r"<(?:[\w.-]+:)?is\b[^>]*?(?:/>|>(.*?)</(?:[\w.-]+:)?is>)", re.DOTALL)
SIXTY = re.compile(r"60(?:\.0+)?\Z")
UNSAFE = re.compile(r"<!(?:DOCTYPE|ENTITY)")
UNSAFE_BYTES = re.compile(rb"<!(?:DOCTYPE|ENTITY)")
# The end of the cell data: </sheetData>, or an empty <sheetData/>.
SHEET_DATA_BYTES = re.compile(rb"</(?:[\w.-]+:)?sheetData>|<(?:[\w.-]+:)?sheetData\s*/>")
TEXT_KINDS = ("s", "str", "inlineStr")


class StreamDeclined(Exception):
    """The sheet part is laid out in a way this reader does not take; use calamine."""


# A cell as stored: (column, t attribute or "", s attribute or "", cached <v> text with
# entities resolved or None, <f> text or None ('' for a shared-formula follower),
# inline string text or None). Plain tuples: a sheet at the row limit has millions.
RawCell = tuple[int, str, str, str | None, str | None, str | None]
Row = tuple[int, list[RawCell]]


def column_number(letters: str) -> int:
    number = 0
    for char in letters:
        number = number * 26 + ord(char) - 64
    return number


COLUMNS: dict[str, int] = {}


def column_of(letters: str) -> int:
    column = COLUMNS.get(letters)
    if column is None:
        column = COLUMNS[letters] = column_number(letters)
    return column


def unescape(text: str) -> str:
    return html.unescape(text) if "&" in text else text


def unescape_chars(text: str) -> str:
    """Resolve the _xHHHH_ escapes Excel uses for control characters in strings."""
    if "_x" not in text:
        return text
    return ESCAPED_CHAR.sub(lambda match: chr(int(match.group(1), 16)), text)


def rich_text(body: str) -> str:
    """Return the text of an <si> or <is> body: runs joined, phonetic runs left out."""
    plain = PLAIN_TEXT.match(body)
    if plain:
        text = plain.group(1)
    else:
        text = "".join(TEXT_RUN.findall(PHONETIC.sub("", body)))
    return unescape_chars(unescape(text))


@dataclass
class SheetParts:
    """The parts a sheet's cells are typed with: shared strings, date styles, merges."""

    strings: list[str]
    styles: list[int]  # cellXfs index -> NUMBER, DATETIME or TIMEDELTA
    # 0-based, as calamine. None until the part's tail is read (see SheetStream).
    merges: list[tuple[tuple[int, int], tuple[int, int]]] | None


def read_parts(package: Package, path: str, shown: str, sheet: str, *,
               merges: bool = True) -> SheetParts:
    """Read the parts the sheet at `path` needs; raise StreamDeclined for a DTD.

    Without `merges`, the merged ranges are left to be read with the rows.
    """
    archive = package.archive
    related = workbook_relations(archive)
    strings = read_shared_strings(archive, related.get("sharedStrings"))
    styles = read_styles(archive, related.get("styles"))
    merged = read_merges(archive, path, shown, sheet) if merges else None
    return SheetParts(strings, styles, merged)


def workbook_relations(archive: zipfile.ZipFile) -> dict[str, str]:
    """Return zip members of the workbook's parts by relation type (last path word)."""
    try:
        rels = etree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    except (KeyError, etree.XMLSyntaxError):
        return {}
    found = {}
    for rel in rels.iter(f"{{{PKG_REL_NS}}}Relationship"):
        kind = rel.get("Type", "").rsplit("/", 1)[-1]
        found.setdefault(kind, member_path("xl", rel.get("Target", "")))
    return found


def read_text(archive: zipfile.ZipFile, member: str) -> str | None:
    try:
        data = archive.read(member)
    except KeyError:
        return None
    return data.decode("utf-8-sig", errors="replace")


def read_shared_strings(archive: zipfile.ZipFile, member: str | None) -> list[str]:
    text = read_text(archive, member or "xl/sharedStrings.xml")
    if text is None:
        return []
    if UNSAFE.search(text, 0, 4096):
        raise StreamDeclined("shared strings with a document type")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    plain = plain_shared_strings(text)
    if plain is not None:
        return plain
    # finditer, not findall: a list of every <si> body would be a second copy of
    # the table while it is typed (an estimated 150 MB for two million strings).
    return [rich_text(body) if (body := item[1]) else ""
            for item in SHARED_ITEM.finditer(text)]


def plain_shared_strings(text: str) -> list[str] | None:
    """Return the table when every item is one unformatted run, as most are; else None.

    One regular expression takes the whole table, about five times as fast as
    typing item by item.
    """
    if ":si" in text:  # prefixed tags, or text that contains ":si"
        return None
    items = PLAIN_ITEM.findall(text)
    starts = sum(text.count(f"<si{after}") for after in (">", " ", "/", "\n", "\t"))
    if len(items) != starts:
        return None
    if "&" in text or "_x" in text:
        return [unescape_chars(unescape(item)) if "&" in item or "_x" in item else item
                for item in items]
    return items


def read_styles(archive: zipfile.ZipFile, member: str | None) -> list[int]:
    """Return, per cellXfs index, whether its number format is a date or a duration."""
    try:
        root = etree.fromstring(archive.read(member or "xl/styles.xml"))
    except KeyError:
        return []
    except etree.XMLSyntaxError as exc:
        raise StreamDeclined(f"styles: {exc}") from None
    custom = {}
    for fmt in root.iter(f"{{{MAIN_NS}}}numFmt"):
        try:
            custom[int(fmt.get("numFmtId", ""))] = format_kind(fmt.get("formatCode", ""))
        except ValueError:
            continue
    kinds = []
    xfs = root.find(f"{{{MAIN_NS}}}cellXfs")
    for xf in xfs if xfs is not None else ():
        try:
            number = int(xf.get("numFmtId", "0"))
        except ValueError:
            number = 0
        kinds.append(custom[number] if number in custom else
                     BUILTIN_FORMATS.get(number, NUMBER))
    return kinds


def format_kind(code: str) -> int:
    """Classify a custom number format as calamine does (first section only)."""
    escaped = quoted = am_pm = hms = False
    brackets = 0
    previous = " "
    for char in code:
        if escaped:
            escaped = False
        elif char in "_\\":
            escaped = True
        elif quoted:
            quoted = char != '"'
        elif char == '"':
            quoted = True
        elif char == ";":
            return NUMBER
        elif char == "[":
            brackets += 1
        elif char == "]" and brackets == 1 and hms:
            return TIMEDELTA
        elif char == "]":
            brackets = max(brackets - 1, 0)
        elif brackets == 0 and not am_pm and char in "aA":
            am_pm = True
        elif brackets == 0 and char in ("pm/PM" if am_pm else "dmhysDMHYS"):
            return DATETIME
        elif not (hms and char.lower() == previous.lower()):
            hms = previous == "[" and char in "mhsMHS"
        previous = char
    return NUMBER


def inflated(archive: zipfile.ZipFile, path: str, shown: str, sheet: str, *,
             check_dtd: bool = False) -> Iterator[str]:
    """Yield the sheet part as text, a few MiB at a time.

    With `check_dtd`, raise StreamDeclined for a document type, as `read_merges` does.
    """
    decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="replace")
    for block in inflated_bytes(archive, path, shown, sheet):
        if check_dtd:
            if UNSAFE_BYTES.search(block, 0, 4096):
                raise StreamDeclined("sheet with a document type")
            check_dtd = False
        yield decoder.decode(block)
    tail = decoder.decode(b"", final=True)
    if tail:
        yield tail


def read_merges(archive: zipfile.ZipFile, path: str, shown: str, sheet: str):
    """Return the merged ranges, which follow the cell data in the sheet part."""
    tail = None
    carry = b""
    for block in inflated_bytes(archive, path, shown, sheet):
        if tail is not None:
            tail.append(block)
            continue
        block = carry + block
        if not carry and UNSAFE_BYTES.search(block, 0, 4096):
            raise StreamDeclined("sheet with a document type")
        end = data_end(block)
        if end >= 0:
            tail = [block[end:]]
        else:
            carry = block[-64:]
    if tail is None:
        raise StreamDeclined("no sheetData")
    return parse_merges(b"".join(tail).decode("utf-8", errors="replace"))


def parse_merges(text: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Return the merged ranges named in `text`, the part after the cell data."""
    merges = []
    for ref in MERGE_REF.findall(text):
        first, _, last = ref.partition(":")
        top_left, bottom_right = cell_position(first), cell_position(last or first)
        if top_left and bottom_right:
            merges.append((top_left, bottom_right))
    return merges


def data_end(block: bytes) -> int:
    """Return where the cell data ends in `block` (after </sheetData> or <sheetData/>)."""
    position = block.find(b"sheetData")
    while position >= 0:
        start = block.rfind(b"<", max(position - 64, 0), position)
        if start >= 0:
            found = SHEET_DATA_BYTES.match(block, start)
            if found is not None:
                return found.end()
        position = block.find(b"sheetData", position + 1)
    return -1


def inflated_bytes(archive: zipfile.ZipFile, path: str, shown: str,
                   sheet: str) -> Iterator[bytes]:
    try:
        with archive.open(path) as member:
            while block := member.read(CHUNK_BYTES):
                yield block
    except (KeyError, zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise IncompleteWorkbook(Finding(shown, f"sheet '{sheet}' cannot be read ({exc}).",
                                         "Wait for the save to finish.")) from None


def sheet_data_end(text: str):
    """Return the match of the closing sheetData tag in `text`, or None."""
    position = text.find("sheetData>")
    while position >= 0:
        start = text.rfind("<", max(position - 64, 0), position)
        found = SHEET_DATA_END.match(text, start) if start >= 0 else None
        if found is not None:
            return found
        position = text.find("sheetData>", position + 1)
    return None


def cell_position(ref: str) -> tuple[int, int] | None:
    """Return a reference such as B3 as a 0-based (row, column) pair."""
    match = re.fullmatch(r"\$?([A-Za-z]{1,3})\$?([0-9]+)", ref)
    if not match:
        return None
    return int(match.group(2)) - 1, column_number(match.group(1).upper()) - 1


def raw_blocks(archive: zipfile.ZipFile, path: str, shown: str, sheet: str,
               tail: list[str] | None = None) -> Iterator[tuple[bool, list]]:
    """Yield the cell data a block of whole rows at a time.

    A block in Excel's own layout is yielded as (True, its FAST_CELL matches), any
    other as (False, its Rows). Rows without cells are left out. With `tail`, the
    part is inflated to its end, the text after the cell data added to `tail`, and
    the part checked for a document type first.
    """
    carry = ""
    head = None  # the worksheet's namespace prefix and declarations, once seen
    previous_row = 0
    texts = inflated(archive, path, shown, sheet, check_dtd=tail is not None)
    for text in texts:
        text = carry + text
        if head is None:
            start = SHEET_DATA_START.search(text)
            if start is None:
                carry = text
                continue
            head = sheet_head(text[: start.end()])
            if start.group(1):
                if tail is not None:
                    tail.append(text[start.end():])
                    tail.extend(texts)
                return
            text = text[start.end():]
        end = sheet_data_end(text)
        cut = end.start() if end is not None else text.rfind(f"</{head[0]}row>") + 1
        if cut > 0:
            cut = text.find(">", cut) + 1 if end is None else cut
            fast, items = block_items(text[:cut], head, previous_row, shown, sheet)
            if items:
                previous_row = int(items[-1][1]) if fast else items[-1][0]
                yield fast, items
            del items  # so two blocks' matches are never alive at once
        if end is not None:
            if tail is not None:
                tail.append(text[end.end():])
                tail.extend(texts)
            return
        carry = text[cut:] if cut > 0 else text
    if head is None:
        raise StreamDeclined("no sheetData")


def sheet_head(text: str) -> tuple[str, str]:
    """Return the worksheet's tag prefix ('x:' or '') and its namespace declarations."""
    root = TAG_PREFIX.search(text)
    prefix = (root.group(1) or "") if root else ""
    tag_end = text.find(">", root.start()) if root else -1
    declarations = " ".join(DECLARATION.findall(text[root.start():tag_end])) if root \
        else ""
    return prefix, declarations or f'xmlns="{MAIN_NS}"'


def block_items(block: str, head: tuple[str, str], previous_row: int, shown: str,
                sheet: str) -> tuple[bool, list]:
    """Return (True, the FAST_CELL matches) of a block, or (False, its Rows)."""
    if "\r" in block:  # XML reads line ends as \n; &#13; stays a carriage return
        block = block.replace("\r\n", "\n").replace("\r", "\n")
    cells = None if head[0] else fast_cells(block)
    if cells is None:
        return False, list(tree_rows(block, head, previous_row, shown, sheet))
    return True, cells


def fast_cells(block: str) -> list[tuple] | None:
    """Return the regex matches of every cell, or None when some cell has no match."""
    cells = FAST_CELL.findall(block)
    # Every match starts with "<c", so equal counts mean every cell matched. Other
    # tags start with "<c" too (<color> in inline rich text), so the cell tags are
    # counted one by one only then. XML allows any whitespace after the tag name,
    # and the regex takes only a space.
    if len(cells) != block.count("<c") and len(cells) != (
            block.count("<c ") + block.count("<c>") + block.count("<c/")
            + block.count("<c\n") + block.count("<c\t")):
        return None
    if "<![CDATA[" in block:
        return None
    return cells


def group_rows(cells: list[tuple]) -> Iterator[Row]:
    """Turn the regex matches of a block into rows of RawCells."""
    number = None
    row: list[RawCell] = []
    for letters, row_text, style, kind, more, cached, body in cells:
        if row_text != number:
            if row:
                yield int(number), row
            number, row = row_text, []
        column = COLUMNS.get(letters) or column_of(letters)
        if more:
            kind, style = more_attributes(more, kind, style)
        if cached:
            if "&" in cached:
                cached = html.unescape(cached)
            row.append((column, kind, style, cached, None, None))
        elif body:
            row.append(cell_from_body(column, kind, style, body))
        else:
            row.append((column, kind, style, None, None, None))
    if row:
        yield int(number), row


def first_row(matches: list[tuple], at: int) -> tuple[Row, int]:
    """Return the row whose matches start at index `at`, and the index after it."""
    number = matches[at][1]
    end = at + 1
    while end < len(matches) and matches[end][1] == number:
        end += 1
    return next(group_rows(matches[at:end])), end


def last_value_column(cells: list[RawCell]) -> int:
    """Return the column of the row's last cell holding a value, 0 when none does."""
    for cell in reversed(cells):
        if cell[3] is not None or cell[5] is not None:
            return cell[0]
    return 0


def more_attributes(text: str, kind: str, style: str) -> tuple[str, str]:
    """Return t and s when they follow other attributes, as other programs write them."""
    values = dict(ATTRIBUTE.findall(text))
    return values.get("t", kind), values.get("s", style)


def cell_from_body(column: int, kind: str, style: str, body: str) -> RawCell:
    formula = FORMULA.search(body)
    cached = CACHED.search(body)
    inline = INLINE.search(body) if kind == "inlineStr" else None
    return (
        column, kind, style,
        unescape(cached.group(1) or "") if cached else None,
        unescape(formula.group(1) or "") if formula else None,
        rich_text(inline.group(1) or "") if inline else None,
    )


def tree_rows(block: str, head: tuple[str, str], previous_row: int, shown: str,
              sheet: str) -> Iterator[Row]:
    """Parse a block with lxml: cells and rows without `r` take the next number."""
    prefix, declarations = head
    wrapped = f"<{prefix}sheetData {declarations}>{block}</{prefix}sheetData>"
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                             huge_tree=True)
    try:
        root = etree.fromstring(wrapped.encode(), parser)
    except etree.XMLSyntaxError as exc:
        raise EngineError(Finding(f"{shown} › {sheet}", f"the sheet XML is damaged "
                                  f"({exc}).", "Open it in Excel and save it again.")
                          ) from None
    number = previous_row
    for row in root:
        if etree.QName(row).localname != "row":
            continue
        explicit = row.get("r")
        number = int(explicit) if explicit else number + 1
        cells = []
        column = 0
        for cell in row:
            if etree.QName(cell).localname != "c":
                continue
            reference = cell.get("r")
            column = column_number(reference.rstrip("0123456789").lstrip("$").upper()) \
                if reference else column + 1
            cells.append(tree_cell(cell, column))
        if cells:
            yield number, cells


def tree_cell(cell, column: int) -> RawCell:
    children = {etree.QName(child).localname: child for child in cell}
    value, formula, inline = children.get("v"), children.get("f"), children.get("is")
    inline_text = None
    if inline is not None and cell.get("t") == "inlineStr":
        inline_text = unescape_chars("".join(
            text.text or "" for text in inline.iter()
            if etree.QName(text).localname == "t"
            and etree.QName(text.getparent()).localname != "rPh"))
    return (column, cell.get("t", ""), cell.get("s", ""),
            (value.text or "") if value is not None else None,
            (formula.text or "") if formula is not None else None, inline_text)


class CellReader:
    """Turns RawCells into the Python values python-calamine returns for them."""

    def __init__(self, parts: SheetParts, date1904: bool, shown: str, sheet: str):
        self.strings = parts.strings
        # s attribute -> DATETIME or TIMEDELTA, for the styles with such a format only.
        self.dated = {str(index): kind for index, kind in enumerate(parts.styles) if kind}
        if "0" in self.dated:
            self.dated[""] = self.dated["0"]
        self.date1904 = date1904
        self.where = f"{shown} › {sheet}"
        self.dates: dict[tuple[str, int], object] = {}  # date cells repeat a lot

    def value(self, cell: RawCell) -> object:
        _column, kind, style, cached, _formula, inline = cell
        if kind == "s":
            if cached is None:
                return ""
            try:
                return self.strings[int(cached)]
            except (ValueError, IndexError):
                raise EngineError(Finding(
                    self.where, f"the sheet cannot be read (shared string {cached} "
                    "is not in the shared strings table).",
                    "Open it in Excel and save it again.")) from None
        if not kind or kind == "n":
            if not cached:
                return ""
            dated = self.dated.get(style)
            if dated:
                return self.date_cell(cached, dated)
            try:
                return float(cached)
            except ValueError:
                return cached
        if kind == "str":
            return cached if cached is not None else ""
        if kind == "inlineStr":
            return inline if inline is not None else (cached or "")
        if kind == "b":
            return cached not in ("", "0") if cached is not None else ""
        if kind == "d":
            return iso_datetime(cached)
        return ""  # "e": calamine returns errors as empty cells

    def date_cell(self, cached: str, kind: int) -> object:
        key = (cached, kind)
        found = self.dates.get(key)
        if found is None:
            try:
                found = self.date_value(float(cached), kind)
            except ValueError:
                found = cached
            if len(self.dates) < 100_000:
                self.dates[key] = found
        return found

    def date_value(self, number: float, kind: int) -> object:
        if kind == TIMEDELTA:
            return dt.timedelta(milliseconds=round(number * MS_PER_DAY))
        days = number + 1462 if self.date1904 else number
        if days < 60:
            days += 1
        try:
            moment = EXCEL_EPOCH + dt.timedelta(milliseconds=round(days * MS_PER_DAY))
        except OverflowError:
            return number
        if number < 1:
            return moment.time()
        if moment.hour == moment.minute == moment.second == moment.microsecond == 0:
            return moment.date()
        return moment


def iso_datetime(text: str | None) -> object:
    if not text:
        return ""
    try:
        return dt.datetime.fromisoformat(text.rstrip("Z"))
    except ValueError:
        return text


def formula_cell(cell: RawCell) -> FormulaCell | None:
    """Return the formula facts of a formula or error cell, as sheetscan records them."""
    _column, kind, _style, cached, formula, _inline = cell
    if formula is None and kind != "e":
        return None
    return FormulaCell(formula or "", cached, kind == "e")


def is_serial_sixty(cell: RawCell) -> bool:
    """Return True for a number cell holding 60, which the 1900 system misdates."""
    _column, kind, _style, cached, formula, _inline = cell
    return (not kind or kind == "n") and formula is None and cached is not None and \
        cached[:2] == "60" and SIXTY.match(cached) is not None


def check_extent(row: int, width: int, shown: str, sheet: str) -> None:
    """Reject cells spread as far as calamine's dense copy would have to hold."""
    # NOTE: the stream itself could read such a sheet. The limit stays so that a file
    # is accepted or rejected alike whichever of the two readers takes it.
    if row * max(width, 26) > MAX_DENSE_CELLS:
        raise EngineError(Finding(
            f"{shown} › {sheet}", f"the cells with values span {row:,} rows by "
            f"{max(width, 26):,} columns, too large to read safely.",
            "Delete the stray values far below or right of the table and save."))


class SheetStream:
    """The rows of one sheet part, read once: the first rows kept for the header search."""

    def __init__(self, package: Package, path: str, shown: str, sheet: str, *,
                 merges_first: bool = True):
        self.parts = read_parts(package, path, shown, sheet, merges=merges_first)
        self.cells = CellReader(self.parts, package.date1904, shown, sheet)
        self.shown, self.sheet = shown, sheet
        self.width = 0  # the rightmost column holding a value, as far as read
        self.last_row = 0  # the last row holding a value, as far as read
        # Without merges_first, the text after the cell data, once the rows are read.
        self.tail: list[str] | None = None if merges_first else []
        self.blocks = raw_blocks(package.archive, path, shown, sheet, self.tail)
        # The block being read, FAST_CELL matches (fast) or Rows, and its next index.
        self.block: list = []
        self.fast = False
        self.at = 0
        self.head: list[Row] = []
        self.ended = False

    @property
    def merges(self):
        """The merged ranges; none while they are left to be read with the rows."""
        return self.parts.merges if self.parts.merges is not None else []

    @property
    def merges_known(self) -> bool:
        return self.parts.merges is not None

    def merges_found(self):
        """Return the merged ranges once the rows are read to the end, else None.

        None also when the cell data never ended: `read_merges` declines such a part.
        """
        if self.parts.merges is None and self.ended and self.tail:
            self.parts.merges = parse_merges("".join(self.tail))
            self.tail = None
        return self.parts.merges

    def note(self, row: Row) -> None:
        """Keep the rightmost column and the last row holding a value up to date."""
        number, cells = row
        column = last_value_column(cells)
        if column:
            self.width = max(self.width, column)
            self.last_row = number
        if self.last_row == number:
            check_extent(number, self.width, self.shown, self.sheet)

    def next_block(self) -> bool:
        """Move on to the next block that has rows left; return False at the end."""
        while self.at >= len(self.block):
            self.block = []  # freed before the next block is inflated
            block = next(self.blocks, None)
            if block is None:
                return False
            (self.fast, self.block), self.at = block, 0
        return True

    def next_row(self) -> Row | None:
        """Return the next row with cells, or None at the end of the cell data."""
        if not self.next_block():
            return None
        if self.fast:
            row, self.at = first_row(self.block, self.at)
        else:
            row = self.block[self.at]
            self.at += 1
        self.note(row)
        return row

    def read_head(self, count: int) -> list[list[object]]:
        """Return rows 1 to `count` as calamine's grid, '' for empty cells.

        The grid ends at the last row holding a value when the sheet ends sooner.
        """
        while (row := self.next_row()) is not None:
            # Rows past `count` without values yield no data, so they are not kept.
            if row[0] <= count or self.last_row == row[0]:
                self.head.append(row)
            if self.last_row >= count:
                break
        else:
            self.ended = True
        last = min(count, self.last_row)
        rows: list[list[object]] = [[] for _ in range(last)]
        for number, cells in self.head:
            if number > last:
                continue
            values = rows[number - 1]
            for cell in cells:
                value = self.cells.value(cell)
                column = cell[0]
                if column <= len(values):
                    values[column - 1] = value
                elif value != "":
                    values.extend([""] * (column - 1 - len(values)))
                    values.append(value)
        width = max([len(values) for values in rows] +
                    [right + 1 for (top, _), (_, right) in self.merges if top < last] +
                    [0])
        for values in rows:
            values.extend([""] * (width - len(values)))
        return rows

    def rows(self) -> Iterator[Row]:
        """Yield every row with cells, the ones read for the header first."""
        head, self.head = self.head, []
        yield from head
        if not self.ended:
            while (row := self.next_row()) is not None:
                yield row
        self.ended = True

    def picked(self, picker: RowPicker, start: int) -> Iterator[tuple[int, Picked]]:
        """Yield (row number, picked row) for the rows from `start` with mapped values.

        The rows read for the header come first. The rest are picked a block at a
        time, straight from the cell matches where the block is in Excel's layout.
        """
        head, self.head = self.head, []
        for number, cells in head:
            picked = picker.pick(cells) if number >= start else None
            if picked is not None:
                yield number, picked
        if self.ended:
            return
        while self.next_block():
            at, self.at = self.at, len(self.block)
            if self.fast:
                yield from picker.pick_matches(self.block, at, start, self)
                continue
            for row in self.block[at:]:
                self.note(row)
                picked = picker.pick(row[1]) if row[0] >= start else None
                if picked is not None:
                    yield row[0], picked
        self.ended = True
