"""Plain values and CellWrites give the same sheet, and new cells land in order."""

from __future__ import annotations

import datetime as dt
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest

from engine.xlsx.patch import CellWrite, WriteRefused, write_cells
from engine.xlsx.patch_cells import MAX_NUMBER, number_text, serial_text
from tests.patch_builder import build_workbook, sheet
from tests.patch_helpers import sheet_xml

D = Decimal
DAY = dt.date(2013, 6, 3)

# Row 2 has cells A and C only, row 3 ends at B, row 4 has no cells, row 5 is a
# row without a `spans` attribute. Column E carries the date format (style 1).
ROWS = (
    '<row r="1" spans="1:3"><c r="A1" t="inlineStr"><is><t>Id</t></is></c></row>'
    '<row r="2" spans="1:3"><c r="A2"><v>1</v></c><c r="C2" s="2"><v>3</v></c></row>'
    '<row r="3" spans="1:2"><c r="A3"><v>1</v></c><c r="B3"><v>2</v></c></row>'
    '<row r="4" spans="1:3"/>'
    '<row r="5"><c r="A5"><v>5</v></c></row>'
)
HEAD = (
    '<dimension ref="A1:C5"/><cols><col min="5" max="5" width="12" style="1"/></cols>'
)

CELLS = {
    (2, 2): D("12.50"),  # between A2 and C2
    (2, 4): D("0.00"),
    (2, 5): DAY,
    (3, 4): D("-0.00"),
    (3, 6): "text & <more>",
    (4, 1): 7,
    (4, 5): DAY,
    (5, 3): D("1E+3"),
    (5, 4): None,  # clears nothing: the cell does not exist
    (6, 2): D("99.99"),  # a row the sheet lacks
}


def workbook(tmp_path: Path, name: str) -> Path:
    return build_workbook(tmp_path / name, sheet(ROWS, head=HEAD))


def parts(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_plain_values_write_as_cell_writes(tmp_path):
    plain = workbook(tmp_path, "plain.xlsx")
    wrapped = workbook(tmp_path, "wrapped.xlsx")

    write_cells(plain, "Orders", CELLS)
    write_cells(
        wrapped, "Orders", {target: CellWrite(value) for target, value in CELLS.items()}
    )

    assert parts(plain) == parts(wrapped)


def test_new_cells_in_column_order(tmp_path):
    path = workbook(tmp_path, "book.xlsx")
    write_cells(path, "Orders", CELLS)
    xml = sheet_xml(path, "Orders").decode()

    row2 = xml[xml.index('<row r="2"') : xml.index("</row>", xml.index('<row r="2"'))]
    assert row2.index('r="A2"') < row2.index('r="B2"') < row2.index('r="C2"')
    assert row2.index('r="C2"') < row2.index('r="D2"') < row2.index('r="E2"')
    assert '<c r="B2"><v>12.5</v></c>' in row2
    assert '<c r="D2"><v>0</v></c>' in row2
    assert '<row r="2" spans="1:5">' in xml
    assert '<c r="D3"><v>0</v></c>' in xml
    assert (
        '<c r="F3" t="inlineStr"><is><t xml:space="preserve">text &amp; &lt;more&gt;</t></is></c>'
        in xml
    )
    assert '<c r="A4"><v>7</v></c>' in xml
    assert '<c r="C5"><v>1000</v></c>' in xml
    assert 'r="D5"' not in xml
    assert '<row r="6"><c r="B6"><v>99.99</v></c></row>' in xml
    assert '<dimension ref="A1:F6"/>' in xml


def test_dates_share_one_derived_style(tmp_path):
    path = workbook(tmp_path, "book.xlsx")
    cells = {(2, 3): DAY, (2, 5): DAY, (3, 5): DAY, (2, 7): DAY, (3, 7): DAY}
    write_cells(path, "Orders", cells)
    xml = sheet_xml(path, "Orders").decode()
    serial = serial_text(DAY, False)

    # C2 is bold (style 2), so it gets a new bold date format (3). Column E shows
    # dates already (style 1), and General cells of G take that same format.
    assert f'<c r="C2" s="3"><v>{serial}</v></c>' in xml
    for ref in ("E2", "E3", "G2", "G3"):
        assert f'<c r="{ref}" s="1"><v>{serial}</v></c>' in xml
    styles = parts(path)["xl/styles.xml"].decode()
    assert '<cellXfs count="4">' in styles


@pytest.mark.parametrize(
    ("value", "refused"),
    [
        (MAX_NUMBER, False),
        (-MAX_NUMBER, False),
        (D("9.99999999999999E+306"), False),
        (D("1E+308"), True),
        (D("-1E+308"), True),
        (D("Infinity"), True),
        (D("NaN"), True),
        (dt.date(1899, 12, 30), True),
    ],
)
def test_value_limits_after_shortcut(tmp_path, value, refused):
    path = workbook(tmp_path, "book.xlsx")
    if refused:
        with pytest.raises(WriteRefused):
            write_cells(path, "Orders", {(2, 4): value})
    else:
        write_cells(path, "Orders", {(2, 4): value})
        assert f"<v>{number_text(value)}</v>" in sheet_xml(path, "Orders").decode()


def test_number_text_of_zeros():
    assert number_text(D("0.00")) == "0"
    assert number_text(D("-0.00")) == "0"
    assert number_text(D("-0E+5")) == "0"
    assert number_text(D("0.10")) == "0.1"
    assert number_text(D("1E+3")) == "1000"
