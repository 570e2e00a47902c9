"""The write pass splices at offsets from the read pass: same bytes as splitting again."""

from __future__ import annotations

import datetime as dt
import shutil
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest
from patch_builder import build_workbook, sheet
from patch_helpers import first_worksheet
from test_patch_corpus import CORPUS, corpus_writes

from engine.xlsx import patch
from engine.xlsx.patch_scan import scan_sheet
from engine.xlsx.validation import ListValidation

ROWS = (
    '<row r="1" spans="1:2"><c r="A1" t="inlineStr"><is><t>Order</t></is></c></row>\n'
    "<row><c><v>2</v></c></row >"
    '<row r="5"/>'
    '<row r="7" ht="20" customHeight="1"><c r="B7"><v>2</v></c></row>'
)


def written_both_ways(path: Path, sheet_name: str, cells: dict, tmp_path: Path,
                      validation=None) -> tuple[bytes, bytes]:
    """Write `cells` into two copies: spliced, and with the layout dropped."""
    spliced, split = tmp_path / "spliced.xlsx", tmp_path / "split.xlsx"
    shutil.copy(path, spliced)
    shutil.copy(path, split)
    patch.write_cells(spliced, sheet_name, cells, validation=validation)
    original = patch._read_pass

    def read_pass_without_layout(*args):
        sheet_part, scan = original(*args)
        scan.layout = None
        return sheet_part, scan

    patch._read_pass = read_pass_without_layout
    try:
        patch.write_cells(split, sheet_name, cells, validation=validation)
    finally:
        patch._read_pass = original
    return spliced.read_bytes(), split.read_bytes()


CASES = {
    "existing rows": {(1, 3): "Status", (7, 3): "BLOCKED"},
    "implicit row number": {(2, 2): Decimal("12.50")},
    "empty row element": {(5, 1): "APPROVED"},
    "new rows between": {(3, 1): "x", (4, 2): 7, (6, 1): dt.date(2024, 6, 30)},
    "new rows after the last": {(8, 1): "x", (40, 4): Decimal("-0.01")},
    "cleared cells only": {(3, 1): None, (7, 2): None},
    "everything": {(row, 3): f"v{row}" for row in range(1, 12)},
}


@pytest.mark.parametrize("cells", CASES.values(), ids=list(CASES))
def test_splice_equals_split(cells, tmp_path):
    source = build_workbook(tmp_path / "source.xlsx", sheet(ROWS, tail="<pageMargins/>"))
    spliced, split = written_both_ways(source, "Orders", cells, tmp_path)
    assert spliced == split


def test_splice_with_validation(tmp_path):
    source = build_workbook(tmp_path / "source.xlsx", sheet(ROWS, tail="<pageMargins/>"))
    validation = ListValidation(4, 2, ("Ana", "Bo"))
    cells = {(1, 4): "Approver", (9, 1): "x"}
    spliced, split = written_both_ways(source, "Orders", cells, tmp_path, validation)
    assert spliced == split


def test_splice_prefixed_namespace(tmp_path):
    rows = ROWS.replace("<row", "<x:row").replace("</row", "</x:row")
    rows = rows.replace("<c", "<x:c").replace("</c>", "</x:c>")
    rows = rows.replace("<v>", "<x:v>").replace("</v>", "</x:v>")
    rows = rows.replace("<is>", "<x:is>").replace("</is>", "</x:is>")
    rows = rows.replace("<t>", "<x:t>").replace("</t>", "</x:t>")
    source = build_workbook(tmp_path / "source.xlsx", sheet(rows, prefix="x"))
    spliced, split = written_both_ways(source, "Orders", {(7, 3): "x", (9, 1): 1},
                                       tmp_path)
    assert spliced == split


def test_empty_sheet_data_has_no_layout(tmp_path):
    xml = sheet("").replace("<sheetData></sheetData>", "<sheetData/>").encode()
    assert scan_sheet([xml], [(1, 1)]).layout is None
    source = build_workbook(tmp_path / "source.xlsx", xml.decode())
    spliced, split = written_both_ways(source, "Orders", {(1, 1): "x"}, tmp_path)
    assert spliced == split


def test_layout_any_chunk_size():
    xml = sheet(ROWS, tail="<pageMargins/>").encode()
    targets = [(3, 1), (7, 3), (9, 1)]
    whole = scan_sheet([xml], targets).layout
    for size in (1, 3, 7, 64):
        chunks = [xml[at : at + size] for at in range(0, len(xml), size)]
        layout = scan_sheet(chunks, targets).layout
        assert list(layout.triples()) == list(whole.triples())
        assert (layout.head_end, layout.tail_start) == (whole.head_end, whole.tail_start)


def test_cursor_take_chunked():
    cursor = patch._Cursor([b"abc", b"", b"defg", b"h"])
    assert b"".join(cursor.take(2)) == b"ab"
    assert b"".join(cursor.take(2)) == b""
    assert b"".join(cursor.take(7)) == b"cdefg"
    assert b"".join(cursor.take(None)) == b"h"


@pytest.mark.parametrize("source", CORPUS, ids=lambda p: p.name)
def test_splice_equals_split_corpus(source, tmp_path):
    path = tmp_path / source.name
    shutil.copy(source, path)
    sheet_name = first_worksheet(path)
    spliced, split = written_both_ways(path, sheet_name, corpus_writes(path, sheet_name),
                                       tmp_path)
    assert spliced == split
    assert zipfile.ZipFile(tmp_path / "spliced.xlsx").testzip() is None


def test_cursor_takes_match_slices():
    """Takes at random offsets across chunk edges give the stream's own slices."""
    import random

    from engine.xlsx.patch import _Cursor

    rng = random.Random(5)
    data = bytes(rng.randrange(256) for _ in range(5000))
    sizes = [rng.randrange(1, 700) for _ in range(40)]
    chunks, position = [], 0
    for size in sizes:
        chunks.append(data[position : position + size])
        position += size
    chunks.append(data[position:])
    stops = sorted(rng.sample(range(len(data)), 300))
    cursor = _Cursor(chunks)
    previous = 0
    for stop in stops:
        assert b"".join(cursor.take(stop)) == data[previous:stop]
        previous = stop
    assert b"".join(cursor.take(None)) == data[previous:]
