"""Payment allocation, aging, credit, pending exposure and payment history."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal

import pytest

from engine.findings import EngineError, Finding
from engine.ledger import average_days_late, build_ledger, late_payments
from engine.model import Customer, Inputs, Order, Payment, RowRef

AS_OF = dt.date(2024, 3, 1)
D = Decimal


def identity(amount: Decimal, currency: str, ref: RowRef) -> Decimal:
    if currency != "USD":
        raise EngineError(Finding(str(ref), f"currency '{currency}' has no rate."))
    return amount


def invoice(number: int, customer: str, amount: str, due: dt.date, **extra) -> Order:
    return Order(
        order_id=f"ORD-{number}",
        customer_id=customer,
        order_date=due - dt.timedelta(days=30),
        amount=D(amount),
        currency=extra.pop("currency", "USD"),
        ref=RowRef("orders.xlsx", "Orders", number + 1),
        invoice_id=f"INV-{number}",
        invoice_date=due - dt.timedelta(days=30),
        due_date=due,
        **extra,
    )


def payment(
    number: int,
    customer: str,
    amount: str,
    paid: dt.date,
    reference=None,
    currency: str = "USD",
) -> Payment:
    return Payment(
        payment_id=f"PAY-{number}",
        customer_id=customer,
        payment_date=paid,
        amount=D(amount),
        currency=currency,
        ref=RowRef("payments.xlsx", "Payments", number + 1),
        reference=reference,
    )


def ledger_of(orders, payments, to_base=identity, as_of=AS_OF, customers=()):
    return build_ledger(
        Inputs(customers=list(customers), orders=orders, payments=payments),
        as_of,
        to_base,
    )


def open_amounts(account) -> dict[str, Decimal]:
    return {item.invoice_id: item.open_amount for item in account.open_items}


def test_referenced_payment_pays_named_invoice():
    orders = [
        invoice(1, "C1", "100.00", dt.date(2024, 1, 10)),
        invoice(2, "C1", "50.00", dt.date(2024, 2, 10)),
    ]
    payments = [payment(1, "C1", "50.00", dt.date(2024, 2, 1), reference=" inv-2 ")]

    account = ledger_of(orders, payments).account("C1")

    assert open_amounts(account) == {"INV-1": D("100.00")}
    assert account.settled[0].invoice_id == "INV-2"
    assert account.settled[0].settled_on == dt.date(2024, 2, 1)
    assert account.settled[0].days_late == 0


def test_reference_matches_order_id():
    orders = [
        invoice(1, "C1", "100.00", dt.date(2024, 1, 10)),
        invoice(2, "C1", "50.00", dt.date(2024, 2, 10)),
    ]
    payments = [payment(1, "C1", "50.00", dt.date(2024, 2, 1), reference="ord-2")]

    account = ledger_of(orders, payments).account("C1")

    assert open_amounts(account) == {"INV-1": D("100.00")}


def test_unreferenced_payment_pays_oldest():
    orders = [
        invoice(1, "C1", "80.00", dt.date(2024, 2, 10)),
        invoice(2, "C1", "60.00", dt.date(2024, 1, 10)),
        invoice(3, "C1", "40.00", dt.date(2024, 3, 10)),
    ]
    payments = [payment(1, "C1", "100.00", dt.date(2024, 2, 20))]

    ledger = ledger_of(orders, payments)
    account = ledger.account("C1")

    assert ledger.findings == []
    assert open_amounts(account) == {"INV-1": D("40.00"), "INV-3": D("40.00")}
    assert account.outstanding == D("80.00")
    assert account.settled[0].invoice_id == "INV-2"
    assert account.settled[0].days_late == 41


def test_partial_payment_leaves_rest_open():
    orders = [invoice(1, "C1", "100.00", dt.date(2024, 2, 10))]
    payments = [
        payment(1, "C1", "30.00", dt.date(2024, 2, 1), reference="INV-1"),
        payment(2, "C1", "25.50", dt.date(2024, 2, 5), reference="INV-1"),
    ]

    account = ledger_of(orders, payments).account("C1")

    assert open_amounts(account) == {"INV-1": D("44.50")}
    assert account.open_items[0].amount == D("100.00")
    assert account.overdue == D("44.50")
    assert account.buckets["overdue_1_30"] == D("44.50")
    assert account.settled == []


def test_overpayment_becomes_credit():
    orders = [
        invoice(1, "C1", "100.00", dt.date(2024, 2, 10)),
        Order(
            "ORD-9",
            "C1",
            dt.date(2024, 2, 28),
            D("70.00"),
            "USD",
            RowRef("orders.xlsx", "Orders", 20),
            status="APPROVED",
        ),
    ]
    payments = [payment(1, "C1", "130.00", dt.date(2024, 2, 1), reference="INV-1")]

    account = ledger_of(orders, payments).account("C1")

    assert account.outstanding == D("0")
    assert account.credit == D("30.00")
    assert account.pending == D("70.00")
    assert account.exposure == D("40.00")


def test_credit_pays_later_invoice():
    orders = [
        invoice(1, "C1", "100.00", dt.date(2024, 1, 10)),
        invoice(2, "C1", "50.00", dt.date(2024, 3, 20)),
    ]
    payments = [payment(1, "C1", "120.00", dt.date(2023, 12, 20), reference="INV-1")]

    account = ledger_of(orders, payments).account("C1")

    assert open_amounts(account) == {"INV-2": D("30.00")}
    assert account.credit == D("0")


def test_unknown_reference_pays_oldest_with_finding():
    orders = [invoice(1, "C1", "100.00", dt.date(2024, 2, 10))]
    payments = [payment(1, "C1", "40.00", dt.date(2024, 2, 1), reference="INV-404")]

    ledger = ledger_of(orders, payments)

    assert open_amounts(ledger.account("C1")) == {"INV-1": D("60.00")}
    assert [f.code for f in ledger.findings] == ["ledger-unknown-reference"]
    assert ledger.findings[0].where == "payments.xlsx › Payments › row 2"
    assert ledger.findings[0].message == (
        "payment reference 'INV-404' matches no invoice or order. "
        "The payment goes to the customer's oldest open items."
    )


def test_other_customers_invoice_is_not_paid():
    orders = [
        invoice(1, "C1", "100.00", dt.date(2024, 2, 10)),
        invoice(2, "C2", "100.00", dt.date(2024, 2, 10)),
    ]
    payments = [payment(1, "C2", "100.00", dt.date(2024, 2, 1), reference="INV-1")]

    ledger = ledger_of(orders, payments)

    assert open_amounts(ledger.account("C1")) == {"INV-1": D("100.00")}
    assert open_amounts(ledger.account("C2")) == {}
    assert [f.code for f in ledger.findings] == ["ledger-reference-other-customer"]
    assert "invoice of customer C1, not of C2" in ledger.findings[0].message


def test_fx_conversion_via_to_base():
    rates = {"USD": D("1"), "EUR": D("1.10")}

    def to_base(amount: Decimal, currency: str, ref: RowRef) -> Decimal:
        return amount * rates[currency]

    orders = [invoice(1, "C1", "100.00", dt.date(2024, 2, 10), currency="EUR")]
    payments = [
        payment(
            1, "C1", "50.00", dt.date(2024, 2, 1), reference="INV-1", currency="EUR"
        )
    ]

    account = ledger_of(orders, payments, to_base).account("C1")

    assert str(account.open_items[0].amount) == "110.00"
    assert str(account.outstanding) == "55.00"


def test_fx_amounts_rounded_to_cent():
    def to_base(amount: Decimal, currency: str, ref: RowRef) -> Decimal:
        return amount * D("1.0837")

    orders = [
        invoice(1, "C1", "10.05", dt.date(2024, 2, 10), currency="EUR"),
        invoice(2, "C1", "20.05", dt.date(2024, 2, 10), currency="EUR"),
    ]

    account = ledger_of(orders, [], to_base).account("C1")

    assert [item.amount for item in account.open_items] == [D("10.89"), D("21.73")]
    assert account.outstanding == D("32.62")


def test_unknown_currency_is_left_out_with_finding():
    orders = [
        invoice(1, "C1", "100.00", dt.date(2024, 2, 10), currency="GBP"),
        invoice(2, "C1", "20.00", dt.date(2024, 2, 10)),
    ]

    ledger = ledger_of(orders, [])

    assert open_amounts(ledger.account("C1")) == {"INV-2": D("20.00")}
    assert [str(f) for f in ledger.findings] == [
        "orders.xlsx › Orders › row 2: currency 'GBP' has no rate."
    ]


def test_rows_after_as_of_do_not_exist():
    orders = [
        invoice(1, "C1", "100.00", dt.date(2024, 3, 10)),  # invoiced 2024-02-09
        invoice(2, "C1", "40.00", dt.date(2024, 4, 10)),  # invoiced 2024-03-11
    ]
    payments = [payment(1, "C1", "100.00", dt.date(2024, 3, 5), reference="INV-1")]

    account = ledger_of(orders, payments).account("C1")

    assert open_amounts(account) == {"INV-1": D("100.00")}
    assert account.pending == D("0")


@pytest.mark.parametrize(
    ("due", "bucket", "days"),
    [
        (dt.date(2024, 3, 1), "not_due", 0),
        (dt.date(2024, 2, 29), "overdue_1_30", 1),
        (dt.date(2024, 1, 31), "overdue_1_30", 30),
        (dt.date(2024, 1, 30), "overdue_31_60", 31),
        (dt.date(2024, 1, 1), "overdue_31_60", 60),
        (dt.date(2023, 12, 31), "overdue_61_90", 61),
        (dt.date(2023, 12, 2), "overdue_61_90", 90),
        (dt.date(2023, 12, 1), "overdue_over_90", 91),
    ],
)
def test_aging_bucket_edges(due, bucket, days):
    account = ledger_of([invoice(1, "C1", "10.00", due)], []).account("C1")

    assert account.open_items[0].days_overdue == days
    assert account.open_items[0].bucket == bucket
    assert account.buckets[bucket] == D("10.00")
    assert account.overdue == (D("10.00") if days else D("0"))


def test_pending_counts_only_approved_uninvoiced():
    ref = RowRef("orders.xlsx", "Orders", 5)
    orders = [
        Order("A", "C1", dt.date(2024, 2, 1), D("10"), "USD", ref, status=" approved "),
        Order("B", "C1", dt.date(2024, 2, 1), D("20"), "USD", ref, status="BLOCKED"),
        Order("C", "C1", dt.date(2024, 2, 1), D("40"), "USD", ref),
        Order("D", "C1", dt.date(2024, 3, 2), D("80"), "USD", ref, status="APPROVED"),
    ]

    account = ledger_of(orders, []).account("C1")

    assert account.pending == D("10")
    assert account.exposure == D("10")


def test_credit_note_reduces_outstanding():
    orders = [
        invoice(1, "C1", "100.00", dt.date(2024, 2, 10)),
        invoice(2, "C1", "-30.00", dt.date(2024, 2, 20)),
    ]

    account = ledger_of(orders, []).account("C1")

    assert open_amounts(account) == {"INV-1": D("70.00")}


def test_unknown_customer_gets_empty_account():
    ledger = ledger_of([], [], customers=[Customer("C7", "Seven", RowRef("c", "C", 2))])

    assert "C7" in ledger.accounts
    assert ledger.account("C404").exposure == D("0")
    assert ledger.account("C404").buckets["not_due"] == D("0")


def test_payment_history_helpers():
    orders = [
        invoice(1, "C1", "10.00", dt.date(2024, 1, 1)),
        invoice(2, "C1", "10.00", dt.date(2024, 1, 15)),
        invoice(3, "C1", "10.00", dt.date(2024, 2, 1)),
        invoice(4, "C1", "10.00", dt.date(2023, 6, 1)),
    ]
    payments = [
        payment(1, "C1", "10.00", dt.date(2024, 2, 10), reference="INV-1"),  # 40 late
        payment(2, "C1", "10.00", dt.date(2024, 1, 25), reference="INV-2"),  # 10 late
        payment(3, "C1", "10.00", dt.date(2024, 1, 20), reference="INV-3"),  # on time
        payment(4, "C1", "10.00", dt.date(2023, 9, 1), reference="INV-4"),  # 92 late
    ]

    account = ledger_of(orders, payments).account("C1")

    assert late_payments(account, AS_OF, min_days_late=0, within_days=90) == 2
    assert late_payments(account, AS_OF, min_days_late=30, within_days=90) == 1
    assert late_payments(account, AS_OF, min_days_late=30, within_days=365) == 2
    assert late_payments(account, AS_OF, min_days_late=40, within_days=90) == 0
    assert average_days_late(account, AS_OF, within_days=90) == D("16.67")
    assert average_days_late(account, AS_OF, within_days=10) == D("0")


def test_duplicate_invoice_number_finding():
    orders = [
        invoice(1, "C1", "100.00", dt.date(2024, 2, 10)),
        replace(invoice(2, "C1", "50.00", dt.date(2024, 2, 20)), invoice_id="inv-1 "),
    ]
    payments = [payment(1, "C1", "100.00", dt.date(2024, 2, 1), reference="INV-1")]

    ledger = ledger_of(orders, payments)

    assert open_amounts(ledger.account("C1")) == {"inv-1": D("50.00")}
    assert [str(f) for f in ledger.findings] == [
        (
            "orders.xlsx › Orders › row 3: invoice number 'inv-1 ' is also on "
            "orders.xlsx › Orders › row 2. Payments that reference it go to the "
            "first of them. Give each invoice its own number."
        )
    ]
