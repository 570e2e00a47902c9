"""Payment references in other case or spacing, or of another customer's invoice."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from engine.ledger import build_ledger
from engine.model import Customer, Inputs, Order, Payment, RowRef

AS_OF = dt.date(2013, 6, 3)


def to_base(amount, currency, ref):
    return (
        amount
        if currency == "USD"
        else (amount * Decimal("1.08")).quantize(Decimal("0.01"))
    )


def order(row, customer, invoice, amount="100"):
    return Order(
        f"ORD-{row}",
        customer,
        dt.date(2013, 1, row),
        Decimal(amount),
        "USD",
        RowRef("orders.xlsx", "Orders", row),
        invoice_id=invoice,
        invoice_date=dt.date(2013, 1, row),
        due_date=dt.date(2013, 2, row),
    )


def payment(row, customer, reference, amount="100", day=dt.date(2013, 5, 1)):
    return Payment(
        f"P{row}",
        customer,
        day,
        Decimal(amount),
        "USD",
        RowRef("payments.xlsx", "Payments", row),
        reference=reference,
    )


def ledger(orders, payments):
    customers = [
        Customer(cid, cid, RowRef("customers.xlsx", "Customers", n))
        for n, cid in enumerate(("C1", "C2"), start=2)
    ]
    return build_ledger(Inputs(customers, orders, payments), AS_OF, to_base)


def test_reference_in_other_case_pays_that_invoice():
    orders = [order(2, "C1", "Inv-1"), order(3, "C1", "INV-2")]
    built = ledger(orders, [payment(2, "C1", "  inv-2 ")])

    account = built.account("C1")
    assert [item.invoice_id for item in account.settled] == ["INV-2"]
    assert [item.invoice_id for item in account.open_items] == ["Inv-1"]
    assert built.findings == []


def test_reference_to_other_customer_pays_own_oldest_item():
    orders = [order(2, "C1", "INV-1"), order(3, "C2", "INV-2")]
    built = ledger(orders, [payment(2, "C1", "INV-2", "150")])

    assert [item.invoice_id for item in built.account("C1").settled] == ["INV-1"]
    assert built.account("C1").credit == Decimal("50.00")
    assert built.account("C2").outstanding == Decimal("100.00")
    assert [f.code for f in built.findings] == ["ledger-reference-other-customer"]


def test_late_payment_ignored_credit_note_allocated():
    orders = [order(2, "C1", "INV-1"), order(3, "C1", "CN-1", "-30")]
    built = ledger(orders, [payment(2, "C1", "INV-1", "100", dt.date(2013, 6, 4))])

    assert built.account("C1").outstanding == Decimal("70.00")
    assert built.account("C1").credit == Decimal(0)
