"""Reading a mapped sheet into rows of raw cell values, with findings for unsafe cells.

Values come from python-calamine, which returns cached formula results only. The
sheet XML scan in `sheetscan` adds what calamine does not say: which cells are
formulas without a usable result or error values. Rows with such a cell in a mapped
field are marked held so no decision is made on them; the other rows are read.
"""

from __future__ import annotations

import io
import logging
import re
from array import array
from collections.abc import Callable, Container, Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from operator import itemgetter
from pathlib import Path
from types import MappingProxyType

from python_calamine import CalamineError, CalamineWorkbook

from engine.filestamp import FileStamp, stamp_of_bytes
from engine.findings import EngineError, Finding, Severity
from engine.model import RowRef, column_letter
from engine.values import date_order_conflict
from engine.workbook_map import REQUIRED, SourceMap, suggest
from engine.xlsx.headers import Header, added_owned_columns, find_header, sheet_label
from engine.xlsx.rowpick import RowPicker
from engine.xlsx.sheetscan import (
    FormulaCell,
    Package,
    SheetPart,
    WorkbookNotFound,
    open_package,
    read_tables,
    scan_sheet,
)
from engine.xlsx.stream import SheetStream, StreamDeclined

log = logging.getLogger(__name__)

TOTALS_WORDS = re.compile(
    r"^\s*(grand\s+total|sub-?total|totals?|sum|summe|gesamt|insgesamt|total\s+general)\b",
    re.IGNORECASE,
)
# The owned values of rows in sheets without owned columns (payments), shared.
NO_OWNED: Mapping[str, object] = MappingProxyType({})


@dataclass(slots=True)
class SheetRow:
    """One data row: raw values by field, and the findings that hold it, if any."""

    ref: RowRef
    values: Mapping[str, object]  # mapped field -> raw value (None for an empty cell)
    owned: Mapping[str, object]  # owned field -> value now in the sheet
    # Non-empty: never decide. Rows without findings share the empty tuple.
    held: list[Finding] | tuple[()] = ()


# The mapped values of kept rows once the records are typed.
NO_VALUES: Mapping[str, object] = MappingProxyType({})


class KeptRows:
    """The rows a pass keeps for its write-back: row numbers, and owned values.

    A SheetRow with its RowRef costs about 150 bytes, so at a million rows the
    numbers are kept in an array instead, and owned values only for the rows that
    show any. Those are kept as tuples in the order of `owned_names`: a customers
    row shows eleven figures, whose dict takes 464 bytes and tuple 128 (Python 3.11).
    Iterating yields SheetRows without their mapped values.
    """

    def __init__(self, shown: str, sheet: str, owned_names: tuple[str, ...]):
        self.shown = shown
        self.sheet = sheet
        self.names = owned_names
        self.numbers = array("i")
        self.owned: dict[int, tuple[object, ...]] = {}
        # Every row without owned values shares this all-None mapping.
        self.no_owned: Mapping[str, object] = MappingProxyType(
            dict.fromkeys(owned_names))

    def append(self, row: SheetRow) -> None:
        number = row.ref.row
        self.numbers.append(number)
        owned = row.owned
        # A read mapping (MappingProxyType) is a sheet's shared all-None or empty one.
        if type(owned) is not MappingProxyType and owned \
                and any(value is not None for value in owned.values()):
            self.set_owned(number, owned)

    def set_owned(self, number: int, owned: Mapping[str, object]) -> None:
        """Keep the owned values of row `number`, or forget them when all are None."""
        values = tuple(owned.get(name) for name in self.names)
        if any(value is not None for value in values):
            self.owned[number] = values
        else:
            self.owned.pop(number, None)

    def owned_at(self, number: int) -> Mapping[str, object]:
        """Return the owned values now in row `number` (all None when it shows none)."""
        values = self.owned.get(number)
        if values is None:
            return self.no_owned
        return dict(zip(self.names, values))

    def row(self, number: int) -> SheetRow:
        return SheetRow(RowRef(self.shown, self.sheet, number), NO_VALUES,
                        self.owned_at(number))

    def __len__(self) -> int:
        return len(self.numbers)

    def __getitem__(self, index: int) -> SheetRow:
        return self.row(self.numbers[index])

    def __iter__(self) -> Iterator[SheetRow]:
        for number in self.numbers:
            yield self.row(number)


def owned_by_row(
    rows: list[SheetRow] | KeptRows,
) -> Iterator[tuple[int, Mapping[str, object]]]:
    """Yield (row number, owned values now in the row) for each kept row."""
    if isinstance(rows, KeptRows):
        for number in rows.numbers:
            yield number, rows.owned_at(number)
        return
    for row in rows:
        yield row.ref.row, row.owned


@dataclass
class SheetRead:
    source: SourceMap
    path: Path
    shown_as: str  # the file name as the user knows it
    stamp: FileStamp  # of the exact bytes that were parsed
    date1904: bool
    header_row: int  # 1-based
    columns: dict[str, int]  # mapped field -> 1-based column
    owned_columns: dict[str, int]  # owned field -> 1-based column
    new_headers: dict[int, str]  # column -> header the writer adds in header_row
    rows: list[SheetRow] | KeptRows
    findings: list[Finding]
    # The rows not read yet (open_sheet); take_rows yields them once.
    pending: Iterator[SheetRow] | None = None
    # Owned values by row number, built by owned_at when `rows` is a list.
    owned_index: dict[int, Mapping[str, object]] | None = field(default=None,
                                                                repr=False)

    def take_rows(self) -> Iterator[SheetRow]:
        """Yield the data rows as they are read; the findings are complete after."""
        if self.pending is None:
            yield from self.rows
            return
        pending, self.pending = self.pending, None
        yield from pending

    def owned_at(self, number: int) -> Mapping[str, object]:
        """Return the owned values now in row `number`; empty for a row not kept."""
        if isinstance(self.rows, KeptRows):
            return self.rows.owned_at(number)
        if self.owned_index is None:
            self.owned_index = {row.ref.row: row.owned for row in self.rows}
        return self.owned_index.get(number, NO_OWNED)


class ReadAgain(Exception):
    """The sheet's merged ranges, found after its rows, change how the rows are read.

    `SheetRead.take_rows` raises it once the rows are read; the rows it yielded are
    void. `reread(read)` reads the same bytes again, merged ranges first, into
    `read`, whose `take_rows` then yields the rows anew.
    """

    def __init__(self, again: Callable[[], SheetRead]):
        super().__init__("merged ranges found after the rows")
        self.again = again

    def reread(self, read: SheetRead) -> None:
        fresh = self.again()
        copy_read(fresh, read)
        if fresh.pending is not None:
            read.pending = completed_into(fresh.pending, fresh, read)


def copy_read(source: SheetRead, target: SheetRead, *, leave: tuple[str, ...] = ()):
    """Set the fields of `target`, except those named in `leave`, to those of `source`."""
    for name in (item.name for item in fields(SheetRead)):
        if name not in leave:
            setattr(target, name, getattr(source, name))


def completed_into(rows: Iterator[SheetRow], fresh: SheetRead,
                   read: SheetRead) -> Iterator[SheetRow]:
    """Yield the rows of `fresh`; then copy what its read completed into `read`."""
    yield from rows
    copy_read(fresh, read, leave=("pending", "rows"))


def read_sheet(path: Path, source: SourceMap, *, shown_as: str | None = None) -> SheetRead:
    """Read the mapped sheet of one workbook; raise EngineError for whole-file faults."""
    read = open_sheet(path, source, shown_as=shown_as)
    try:
        read.rows = list(read.take_rows())
    except ReadAgain as again:
        again.reread(read)
        read.rows = list(read.take_rows())
    return read


def open_sheet(path: Path, source: SourceMap, *, shown_as: str | None = None) -> SheetRead:
    """Find the header of the mapped sheet; its rows are read by `SheetRead.take_rows`.

    The rows are streamed from the sheet XML. A sheet part the stream reader does
    not take is read with python-calamine, all at once, as before. The part is
    inflated once: its merged ranges are taken from its end, and `take_rows` raises
    ReadAgain in a sheet where they start in the rows above or at the header, or
    cover mapped data cells.
    """
    # TODO: a merged title row above the header also sends the sheet back to be read
    # again, although the header search would find the same header.
    shown = shown_as or path.name
    data = read_bytes(path, shown, source.where.get("file", "rules/workbooks.yaml"))
    stamp = stamp_of_bytes(path, data)
    return open_data(data, path, source, shown, stamp, merges_first=False)


def open_data(data: bytes, path: Path, source: SourceMap, shown: str, stamp: FileStamp,
              *, merges_first: bool) -> SheetRead:
    """Open the sheet in the workbook bytes `data`, as `open_sheet` describes.

    With `merges_first`, the merged ranges are read before the header is looked for.
    """
    package = open_package(data, shown)
    name = find_sheet(package, source, shown)
    count = source.header_row or source.header_scan_rows
    try:
        stream = SheetStream(package, package.sheets[name][0], shown, name,
                             merges_first=merges_first)
        grid = stream.read_head(count)
    except StreamDeclined as exc:
        log.info("%s › %s: read with calamine (%s)", shown, name, exc)
        return read_with_calamine(data, package, name, path, source, shown, stamp)

    def again() -> SheetRead:
        return open_data(data, path, source, shown, stamp, merges_first=True)

    try:
        header = find_header(grid, stream.merges, source, shown, name)
    except EngineError:
        if stream.merges_known:
            raise
        return again()  # the error may name merged header cells
    # The rows the header search read: to the header row when it stopped there.
    searched = header.row if source.header_row is not None or all(
        field_name in header.columns for field_name in REQUIRED[source.kind]) \
        else len(grid)
    del grid
    if source.sheet != name:
        source = replace(source, sheet=name)
    part = SheetPart(name, package.sheets[name][0],
                     tables=read_tables(package.archive, package.sheets[name][0]))
    read = SheetRead(source, path, shown, stamp, package.date1904, header.row,
                     header.columns, {}, {}, [], list(header.findings))
    read.pending = stream_rows(read, stream, header, part, package,
                               summary=stream.merges_known)
    if not stream.merges_known:
        read.pending = checked_merges(read.pending, stream, header, searched, read,
                                      again)
    return read


def checked_merges(rows: Iterator[SheetRow], stream: SheetStream, header: Header,
                   searched: int, read: SheetRead,
                   again: Callable[[], SheetRead]) -> Iterator[SheetRow]:
    """Yield `rows`, read as if the sheet had no merged ranges; check that at the end.

    Raise ReadAgain when the cell data did not end, or merged ranges start in the
    first `searched` rows (which the header search read) or cover mapped data cells.
    """
    count = 0
    for row in rows:
        count += 1
        yield row
    merges = stream.merges_found()
    if merges is None or any(top < searched for (top, _), _ in merges):
        raise ReadAgain(again)
    start = read.source.data_starts or header.row + 1
    found: list[Finding] = []
    merged_cells(merges, start, header.columns, read.shown_as, read.source.sheet, found)
    if found:
        raise ReadAgain(again)
    log_summary(read, count)


def read_with_calamine(data: bytes, package: Package, name: str, path: Path,
                       source: SourceMap, shown: str, stamp: FileStamp) -> SheetRead:
    part = scan_sheet(package, name, shown)
    grid, merges = parse_grid(data, name, shown)
    header = find_header(grid, merges, source, shown, name)
    findings = list(header.findings)
    owned_columns, new_headers = place_owned(header, source,
                                             max([len(row) for row in grid] + [0]))
    if source.sheet != name:
        source = replace(source, sheet=name)
    rows = read_rows(grid, merges, part, package, source, shown, header, owned_columns,
                     findings)
    if rows:
        findings.extend(added_owned_columns(new_headers, header.row, shown, name))
    findings.extend(hidden_sheet(package, name, shown))
    findings.extend(date_column_conflicts(date_texts(rows, source, header.columns),
                                          source, header.columns, shown))
    log.info("%s › %s: %d rows read from header row %d, %d findings",
             shown, name, len(rows), header.row, len(findings))
    return SheetRead(source, path, shown, stamp, package.date1904, header.row,
                     header.columns, owned_columns, new_headers, rows, findings)


def stream_rows(read: SheetRead, stream: SheetStream, header: Header, part: SheetPart,
                package: Package, summary: bool = True) -> Iterator[SheetRow]:
    """Yield the data rows of the stream as SheetRows; complete `read` at the end.

    With `summary` False the caller logs the rows read, after it has checked them.
    """
    source, shown, findings = read.source, read.shown_as, read.findings
    start = source.data_starts or header.row + 1
    table = next((t for t in part.tables if t.first_row in header.rows), None)
    covered = merged_cells(stream.merges, start, header.columns, shown, source.sheet,
                           findings)
    picker = RowPicker(stream.cells, header.columns, header.owned, tuple(source.owned))
    dates = [name for name in header.columns if source.field_kind(name) == "date"]
    texts: dict[str, list[tuple[str, str]]] = {name: [] for name in dates}
    key_field = source.key_field
    count = 0
    for number, (values, owned, text, formulas, sixty) in stream.picked(picker, start):
        if table is not None and skip_for_table(table, number, source, shown, findings):
            continue
        if is_totals_row(text, values, key_field):
            continue
        row = SheetRow(RowRef(shown, source.sheet, number), values, owned)
        if formulas or sixty:
            check_formulas(row, formulas or {}, sixty or (), package, source,
                           header.columns)
        if covered:
            hold_merged(row, covered, header.columns)
        if row.held:
            findings.extend(row.held)
        for name in dates:
            if type(values[name]) is str:
                texts[name].append((cell_name(number, header.columns[name]), values[name]))
        count += 1
        yield row
    read.owned_columns, read.new_headers = place_owned(header, source, stream.width)
    findings.extend(hidden_sheet(package, source.sheet, shown))
    if count:
        findings.extend(added_owned_columns(read.new_headers, header.row, shown,
                                            source.sheet))
        findings.extend(date_column_conflicts(texts, source, header.columns, shown))
    if summary:
        log_summary(read, count)


def log_summary(read: SheetRead, count: int) -> None:
    log.info("%s › %s: %d rows read from header row %d, %d findings",
             read.shown_as, read.source.sheet, count, read.header_row,
             len(read.findings))


def cell_name(row: int, column: int) -> str:
    return f"{column_letter(column)}{row}"


def read_bytes(path: Path, shown: str, configured: str = "rules/workbooks.yaml") -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise WorkbookNotFound(Finding(shown, f"file not found in {path.parent}.",
                                       "Put the workbook there or fix 'file:' in "
                                       f"{configured}.")) from None
    except (IsADirectoryError, PermissionError) as exc:
        raise EngineError(Finding(shown, f"cannot read the file ({exc.strerror}).",
                                  "Check the file's permissions.")) from None


def find_sheet(package: Package, source: SourceMap, shown: str) -> str:
    """Return the workbook's spelling of the mapped sheet; Excel ignores case in names."""
    for name in package.sheets:
        if name.casefold() == source.sheet.casefold():
            return name
    names = list(package.sheets)
    listed = ", ".join(sheet_label(name) for name in names) or "none"
    hint = suggest(source.sheet, names) if names else ""
    where = source.where.get("sheet", "rules/workbooks.yaml")
    raise EngineError(Finding(shown, f"sheet {sheet_label(source.sheet)} not found; "
                              f"sheets: {listed}.",
                              f"{hint} Fix 'sheet:' in {where} or rename the sheet."
                              .strip()))


def parse_grid(data: bytes, name: str, shown: str):
    """Return the sheet's values from A1 as a list of rows, and its merged ranges."""
    try:
        workbook = CalamineWorkbook.from_filelike(io.BytesIO(data))
        sheet = workbook.get_sheet_by_name(name)
        grid = sheet.to_python(skip_empty_area=False)
        merges = sheet.merged_cell_ranges or []
    except (CalamineError, ValueError, OSError) as exc:
        raise EngineError(Finding(f"{shown} › {name}", f"the sheet cannot be read ({exc}).",
                                  "Open it in Excel and save it again.")) from None
    return grid, merges


def place_owned(header: Header, source: SourceMap, width: int) -> tuple[dict, dict]:
    """Find owned columns; a missing one goes right of everything used.

    `width` is the rightmost column that contains a value anywhere in the sheet.
    """
    owned_columns: dict[str, int] = {}
    new_headers: dict[int, str] = {}
    next_free = max([width, *header.columns.values(), *header.owned.values()]) + 1
    for name, text in source.owned.items():
        column = header.owned.get(name)
        if column is None:
            column, next_free = next_free, next_free + 1
            new_headers[column] = text
        owned_columns[name] = column
    return owned_columns, new_headers


def read_rows(grid, merges, part: SheetPart, package: Package, source: SourceMap,
              shown: str, header: Header, owned_columns: dict[str, int],
              findings: list[Finding]) -> list[SheetRow]:
    """Return the data rows of `grid`, releasing each grid row once it is read.

    The grid rows are set to None as they are turned into SheetRows, so the grid and
    the rows are not both alive in full at the peak of a large read.
    """
    start = source.data_starts or header.row + 1
    table = next((t for t in part.tables if t.first_row in header.rows), None)
    covered = merged_cells(merges, start, header.columns, shown, source.sheet, findings)
    flagged_rows = {row for row, _column in part.formulas} | {
        row for row, _column in part.serial_sixty}
    rows = []
    names = tuple(header.columns)
    pick = cells_picker([column - 1 for column in header.columns.values()])
    owned_names = tuple(owned_columns)
    pick_owned = cells_picker([column - 1 for column in owned_columns.values()])
    width_needed = max([*header.columns.values(), *owned_columns.values(), 0])
    key_field = source.key_field
    for index in range(start - 1, len(grid)):
        cells = grid[index]
        grid[index] = None
        number = index + 1
        if len(cells) < width_needed:
            cells = [*cells, *[""] * (width_needed - len(cells))]
        picked = pick(cells)
        if picked.count("") == len(picked):
            continue
        values = {name: None if value == "" else value
                  for name, value in zip(names, picked, strict=True)}
        if owned_names:
            owned = {name: None if value == "" else value
                     for name, value in zip(owned_names, pick_owned(cells), strict=True)}
        else:
            owned = NO_OWNED
        if table is not None and skip_for_table(table, number, source, shown, findings):
            continue
        if is_totals_row(first_text(cells), values, key_field):
            continue
        row = SheetRow(RowRef(shown, source.sheet, number), values, owned)
        if number in flagged_rows:
            check_formulas(row, row_formulas(part, number, header.columns),
                           row_sixty(part, number, header.columns), package, source,
                           header.columns)
        if covered:
            hold_merged(row, covered, header.columns)
        if row.held:
            findings.extend(row.held)
        rows.append(row)
    return rows


def cells_picker(indexes: list[int]):
    """Return a function that returns the cells at `indexes` of a row as a tuple."""
    if not indexes:
        return lambda cells: ()
    if len(indexes) == 1:
        index = indexes[0]
        return lambda cells: (cells[index],)
    return itemgetter(*indexes)


def hold(row: SheetRow, finding: Finding) -> None:
    if row.held:
        row.held.append(finding)
    else:
        row.held = [finding]


def hold_merged(row: SheetRow, covered: dict[tuple[int, int], str],
                columns: dict[str, int]) -> None:
    for column in columns.values():
        anchor = covered.get((row.ref.row, column))
        if anchor:
            hold(row, Finding(row.ref.cell(column), f"cell is inside the merged "
                              f"range {anchor}, so it reads as empty.",
                              "Unmerge the cells and fill in each row."))


def cell_value(cells: list, column: int) -> object:
    if column > len(cells):
        return None
    value = cells[column - 1]
    return None if value == "" else value


def skip_for_table(table, number: int, source: SourceMap, shown: str,
                   findings: list[Finding]) -> bool:
    """Skip an Excel Table's totals row, and rows below it when the map says so."""
    if table.last_row - table.totals_rows < number <= table.last_row:
        return True
    if number > table.last_row and source.rows_below_table == "report":
        findings.append(Finding(
            f"{shown} › {source.sheet} › row {number}",
            f"row is below the Excel table '{table.name}' (which ends at row "
            f"{table.last_row}) and was not read.",
            "Extend the table over this row, or move the row into it.",
            severity=Severity.WARNING, code="below-table"))
        return True
    return False


def first_text(cells: list) -> str | None:
    """Return the first non-blank text cell of a row: a person reads the row from it."""
    for cell in cells:
        if isinstance(cell, str) and cell and not cell.isspace():
            return cell
    return None


def is_totals_row(text: str | None, values: dict[str, object], key_field: str) -> bool:
    """Return True for a Total/Sum row, or a row with no id whose values are numbers.

    `text` is the row's first non-blank text cell, in any column.
    """
    if text is not None and TOTALS_WORDS.match(text):
        return True
    if values.get(key_field) is not None:
        return False
    present = [value for value in values.values() if value is not None]
    return bool(present) and not any(isinstance(value, str) for value in present)


def hidden_sheet(package: Package, name: str, shown: str) -> list[Finding]:
    """Return an INFO finding when the mapped sheet is hidden; it is read all the same."""
    state = package.sheets[name][1]
    if state == "visible":
        return []
    return [Finding(f"{shown} › {sheet_label(name)}",
                    f"the mapped sheet is {'very hidden' if state == 'veryHidden' else 'hidden'}"
                    "; it is read and written like a visible one.",
                    "Unhide it in Excel if staff should see the results.",
                    severity=Severity.INFO, code="hidden-sheet")]


def date_texts(rows: list[SheetRow], source: SourceMap,
               columns: dict[str, int]) -> dict[str, list[tuple[str, str]]]:
    """Return the text cells of each date column as (A1 address, text) pairs."""
    if not rows:
        return {}
    return {name: [(cell_name(row.ref.row, column), row.values.get(name))
                   for row in rows if isinstance(row.values.get(name), str)]
            for name, column in columns.items() if source.field_kind(name) == "date"}


def date_column_conflicts(texts: dict[str, list[tuple[str, str]]], source: SourceMap,
                          columns: dict[str, int], shown: str) -> list[Finding]:
    """Return a finding per date column whose text dates read both day- and month-first."""
    findings = []
    for name, cells in texts.items():
        where = f"{shown} › {source.sheet} › column {column_letter(columns[name])}"
        conflict = date_order_conflict(cells, source.date_order, where)
        if conflict is not None and conflict not in findings:
            findings.append(conflict)
    return findings


def row_formulas(part: SheetPart, number: int,
                 columns: dict[str, int]) -> dict[int, FormulaCell]:
    return {column: part.formulas[(number, column)] for column in columns.values()
            if (number, column) in part.formulas}


def row_sixty(part: SheetPart, number: int, columns: dict[str, int]) -> set[int]:
    return {column for column in columns.values() if (number, column) in part.serial_sixty}


def check_formulas(row: SheetRow, formulas: Mapping[int, FormulaCell],
                   sixty: Container[int], package: Package, source: SourceMap,
                   columns: dict[str, int]) -> None:
    """Hold the row for each mapped cell with an untrusted formula result or serial 60.

    `formulas` and `sixty` are the row's formula and serial-60 cells by column.
    """
    for name, column in columns.items():
        if column in sixty and not package.date1904 and source.field_kind(name) == "date":
            hold(row, Finding(
                row.ref.cell(column), "serial number 60 is 29 February 1900 in Excel, a "
                "day that did not exist.", "Enter the real date.", code="value"))
            continue
        cell = formulas.get(column)
        if cell is None:
            continue
        message = formula_problem(cell, package.calculated, source.field_kind(name))
        if message:
            hold(row, Finding(row.ref.cell(column), message[0], message[1],
                              code="formula"))


def formula_problem(cell: FormulaCell, calculated: bool, kind: str):
    """Return (message, fix) when a formula's cached value cannot be trusted."""
    shown = f'formula "={cell.formula}"' if cell.formula else "shared formula"
    if cell.is_error:
        if cell.formula or cell.cached is None:
            return (f"{shown} returned the error {cell.cached}.",
                    "Correct the formula in Excel.")
        return f"cell holds the error {cell.cached}.", "Correct the value in Excel."
    if cell.cached is None or (cell.cached == "" and kind != "text"):
        return (f"{shown} has no cached result (file last saved by a program that does "
                "not calculate).", "Open and save it in Excel, or enable recalculation.")
    if not calculated and kind == "money" and cell.cached.strip() in ("0", "0.0"):
        return (f"{shown} has a cached result of 0 that was never calculated (file last "
                "saved by a program that does not calculate).",
                "Open and save it in Excel, or enable recalculation.")
    return None


def merged_cells(merges, start: int, columns: dict[str, int], shown: str, sheet: str,
                 findings: list[Finding]) -> dict[tuple[int, int], str]:
    """Return the mapped data cells hidden inside merged ranges, with the range name."""
    mapped = set(columns.values())
    covered: dict[tuple[int, int], str] = {}
    for (top, left), (bottom, right) in merges:
        top, left, bottom, right = top + 1, left + 1, bottom + 1, right + 1
        if bottom < start or not any(left <= column <= right for column in mapped):
            continue
        name = f"{column_letter(left)}{top}:{column_letter(right)}{bottom}"
        findings.append(Finding(f"{shown} › {sheet} › {name}",
                                "merged cells cover mapped data cells; only "
                                f"{column_letter(left)}{top} holds the value.",
                                "Unmerge the cells and fill in each row.",
                                severity=Severity.WARNING, code="merged"))
        for row in range(max(top, start), bottom + 1):
            for column in mapped:
                if left <= column <= right and (row, column) != (top, left):
                    covered[(row, column)] = name
    return covered

