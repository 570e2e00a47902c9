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
    xml = (
        b'<workbook><sheets><sheet name="A"/></sheets><calcPr calcId="191029"/>'
        b"</workbook>"
    )

    assert with_full_calc(xml) == (
        b'<workbook><sheets><sheet name="A"/></sheets>'
        b'<calcPr calcId="191029" fullCalcOnLoad="1"/></workbook>'
    )


def test_full_calc_element_added_after_names():
    xml = (
        b"<x:workbook><x:sheets/><x:definedNames><x:definedName/></x:definedNames>"
        b"</x:workbook>"
    )

    assert with_full_calc(xml) == (
        b"<x:workbook><x:sheets/><x:definedNames><x:definedName/></x:definedNames>"
        b'<x:calcPr fullCalcOnLoad="1"/></x:workbook>'
    )


# Status colours and the approver drop-down through the whole pass.

ORDER_HEADER = [
    "OrderID",
    "OrderDate",
    "CustomerID",
    "Salesperson",
    "Amount",
    "Currency",
    "Override Approver",
    "Status",
    "Reason",
]
ORDERS = [
    ["ORD-1001", dt.date(2024, 5, 2), "C001", "S01", 4000, "EUR", None],
    ["ORD-1002", dt.date(2024, 5, 20), "C001", "S01", 3000, "EUR", None],
    ["ORD-1005", dt.date(2024, 6, 28), "C001", "S01", 1500, "EUR", None],
    ["ORD-1006", dt.date(2024, 6, 29), "C001", "S01", 3500, "EUR", None],
]


def styled_project(tmp_path: Path, style: str) -> Path:
    from tests import test_cases_product as cases

    project = cases.make_project(tmp_path)
    cases.build_sheet(
        project / "workbooks" / "orders.xlsx", "Orders", ORDER_HEADER, ORDERS
    )
    sheet_path = project / "workbooks" / "orders.xlsx"
    workbook = openpyxl.load_workbook(sheet_path)
    workbook["Orders"].merge_cells("K1:L1")
    workbook["Orders"]["K1"] = "Notes"
    workbook["Orders"].page_margins.left = 0.5
    workbook.save(sheet_path)
    cases.add_companions(project)
    columns = cases.ORDER_COLUMNS.replace(
        "      currency: Currency\n",
        "      currency: Currency\n      override_approver: Override Approver\n",
    )
    cases.write_map(project, cases.orders_source(columns=columns, settings=style))
    return project


def run_cases_pass(project: Path):
    from engine.pipeline import run_pass
    from engine.project import Project

    return run_pass(Project.at(project), as_of=dt.date(2024, 6, 30), send_mail=False)


STYLE = "    style: {status_colours: true, override_dropdown: true}\n"


def test_status_colours_written(tmp_path):
    project = styled_project(tmp_path, STYLE)

    run_cases_pass(project)

    sheet = openpyxl.load_workbook(project / "workbooks" / "orders.xlsx")["Orders"]
    assert sheet["H4"].value == "APPROVED"
    assert sheet["H4"].fill.fgColor.rgb == "FFC6EFCE"
    assert sheet["H5"].value == "BLOCKED"
    assert sheet["H5"].fill.fgColor.rgb == "FFFFC7CE"
    assert sheet["H1"].fill.fgColor.rgb != "FFC6EFCE"


def test_override_dropdown_added_once(tmp_path):
    project = styled_project(tmp_path, STYLE)
    orders = project / "workbooks" / "orders.xlsx"

    run_cases_pass(project)
    # A cleared status makes the second pass write again, with the list present.
    write_cells(orders, "Orders", {(5, 8): None}, fsync=False)
    second = run_cases_pass(project)

    assert second.cells_written == 1

    validations = openpyxl.load_workbook(orders)[
        "Orders"
    ].data_validations.dataValidation
    assert len(validations) == 1
    assert validations[0].type == "list"
    assert validations[0].formula1 == '"Maria Lopez,Tom Becker"'
    assert str(validations[0].sqref) == "G2:G1048576"
    xml = member(orders, "xl/worksheets/sheet1.xml")
    assert xml.index(b"</mergeCells>") < xml.index(b"<dataValidations")
    assert xml.index(b"<dataValidations") < xml.index(b"<pageMargins")


def test_style_off_keeps_styles_part(tmp_path):
    project = styled_project(tmp_path, "")
    orders = project / "workbooks" / "orders.xlsx"
    before = member(orders, "xl/styles.xml")

    run_cases_pass(project)

    assert member(orders, "xl/styles.xml") == before
    assert b"dataValidation" not in member(orders, "xl/worksheets/sheet1.xml")


def test_styled_workbook_opens_elsewhere(tmp_path):
    from tests.patch_helpers import libreoffice_csv

    project = styled_project(tmp_path, STYLE)
    orders = project / "workbooks" / "orders.xlsx"
    run_cases_pass(project)

    rows = (
        CalamineWorkbook.from_path(str(orders)).get_sheet_by_name("Orders").to_python()
    )
    assert rows[4][7] == "BLOCKED"
    text = libreoffice_csv(orders, tmp_path)
    assert "BLOCKED" in text
    assert "APPROVED" in text


def test_styles_without_cellxfs_still_written(tmp_path):
    import shutil as shell

    path = build(tmp_path / "orders.xlsx")
    broken = tmp_path / "broken.xlsx"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(broken, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "xl/styles.xml":
                data = b'<styleSheet xmlns="http://schemas.openxmlformats.org/' \
                    b'spreadsheetml/2006/main"/>'
            target.writestr(info, data)
    shell.move(broken, path)

    write_cells(path, "Orders", {(2, 3): dt.date(2024, 6, 30)}, fsync=False)

    workbook = CalamineWorkbook.from_path(str(path))
    assert workbook.get_sheet_by_name("Orders").to_python()[1][2] == 45473


# The root declarations of a styles part Excel saved; its entries inherit them.
EXCEL_STYLES = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    b'<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    b' xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006"'
    b' mc:Ignorable="x14ac x16r2"'
    b' xmlns:x14ac="http://schemas.microsoft.com/office/spreadsheetml/2009/9/ac"'
    b' xmlns:x16r2="http://schemas.microsoft.com/office/spreadsheetml/2015/02/main">'
    b'<fills count="2"><fill><patternFill patternType="none"/></fill>'
    b'<fill><patternFill patternType="gray125"/></fill></fills>'
    b'<cellXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0">'
    b'<alignment vertical="center"/></xf></cellXfs></styleSheet>'
)


def test_fill_found_again_in_excel_styles():
    first = StyleBook(EXCEL_STYLES)
    index = first.with_fill(0, "FFFFC7CE")
    again = StyleBook(first.to_bytes())

    assert again.with_fill(0, "FFFFC7CE") == index
    assert not again.changed
    assert again.to_bytes() == first.to_bytes()
