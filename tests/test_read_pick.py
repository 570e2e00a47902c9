"""Picking rows straight from the cell matches gives what picking RawCells gives.

`RowPicker.pick_matches` reads most rows without a RawCell per cell, and hands any
row with another kind of cell to `RowPicker.pick`. Each test reads the same sheet
both ways and compares values, owned values, first text, formula and serial-60
cells, and the rightmost column and last row holding a value.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from pathlib import Path
from unittest import mock

import pytest
from python_calamine import CalamineWorkbook
from test_read_stream import ROWS, write_book

from engine.findings import EngineError
from engine.inputs import read_inputs
from engine.workbook_map import load_workbook_map
from engine.xlsx import read as read_module
from engine.xlsx.rowpick import RowPicker
from engine.xlsx.sheetscan import open_package
from engine.xlsx.stream import SheetStream, StreamDeclined

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"

# Every column A to AD mapped, B mapped twice, C also owned, AF owned only.
COLUMNS = {**{f"field{n}": n for n in range(1, 31)}, "again": 2}
OWNED = {"status": 3, "reason": 32}

# Rows in Excel's layout with the cells the fast path takes and the ones it hands on.
MORE_ROWS = (
    '<row r="11"><c r="A11" t="s"><v>5</v></c><c r="B11" s="1"><v>60</v></c>'
    '<c r="C11" t="inlineStr"><is><t>APPROVED</t></is></c>'
    '<c r="AF11" t="inlineStr"><is><t xml:space="preserve"> a &amp; b_x0041_ </t>'
    "</is></c></row>"
    '<row r="12"><c r="A12" t="s"><v>4</v></c><c r="B12" t="s"><v>0</v></c>'
    '<c r="C12" t="inlineStr"><is><r><t>ri</t></r><r><t>ch</t></r></is></c></row>'
    '<row r="13"><c r="A13" s="1"><v>60.0</v></c><c r="B13"><v>60</v></c>'
    '<c r="D13" t="e"/><c r="E13" t="n"><v>7</v></c><c r="AF13" s="1"><v>60</v></c>'
    "</row>"
    '<row r="14"><c r="AG14" t="s"><v>3</v></c><c r="A14"><v>1.5</v></c>'
    '<c r="AH14" t="str"><v>later text</v></c></row>'
    '<row r="15"><c r="AG15" t="str"><v>first text</v></c><c r="A15"><v>2</v></c>'
    '<c r="B15" t="s"><v>-1</v></c><c r="E15" s="1"><v>45000&#46;5</v></c></row>'
    '<row r="16"><c r="AG16" t="s"><v>4</v></c><c r="AF16" t="s"><v>0</v></c></row>'
    '<row r="17"><c r="A17" s="5"><v>0</v></c><c r="B17" s="6"><v>0</v></c>'
    '<c r="C17" s="1"><v>1e999</v></c><c r="D17" s="1"><v>x</v></c></row>'
    '<row r="18"><c r="A18" t="s" cm="1"><v>0</v></c></row>'
    '<row r="19"><c r="A19" t="inlineStr"><is><t></t></is></c>'
    '<c r="D19" t="s"><v>4</v></c></row>'
    '<row r="20"><c r="AG20" t="s"><v>4</v></c><c r="AH20" t="s"><v>5</v></c>'
    '<c r="A20"><v>3</v></c></row>'
)


def picker_for(stream: SheetStream) -> RowPicker:
    return RowPicker(stream.cells, COLUMNS, OWNED, tuple(OWNED))


def typed(value: object) -> tuple:
    """Return a value with its type; NaN compares equal to NaN here."""
    if isinstance(value, float) and math.isnan(value):
        return (float, "nan")
    return (type(value), value)


def comparable(number: int, picked: tuple) -> tuple:
    values, owned, text, formulas, sixty = picked
    return (number, {name: typed(value) for name, value in values.items()},
            {name: typed(value) for name, value in owned.items()}, text,
            formulas or None, sixty or None)


def open_stream(path: Path, sheet: str) -> SheetStream:
    package = open_package(path.read_bytes(), path.name)
    return SheetStream(package, package.sheets[sheet][0], path.name, sheet)


def picked_rows(path: Path, sheet: str, start: int, head: int) -> tuple[list, tuple]:
    """Return the rows `SheetStream.picked` yields, and the stream's width and last row."""
    stream = open_stream(path, sheet)
    if head:
        stream.read_head(head)
    rows = [comparable(number, picked)
            for number, picked in stream.picked(picker_for(stream), start)]
    return rows, (stream.width, stream.last_row)


def cell_rows(path: Path, sheet: str, start: int) -> tuple[list, tuple]:
    """Return the same rows picked from RawCells, one row at a time."""
    stream = open_stream(path, sheet)
    picker = picker_for(stream)
    rows = []
    for number, cells in stream.rows():
        picked = picker.pick(cells) if number >= start else None
        if picked is not None:
            rows.append(comparable(number, picked))
    return rows, (stream.width, stream.last_row)


def assert_picked_alike(path: Path, sheet: str) -> None:
    for start, head in ((1, 0), (2, 0), (3, 2), (12, 5)):
        try:
            fast = picked_rows(path, sheet, start, head)
        except StreamDeclined:
            return
        assert fast == cell_rows(path, sheet, start), (
            f"{path.name} › {sheet} from row {start}, head {head}")


def test_hand_written_rows_pick_alike(tmp_path):
    assert_picked_alike(write_book(tmp_path / "s.xlsx", ROWS + MORE_ROWS), "S")


def test_rows_across_small_blocks_pick_alike(tmp_path, monkeypatch):
    monkeypatch.setattr("engine.xlsx.stream.CHUNK_BYTES", 50)
    assert_picked_alike(write_book(tmp_path / "s.xlsx", ROWS + MORE_ROWS), "S")


def test_inline_and_serial_sixty_values(tmp_path):
    rows, _extent = picked_rows(write_book(tmp_path / "s.xlsx", MORE_ROWS), "S", 1, 0)
    by_row = {row[0]: row for row in rows}
    assert by_row[11][2] == {"status": (str, "APPROVED"), "reason": (str, " a & bA ")}
    assert by_row[11][5] == {2}
    assert by_row[13][5] == {1, 2}
    assert by_row[14][3] == "x & y <z>"
    assert by_row[15][3] == "first text"
    assert by_row[20][3] == "Total"


def test_missing_shared_string_still_raises(tmp_path):
    path = write_book(tmp_path / "bad.xlsx",
                      '<row r="2"><c r="A2" t="s"><v>99</v></c></row>')
    stream = open_stream(path, "S")
    with pytest.raises(EngineError, match="shared string 99"):
        list(stream.picked(picker_for(stream), 1))


def test_plain_shared_strings_unescaped(tmp_path):
    strings = ["<si><t>a &amp; b</t></si>", '<si><t xml:space="preserve"> x_x0041_</t></si>',
               "<si><t></t></si>"]
    rows = ('<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c>'
            '<c r="C1" t="s"><v>2</v></c></row>')
    path = write_book(tmp_path / "p.xlsx", rows, strings=strings)
    assert open_stream(path, "S").parts.strings == ["a & b", " xA", ""]
    assert CalamineWorkbook.from_path(str(path)).get_sheet_by_name("S").to_python()[0] \
        == ["a & b", " xA", ""]


def test_case_workbooks_pick_alike():
    for path in sorted((DATA / "cases_read").rglob("*.xlsx")):
        for sheet in open_package(path.read_bytes(), path.name).sheets:
            assert_picked_alike(path, sheet)


def corpus_sheets():
    for path in sorted((DATA / "corpus").glob("*.xls[xm]")):
        for name in CalamineWorkbook.from_path(str(path)).sheet_names:
            yield pytest.param(path, name, id=f"{path.name}-{name}")


@pytest.mark.parametrize(("path", "sheet"), list(corpus_sheets()))
def test_corpus_picks_alike(path, sheet):
    package = open_package(path.read_bytes(), path.name)
    if sheet not in package.sheets or not package.sheets[sheet][0].endswith(".xml"):
        pytest.skip("not a worksheet part")
    assert_picked_alike(path, sheet)


def test_bench_records_match_calamine(tmp_path):
    """The typed records of a generated workbook set equal those read through calamine."""
    from bench.generate import generate

    files = generate(tmp_path, 400)
    wmap = load_workbook_map(ROOT / "rules" / "workbooks.yaml", ROOT)
    wmap = dataclasses.replace(wmap, folder=files.folder)
    as_of = dt.date(2013, 6, 3)

    def decline(*args, **kwargs):
        raise StreamDeclined("compared with calamine")

    streamed = read_inputs(wmap, as_of=as_of, keep_values=False)
    with mock.patch.object(read_module, "SheetStream", decline):
        whole = read_inputs(wmap, as_of=as_of, keep_values=False)
    assert len(streamed[0].orders) == 400
    assert streamed[0].orders == whole[0].orders
    assert streamed[0].payments == whole[0].payments
    assert streamed[0].customers == whole[0].customers
    assert streamed[0].held == whole[0].held
    assert streamed[2] == whole[2]
