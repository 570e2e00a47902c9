"""Merged ranges follow the rows in the sheet XML, so the stream finds them last.

A sheet is read once, as if it had no merged ranges. Where the ranges found at its
end touch the header rows or cover mapped data cells, the sheet is read again with
them known. Either way the rows, held rows and findings equal calamine's read.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from unittest import mock

import pytest
from openpyxl import load_workbook

from engine.inputs import read_inputs
from engine.workbook_map import load_workbook_map
from engine.xlsx import read as read_module
from engine.xlsx.read import read_sheet
from engine.xlsx.stream import StreamDeclined

ROOT = Path(__file__).resolve().parent.parent

# Merged ranges added to the demo orders sheet, and whether the sheet is read again.
LAYOUTS = {
    "none": ((), False),
    "right of the table": (("Q5:R6",), False),
    "header": (("O1:P1",), True),
    "mapped data cells": (("E5:E6", "A8:B8"), True),
}


def decline(*args, **kwargs):
    raise StreamDeclined("compared with calamine")


def project_with_merges(tmp_path: Path, ranges: tuple[str, ...]):
    """Return the map of a copy of the demo workbooks with `ranges` merged in orders."""
    shutil.copytree(ROOT / "workbooks", tmp_path / "workbooks")
    orders = tmp_path / "workbooks" / "orders.xlsx"
    if ranges:
        book = load_workbook(orders)
        for cells in ranges:
            book.active.merge_cells(cells)
        book.save(orders)
    return load_workbook_map(ROOT / "rules" / "workbooks.yaml", tmp_path)


def counted_reads(monkeypatch) -> list[bool]:
    """Record the merges_first flag of every read of sheet bytes."""
    calls: list[bool] = []
    original = read_module.open_data

    def open_data(*args, merges_first: bool, **kwargs):
        calls.append(merges_first)
        return original(*args, merges_first=merges_first, **kwargs)

    monkeypatch.setattr(read_module, "open_data", open_data)
    return calls


def shown(read):
    return ([(r.ref, dict(r.values), dict(r.owned), r.held) for r in read.rows],
            read.findings, read.header_row, read.columns, read.owned_columns,
            read.new_headers)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_sheet_reads_as_calamine_reads_it(tmp_path, monkeypatch, layout):
    ranges, again = LAYOUTS[layout]
    wmap = project_with_merges(tmp_path, ranges)
    source = wmap.sources["orders"]
    calls = counted_reads(monkeypatch)
    streamed = read_sheet(wmap.source_path("orders"), source)
    assert calls == ([False, True] if again else [False])
    with mock.patch.object(read_module, "SheetStream", decline):
        whole = read_sheet(wmap.source_path("orders"), source)
    assert shown(streamed) == shown(whole)
    if layout == "mapped data cells":
        assert any(finding.code == "merged" for finding in streamed.findings)
        assert any(row.held for row in streamed.rows)


def test_inputs_typed_again_after_late_merges(tmp_path, monkeypatch):
    """Rows typed before the merged ranges were found are dropped, then typed again."""
    wmap = project_with_merges(tmp_path, LAYOUTS["mapped data cells"][0])
    calls = counted_reads(monkeypatch)
    inputs, reads, findings = read_inputs(wmap, keep_values=False)
    assert calls.count(True) == 1
    with mock.patch.object(read_module, "SheetStream", decline):
        whole_inputs, whole_reads, whole_findings = read_inputs(wmap, keep_values=False)
    assert inputs == whole_inputs
    assert findings == whole_findings
    assert any(row.kind == "orders" for row in inputs.held)
    assert [(row.ref, row.owned) for row in reads["orders"].rows] == \
        [(row.ref, row.owned) for row in whole_reads["orders"].rows]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_rows_read_logged_once(tmp_path, caplog, layout):
    wmap = project_with_merges(tmp_path, LAYOUTS[layout][0])
    source = wmap.sources["orders"]

    with caplog.at_level("INFO", logger="engine.xlsx.read"):
        read = read_sheet(wmap.source_path("orders"), source)

    lines = [r.getMessage() for r in caplog.records if "rows read" in r.getMessage()]
    assert len(lines) == 1
    assert lines[0].endswith(f"{len(read.findings)} findings")
