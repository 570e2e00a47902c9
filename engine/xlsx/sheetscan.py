"""Checks on a workbook's zip package and sheet XML, made before python-calamine parses it.

python-calamine 0.9.1 aborts the whole process (no catchable exception) on a sheet with
cells at A1 and XFD1048576, because it allocates the dense range between them, and on
a zip member that inflates to gigabytes. So the declared member sizes and the extent of
the cells that hold values are checked here first. The same pass collects what
calamine does not return: formula text, error values and the workbook's date system.
"""

from __future__ import annotations

import html
import io
import posixpath
import re
import zipfile
from dataclasses import dataclass, field

from lxml import etree

from engine.findings import EngineError, Finding

MAX_MEMBER_BYTES = 1 << 30  # one sheet part of 1 GiB is about 2.5 million full rows
MAX_TOTAL_BYTES = 2 << 30
# calamine allocates rows x columns cells between the first and last cell with a value.
MAX_DENSE_CELLS = 50_000_000
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
CELL_REF = re.compile(rb'<c\b[^>]*?\br="([A-Z]{1,3})([0-9]+)"')
WIDE_CELL = re.compile(rb'<c\b[^>]*?\br="([A-Z]{2,3})[0-9]+"[^>]*?(/?)>')
VALUE_TAG = re.compile(rb"<(?:v|is)\b")
FORMULA_TAG = re.compile(rb"<f\b")
ERROR_CELL = re.compile(rb'<c\b[^>]*?\bt="e"[^>]*>')
CACHED = re.compile(rb"<v>([^<]*)</v>")
FORMULA_TEXT = re.compile(rb"<f\b[^>]*?(?:/>|>([^<]*)</f>)")
SERIAL_SIXTY = re.compile(rb"<v>60(?:\.0+)?</v>")
# A namespace prefix on the root (<x:worksheet>) or a cell without `r` (Excel may
# omit it and count the cell as the next column) needs the slower tree scan.
PREFIXED_ROOT = re.compile(rb"<[A-Za-z_][\w.-]*:worksheet[\s>]")


class IncompleteWorkbook(EngineError):
    """A workbook that is empty or cut short, most likely still being saved."""


class WorkbookNotFound(EngineError):
    """The mapped workbook file does not exist."""


@dataclass(frozen=True, slots=True)
class FormulaCell:
    formula: str  # without the leading '=', '' for a shared-formula follower
    cached: str | None  # the <v> text, None when the cell has no cached value
    is_error: bool  # t="e": the cached value is an error such as #N/A


@dataclass
class SheetPart:
    """What the sheet XML says beyond the values calamine returns."""

    name: str  # the sheet name as spelled in the workbook
    path: str  # zip member, such as xl/worksheets/sheet1.xml
    formulas: dict[tuple[int, int], FormulaCell] = field(default_factory=dict)
    tables: list[TableInfo] = field(default_factory=list)
    # Number cells holding serial 60, which the 1900 date system shows as
    # 29 February 1900, a day that did not exist.
    serial_sixty: set[tuple[int, int]] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class TableInfo:
    """An Excel Table (ListObject) on the sheet, in 1-based rows."""

    name: str
    first_row: int
    last_row: int  # the totals row when there is one
    totals_rows: int


@dataclass
class Package:
    """A workbook's zip package after the safety checks."""

    archive: zipfile.ZipFile
    date1904: bool
    calculated: bool  # False when no calcChain exists or Excel must recalc on load
    sheets: dict[str, tuple[str, str]]  # sheet name -> (zip member, visibility state)


def open_package(data: bytes, shown: str) -> Package:
    """Check the file is an .xlsx workbook of sane size and open its zip package."""
    classify(data, shown)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise IncompleteWorkbook(Finding(
            shown, "the file is not a complete zip package (cut short or still being "
            "saved).", "Wait for the save to finish; if it stays, restore the file "
            "from a backup.", code="incomplete")) from None
    names = set(archive.namelist())
    if "xl/workbook.bin" in names:
        raise EngineError(Finding(shown, "this is an Excel binary workbook (.xlsb).",
                                  "Open it in Excel and save it as .xlsx."))
    if "xl/workbook.xml" not in names:
        raise EngineError(Finding(shown, "this zip file is not an Excel workbook (no "
                                  "xl/workbook.xml).", "Save the data as .xlsx in Excel."))
    check_sizes(archive, shown)
    return read_workbook_part(archive, names, shown)


def classify(data: bytes, shown: str) -> None:
    """Raise EngineError for files that are not zip packages, naming what they are."""
    if not data:
        raise IncompleteWorkbook(Finding(shown, "the file is empty (0 bytes).",
                                         "Wait for the save to finish.", code="incomplete"))
    if data.startswith(OLE_MAGIC):
        raise EngineError(Finding(
            shown, "this is an old .xls file or a password-protected workbook.",
            "Open it in Excel and save it as .xlsx without a password."))
    if data.startswith(b"PK"):
        return
    head = data[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"<!doctype html", b"<html", b"<table", b"<?xml", b"<")):
        raise EngineError(Finding(
            shown, "this is a web page or XML file saved with an .xlsx name.",
            "Open it in Excel and save it as .xlsx."))
    try:
        data[:4096].decode("utf-8")
        text = True
    except UnicodeDecodeError:
        text = False
    if text:
        raise EngineError(Finding(
            shown, "this is a text (CSV) file saved with an .xlsx name.",
            "Open it in Excel and save it as .xlsx."))
    raise EngineError(Finding(shown, "this is not an Excel workbook.",
                              "Save the data as .xlsx in Excel."))


def check_sizes(archive: zipfile.ZipFile, shown: str) -> None:
    total = 0
    for info in archive.infolist():
        total += info.file_size
        if info.file_size > MAX_MEMBER_BYTES or total > MAX_TOTAL_BYTES:
            raise EngineError(Finding(
                shown, f"part {info.filename} declares {info.file_size:,} bytes "
                f"uncompressed (limit {MAX_MEMBER_BYTES:,}, {MAX_TOTAL_BYTES:,} in "
                "total).", "Remove unused rows and objects, or split the workbook."))


def read_workbook_part(archive: zipfile.ZipFile, names: set[str], shown: str) -> Package:
    try:
        workbook = etree.fromstring(archive.read("xl/workbook.xml"))
        rels = etree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    except (KeyError, etree.XMLSyntaxError, zipfile.BadZipFile) as exc:
        raise EngineError(Finding(shown, f"the workbook part is damaged ({exc}).",
                                  "Open it in Excel and save it again.")) from None
    targets = {rel.get("Id"): rel.get("Target", "") for rel in rels}
    properties = workbook.find(f"{{{MAIN_NS}}}workbookPr")
    date1904 = properties is not None and properties.get("date1904") in ("1", "true")
    calc = workbook.find(f"{{{MAIN_NS}}}calcPr")
    full_calc = calc is not None and calc.get("fullCalcOnLoad") in ("1", "true")
    sheets = {}
    for sheet in workbook.iter(f"{{{MAIN_NS}}}sheet"):
        target = targets.get(sheet.get(f"{{{REL_NS}}}id"), "")
        sheets[sheet.get("name")] = (member_path("xl", target), sheet.get("state", "visible"))
    calculated = "xl/calcChain.xml" in names and not full_calc
    return Package(archive, date1904, calculated, sheets)


def member_path(base: str, target: str) -> str:
    if target.startswith("/"):
        return target.lstrip("/")
    return posixpath.normpath(posixpath.join(base, target))


def scan_sheet(package: Package, name: str, shown: str) -> SheetPart:
    """Check the sheet's extent and collect its formula cells and tables."""
    path = package.sheets[name][0]
    try:
        xml = package.archive.read(path)
    except (KeyError, zipfile.BadZipFile) as exc:
        raise IncompleteWorkbook(Finding(shown, f"sheet '{name}' cannot be read ({exc}).",
                                         "Wait for the save to finish.")) from None
    check_extent(xml, name, shown)
    if needs_tree_scan(xml):
        formulas, sixty = scan_cells_tree(xml, shown, name)
    else:
        formulas, sixty = scan_formulas(xml), scan_serial_sixty(xml)
    part = SheetPart(name, path, formulas=formulas, serial_sixty=sixty)
    part.tables = read_tables(package.archive, path)
    return part


def check_extent(xml: bytes, name: str, shown: str) -> None:
    """Reject a sheet whose cells with values span more cells than calamine can hold."""
    last_row = last_value_row(xml)
    if last_row * 16384 <= MAX_DENSE_CELLS:
        return
    last_column = 0
    for match in WIDE_CELL.finditer(xml):
        letters, empty = match.groups()
        if empty or column_number(letters) <= last_column:
            continue
        end = xml.find(b"</c>", match.end())
        if VALUE_TAG.search(xml, match.end(), end if end >= 0 else len(xml)):
            last_column = column_number(letters)
    last_column = max(last_column, 26)
    if last_row * last_column > MAX_DENSE_CELLS:
        raise EngineError(Finding(
            f"{shown} › {name}", f"the cells with values span {last_row:,} rows by "
            f"{last_column:,} columns, too large to read safely.",
            "Delete the stray values far below or right of the table and save."))


def last_value_row(xml: bytes) -> int:
    """Return the row of the last cell holding a value (rows are stored in order)."""
    # Each tag keeps its own last position, so a tag that the sheet never contains is
    # searched once rather than again from the end for every value.
    found = {tag: xml.rfind(tag) for tag in (b"<v>", b"<v ", b"<is>")}
    while True:
        tag = max(found, key=found.__getitem__)
        position = found[tag]
        if position < 0:
            return 0
        start = xml.rfind(b"<c ", 0, position)
        match = CELL_REF.match(xml, start) if start >= 0 else None
        if match:
            return int(match.group(2))
        found[tag] = xml.rfind(tag, 0, position)


def scan_formulas(xml: bytes) -> dict[tuple[int, int], FormulaCell]:
    """Return formula and error cells by (row, column), both 1-based."""
    cells: dict[tuple[int, int], FormulaCell] = {}
    starts = {m.start() for m in ERROR_CELL.finditer(xml)}
    for match in FORMULA_TAG.finditer(xml):
        starts.add(xml.rfind(b"<c ", 0, match.start()))
    for start in sorted(starts):
        ref = CELL_REF.match(xml, start)
        if not ref:
            continue  # needs_tree_scan sends sheets with such cells to the tree scan
        end = xml.find(b"</c>", start)
        body = xml[start:end if end >= 0 else len(xml)]
        head = body[: body.find(b">") + 1]
        formula = FORMULA_TEXT.search(body)
        cached = CACHED.search(body)
        text = html.unescape((formula.group(1) or b"").decode()) if formula else ""
        cells[(int(ref.group(2)), column_number(ref.group(1)))] = FormulaCell(
            formula=text,
            cached=html.unescape(cached.group(1).decode()) if cached else None,
            is_error=b't="e"' in head,
        )
    return cells


def needs_tree_scan(xml: bytes) -> bool:
    """Return True when cells cannot be located by their `r` attribute alone."""
    if PREFIXED_ROOT.search(xml, 0, 4096):
        return True
    cells = xml.count(b"<c ") + xml.count(b"<c>") + xml.count(b"<c/")
    return cells != xml.count(b'<c r="')


def scan_serial_sixty(xml: bytes) -> set[tuple[int, int]]:
    cells = set()
    for match in SERIAL_SIXTY.finditer(xml):
        start = xml.rfind(b"<c ", 0, match.start())
        ref = CELL_REF.match(xml, start) if start >= 0 else None
        head = xml[start : xml.find(b">", start) + 1] if ref else b""
        if ref and (b' t="' not in head or b' t="n"' in head):
            cells.add((int(ref.group(2)), column_number(ref.group(1))))
    return cells


def scan_cells_tree(xml: bytes, shown: str, name: str):
    """Collect formula, error and serial-60 cells by parsing the sheet XML.

    Rows and cells without `r` take the number after the previous one, as Excel
    reads them.
    """
    formulas: dict[tuple[int, int], FormulaCell] = {}
    sixty: set[tuple[int, int]] = set()
    row_number = column = 0
    events = etree.iterparse(io.BytesIO(xml), events=("start", "end"),
                             resolve_entities=False, no_network=True, load_dtd=False)
    try:
        for event, element in events:
            local = etree.QName(element).localname
            if event == "start" and local == "row":
                explicit = element.get("r")
                row_number = int(explicit) if explicit else row_number + 1
                column = 0
            elif event == "end" and local == "c":
                reference = element.get("r")
                column = column_number(reference.rstrip("0123456789").lstrip("$")) \
                    if reference else column + 1
                record_cell(element, (row_number, column), formulas, sixty)
                element.clear()
    except etree.XMLSyntaxError as exc:
        raise EngineError(Finding(f"{shown} › {name}", f"the sheet XML is damaged "
                                  f"({exc}).", "Open it in Excel and save it again.")
                          ) from None
    return formulas, sixty


def record_cell(element, position, formulas, sixty) -> None:
    children = {etree.QName(child).localname: child for child in element}
    kind = element.get("t")
    value = children.get("v")
    cached = value.text if value is not None else None
    if "f" in children or kind == "e":
        formula = children.get("f")
        formulas[position] = FormulaCell(
            formula=(formula.text or "") if formula is not None else "",
            cached=cached, is_error=kind == "e")
    elif kind in (None, "n") and cached is not None and SIXTY_TEXT.match(cached):
        sixty.add(position)


SIXTY_TEXT = re.compile(r"^60(?:\.0+)?$")


def read_tables(archive: zipfile.ZipFile, sheet_path: str) -> list[TableInfo]:
    folder, file = posixpath.split(sheet_path)
    try:
        rels = etree.fromstring(archive.read(f"{folder}/_rels/{file}.rels"))
    except (KeyError, etree.XMLSyntaxError):
        return []
    tables = []
    for rel in rels:
        if not rel.get("Type", "").endswith("/table"):
            continue
        try:
            table = etree.fromstring(archive.read(member_path(folder, rel.get("Target"))))
        except (KeyError, etree.XMLSyntaxError):
            continue
        first, last = ref_rows(table.get("ref", ""))
        tables.append(TableInfo(table.get("displayName") or table.get("name", ""),
                                first, last, int(table.get("totalsRowCount", "0"))))
    return tables


def ref_rows(ref: str) -> tuple[int, int]:
    rows = [int(part) for part in re.findall(r"[0-9]+", ref)]
    return (rows[0], rows[-1]) if rows else (0, 0)


def column_number(letters: bytes | str) -> int:
    if isinstance(letters, bytes):
        letters = letters.decode()
    number = 0
    for char in letters:
        number = number * 26 + ord(char) - 64
    return number
