"""How the ledger matches payment references and orders items of equal dates."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import pytest

from engine.ledger import _normalise, build_ledger
from engine.model import Inputs, Order, Payment, RowRef

AS_OF = dt.date(2024, 3, 1)
DUE = dt.date(2024, 1, 31)

SAMPLES = ["INV-1", "inv-1", " Inv-1 ", "straße", "STRASSE", "Strasse", "\u212a",
           "k", "K", "İ", "i\u0307", "ﬁ", "FI", "ς", "σ", "Σ", "Ω", "\u2126",
           "", "  ", None, "12345", "abc é", "ABC É"]


@pytest.mark.parametrize(("first", "second"), list(itertools.product(SAMPLES, SAMPLES)))
def test_keys_equal_when_casefolds_equal(first, second):
    folded = [(text or "").strip().casefold() for text in (first, second)]

    assert (_normalise(first) == _normalise(second)) == (folded[0] == folded[1])


def test_capital_id_is_its_own_key():
    invoice_id = "".join(["INV-", "0000001"])

    assert _normalise(invoice_id) is invoice_id


def usd(amount, currency, ref):
    return amount


def order(number: int) -> Order:
    return Order(
        order_id=f"ORD-{number}", customer_id="C1", order_date=DUE, amount=Decimal(100),
        currency="USD", ref=RowRef("orders.xlsx", "Orders", number + 1),
        invoice_id=f"INV-{number}", invoice_date=DUE - dt.timedelta(days=30),
        due_date=DUE,
    )


def test_equal_dates_paid_in_row_order():
    orders = [order(number) for number in (1, 2, 3)]
    payment = Payment(payment_id="PAY-1", customer_id="C1", payment_date=DUE,
                      amount=Decimal(150), currency="USD",
                      ref=RowRef("payments.xlsx", "Payments", 2))

    ledger = build_ledger(Inputs(orders=orders, payments=[payment]), AS_OF, usd)
    account = ledger.accounts["C1"]

    assert [item.invoice_id for item in account.settled] == ["INV-1"]
    assert [item.invoice_id for item in account.open_items] == ["INV-2", "INV-3"]
    assert account.open_items[0].open_amount == Decimal(50)
