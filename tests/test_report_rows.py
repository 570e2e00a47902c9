"""The report's row writer gives the XML openpyxl's cell writer gives, byte for byte."""

from __future__ import annotations

import datetime as dt
import zipfile
from decimal import Decimal
from types import SimpleNamespace

import pytest

from engine import report
from engine.aging import BUCKETS
from engine.model import Customer, RowRef

AS_OF = dt.date(2024, 3, 1)
D = Decimal


def item(number: int, amount: str, due: dt.date | None, bucket: str, invoiced=True):
    return SimpleNamespace(
        order=SimpleNamespace(
            order_id=f"ORD-{number}",
            invoice_date=dt.date(2024, 1, 2) if invoiced else None,
        ),
        invoice_id=f"INV-{number}" if invoiced else None,
        due_date=due,
        amount=D(amount),
        open_amount=D(amount) / 3,
        days_overdue=(AS_OF - due).days if due else 0,
        bucket=bucket,
    )


def account(*items, exposure="10.005", credit="0"):
    buckets = {bucket: D(index) * D("1.115") for index, bucket in enumerate(BUCKETS)}
    return SimpleNamespace(
        outstanding=D("1234.565"),
        overdue=D("-0.005"),
        buckets=buckets,
        credit=D(credit),
        pending=D("0"),
        exposure=D(exposure),
        open_items=list(items),
    )


def customer(customer_id: str, name: str, salesperson: str | None, row: int):
    return Customer(
        customer_id,
        name,
        RowRef("customers.xlsx", "Customers", row),
        salesperson=salesperson,
    )


def sheets_of(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {
            name: archive.read(name)
            for name in archive.namelist()
            if name != "docProps/core.xml"  # contains the time of writing
        }


def both_ways(tmp_path, monkeypatch, ledger, customers, limits, salesperson_limits):
    """Write the report with the row writer, then with openpyxl's cell writer."""
    fast = tmp_path / "rows.xlsx"
    slow = tmp_path / "cells.xlsx"
    arguments = (ledger, customers, limits, salesperson_limits, AS_OF, "EUR")
    report.write_report(fast, *arguments)
    with monkeypatch.context() as patch:
        patch.setattr(report, "_plain_rows", lambda rows, date_styles: False)
        report.write_report(slow, *arguments)
    return sheets_of(fast), sheets_of(slow)


@pytest.fixture
def book():
    customers = {
        "C1": customer("C1", "Reisebüro Müller GmbH", "AKE", 2),
        "C2": customer("C2", "  Leading and trailing  ", "AKE", 3),
        "C3": customer("C3", "", None, 4),
        "C4": customer("C4", 'Tom & Jerry <Travel> "Ltd"', "BSO", 5),
    }
    ledger = SimpleNamespace(
        accounts={
            "C1": account(
                item(1, "100.10", dt.date(2024, 3, 10), "not_due"),
                item(2, "200.205", dt.date(2023, 12, 1), "overdue_61_90"),
            ),
            "C2": account(item(3, "19.99", None, "not_due", invoiced=False)),
            "C3": account(exposure="-50", credit="-50"),
            "C4": account(item(4, "1e3", dt.date(1900, 2, 1), "overdue_over_90")),
            "C9": account(),  # an account without a customer row
        }
    )
    limits = {"C1": D("1000"), "C2": None, "C3": D("0"), "C4": D("2500.5")}
    return ledger, customers, limits, {"AKE": D("5000"), "BSO": None}


def test_row_writer_matches_cell_writer(tmp_path, monkeypatch, book):
    ledger, customers, limits, _ = book
    report.write_report(
        tmp_path / "plain.xlsx", ledger, customers, limits, {}, AS_OF, "EUR"
    )
    with monkeypatch.context() as patch:
        patch.setattr(report, "_cells", None)  # every table takes the row writer
        report.write_report(tmp_path / "rows.xlsx", *book, AS_OF, "EUR")
    fast, slow = both_ways(tmp_path, monkeypatch, *book)
    assert fast.keys() == slow.keys()
    for name in slow:
        assert fast[name] == slow[name], name


def test_empty_ledger_matches_cell_writer(tmp_path, monkeypatch):
    ledger = SimpleNamespace(accounts={})
    fast, slow = both_ways(tmp_path, monkeypatch, ledger, {}, {}, {})
    assert fast == slow


@pytest.mark.parametrize("name", ['=HYPERLINK("x")', "#N/A", "x" * 40000])
def test_special_text_takes_cell_writer(tmp_path, monkeypatch, name):
    """Formulas, error codes and over-long text keep openpyxl's own handling, so
    the whole table goes through its cell writer."""
    customers = {"C1": customer("C1", name, "AKE", 2)}
    ledger = SimpleNamespace(accounts={"C1": account()})
    plain = [report._plain_cell(name, False)]
    assert plain == [False]
    fast, slow = both_ways(tmp_path, monkeypatch, ledger, customers, {}, {})
    assert fast == slow


def test_report_sheets_keep_their_formats(tmp_path, book):
    import openpyxl

    path = tmp_path / "report.xlsx"
    report.write_report(path, *book[:3], book[3], AS_OF, "EUR")
    workbook = openpyxl.load_workbook(path)
    sheet = workbook["Open items"]
    assert sheet["F2"].number_format == report.DATE_FORMAT
    assert sheet["H2"].number_format == report.MONEY_FORMAT
    assert sheet["A1"].font.bold
    assert workbook["By customer"]["O2"].number_format == report.PERCENT_FORMAT
    assert workbook["About"]["B1"].value == dt.datetime(2024, 3, 1)


TEXT_CHARACTERS = "aZ09 &<>\"'\r\n\t]]>é€😀\x7f\x85\u2028ß"


@pytest.mark.parametrize("seed", range(3))
def test_random_text_matches_cell_writer(tmp_path, monkeypatch, seed):
    """Names with markup, line ends, spaces and non-ASCII are escaped as lxml does."""
    import random

    chooser = random.Random(seed)
    customers = {}
    for number in range(40):
        length = chooser.randrange(0, 12)
        name = "".join(chooser.choice(TEXT_CHARACTERS) for _ in range(length))
        customers[f"C{number}"] = customer(f"C{number}", name, name or None, number)
    ledger = SimpleNamespace(
        accounts={
            customer_id: account(item(number, "12.345", dt.date(2024, 2, 1), "not_due"))
            for number, customer_id in enumerate(customers)
        }
    )
    fast, slow = both_ways(tmp_path, monkeypatch, ledger, customers, {}, {})
    assert fast == slow


@pytest.mark.parametrize("text", ["\ufffe", "a\ud800b"])
def test_text_lxml_refuses_takes_cell_writer(text):
    assert report._plain_cell(text, False) is False
