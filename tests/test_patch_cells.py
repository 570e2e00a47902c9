"""Cell-level behaviour of the write-back: refusals, namespaces, text, numbers, dates."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest

from engine.xlsx.patch import CellWrite, WriteRefused, plan_check, write_cells
from engine.xlsx.patch_cells import excel_unescape
from patch_builder import MAIN, build_workbook, sheet
from patch_helpers import raw_members, read_calamine, read_openpyxl

TABLE = (
    f'<table xmlns="{MAIN}" id="1" name="Orders" displayName="Orders" ref="A1:B4">'
    '<autoFilter ref="A1:B4"/><tableColumns count="2"><tableColumn id="1" name="Order"/>'
    '<tableColumn id="2" name="Amount"/></tableColumns></table>'
)
PROTECTED_ROWS = (
    '<row r="1"><c r="A1" t="inlineStr"><is><t>Order</t></is></c>'
    '<c r="B1" t="inlineStr"><is><t>Amount</t></is></c></row>'
    '<row r="2"><c r="A2"><v>1</v></c><c r="B2"><v>10</v></c>'
    '<c r="C2"><f>SUM(A2:B2)</f><v>11</v></c>'
    '<c r="D2"><f t="shared" ref="D2:D4" si="0">A2*2</f><v>2</v></c>'
    '<c r="E2"><f t="array" ref="E2:E4">A2:A4*2</f><v>2</v></c></row>'
    '<row r="3"><c r="A3"><v>2</v></c><c r="D3"><f t="shared" si="0"/><v>4</v></c>'
    '<c r="E3"><v>4</v></c></row>'
    '<row r="4"><c r="A4"><v>3</v></c><c r="D4"><f t="shared" si="0"/><v>6</v></c>'
    '<c r="E4"><v>6</v></c></row>'
    '<row r="6"><c r="F6" t="inlineStr"><is><t>merged</t></is></c></row>'
)
PROTECTED_TAIL = (
    '<mergeCells count="1"><mergeCell ref="F6:G7"/></mergeCells>'
    '<tableParts count="1"><tablePart r:id="rId1"/></tableParts>'
)


@pytest.fixture
def protected(tmp_path) -> Path:
    return build_workbook(
        tmp_path / "orders.xlsx",
        sheet(PROTECTED_ROWS, tail=PROTECTED_TAIL),
        table_xml=TABLE,
    )


REFUSED = {
    (2, 3): (
        "orders.xlsx › Orders › C2: contains a formula (=SUM(A2:B2)), which the engine "
        "never overwrites. Map the owned column to cells without formulas, or clear the "
        "formula in Excel."
    ),
    (3, 4): (
        "orders.xlsx › Orders › D3: contains a shared formula copied from D2, which the "
        "engine never overwrites. Map the owned column to cells without formulas, or "
        "clear the formula in Excel."
    ),
    (3, 5): (
        "orders.xlsx › Orders › E3: is inside the range E2:E4 of an array formula entered "
        "in E2, which Excel only changes as a whole. Map the owned column outside that "
        "range."
    ),
    (7, 7): (
        "orders.xlsx › Orders › G7: is part of the merged range F6:G7, where a written "
        "value would be hidden or break the merge. Unmerge the cells in Excel, or map the "
        "owned column elsewhere."
    ),
    (1, 2): (
        "orders.xlsx › Orders › B1: is a header cell of the Excel table 'Orders'; writing "
        "it would rename the table column. Map the owned column to the rows below the "
        "table header."
    ),
    (9, 8): (
        "orders.xlsx › Orders › H9: cannot be written: text of 32,768 characters is "
        "longer than the 32,767 characters an Excel cell holds. Correct the value."
    ),
}


@pytest.mark.parametrize("target", list(REFUSED), ids=lambda t: f"r{t[0]}c{t[1]}")
def test_refused_target_message(protected, target):
    value = "x" * 32_768 if target == (9, 8) else "BLOCKED"
    original = protected.read_bytes()
    with pytest.raises(WriteRefused) as raised:
        write_cells(protected, "Orders", {target: value})
    assert [str(f) for f in raised.value.findings] == [REFUSED[target]]
    assert protected.read_bytes() == original


def test_refusals_reported_together(protected):
    cells = {target: "x" * 32_768 if target == (9, 8) else "BLOCKED" for target in REFUSED}
    cells[(5, 1)] = "fine"
    with pytest.raises(WriteRefused) as raised:
        write_cells(protected, "Orders", cells)
    assert sorted(str(f) for f in raised.value.findings) == sorted(REFUSED.values())
    assert sorted(str(f) for f in plan_check(protected, "Orders", cells)) == sorted(
        REFUSED.values()
    )


def test_table_data_column_is_writable(protected):
    write_cells(protected, "Orders", {(3, 2): Decimal("99.95"), (5, 3): "next to table"})
    values = read_calamine(protected, "Orders", [(3, 2), (5, 3)])
    assert values == {(3, 2): 99.95, (5, 3): "next to table"}


def test_prefixed_namespace_sheet(tmp_path):
    rows = (
        '<x:row r="1" spans="1:2"><x:c r="A1" t="inlineStr"><x:is><x:t>Order</x:t></x:is></x:c>'
        '<x:c r="B1"><x:v>5</x:v></x:c></x:row>'
    )
    path = build_workbook(
        tmp_path / "prefixed.xlsx",
        sheet(rows, head='<x:dimension ref="A1:B1"/>', prefix="x"),
    )
    write_cells(path, "Orders", {(1, 4): "APPROVED", (3, 2): Decimal("7.25")})
    with zipfile.ZipFile(path) as archive:
        xml = archive.read("xl/worksheets/sheet1.xml")
    assert b'<x:c r="D1" t="inlineStr"><x:is><x:t xml:space="preserve">APPROVED</x:t>' in xml
    assert b'<x:row r="3"><x:c r="B3"><x:v>7.25</x:v></x:c></x:row>' in xml
    assert b'<x:row r="1" spans="1:4">' in xml
    assert b'<x:dimension ref="A1:D3"/>' in xml
    assert b"<c " not in xml
    assert read_openpyxl(path, "Orders", [(1, 4), (3, 2)]) == {(1, 4): "APPROVED", (3, 2): 7.25}


def test_prefixed_namespace_in_libreoffice(tmp_path):
    soffice = shutil.which("soffice")
    if soffice is None:
        pytest.skip(
            "LibreOffice (soffice) not installed; install libreoffice-calc-nogui "
            "to run this check"
        )
    rows = '<x:row r="1"><x:c r="A1" t="inlineStr"><x:is><x:t>Order</x:t></x:is></x:c></x:row>'
    path = build_workbook(tmp_path / "prefixed.xlsx", sheet(rows, prefix="x"))
    write_cells(path, "Orders", {(1, 2): "APPROVED", (2, 1): Decimal("12.5")})
    subprocess.run(
        [soffice, f"-env:UserInstallation=file://{tmp_path}/lo-profile", "--headless",
         "--convert-to", "csv", "--outdir", str(tmp_path / "out"), str(path)],
        capture_output=True, timeout=180, check=True,
    )  # fmt: skip
    lines = (tmp_path / "out" / "prefixed.csv").read_text().splitlines()
    assert lines[:2] == ["Order,APPROVED", "12.5,"]


def test_rows_and_cells_without_r(tmp_path):
    rows = (
        '<row><c t="inlineStr"><is><t>a</t></is></c><c><v>2</v></c></row>'
        "<row><c><v>3</v></c></row>"
    )
    path = build_workbook(tmp_path / "implicit.xlsx", sheet(rows))
    cells = {(1, 4): "x", (2, 2): 5, (2, 1): "over", (4, 1): "new"}
    write_cells(path, "Orders", cells)
    expected = {(1, 1): "a", (1, 2): 2, (1, 4): "x", (2, 1): "over", (2, 2): 5, (4, 1): "new"}
    assert read_openpyxl(path, "Orders", expected) == expected
    by_calamine = read_calamine(path, "Orders", expected)
    assert by_calamine == {**expected, (1, 2): 2.0, (2, 2): 5.0}


def test_shared_string_cell_overwritten(tmp_path):
    rows = '<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c></row>'
    path = build_workbook(
        tmp_path / "shared.xlsx", sheet(rows), shared_strings=["OPEN", "keep"]
    )
    strings_before = [m for m in raw_members(path) if m[0] == "xl/sharedStrings.xml"]
    write_cells(path, "Orders", {(1, 1): "BLOCKED"})
    assert [m for m in raw_members(path) if m[0] == "xl/sharedStrings.xml"] == strings_before
    assert read_openpyxl(path, "Orders", [(1, 1), (1, 2)]) == {(1, 1): "BLOCKED", (1, 2): "keep"}


def test_unchanged_shared_string_is_noop(tmp_path):
    rows = '<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1"><v>12.50</v></c></row>'
    path = build_workbook(tmp_path / "same.xlsx", sheet(rows), shared_strings=["OPEN"])
    original = path.read_bytes()
    mtime = path.stat().st_mtime_ns
    write_cells(path, "Orders", {(1, 1): "OPEN", (1, 2): Decimal("12.5"), (1, 3): None})
    assert path.read_bytes() == original
    assert path.stat().st_mtime_ns == mtime


def test_rich_text_neighbour_kept(tmp_path):
    rich = (
        '<c r="A1" t="inlineStr"><is><r><rPr><b/></rPr><t>Bold</t></r>'
        '<r><t xml:space="preserve"> rest</t></r></is></c>'
    )
    path = build_workbook(tmp_path / "rich.xlsx", sheet(f'<row r="1">{rich}</row>'))
    write_cells(path, "Orders", {(1, 2): "plain"})
    with zipfile.ZipFile(path) as archive:
        assert rich.encode() in archive.read("xl/worksheets/sheet1.xml")
    write_cells(path, "Orders", {(1, 1): "now plain"})
    assert read_calamine(path, "Orders", [(1, 1), (1, 2)]) == {(1, 1): "now plain", (1, 2): "plain"}


TEXTS = {
    "excel escape literal": "_x0041_ stays literal",
    "control characters": "a\x01b\x1fc\x0bd",
    "carriage return": "line one\r\nline two",
    "surrounding spaces": "  padded  ",
    "markup": "<b>&amp; \"quoted\" 'single'</b>",
    "formula lookalike": "=SUM(A1:A3)",
    "plus sign": "+49 30 1234",
    "minus sign": "-100",
    "at sign": "@customer",
    "unicode": "Ålesund – Kraków 🚀 東京",
}


@pytest.mark.parametrize("text", list(TEXTS.values()), ids=list(TEXTS))
def test_text_reads_back_literally(tmp_path, text):
    path = build_workbook(tmp_path / "text.xlsx", sheet('<row r="1"><c r="A1"><v>1</v></c></row>'))
    write_cells(path, "Orders", {(1, 2): text, (5, 1): text})
    assert read_calamine(path, "Orders", [(1, 2), (5, 1)]) == {(1, 2): text, (5, 1): text}
    # openpyxl 3.1.5 does not decode Excel's _xHHHH_ escapes in inline strings.
    by_openpyxl = read_openpyxl(path, "Orders", [(1, 2)])
    assert excel_unescape(by_openpyxl[(1, 2)]) == text
    with zipfile.ZipFile(path) as archive:
        assert b"<f>" not in archive.read("xl/worksheets/sheet1.xml")


def test_literal_excel_escape_is_escaped(tmp_path):
    path = build_workbook(tmp_path / "escape.xlsx", sheet(""))
    write_cells(path, "Orders", {(1, 1): "_x0041_"})
    with zipfile.ZipFile(path) as archive:
        assert b"<t xml:space=\"preserve\">_x005F_x0041_</t>" in archive.read(
            "xl/worksheets/sheet1.xml"
        )


def test_numbers_written_exactly(tmp_path):
    path = build_workbook(tmp_path / "numbers.xlsx", sheet(""))
    cells = {
        (1, 1): Decimal("1234567.89"),
        (2, 1): Decimal("1E+3"),
        (3, 1): Decimal("-0.000001"),
        (4, 1): 12_345_678_901,
    }
    write_cells(path, "Orders", cells)
    with zipfile.ZipFile(path) as archive:
        xml = archive.read("xl/worksheets/sheet1.xml")
    for text in (b"<v>1234567.89</v>", b"<v>1000</v>", b"<v>-0.000001</v>", b"<v>12345678901</v>"):
        assert text in xml
    assert b"E" not in xml.split(b"<sheetData>")[1]


def test_date_in_1904_workbook(tmp_path):
    rows = '<row r="1"><c r="A1" s="1"><v>0</v></c></row>'
    head = '<cols><col min="3" max="3" width="12" style="1" customWidth="1"/></cols>'
    path = build_workbook(tmp_path / "mac.xlsx", sheet(rows, head=head), date1904=True)
    day = dt.date(2024, 6, 30)
    write_cells(path, "Orders", {(1, 1): day, (2, 3): day})
    with zipfile.ZipFile(path) as archive:
        xml = archive.read("xl/worksheets/sheet1.xml")
    assert b'<c r="A1" s="1"><v>44011</v></c>' in xml
    assert b'<c r="C2" s="1"><v>44011</v></c>' in xml
    values = read_openpyxl(path, "Orders", [(1, 1), (2, 3)])
    assert [v.date() for v in values.values()] == [day, day]


def test_new_cell_inherits_row_style(tmp_path):
    rows = '<row r="1" s="2" customFormat="1"><c r="A1" s="2"><v>1</v></c></row>'
    path = build_workbook(tmp_path / "styled.xlsx", sheet(rows))
    write_cells(path, "Orders", {(1, 3): "bold like its row", (1, 4): CellWrite(dt.date(2024, 1, 2), style=1)})
    with zipfile.ZipFile(path) as archive:
        xml = archive.read("xl/worksheets/sheet1.xml")
    assert b'<c r="C1" s="2" t="inlineStr">' in xml
    assert b'<c r="D1" s="1"><v>45293</v></c>' in xml


def test_empty_value_keeps_style(tmp_path):
    rows = '<row r="1"><c r="A1" s="2" t="inlineStr"><is><t>old</t></is></c></row>'
    path = build_workbook(tmp_path / "clear.xlsx", sheet(rows))
    write_cells(path, "Orders", {(1, 1): None})
    with zipfile.ZipFile(path) as archive:
        assert b'<row r="1"><c r="A1" s="2"/></row>' in archive.read("xl/worksheets/sheet1.xml")


def test_date_before_epoch_refused(tmp_path):
    path = build_workbook(tmp_path / "old.xlsx", sheet(""), date1904=True)
    with pytest.raises(WriteRefused) as raised:
        write_cells(path, "Orders", {(1, 1): dt.date(1903, 12, 31)})
    assert str(raised.value) == (
        "old.xlsx › Orders › A1: cannot be written: date 1903-12-31 is before the start "
        "of Excel's 1904 date system. Correct the value."
    )


def test_absolute_sheet_target(tmp_path):
    path = build_workbook(
        tmp_path / "absolute.xlsx", sheet(""), sheet_target="/xl/worksheets/sheet1.xml"
    )
    write_cells(path, "Orders", {(1, 1): "found"})
    assert read_calamine(path, "Orders", [(1, 1)]) == {(1, 1): "found"}


def test_empty_sheet_data_element(tmp_path):
    xml = sheet("").replace("<sheetData></sheetData>", "<sheetData/>")
    path = build_workbook(tmp_path / "empty.xlsx", xml)
    write_cells(path, "Orders", {(2, 2): "first"})
    assert read_openpyxl(path, "Orders", [(2, 2)]) == {(2, 2): "first"}
