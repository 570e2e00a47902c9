"""The one-pass sheet read equals the read that takes the merged ranges first."""

from __future__ import annotations

import shutil
from pathlib import Path

import openpyxl
import pytest

from engine.filestamp import stamp_of_bytes
from engine.project import Project
from engine.workbook_map import load_workbook_map
from engine.xlsx.read import open_data, read_sheet

DEMO = Path(__file__).resolve().parent.parent

EDITS = {
    "title above header": lambda ws: (ws.insert_rows(1), ws.merge_cells("A1:F1")),
    "customer id over two rows": lambda ws: ws.merge_cells("C10:C11"),
    "amount and currency": lambda ws: ws.merge_cells("E20:F20"),
    "right of the table": lambda ws: ws.merge_cells("Z5:AB8"),
    "right of the header": lambda ws: ws.merge_cells("Z1:AB1"),
    "owned columns only": lambda ws: ws.merge_cells("O30:P31"),
    "below the data": lambda ws: ws.merge_cells("A1850:D1850"),
}


def orders_source(root: Path):
    project = Project.at(root)
    workbook_map = load_workbook_map(project.workbook_map_path, project.root)
    return workbook_map.source_path("orders"), workbook_map.sources["orders"]


def rows_of(read):
    return [
        (row.ref.row, dict(row.values), dict(row.owned), list(row.held))
        for row in read.rows
    ]


@pytest.mark.parametrize("edit", list(EDITS))
def test_one_pass_read_equals_merges_first(tmp_path, edit):
    for name in ("rules", "templates", "workbooks"):
        shutil.copytree(DEMO / name, tmp_path / name)
    path, source = orders_source(tmp_path)
    workbook = openpyxl.load_workbook(path)
    EDITS[edit](workbook.worksheets[0])
    workbook.save(path)

    one_pass = read_sheet(path, source)
    data = path.read_bytes()
    first = open_data(
        data, path, source, path.name, stamp_of_bytes(path, data), merges_first=True
    )
    first.rows = list(first.take_rows())

    assert one_pass.header_row == first.header_row
    assert one_pass.columns == first.columns
    assert rows_of(one_pass) == rows_of(first)
    assert one_pass.findings == first.findings
