"""Report rows written in blocks keep openpyxl's row numbers and bytes."""

from __future__ import annotations

import datetime as dt
import zipfile
from decimal import Decimal
from types import SimpleNamespace

import openpyxl
import pytest

from engine import report
from engine.aging import BUCKETS
from engine.model import Customer, RowRef

AS_OF = dt.date(2024, 3, 1)
D = Decimal


def open_item(number: int, amount: str, due: dt.date, bucket: str):
    return SimpleNamespace(
        order=SimpleNamespace(
            order_id=f"ORD-{number}", invoice_date=due - dt.timedelta(30)
        ),
        invoice_id=f"INV-{number}",
        due_date=due,
        amount=D(amount),
        open_amount=D(amount),
        days_overdue=max((AS_OF - due).days, 0),
        bucket=bucket,
    )


def book(customers: int):
    """Return ledger, customers, limits and salesperson limits of `customers` accounts.

    Figures include zeros of both signs, amounts past the cent and a credit balance,
    which the row writer formats without openpyxl's help.
    """
    accounts, rows, limits = {}, {}, {}
    for n in range(customers):
        cid = f"C{n:03d}"
        items = [
            open_item(
                n * 10 + k, f"{n}.{k}5", AS_OF - dt.timedelta(days=20 * k), BUCKETS[k]
            )
            for k in range(n % 4)
        ]
        buckets = {bucket: D("0.00") for bucket in BUCKETS}
        buckets["not_due"] = D("-0.00") if n % 3 == 0 else D(f"{n}.005")
        accounts[cid] = SimpleNamespace(
            outstanding=D(f"{n * 100}.10"),
            overdue=D("0.00"),
            buckets=buckets,
            credit=D("-5.00") if n % 5 == 0 else D("0.00"),
            pending=D(0),
            exposure=D(f"{n * 100 - 7}.25"),
            open_items=items,
        )
        rows[cid] = Customer(
            cid,
            f"Agency {n} & Söhne",
            RowRef("customers.xlsx", "Customers", n + 2),
            salesperson=("AKE", "BSO", None)[n % 3],
        )
        limits[cid] = D("1000") if n % 2 else None
    ledger = SimpleNamespace(accounts=accounts)
    return ledger, rows, limits, {"AKE": D("5000"), "BSO": None}


def sheets_of(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {
            name: archive.read(name)
            for name in archive.namelist()
            if name != "docProps/core.xml"  # contains the time of writing
        }


@pytest.mark.parametrize("block_rows", [1, 2, 3, 512])
def test_blocks_match_cell_writer(tmp_path, monkeypatch, block_rows):
    arguments = (*book(11), AS_OF, "EUR")
    monkeypatch.setattr(report, "BLOCK_ROWS", block_rows)
    report.write_report(tmp_path / "rows.xlsx", *arguments)
    with monkeypatch.context() as patch:
        patch.setattr(report, "_plain_rows", lambda rows, date_styles: False)
        report.write_report(tmp_path / "cells.xlsx", *arguments)

    fast = sheets_of(tmp_path / "rows.xlsx")
    slow = sheets_of(tmp_path / "cells.xlsx")
    assert fast.keys() == slow.keys()
    for name in slow:
        assert fast[name] == slow[name], name


def test_rows_after_blocks_keep_numbers(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "BLOCK_ROWS", 4)
    path = tmp_path / "report.xlsx"
    report.write_report(path, *book(10), AS_OF, "EUR")

    sheet = openpyxl.load_workbook(path)["By customer"]
    column = [row[0] for row in sheet.iter_rows(values_only=True)]
    assert column[0] == "Customer ID"
    assert column[1:11] == [f"C{n:03d}" for n in range(10)]
    assert column[11] == "Total"
    assert sheet.max_row == 12


def test_plain_rows_by_column_types():
    """A date outside a date-formatted column, or any other type, is not plain."""
    assert (
        report._plain_rows([(["x", D("1"), None, 2, 1.5], [None] * 5)], set()) is True
    )
    assert (
        report._plain_rows([([dt.date(2024, 1, 1), "x"], [None, None])], set()) is False
    )
    assert report._plain_rows([(["x", True], [None, None])], set()) is False
    assert report._plain_rows([(["x"], [None, None])], set()) is False
    assert report._plain_rows([(["=SUM(A1)"], [None])], set()) is False


TEXTS = [
    "Reisebüro Müller GmbH",
    "  Leading and trailing  ",
    'Tom & Jerry <Travel> "Ltd"',
    "",
    "=",
    "=SUM(A1)",
    "a =b",
    "#N/A",
    "x#y",
    "#hashtag",
    "line\nbreak",
    "tab\there",
    "bell\x07",
    "_x0041_",
    "no\u00a0break",
    "x" * 32767,
    "x" * 32768,
]


@pytest.mark.parametrize("text", TEXTS)
def test_plain_texts_agree_with_plain_cell(text):
    expected = report._plain_cell(text, False)
    assert report._plain_texts({text}) is expected
    assert report._plain_texts({text, "Plain name"}) is expected


def test_plain_texts_of_many():
    plain = {text for text in TEXTS if report._plain_cell(text, False)}
    assert report._plain_texts(plain) is True
    assert report._plain_texts(set(TEXTS)) is False
    assert report._plain_texts(set()) is True
