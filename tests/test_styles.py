"""Cell formats the writer adds: date formats, status fills, and fullCalcOnLoad."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import openpyxl
from python_calamine import CalamineWorkbook

from engine.xlsx.patch import CellWrite, write_cells
from engine.xlsx.patch_parts import with_full_calc
from engine.xlsx.styles import StyleBook


def build(path: Path, formula: bool = False) -> Path:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Orders"
    sheet.append(["Order", "Amount", "Checked On"])
    sheet.append(["ORD-1", 100, None])
    sheet["B2"].number_format = "#,##0.00"
    if formula:
        sheet["D2"] = "=B2*2"
    workbook.save(path)
    return path


def member(path: Path, name: str) -> bytes:
    with zipfile.ZipFile(path) as archive:
        return archive.read(name)


def test_date_into_general_cell_reads_as_date(tmp_path):
    path = build(tmp_path / "orders.xlsx")

    write_cells(path, "Orders", {(2, 3): dt.date(2024, 6, 30)}, fsync=False)

    cell = openpyxl.load_workbook(path)["Orders"]["C2"]
    assert cell.value == dt.datetime(2024, 6, 30)
    assert cell.number_format == "mm-dd-yy"
    rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_name("Orders").to_python()
    assert rows[1][2] == dt.date(2024, 6, 30)


def test_date_format_added_once(tmp_path):
    path = build(tmp_path / "orders.xlsx")
    write_cells(path, "Orders", {(2, 3): dt.date(2024, 6, 30)}, fsync=False)
    styles = member(path, "xl/styles.xml")

    write_cells(path, "Orders", {(3, 3): dt.date(2024, 7, 1)}, fsync=False)

    assert member(path, "xl/styles.xml") == styles
    sheet = openpyxl.load_workbook(path)["Orders"]
    assert sheet["C3"].value == dt.datetime(2024, 7, 1)


def test_fill_keeps_number_format(tmp_path):
    path = build(tmp_path / "orders.xlsx")

    write_cells(path, "Orders", {(2, 2): CellWrite(200, fill="FFFFC7CE")}, fsync=False)

    cell = openpyxl.load_workbook(path)["Orders"]["B2"]
    assert cell.value == 200
    assert cell.number_format == "#,##0.00"
    assert cell.fill.fgColor.rgb == "FFFFC7CE"


def test_same_fill_reuses_format(tmp_path):
    path = build(tmp_path / "orders.xlsx")
    write_cells(path, "Orders", {(2, 2): CellWrite(200, fill="FFFFC7CE")}, fsync=False)
    book = StyleBook(member(path, "xl/styles.xml"))
    count = len(book.xfs)

    write_cells(path, "Orders", {(2, 1): CellWrite("X", fill="FFFFC7CE")}, fsync=False)

    assert len(StyleBook(member(path, "xl/styles.xml")).xfs) in (count, count + 1)
    assert openpyxl.load_workbook(path)["Orders"]["A2"].fill.fgColor.rgb == "FFFFC7CE"


def test_full_calc_set_with_formulas(tmp_path):
    path = build(tmp_path / "orders.xlsx", formula=True)

    write_cells(path, "Orders", {(2, 1): "ORD-2"}, fsync=False)

    assert b'fullCalcOnLoad="1"' in member(path, "xl/workbook.xml")


def test_full_calc_unset_without_formulas(tmp_path):
    path = build(tmp_path / "orders.xlsx")
    before = member(path, "xl/workbook.xml")

    write_cells(path, "Orders", {(2, 1): "ORD-2"}, fsync=False)

    assert member(path, "xl/workbook.xml") == before


def test_full_calc_attribute_added():
    xml = b'<workbook><sheets><sheet name="A"/></sheets><calcPr calcId="191029"/></workbook>'

    assert with_full_calc(xml) == (
        b'<workbook><sheets><sheet name="A"/></sheets>'
        b'<calcPr calcId="191029" fullCalcOnLoad="1"/></workbook>'
    )


def test_full_calc_element_added_after_names():
    xml = (b"<x:workbook><x:sheets/><x:definedNames><x:definedName/></x:definedNames>"
           b"</x:workbook>")

    assert with_full_calc(xml) == (
        b"<x:workbook><x:sheets/><x:definedNames><x:definedName/></x:definedNames>"
        b'<x:calcPr fullCalcOnLoad="1"/></x:workbook>'
    )
