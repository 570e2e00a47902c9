"""Order of allocation and of index entries, conversion per amount, item objects."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

import pytest

from engine.findings import EngineError, Finding
from engine.ledger import OpenItem, SettledItem, build_ledger
from engine.model import Customer, Inputs, Order, Payment, RowRef

AS_OF = dt.date(2024, 3, 1)
D = Decimal


def usd(amount: Decimal, currency: str, ref: RowRef) -> Decimal:
    if currency != "USD":
        raise EngineError(Finding(str(ref), f"currency '{currency}' has no rate."))
    return amount


def invoice(row: int, customer: str, amount: str, due: dt.date, **extra) -> Order:
    return Order(
        order_id=f"ORD-{row}",
        customer_id=customer,
        order_date=due - dt.timedelta(days=30),
        amount=D(amount),
        currency=extra.pop("currency", "USD"),
        ref=RowRef("orders.xlsx", "Orders", row),
        invoice_id=extra.pop("invoice_id", f"INV-{row}"),
        invoice_date=due - dt.timedelta(days=30),
        due_date=due,
        **extra,
    )


def payment(row: int, customer: str, amount: str, paid: dt.date, **extra) -> Payment:
    return Payment(
        payment_id=f"PAY-{row}",
        customer_id=customer,
        payment_date=paid,
        amount=D(amount),
        currency=extra.pop("currency", "USD"),
        ref=RowRef("payments.xlsx", "Payments", row),
        **extra,
    )


def customer(customer_id: str, row: int) -> Customer:
    return Customer(
        customer_id, customer_id, RowRef("customers.xlsx", "Customers", row)
    )


def test_duplicate_number_goes_to_first_account():
    # C2's invoice comes first in the orders sheet, but C1 is first in the
    # customers sheet, so C1's invoice is the one the number names.
    orders = [
        invoice(2, "C2", "70.00", dt.date(2024, 2, 1), invoice_id="INV-9"),
        invoice(3, "C1", "40.00", dt.date(2024, 2, 1), invoice_id="INV-9"),
    ]
    payments = [payment(2, "C1", "40.00", dt.date(2024, 2, 5), reference="INV-9")]
    inputs = Inputs([customer("C1", 2), customer("C2", 3)], orders, payments)

    ledger = build_ledger(inputs, AS_OF, usd)

    assert [item.invoice_id for item in ledger.accounts["C1"].settled] == ["INV-9"]
    assert ledger.accounts["C2"].outstanding == D("70.00")
    assert [str(finding) for finding in ledger.findings] == [
        (
            "orders.xlsx › Orders › row 2: invoice number 'INV-9' is also on "
            "orders.xlsx › Orders › row 3. Payments that reference it go to the "
            "first of them. Give each invoice its own number."
        )
    ]


def test_duplicate_number_goes_to_earlier_due():
    orders = [
        invoice(2, "C1", "70.00", dt.date(2024, 2, 20), invoice_id="INV-9"),
        invoice(3, "C1", "40.00", dt.date(2024, 2, 1), invoice_id="inv-9"),
    ]
    payments = [payment(2, "C1", "40.00", dt.date(2024, 2, 5), reference="Inv-9")]

    ledger = build_ledger(Inputs([], orders, payments), AS_OF, usd)
    account = ledger.accounts["C1"]

    assert [item.invoice_id for item in account.settled] == ["inv-9"]
    assert [item.open_amount for item in account.open_items] == [D("70.00")]
    assert len(ledger.findings) == 1
    assert ledger.findings[0].where == "orders.xlsx › Orders › row 2"


def test_blank_invoice_number_is_not_a_key():
    orders = [
        invoice(2, "C1", "70.00", dt.date(2024, 2, 1), invoice_id="  "),
        invoice(3, "C1", "40.00", dt.date(2024, 2, 20)),
    ]
    payments = [payment(2, "C1", "40.00", dt.date(2024, 2, 5), reference="INV-3")]

    ledger = build_ledger(Inputs([], orders, payments), AS_OF, usd)
    account = ledger.accounts["C1"]

    assert [item.invoice_id for item in account.settled] == ["INV-3"]
    assert [item.invoice_id for item in account.open_items] == ["ORD-2"]
    assert ledger.findings == []


def test_credit_note_goes_before_payment_of_its_date():
    day = dt.date(2024, 1, 20)
    orders = [
        invoice(2, "C1", "50.00", dt.date(2024, 2, 1)),
        invoice(3, "C1", "30.00", dt.date(2024, 2, 10)),
        # A credit note invoiced on `day`, after the payment in row order.
        invoice(4, "C1", "-50.00", day + dt.timedelta(days=30)),
    ]
    payments = [payment(2, "C1", "30.00", day)]

    account = build_ledger(Inputs([], orders, payments), AS_OF, usd).accounts["C1"]

    assert [(item.invoice_id, item.settled_on) for item in account.settled] == [
        ("INV-2", day),
        ("INV-3", day),
    ]
    assert account.credit == D("0.00")


def test_payments_allocated_by_date_not_row():
    orders = [invoice(2, "C1", "50.00", dt.date(2024, 2, 1))]
    payments = [
        payment(2, "C1", "50.00", dt.date(2024, 2, 9)),
        payment(3, "C1", "50.00", dt.date(2024, 2, 3)),
    ]

    account = build_ledger(Inputs([], orders, payments), AS_OF, usd).accounts["C1"]

    assert [item.settled_on for item in account.settled] == [dt.date(2024, 2, 3)]
    assert account.credit == D("50.00")


def test_each_amount_converted_once():
    calls = []

    def to_base(amount: Decimal, currency: str, ref: RowRef) -> Decimal:
        calls.append((amount, currency))
        return usd(amount, currency, ref)

    orders = [invoice(row, "C1", "10.00", dt.date(2024, 2, 1)) for row in (2, 3, 4)]
    payments = [payment(row, "C1", "10.00", dt.date(2024, 2, 5)) for row in (2, 3)]

    ledger = build_ledger(Inputs([], orders, payments), AS_OF, to_base)

    assert calls == [(D("10.00"), "USD")]
    assert len(ledger.accounts["C1"].settled) == 2


def test_rejected_currency_reported_per_row():
    orders = [
        invoice(row, "C1", "10.00", dt.date(2024, 2, 1), currency="GBP")
        for row in (2, 3)
    ]

    ledger = build_ledger(Inputs([], orders, []), AS_OF, usd)

    assert [finding.where for finding in ledger.findings] == [
        "orders.xlsx › Orders › row 2",
        "orders.xlsx › Orders › row 3",
    ]


def test_items_stay_frozen_and_comparable():
    orders = [
        invoice(2, "C1", "50.00", dt.date(2024, 2, 1)),
        invoice(3, "C1", "30.00", dt.date(2024, 2, 10)),
    ]
    payments = [payment(2, "C1", "50.00", dt.date(2024, 2, 4))]

    account = build_ledger(Inputs([], orders, payments), AS_OF, usd).accounts["C1"]
    [open_item], [settled] = account.open_items, account.settled

    assert settled == SettledItem(
        "INV-2",
        "C1",
        dt.date(2024, 2, 1),
        dt.date(2024, 2, 4),
        3,
        dt.date(2024, 1, 2),
        D("50.00"),
    )
    assert open_item == OpenItem(
        orders[1],
        "INV-3",
        "C1",
        dt.date(2024, 2, 10),
        D("30.00"),
        D("30.00"),
        20,
        "overdue_1_30",
    )
    assert hash(settled) == hash(dataclasses.replace(settled))
    with pytest.raises(dataclasses.FrozenInstanceError):
        settled.days_late = 0
