"""The ledger replayed on IBM's real receivables, checked against the CSV itself.

The expected figures come straight from the CSV: an invoice is open on D when
InvoiceDate <= D < SettledDate and overdue when it is open and DueDate < D.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest

from engine.ledger import build_ledger
from engine.model import Inputs, Order, Payment, RowRef

CSV_PATH = Path(__file__).parent / "data" / "ibm-accounts-receivable.csv"
AS_OF_DATES = [
    dt.date(2012, 1, 3),
    dt.date(2012, 2, 15),
    dt.date(2012, 3, 31),
    dt.date(2012, 5, 20),
    dt.date(2012, 7, 1),
    dt.date(2012, 8, 29),
    dt.date(2012, 10, 10),
    dt.date(2012, 12, 31),
    dt.date(2013, 2, 28),
    dt.date(2013, 4, 17),
    dt.date(2013, 6, 3),
    dt.date(2013, 8, 31),
    dt.date(2013, 10, 31),
    dt.date(2013, 12, 2),
    dt.date(2013, 12, 31),
]


def identity(amount: Decimal, currency: str, ref: RowRef) -> Decimal:
    return amount


def us_date(text: str) -> dt.date:
    month, day, year = (int(part) for part in text.split("/"))
    return dt.date(year, month, day)


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    with CSV_PATH.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def inputs(rows) -> Inputs:
    orders = []
    payments = []
    for number, row in enumerate(rows, start=2):
        invoice_date = us_date(row["InvoiceDate"])
        orders.append(
            Order(
                order_id=f"ORD-{row['invoiceNumber']}",
                customer_id=row["customerID"],
                order_date=invoice_date,
                amount=Decimal(row["InvoiceAmount"]),
                currency="USD",
                ref=RowRef("orders.xlsx", "Orders", number),
                invoice_id=row["invoiceNumber"],
                invoice_date=invoice_date,
                due_date=us_date(row["DueDate"]),
            )
        )
        payments.append(
            Payment(
                payment_id=f"PAY-{row['invoiceNumber']}",
                customer_id=row["customerID"],
                payment_date=us_date(row["SettledDate"]),
                amount=Decimal(row["InvoiceAmount"]),
                currency="USD",
                ref=RowRef("payments.xlsx", "Payments", number),
                reference=row["invoiceNumber"],
            )
        )
    return Inputs(orders=orders, payments=payments)


def expected_figures(rows, as_of: dt.date) -> dict[str, dict[str, Decimal]]:
    """Per customer: outstanding, overdue and the five aging buckets from the CSV."""
    figures: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for row in rows:
        invoice_date = us_date(row["InvoiceDate"])
        due_date = us_date(row["DueDate"])
        settled_date = us_date(row["SettledDate"])
        if not invoice_date <= as_of < settled_date:
            continue
        amount = Decimal(row["InvoiceAmount"])
        late = (as_of - due_date).days
        if late <= 0:
            bucket = "not_due"
        elif late <= 30:
            bucket = "overdue_1_30"
        elif late <= 60:
            bucket = "overdue_31_60"
        elif late <= 90:
            bucket = "overdue_61_90"
        else:
            bucket = "overdue_over_90"
        customer = figures[row["customerID"]]
        customer["outstanding"] += amount
        customer[bucket] += amount
        if due_date < as_of:
            customer["overdue"] += amount
    return figures


@pytest.mark.parametrize("as_of", AS_OF_DATES, ids=str)
def test_ibm_figures_match_csv(rows, inputs, as_of):
    ledger = build_ledger(inputs, as_of, identity)
    expected = expected_figures(rows, as_of)

    assert ledger.findings == []
    customers = {row["customerID"] for row in rows}
    for customer_id in customers:
        account = ledger.account(customer_id)
        want = expected.get(customer_id, {})
        assert account.outstanding == want.get("outstanding", 0), customer_id
        assert account.overdue == want.get("overdue", 0), customer_id
        for bucket, amount in account.buckets.items():
            assert amount == want.get(bucket, 0), (customer_id, bucket)
        assert account.credit == 0, customer_id
        assert account.exposure == account.outstanding, customer_id


def test_ibm_open_item_count(rows, inputs):
    as_of = dt.date(2013, 6, 3)
    ledger = build_ledger(inputs, as_of, identity)
    open_count = sum(
        1
        for row in rows
        if us_date(row["InvoiceDate"]) <= as_of < us_date(row["SettledDate"])
    )

    items = [
        item for account in ledger.accounts.values() for item in account.open_items
    ]
    assert len(items) == open_count
    assert all(item.open_amount == item.amount for item in items)


def test_ibm_days_late_match_csv(rows, inputs):
    ledger = build_ledger(inputs, dt.date(2014, 12, 31), identity)
    settled = {
        item.invoice_id: item
        for account in ledger.accounts.values()
        for item in account.settled
    }

    assert len(settled) == len(rows) == 2466
    for row in rows:
        item = settled[row["invoiceNumber"]]
        assert item.days_late == int(row["DaysLate"]), row["invoiceNumber"]
        days_to_settle = (item.settled_on - item.invoice_date).days
        assert days_to_settle == int(row["DaysToSettle"]), row["invoiceNumber"]
