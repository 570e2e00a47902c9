"""Write cell values into a staff workbook by patching one sheet part in place.

The workbook is never loaded and saved through an object model: that drops content
the model does not know (controls, sparklines, x14 validations, in-cell pictures).
Instead the sheet's XML is streamed, only the rows holding written cells are
rewritten, every other zip member is copied as raw compressed bytes, and the new
file replaces the old one atomically.

Cells inside an Excel Table's data range can be written, but not its header or
totals row. A column written right next to a table, with its header, joins it.

Besides the sheet, only styles.xml (a date or fill format the written cells need) and
workbook.xml (`fullCalcOnLoad` when the sheet holds formulas, so Excel recalculates
results cached before the write) may change; see `patch_parts`.
"""

from __future__ import annotations

import logging
import os
import re
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from lxml import etree

from engine.filestamp import FileStamp, stamp_of
from engine.findings import Finding
from engine.model import column_letter
from engine.xlsx import zipcopy
from engine.xlsx.lockfile import lock_owner
from engine.xlsx.patch_cells import (
    CellValue,
    CellWrite,
    RowContext,
    as_write,
    cell_positions,
    edit_row,
    insert_new_cells,
    last_cell_if_all_explicit,
    new_row_xml,
    parse_row,
    serialize_row,
    sets_cell,
)
from engine.xlsx.patch_errors import (
    FileChanged,
    FileLocked,
    NotAWorkbook,
    WriteError,
    WriteRefused,
)
from engine.xlsx.patch_package import (
    MAX_SHEET_BYTES,
    SheetPart,
    check_container,
    check_member_size,
    find_sheet,
    parse_range,
    shared_strings,
)
from engine.xlsx.patch_parts import full_calc_part, styled_cells, table_parts
from engine.xlsx.patch_scan import (
    MAX_ROW,
    SheetLayout,
    SheetScan,
    is_unchanged,
    refusals,
    scan_sheet,
)
from engine.xlsx.patch_stream import (
    Gap,
    RowSpan,
    SheetHead,
    SheetSyntaxError,
    Tail,
    split_sheet,
)
from engine.xlsx.validation import ListValidation, with_validation

__all__ = [
    "CellValue",
    "CellWrite",
    "FileChanged",
    "FileLocked",
    "NotAWorkbook",
    "WriteError",
    "WriteRefused",
    "plan_check",
    "write_cells",
]

log = logging.getLogger(__name__)

MAX_COLUMN = 16_384
TEMP_PREFIX = ".~arrears-guard-"
COMPRESS_LEVEL = 6
_READ_CHUNK = 1 << 20
_WRITE_BATCH = 1 << 18
_DIMENSION = re.compile(rb"(<(?:[\w.-]+:)?dimension\s[^>]*?\bref\s*=\s*[\"'])([^\"']*)([\"'])")

Cells = Mapping[tuple[int, int], CellValue | CellWrite]


def write_cells(
    path: Path,
    sheet: str,
    cells: Cells,
    *,
    expected: FileStamp | None = None,
    shown_as: str | None = None,
    fsync: bool = True,
    validation: ListValidation | None = None,
) -> FileStamp:
    """Write values into cells of one sheet, (row, column) 1-based; return the new stamp.

    `validation` adds a drop-down list to a column unless the sheet has one there.

    Writes atomically, and writes nothing (returning the current stamp) when every
    cell already contains its value. Raises FileLocked, FileChanged, NotAWorkbook or
    WriteRefused (listing every refused cell) and leaves the file untouched then.
    """
    path = Path(path)
    workbook = shown_as or path.name
    targets = _sorted_targets(cells, workbook, sheet)
    _check_unlocked(path, workbook)
    if expected is not None and not expected.matches(path):
        raise _changed(workbook)
    with _package_errors(workbook):
        before = path.stat()
        check_container(path)
        with path.open("rb") as handle, zipfile.ZipFile(handle) as archive:
            sheet_part, scan = _read_pass(archive, sheet, targets, workbook)
            findings = refusals(scan, sheet_part, workbook, cells, targets)
            if findings:
                raise WriteRefused(findings)
            cells, parts = styled_cells(archive, scan, cells, workbook)
            if _all_unchanged(archive, scan, sheet_part, cells, workbook):
                log.info(
                    "%s › %s: all %d cells already contain their values",
                    workbook, sheet, len(targets),
                )  # fmt: skip
                return stamp_of(path)
            parts.update(full_calc_part(archive, scan, workbook))
            parts.update(table_parts(archive, sheet_part, cells, workbook))
            plan = _Plan(cells, targets, parts, validation)
            stamp = _replace(path, handle, sheet_part, scan, plan, before, workbook, fsync)
    log.info("wrote %d cells into %s › %s", len(targets), workbook, sheet)
    return stamp


def plan_check(path: Path, sheet: str, cells: Cells) -> list[Finding]:
    """Return the findings for targets a write would refuse, writing nothing."""
    path = Path(path)
    try:
        targets = _sorted_targets(cells, path.name, sheet)
        with _package_errors(path.name):
            check_container(path)
            with zipfile.ZipFile(path) as archive:
                sheet_part, scan = _read_pass(archive, sheet, targets, path.name)
                return refusals(scan, sheet_part, path.name, cells, targets)
    except WriteError as error:
        return error.findings


@dataclass(frozen=True, slots=True)
class _Plan:
    """The caller's cells and their targets in sheet order (row, then column)."""

    cells: Cells
    targets: list[tuple[int, int]]
    parts: dict[str, bytes] = field(default_factory=dict)  # other members to replace
    validation: ListValidation | None = None


def _sorted_targets(cells: Cells, workbook: str, sheet: str) -> list[tuple[int, int]]:
    # The caller's mapping is used as it is: copying a million writes would double
    # the memory a write needs.
    findings = []
    for row, column in cells:
        if not (1 <= row <= MAX_ROW and 1 <= column <= MAX_COLUMN):
            findings.append(
                Finding(
                    f"{workbook} › {sheet}",
                    f"cell (row {row}, column {column}) is outside Excel's grid of "
                    f"{MAX_ROW:,} rows and {MAX_COLUMN:,} columns.",
                    "Correct the target row or column.",
                    code="write-refused",
                )
            )
    if findings:
        raise WriteRefused(findings)
    return sorted(cells)


def _check_unlocked(path: Path, workbook: str) -> None:
    locked, owner = lock_owner(path)
    if locked:
        who = f"by {owner}" if owner else "by another user"
        raise FileLocked(
            Finding(
                workbook,
                f"is open {who} (lock file present), so it was not written.",
                "Close the workbook in Excel or LibreOffice so the engine can write it.",
                code="file-locked",
            ),
            owner,
        )


def _changed(workbook: str) -> FileChanged:
    return FileChanged(
        Finding(
            workbook,
            "changed since it was read, so it was not written.",
            "Read the workbook again before writing to it.",
            code="file-changed",
        )
    )


_DAMAGED = (
    zipfile.BadZipFile,
    zipcopy.ZipLayoutError,
    SheetSyntaxError,
    etree.XMLSyntaxError,
    zlib.error,
    EOFError,
    KeyError,
)


@contextmanager
def _package_errors(workbook: str) -> Iterator[None]:
    """Turn low-level zip, XML and disk failures into a WriteError naming the file."""
    try:
        yield
    except _DAMAGED as error:
        raise NotAWorkbook(
            Finding(
                workbook,
                f"cannot be written because the workbook is damaged ({error}).",
                "Open it in Excel and save it again as .xlsx.",
                code="invalid-package",
            )
        ) from error
    except OSError as error:
        log.error("writing %s failed: %s", workbook, error)
        raise WriteError(
            Finding(
                workbook,
                f"could not be written: {error.strerror or error}.",
                "Check that its folder is writable and the disk has free space.",
                code="write-failed",
            )
        ) from error


def _read_pass(
    archive: zipfile.ZipFile, sheet: str, targets: list[tuple[int, int]], workbook: str
) -> tuple[SheetPart, SheetScan]:
    sheet_part = find_sheet(archive, sheet, workbook)
    check_member_size(archive.getinfo(sheet_part.part), MAX_SHEET_BYTES, workbook)
    scan = scan_sheet(_member_chunks(archive, sheet_part.part), targets)
    return sheet_part, scan


def _member_chunks(archive: zipfile.ZipFile, name: str) -> Iterator[bytes]:
    with archive.open(name) as stream:
        while block := stream.read(_READ_CHUNK):
            yield block


def _all_unchanged(
    archive: zipfile.ZipFile,
    scan: SheetScan,
    sheet_part: SheetPart,
    cells: Cells,
    workbook: str,
) -> bool:
    indexes = {
        int(state.value)
        for state in scan.cells.values()
        if state.type == "s" and state.value and state.value.isdigit()
    }
    strings = shared_strings(archive, indexes, workbook) if indexes else {}
    return all(
        is_unchanged(scan.cells.get(target), as_write(value), sheet_part.date1904, strings)
        for target, value in cells.items()
    )


def _replace(
    path: Path,
    handle: BinaryIO,
    sheet_part: SheetPart,
    scan: SheetScan,
    plan: _Plan,
    before: os.stat_result,
    workbook: str,
    fsync: bool,
) -> FileStamp:
    descriptor, temp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".tmp", dir=path.parent)
    temp = Path(temp_name)
    try:
        with os.fdopen(descriptor, "wb") as target:
            _write_package(handle, target, sheet_part, scan, plan)
            target.flush()
            if fsync:
                os.fsync(target.fileno())
        os.chmod(temp, stat.S_IMODE(before.st_mode))
        stamp = stamp_of(temp)

        # Last checks right before the rename narrow the window for a concurrent save.
        _check_unlocked(path, workbook)
        now = path.stat()
        if (now.st_size, now.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
            raise _changed(workbook)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    if fsync:
        _fsync_directory(path.parent)
    return stamp


def _fsync_directory(folder: Path) -> None:
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # Windows cannot open a directory, so there is nothing to fsync.
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _write_package(
    source: BinaryIO,
    target: BinaryIO,
    sheet_part: SheetPart,
    scan: SheetScan,
    plan: _Plan,
) -> None:
    source.seek(0)
    with zipfile.ZipFile(source) as archive:
        comment = archive.comment
        entries = zipcopy.read_central_directory(source)
        central = []
        for entry in entries:
            if entry.name == sheet_part.part:
                chunks = _patched_sheet(
                    _member_chunks(archive, entry.name), scan, sheet_part, plan
                )
                record, _ = zipcopy.write_deflated_member(target, entry, chunks, COMPRESS_LEVEL)
                central.append(record)
                continue
            if entry.name in plan.parts:
                record, _ = zipcopy.write_deflated_member(
                    target, entry, [plan.parts[entry.name]], COMPRESS_LEVEL
                )
                central.append(record)
                continue
            offset = target.tell()
            length = zipcopy.local_record_length(source, entry)
            zipcopy.copy_range(source, target, entry.header_offset, length)
            central.append(zipcopy.relocated_central_entry(entry, offset))
    zipcopy.write_end_records(target, central, comment)


def _patched_sheet(
    chunks: Iterable[bytes], scan: SheetScan, sheet_part: SheetPart, plan: _Plan
) -> Iterator[bytes]:
    """Yield the sheet XML with written rows replaced, in batches for the compressor."""
    if scan.layout is not None:
        return _spliced_sheet(chunks, scan.layout, scan, sheet_part, plan)
    return _split_and_patched_sheet(chunks, scan, sheet_part, plan)


class _Cursor:
    """Bytes of a chunk stream taken in order, up to given offsets.

    The cursor keeps its position inside the current chunk instead of slicing off
    what was taken, so each take copies only the bytes it yields.
    """

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._chunk = b""
        self._start = 0  # offset of self._chunk in the stream
        self._chunk_offset = 0  # bytes of self._chunk already yielded

    def take(self, stop: int) -> Iterator[bytes]:
        """Yield the bytes from the current offset up to `stop` (None: to the end)."""
        while True:
            end = self._start + len(self._chunk)
            if stop is not None and stop <= end:
                cut = stop - self._start
                if cut > self._chunk_offset:
                    yield self._chunk[self._chunk_offset:cut]
                self._chunk_offset = cut
                return
            if self._chunk_offset < len(self._chunk):
                yield self._chunk[self._chunk_offset:] if self._chunk_offset else self._chunk
            chunk = next(self._chunks, None)
            if chunk is None:
                if stop is not None:
                    raise SheetSyntaxError("the sheet part is shorter than when it was read")
                self._chunk, self._start, self._chunk_offset = b"", end, 0
                return
            self._chunk, self._start, self._chunk_offset = chunk, end, 0


class _RowTargets:
    """The plan's written cells in row order, taken one row at a time."""

    def __init__(self, plan: _Plan) -> None:
        self._cells = plan.cells
        self._targets = plan.targets
        self._index = 0

    def next_row(self) -> int | None:
        """Return the row of the next cells to write, or None when all were taken."""
        if self._index < len(self._targets):
            return self._targets[self._index][0]
        return None

    def take(self, number: int) -> dict[int, CellValue | CellWrite]:
        """Return the writes of row `number` by column, and move past them."""
        targets, cells = self._targets, self._cells
        index, end = self._index, len(targets)
        writes = {}
        while index < end:
            target = targets[index]
            if target[0] != number:
                break
            writes[target[1]] = cells[target]
            index += 1
        self._index = index
        return writes


def _writes_something(writes: dict[int, CellValue | CellWrite]) -> bool:
    """Return True when a write sets a value or a style, so a new row is worth adding."""
    return any(sets_cell(item) for item in writes.values())


def _spliced_sheet(
    chunks: Iterable[bytes], layout: SheetLayout, scan: SheetScan, sheet_part: SheetPart,
    plan: _Plan,
) -> Iterator[bytes]:
    """Yield the patched sheet XML, splicing at the offsets the read pass recorded.

    The bytes equal those of `_split_and_patched_sheet`, which splits the sheet into
    rows again instead.
    """
    context = scan.context(sheet_part.date1904)
    rows = _RowTargets(plan)
    cursor = _Cursor(chunks)
    batch: list[bytes] = []
    size = 0

    def pieces() -> Iterator[bytes]:
        yield _widen_dimension(b"".join(cursor.take(layout.head_end)), plan)
        for start, stop, number in layout.triples():
            yield from cursor.take(start)
            writes = rows.take(number)
            if stop < 0:
                if _writes_something(writes):
                    yield _rewrite_row(new_row_xml(number, context), number, writes, context)
                continue
            yield _rewrite_row(b"".join(cursor.take(stop)), number, writes, context)
        if plan.validation is None:
            yield from cursor.take(None)
            return
        yield from cursor.take(layout.tail_start)
        tail = b"".join(cursor.take(None))
        yield with_validation(tail, context.prefix, plan.validation)

    for data in pieces():
        batch.append(data)
        size += len(data)
        if size >= _WRITE_BATCH:
            yield b"".join(batch)
            batch, size = [], 0
    yield b"".join(batch)


def _split_and_patched_sheet(
    chunks: Iterable[bytes], scan: SheetScan, sheet_part: SheetPart, plan: _Plan
) -> Iterator[bytes]:
    context = scan.context(sheet_part.date1904)
    rows = _RowTargets(plan)
    batch: list[bytes] = []
    tail: list[bytes] = []  # the sheet after </sheetData>, kept whole to add a list
    size = 0

    def new_rows_before(limit: int) -> Iterator[bytes]:
        while (number := rows.next_row()) is not None and number < limit:
            writes = rows.take(number)
            if _writes_something(writes):
                yield _rewrite_row(new_row_xml(number, context), number, writes, context)

    for piece in split_sheet(chunks):
        if isinstance(piece, RowSpan):
            pieces: list[bytes] = list(new_rows_before(piece.number))
            if rows.next_row() == piece.number:
                writes = rows.take(piece.number)
                pieces.append(_rewrite_row(piece.data, piece.number, writes, context))
            else:
                pieces.append(piece.data)
        elif isinstance(piece, SheetHead):
            pieces = [_widen_dimension(piece.data, plan)]
        elif isinstance(piece, Gap):
            pieces = [piece.data]
        else:
            assert isinstance(piece, Tail)
            pieces = list(new_rows_before(MAX_ROW + 1))
            if plan.validation is None:
                pieces.append(piece.data)
            else:
                tail.append(piece.data)
        for data in pieces:
            batch.append(data)
            size += len(data)
        if size >= _WRITE_BATCH:
            yield b"".join(batch)
            batch, size = [], 0
    if plan.validation is not None:
        batch.append(with_validation(b"".join(tail), context.prefix, plan.validation))
    yield b"".join(batch)


def _rewrite_row(
    row_xml: bytes,
    number: int,
    writes: dict[int, CellValue | CellWrite],
    context: RowContext,
) -> bytes:
    # Most writes add cells to a free column; splicing bytes is much faster than
    # parsing the row, and leaves the rest of the row byte-identical.
    last = last_cell_if_all_explicit(row_xml, context.prefix)
    if last is not None and last[0] < min(writes):
        positions = [last] if last[0] else []
    else:
        positions = cell_positions(row_xml, context.prefix)
    spliced = insert_new_cells(row_xml, number, writes, positions, context)
    if spliced is not None:
        return spliced
    row = parse_row(row_xml, context)
    edit_row(row, number, {column: as_write(item) for column, item in writes.items()},
             context)
    return serialize_row(row)


def _widen_dimension(head: bytes, plan: _Plan) -> bytes:
    """Widen `<dimension ref>` so readers that size the sheet from it see new cells."""
    match = _DIMENSION.search(head)
    if match is None:
        return head
    cells = plan.cells
    written = [
        target for target in plan.targets
        if (item := cells[target]) is not None
        and (not isinstance(item, CellWrite) or item.value is not None)
    ]  # fmt: skip
    if not written:
        return head
    rows = [written[0][0], written[-1][0]]
    written_columns = {column for _, column in written}
    columns = [min(written_columns), max(written_columns)]
    area = parse_range(match.group(2).decode("ascii", "replace"))
    if area is not None:
        rows += [area[0], area[2]]
        columns += [area[1], area[3]]
    first = f"{column_letter(min(columns))}{min(rows)}"
    last = f"{column_letter(max(columns))}{max(rows)}"
    ref = first if first == last else f"{first}:{last}"
    if area is not None and ref.encode() == match.group(2).replace(b"$", b"").upper():
        return head
    return head[: match.start(2)] + ref.encode() + head[match.end(2) :]
