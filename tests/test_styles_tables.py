"""Columns written next to Excel Tables join them; totals rows are never written."""

from __future__ import annotations

import datetime as dt
import shutil
import zipfile
from pathlib import Path

import openpyxl
import pytest
from lxml import etree
from openpyxl.worksheet.table import Table

from engine.xlsx.patch import WriteRefused, write_cells
from engine.xlsx.patch_package import find_sheet
from tests.conftest import ROOT


def table_workbook(path: Path, totals: bool = False) -> Path:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Orders"
    sheet.append(["OrderID", "OrderDate", "CustomerID", "Amount", "Currency"])
    for number in range(1, 5):
        sheet.append(
            [f"ORD-{number}", dt.date(2024, 6, number), "C001", 100 * number, "EUR"]
        )
    last = 5
    if totals:
        sheet.append(["Total", None, None, "=SUBTOTAL(109,Orders[Amount])", None])
        last = 6
    table = Table(displayName="Orders", ref=f"A1:E{last}")
    if totals:
        table.totalsRowCount = 1
    sheet.add_table(table)
    workbook.save(path)
    return path


def table_xml(path: Path) -> etree._Element:
    with zipfile.ZipFile(path) as archive:
        name = next(n for n in archive.namelist() if n.startswith("xl/tables/"))
        return etree.fromstring(archive.read(name))


def test_column_next_to_table_joins(tmp_path):
    path = table_workbook(tmp_path / "orders.xlsx")
    cells = {(1, 6): "Status"}
    cells.update({(row, 6): "APPROVED" for row in range(2, 6)})

    write_cells(path, "Orders", cells, fsync=False)

    table = table_xml(path)
    assert table.get("ref") == "A1:F5"
    assert table.find("{*}autoFilter").get("ref") == "A1:F5"
    columns = table.find("{*}tableColumns")
    assert columns.get("count") == "6"
    assert [(c.get("id"), c.get("name")) for c in columns][-1] == ("6", "Status")
    loaded = openpyxl.load_workbook(path)["Orders"].tables["Orders"]
    assert loaded.ref == "A1:F5"


def test_values_only_leave_table(tmp_path):
    path = table_workbook(tmp_path / "orders.xlsx")
    before = etree.tostring(table_xml(path))

    write_cells(path, "Orders", {(2, 6): "APPROVED"}, fsync=False)

    assert etree.tostring(table_xml(path)) == before


def test_totals_row_refused(tmp_path):
    path = table_workbook(tmp_path / "orders.xlsx", totals=True)

    with pytest.raises(WriteRefused) as caught:
        write_cells(path, "Orders", {(6, 5): "X"}, fsync=False)

    assert str(caught.value.findings[0]) == (
        "orders.xlsx › Orders › E6: is in the totals row of the Excel table 'Orders', "
        "which Excel fills from the column's total function. Map the owned column to "
        "the data rows of the table."
    )


def test_joined_table_opens_in_libreoffice(tmp_path):
    from tests.patch_helpers import libreoffice_csv

    path = table_workbook(tmp_path / "orders.xlsx")
    write_cells(path, "Orders", {(1, 6): "Status", (3, 6): "BLOCKED"}, fsync=False)

    lines = libreoffice_csv(path, tmp_path).splitlines()
    assert lines[0].endswith(",Status")
    assert lines[2].endswith(",BLOCKED")


CORPUS_WITH_TABLES = [
    "07_simple-monthly-budget.xlsx",
    "11_ConditionalFormattingSamples.xlsx",
]


@pytest.mark.parametrize("name", CORPUS_WITH_TABLES)
def test_corpus_tables_join(tmp_path, name):
    path = tmp_path / name
    shutil.copy(ROOT / "tests" / "data" / "corpus" / name, path)
    with zipfile.ZipFile(path) as archive:
        sheets = [
            sheet for sheet in openpyxl.load_workbook(path, read_only=False).sheetnames
        ]
        found = [(sheet, find_sheet(archive, sheet, name)) for sheet in sheets]
    sheet, part = next((s, p) for s, p in found if p.tables)
    table = part.tables[0]
    column = table.last_column + 1
    cells = {(table.first_row, column): "Status"}
    if table.last_row - table.totals_rows > table.first_row:
        cells[(table.first_row + 1, column)] = "APPROVED"

    write_cells(path, sheet, cells, fsync=False)

    loaded = openpyxl.load_workbook(path)[sheet].tables[table.name]
    assert loaded.tableColumns[-1].name == "Status"
    assert len(loaded.tableColumns) == table.last_column - table.first_column + 2
