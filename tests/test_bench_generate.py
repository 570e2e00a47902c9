"""The benchmark generator writes workbooks the engine reads in the demo layout."""

from __future__ import annotations

import datetime as dt
import zipfile
from decimal import Decimal

from python_calamine import CalamineWorkbook

from bench.generate import generate
from bench.measure import add_salespeople, make_project
from bench.suite import salesperson_codes
from engine.inputs import read_inputs
from engine.workbook_map import load_workbook_map


def test_generate_is_deterministic(tmp_path):
    first = generate(tmp_path / "a", 300)
    second = generate(tmp_path / "b", 300)
    for name in ("orders.xlsx", "payments.xlsx", "customers.xlsx"):
        one = CalamineWorkbook.from_path(str(first.folder / name))
        two = CalamineWorkbook.from_path(str(second.folder / name))
        sheet = one.sheet_names[0]
        assert one.get_sheet_by_name(sheet).to_python() == \
            two.get_sheet_by_name(sheet).to_python()


def test_generate_writes_shared_strings(tmp_path):
    files = generate(tmp_path, 300)
    with zipfile.ZipFile(files.folder / "customers.xlsx") as archive:
        strings = archive.read("xl/sharedStrings.xml").decode()
        sheet = archive.read("xl/worksheets/sheet1.xml").decode()
    assert 'uniqueCount="' in strings
    assert 't="s"' in sheet
    assert "<is>" not in sheet  # no inline strings: Excel writes a shared table


def test_generated_rows_read_cleanly(tmp_path):
    files = generate(tmp_path / "out", 300)
    project = make_project(files.folder, tmp_path / "project")
    add_salespeople(project, salesperson_codes(), files.customers)
    workbook_map = load_workbook_map(project / "rules" / "workbooks.yaml", project)
    inputs, _reads, findings = read_inputs(workbook_map)
    assert findings == []
    assert inputs.held == []
    assert len(inputs.orders) == 300
    assert len(inputs.payments) == 300
    assert len(inputs.customers) == 30
    first = inputs.orders[0]
    assert isinstance(first.amount, Decimal)
    assert isinstance(first.order_date, dt.date)
    names = " ".join(customer.name for customer in inputs.customers)
    assert not names.isascii()
