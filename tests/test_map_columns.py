"""Mapped columns a sheet lacks, and owned columns the engine adds."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import Workbook, load_workbook

from engine.cli import cli
from engine.findings import EngineError, Severity
from engine.workbook_map import FIELDS, INFORMATIONAL, REQUIRED, SourceMap
from engine.xlsx.read import read_sheet

CUSTOMER_COLUMNS = {"customer_id": "Customer ID", "name": "Name",
                    "credit_limit": "Credit Limit", "email": "Email"}
WHERE = {"credit_limit": "rules/workbooks.yaml:79:21", "email": "rules/workbooks.yaml:83:14"}


def customers_source(owned=None) -> SourceMap:
    return SourceMap("customers", "customers.xlsx", "Customers", None, CUSTOMER_COLUMNS,
                     owned or {}, where=WHERE)


def build(path: Path, rows) -> Path:
    book = Workbook()
    book.active.title = "Customers"
    for row in rows:
        book.active.append(row)
    book.save(path)
    return path


def test_missing_credit_limit_stops(tmp_path):
    path = build(tmp_path / "customers.xlsx",
                 [["Customer ID", "Name", "Credit Lmt", "Email"], ["C1", "Ann", 120, "a@x"]])

    with pytest.raises(EngineError) as raised:
        read_sheet(path, customers_source())

    assert str(raised.value) == (
        "customers.xlsx › Customers: column 'Credit Limit' (credit_limit) not found in "
        "header row 1; headers found: Customer ID, Name, Credit Lmt, Email. Rename the "
        "column in the sheet or change 'credit_limit:' at rules/workbooks.yaml:79:21.")


def test_missing_email_warns(tmp_path):
    path = build(tmp_path / "customers.xlsx",
                 [["Customer ID", "Name", "Credit Limit", "Mail"], ["C1", "Ann", 120, "a@x"]])

    read = read_sheet(path, customers_source())

    assert [row.values.get("email") for row in read.rows] == [None]
    warnings = [f for f in read.findings if f.code == "header"]
    assert len(warnings) == 1
    assert warnings[0].severity is Severity.WARNING
    assert "column 'Email' (email) not found in header row 1" in warnings[0].message
    assert "email is read as empty" in warnings[0].message
    assert "change 'email:' at rules/workbooks.yaml:83:14" in warnings[0].fix


def test_informational_fields_are_known():
    for kind, names in INFORMATIONAL.items():
        for name in names:
            assert name in FIELDS[kind]
            assert name not in REQUIRED[kind]


def test_owned_column_added_finding(tmp_path):
    path = build(tmp_path / "customers.xlsx",
                 [["Customer ID", "Name", "Credit Limit", "Email"], ["C1", "Ann", 120, "a@x"]])

    read = read_sheet(path, customers_source({"exposure": "Exposure"}))

    added = [f for f in read.findings if f.code == "owned-column-added"]
    assert read.new_headers == {5: "Exposure"}
    assert len(added) == 1
    assert added[0].severity is Severity.INFO
    assert "'Exposure' in column E" in added[0].message


def test_owned_column_on_empty_sheet_silent(tmp_path):
    path = build(tmp_path / "customers.xlsx", [["Customer ID", "Name", "Credit Limit", "Email"]])

    read = read_sheet(path, customers_source({"exposure": "Exposure"}))

    assert read.new_headers == {5: "Exposure"}
    assert read.findings == []


def rename_header(path: Path, old: str, new: str) -> None:
    book = load_workbook(path)
    sheet = book.active
    for cell in sheet[1]:
        if cell.value == old:
            cell.value = new
    book.save(path)


def test_demo_renamed_limit_stops_pass(demo_project):
    rename_header(demo_project / "workbooks" / "customers.xlsx", "Credit Limit", "Credit Lmt")
    runner = CliRunner()

    checked = runner.invoke(cli, ["--project", str(demo_project), "check"])
    ran = runner.invoke(cli, ["--project", str(demo_project), "--as-of", "2013-06-03",
                              "once"])

    assert checked.exit_code == 1
    assert "column 'Credit Limit' (credit_limit) not found" in checked.output
    assert ran.exit_code == 1
    assert "change 'credit_limit:' at rules/workbooks.yaml:" in ran.output
