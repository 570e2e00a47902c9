"""Report cells with markup characters, emoji, Excel escapes and control characters.

Names come from the customers sheet as Excel shows them. The report must show the
same text in Excel's readers (python-calamine decodes `_xHHHH_` as Excel does), keep
numbers as numbers and dates as dates, and never fail on a character XML forbids.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import openpyxl
import pytest
from python_calamine import CalamineWorkbook

from engine.ledger import build_ledger
from engine.model import Customer, Inputs, Order, RowRef
from engine.report import write_report

AS_OF = dt.date(2024, 3, 1)
NAMES = {
    "C1": "Smith & Sons <Travel> \"Best\" 'Trips'",
    "C2": "Émile 😀 Voyages 🧳 & Co",
    "C3": "]]> <![CDATA[ x",
    "C4": "_x0041_ is not A",
    "C5": "Ctrl\x01char and \x1f",
    "C6": "=SUM(A1:A2)",
    "C7": "#N/A",
    "C8": "  padded  ",
    "C9": "Line\rbreak",
}


def customer(number: int, customer_id: str) -> Customer:
    ref = RowRef("customers.xlsx", "Customers", number + 1)
    return Customer(customer_id, NAMES[customer_id], ref, salesperson="S&P <1>")


def invoice(number: int, customer_id: str) -> Order:
    due = dt.date(2024, 1, 1) + dt.timedelta(days=number)
    return Order(
        order_id=f"ORD-{number}",
        customer_id=customer_id,
        order_date=due - dt.timedelta(days=30),
        amount=Decimal("100.25") + number,
        currency="USD",
        ref=RowRef("orders.xlsx", "Orders", number + 1),
        invoice_id=f"INV-{number}",
        invoice_date=due - dt.timedelta(days=30),
        due_date=due,
    )


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    ids = list(NAMES)
    customers = {key: customer(n, key) for n, key in enumerate(ids, start=1)}
    orders = [invoice(n, key) for n, key in enumerate(ids, start=1)]
    inputs = Inputs(customers=list(customers.values()), orders=orders, payments=[])
    ledger = build_ledger(inputs, AS_OF, lambda amount, currency, ref: amount)
    path = tmp_path_factory.mktemp("report") / "arrears-report.xlsx"
    limits = {key: Decimal(500) for key in ids}
    write_report(path, ledger, customers, limits, {}, AS_OF, "USD")
    return path


def calamine_rows(path, sheet: str) -> list[list]:
    return CalamineWorkbook.from_path(str(path)).get_sheet_by_name(sheet).to_python()


def test_names_read_back_by_calamine(report):
    rows = calamine_rows(report, "By customer")
    name_by_id = {row[0]: row[1] for row in rows[1:-1]}

    for customer_id, name in NAMES.items():
        assert name_by_id[customer_id] == name, customer_id


def test_open_items_names_read_back(report):
    rows = calamine_rows(report, "Open items")
    name_by_id = {row[0]: row[1] for row in rows[1:]}

    for customer_id, name in NAMES.items():
        assert name_by_id[customer_id] == name, customer_id


def test_salesperson_name_read_back(report):
    rows = calamine_rows(report, "By salesperson")

    assert [row[0] for row in rows[1:-1]] == ["S&P <1>"]


def test_formula_text_stays_text(report):
    book = openpyxl.load_workbook(report)
    cells = {row[0].value: row[1] for row in book["By customer"].iter_rows(min_row=2)}

    assert cells["C6"].data_type == "s"
    assert cells["C6"].value == "=SUM(A1:A2)"
    assert cells["C7"].data_type == "s"
    assert cells["C7"].value == "#N/A"


def test_numbers_and_dates_typed(report):
    book = openpyxl.load_workbook(report)
    header, *rows = list(book["Open items"].iter_rows(values_only=True))
    column = {name: index for index, name in enumerate(header)}
    calamine = calamine_rows(report, "Open items")[1:]

    items = [(row, read) for row, read in zip(rows, calamine) if row[0] in NAMES]
    assert len(items) == len(NAMES)
    for row, read in items:
        assert isinstance(row[column["Due Date"]], dt.datetime)
        assert isinstance(read[column["Due Date"]], dt.date)
        assert isinstance(row[column["Open Amount"]], int | float)
        assert isinstance(read[column["Open Amount"]], float)
    assert Decimal(str(calamine[0][column["Open Amount"]])) == Decimal("101.25")
