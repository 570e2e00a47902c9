"""The read pass of a write-back: what is in the target cells and what protects them.

Merged ranges come after the cell data in the sheet XML. Array formulas cover cells
that carry no formula of their own. So every target is checked against one full read
of the sheet before a single byte is written.
"""

from __future__ import annotations

import datetime as dt
import re
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from engine.findings import Finding
from engine.model import column_letter
from engine.xlsx.patch_cells import (
    MAX_NUMBER,
    CellValue,
    CellWrite,
    RowContext,
    cell_positions,
    date_serial,
    excel_escape,
    last_cell_if_all_explicit,
    parse_row,
    row_cells,
    serial_text,
    value_problem,
)
from engine.xlsx.patch_package import SheetPart, TableArea, parse_range
from engine.xlsx.patch_stream import RowSpan, SheetHead, Tail, split_sheet

Area = tuple[int, int, int, int]

MAX_ROW = 1_048_576

_COL = re.compile(rb"<(?:[\w.-]+:)?col\s([^>]*)>")
_ATTRIBUTE = re.compile(rb"([\w:.-]+)\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")
_MERGE_CELL = re.compile(rb"<(?:[\w.-]+:)?mergeCell\s[^>]*?\bref\s*=\s*[\"']([^\"']+)[\"']")


@dataclass(slots=True)
class CellState:
    """Contents of a target cell before the write."""

    exists: bool = False
    formula: str | None = None
    formula_kind: str | None = None
    shared_index: str | None = None
    type: str | None = None
    value: str | None = None
    style: str | None = None


@dataclass(slots=True)
class FormulaArea:
    kind: str
    area: Area
    master: str


@dataclass(slots=True)
class SheetScan:
    """Facts of one sheet gathered by the read pass."""

    prefix: bytes = b""
    namespace_decls: bytes = b""
    column_styles: dict[int, str] = field(default_factory=dict)
    merged: list[Area] = field(default_factory=list)
    formula_areas: list[FormulaArea] = field(default_factory=list)
    shared_masters: dict[str, str] = field(default_factory=dict)
    cells: dict[tuple[int, int], CellState] = field(default_factory=dict)
    has_formulas: bool = False  # any cell of the sheet holds a formula
    # Where the write pass splices, as byte offsets into the uncompressed sheet XML,
    # or None when the split pieces are not the sheet's own bytes (an empty
    # <sheetData/> is split as a start and end tag). See `SheetLayout`.
    layout: SheetLayout | None = None

    def context(self, date1904: bool) -> RowContext:
        return RowContext(self.namespace_decls, self.prefix, date1904, self.column_styles)


@dataclass(slots=True)
class SheetLayout:
    """Byte offsets of the sheet XML that a write replaces or inserts at.

    `splices` contains one (start, stop, row) triple per written row, in the order the
    write meets them: the row's `<row>` element is bytes start to stop, and a row the
    sheet lacks is inserted at start with stop -1. With it, the write pass copies the
    bytes between splices without splitting the sheet into rows a second time.
    """

    head_end: int = 0  # the head is bytes 0 to head_end, up to <sheetData>
    tail_start: int = -1  # offset of </sheetData>
    splices: array = field(default_factory=lambda: array("q"))

    def add(self, start: int, stop: int, row: int) -> None:
        self.splices.extend((start, stop, row))

    def triples(self) -> Iterator[tuple[int, int, int]]:
        splices = self.splices
        for at in range(0, len(splices), 3):
            yield splices[at], splices[at + 1], splices[at + 2]


class _Counted:
    """The chunks of a stream, counting their bytes as they pass."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self.chunks = chunks
        self.size = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.chunks:
            self.size += len(chunk)
            yield chunk


def _add_splices(
    layout: SheetLayout, targets: Sequence[tuple[int, int]], index: int, start: int,
    stop: int, number: int,
) -> int:
    """Record the splices of the rows met at `start`, as the write pass takes them.

    Target rows before `number` that were not met are new rows inserted at `start`,
    and the targets of row `number` rewrite bytes start to stop. Returns the index of
    the first target left.
    """
    while index < len(targets) and targets[index][0] < number:
        row = targets[index][0]
        layout.add(start, -1, row)
        while index < len(targets) and targets[index][0] == row:
            index += 1
    if stop >= 0 and index < len(targets) and targets[index][0] == number:
        layout.add(start, stop, number)
        while index < len(targets) and targets[index][0] == number:
            index += 1
    return index


def scan_sheet(chunks: Iterable[bytes], targets: Sequence[tuple[int, int]]) -> SheetScan:
    """Read the sheet once, recording target cells, formula ranges, merges and layout.

    `targets` must be sorted. Rows are expected in ascending order, as the file
    format requires.
    """
    scan = SheetScan()
    context = None
    tail = []
    index = 0
    layout = SheetLayout()
    spliced = 0  # index of the first target the layout has not placed yet
    offset = 0
    counted = _Counted(chunks)
    formula_open = b"<f"
    for piece in split_sheet(counted):
        start = offset
        offset += len(piece.data)
        if isinstance(piece, RowSpan):
            if spliced < len(targets) and targets[spliced][0] <= piece.number:
                spliced = _add_splices(layout, targets, spliced, start, offset, piece.number)
            while index < len(targets) and targets[index][0] < piece.number:
                index += 1
            columns = []
            while index < len(targets) and targets[index][0] == piece.number:
                columns.append(targets[index][1])
                index += 1
            # A row without targets matters only for its formulas (see _scan_row).
            if columns or formula_open in piece.data:
                _scan_row(scan, piece, columns, context)
        elif isinstance(piece, SheetHead):
            scan.prefix = piece.prefix
            scan.namespace_decls = piece.namespace_decls
            scan.column_styles = _column_styles(piece.data)
            context = scan.context(False)
            formula_open = b"<" + piece.prefix + b"f"
            layout.head_end = offset
        elif isinstance(piece, Tail):
            if not tail:
                layout.tail_start = start
                spliced = _add_splices(layout, targets, spliced, start, -1, MAX_ROW + 1)
            tail.append(piece.data)
    if offset == counted.size and layout.tail_start >= 0:
        scan.layout = layout
    scan.merged = [
        area
        for ref in _MERGE_CELL.findall(b"".join(tail))
        if (area := parse_range(ref.decode("ascii", "replace"))) is not None
    ]
    return scan


def _scan_row(
    scan: SheetScan, piece: RowSpan, columns: list[int], context: RowContext | None
) -> None:
    assert context is not None
    data = piece.data
    formula_open = b"<" + context.prefix + b"f"
    if not scan.has_formulas and formula_open in data:
        scan.has_formulas = _has_formula(data, formula_open)
    # Only shared, array and data-table formulas carry a `ref` range.
    ranged_formula = formula_open in data and b"ref=" in data and _has_formula(data, formula_open)
    if not columns and not ranged_formula:
        return
    if not ranged_formula:
        last = last_cell_if_all_explicit(data, context.prefix)
        if last is not None and last[0] < min(columns):
            return
        present = {column for column, _ in cell_positions(data, context.prefix)}
        if present.isdisjoint(columns):
            return
    row = parse_row(piece.data, context)
    wanted = set(columns)
    for column, cell in row_cells(row):
        formula = next((child for child in cell if _local(child) == "f"), None)
        ref = f"{column_letter(column)}{piece.number}"
        if formula is not None and formula.get("ref"):
            area = parse_range(formula.get("ref") or "")
            kind = formula.get("t") or "normal"
            if area is not None and kind in ("shared", "array", "dataTable"):
                scan.formula_areas.append(FormulaArea(kind, area, ref))
            if kind == "shared" and formula.get("si") is not None:
                scan.shared_masters[formula.get("si") or ""] = ref
        if column in wanted:
            scan.cells[(piece.number, column)] = _cell_state(cell, formula)


def _has_formula(data: bytes, formula_open: bytes) -> bool:
    # "<f" also starts "<family" inside rich text run properties.
    return any(formula_open + end in data for end in (b" ", b">", b"/"))


def _cell_state(cell, formula) -> CellState:
    state = CellState(exists=True, type=cell.get("t"), style=cell.get("s"))
    if formula is not None:
        state.formula = formula.text or ""
        state.formula_kind = formula.get("t") or "normal"
        state.shared_index = formula.get("si")
    for child in cell:
        name = _local(child)
        if name == "v":
            state.value = child.text or ""
        elif name == "is":
            state.value = "".join(
                t.text or "" for t in child.iter() if _local(t) == "t" and _local(t.getparent()) != "rPh"
            )
    return state


def _column_styles(head: bytes) -> dict[int, str]:
    styles: dict[int, str] = {}
    for attributes in _COL.findall(head):
        values = {
            name.decode(): (first or second).decode()
            for name, first, second in _ATTRIBUTE.findall(attributes)
        }
        try:
            low, high = int(values["min"]), int(values["max"])
        except (KeyError, ValueError):
            continue
        style = values.get("style")
        if style and style != "0":
            for column in range(low, min(high, 16_384) + 1):
                styles[column] = style
    return styles


def refusals(
    scan: SheetScan,
    sheet: SheetPart,
    workbook: str,
    writes: Mapping[tuple[int, int], CellValue | CellWrite],
    targets: Sequence[tuple[int, int]],
) -> list[Finding]:
    """Return one finding for every target that must not be written, in cell order."""
    findings = []
    # Without formulas, merges or tables no position is refused, so only the
    # values are checked.
    check_positions = bool(scan.formula_areas or scan.merged or sheet.tables) or any(
        state.formula is not None for state in scan.cells.values()
    )
    for target in targets:
        row, column = target
        value = writes[target]
        if isinstance(value, CellWrite):
            value = value.value
        reason = _position_problem(scan, sheet.tables, row, column) if check_positions else None
        if type(value) is Decimal and value.is_finite() and value.adjusted() < _MAX_ADJUSTED:
            problem = None  # the usual amount, checked without value_problem's steps
        else:
            problem = _value_refusal(value, sheet.date1904)
        if reason is None and problem is None:
            continue
        where = f"{workbook} › {sheet.name} › {column_letter(column)}{row}"
        if reason is not None:
            findings.append(Finding(where, reason[0], reason[1], code="write-refused"))
        if problem is not None:
            findings.append(
                Finding(where, f"cannot be written: {problem}.", "Correct the value.", code="write-refused")
            )
    return findings


# A finite Decimal whose adjusted exponent is below that of MAX_NUMBER (307) is
# within the range Excel can store.
_MAX_ADJUSTED = MAX_NUMBER.adjusted()


def _value_refusal(value: CellValue, date1904: bool) -> str | None:
    problem = value_problem(value)
    if (
        problem is None
        and isinstance(value, dt.date)
        and serial_text(value, date1904) is None
    ):
        system = "1904" if date1904 else "1900"
        problem = f"date {value} is before the start of Excel's {system} date system"
    return problem


def _position_problem(
    scan: SheetScan, tables: list[TableArea], row: int, column: int
) -> tuple[str, str] | None:
    state = scan.cells.get((row, column))
    if state is not None and state.formula is not None:
        if state.formula_kind == "shared" and not state.formula:
            master = scan.shared_masters.get(state.shared_index or "", "another cell")
            message = f"contains a shared formula copied from {master}"
        else:
            message = f"contains a formula (={state.formula})"
        return (
            message + ", which the engine never overwrites.",
            "Map the owned column to cells without formulas, or clear the formula in Excel.",
        )
    for formula in scan.formula_areas:
        if _inside(formula.area, row, column) and formula.kind != "shared":
            label = "an array formula" if formula.kind == "array" else "a data table"
            return (
                f"is inside the range {_area_text(formula.area)} of {label} "
                f"entered in {formula.master}, which Excel only changes as a whole.",
                "Map the owned column outside that range.",
            )
        if _inside(formula.area, row, column):
            return (
                f"is inside the range {_area_text(formula.area)} of the shared formula "
                f"entered in {formula.master}.",
                "Map the owned column outside that range.",
            )
    for area in scan.merged:
        if _inside(area, row, column):
            return (
                f"is part of the merged range {_area_text(area)}, where a written value "
                "would be hidden or break the merge.",
                "Unmerge the cells in Excel, or map the owned column elsewhere.",
            )
    for table in tables:
        header = (table.first_row, table.first_column, table.first_row + table.header_rows - 1, table.last_column)
        if table.header_rows and _inside(header, row, column):
            return (
                f"is a header cell of the Excel table '{table.name}'; writing it would "
                "rename the table column.",
                "Map the owned column to the rows below the table header.",
            )
        totals = (table.last_row - table.totals_rows + 1, table.first_column, table.last_row,
                  table.last_column)
        if table.totals_rows and _inside(totals, row, column):
            return (
                f"is in the totals row of the Excel table '{table.name}', which Excel "
                "fills from the column's total function.",
                "Map the owned column to the data rows of the table.",
            )
    return None


def is_unchanged(state: CellState | None, write: CellWrite, date1904: bool, strings: dict[int, str]) -> bool:
    """Return True when the cell already contains exactly this value and style."""
    value = write.value
    if state is None or not state.exists:
        return value is None and write.style is None
    if write.style is not None and str(write.style) != (state.style or "0"):
        return False
    if state.formula is not None:
        return False
    if value is None:
        return state.value is None
    if isinstance(value, str):
        if state.type == "inlineStr":
            return state.value == excel_escape(value)
        if state.type == "s" and state.value is not None and state.value.isdigit():
            return strings.get(int(state.value)) == excel_escape(value)
        return False
    if isinstance(value, bool):
        return state.type == "b" and state.value == ("1" if value else "0")
    if state.type not in (None, "n") or state.value is None:
        return False
    try:
        stored = Decimal(state.value)
    except InvalidOperation:
        return False
    if isinstance(value, (Decimal, int)):
        return stored == value
    return stored == date_serial(value, date1904)


def _inside(area: Area, row: int, column: int) -> bool:
    return area[0] <= row <= area[2] and area[1] <= column <= area[3]


def _area_text(area: Area) -> str:
    first = f"{column_letter(area[1])}{area[0]}"
    last = f"{column_letter(area[3])}{area[2]}"
    return first if first == last else f"{first}:{last}"


def _local(el) -> str:
    tag = el.tag
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""
