"""The ledger memo: a series of edited inputs gives build_ledger's figures and findings."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import replace
from decimal import ROUND_HALF_UP, Decimal

import pytest

from engine.findings import EngineError, Finding
from engine.ledger import build_ledger
from engine.ledger_memo import LedgerMemo
from engine.model import Customer, Inputs, Order, Payment, RowRef

AS_OF = dt.date(2024, 3, 1)
D = Decimal
RATES = {"EUR": D("1.1")}


def to_base_with(rates):
    def to_base(amount: Decimal, currency: str, ref: RowRef) -> Decimal:
        if currency == "USD":
            return amount
        if currency not in rates:
            raise EngineError(Finding(str(ref), f"currency '{currency}' has no rate.",
                                      code="currency-rate"))
        return (amount * rates[currency]).quantize(D("0.01"), rounding=ROUND_HALF_UP)

    return to_base


def customer(number: int) -> Customer:
    return Customer(f"C{number}", f"Customer {number}",
                    RowRef("customers.xlsx", "Customers", number + 1))


def random_order(rng: random.Random, row: int, customers: int) -> Order:
    """An invoice, a credit note, an approved or a new order, some with faults."""
    day = AS_OF - dt.timedelta(days=rng.randint(-20, 120))
    kind = rng.random()
    amount = D(rng.choice(["100.00", "250.50", "75.25", "1000.00", "12.34"]))
    invoiced = kind < 0.7
    if 0.6 < kind < 0.65:
        amount = -amount  # a credit note
    return Order(
        order_id=f"ORD-{row}",
        customer_id=f"C{rng.randrange(customers)}",
        order_date=day - dt.timedelta(days=10),
        amount=amount,
        currency=rng.choice(["USD"] * 8 + ["EUR", "XYZ"]),
        ref=RowRef("orders.xlsx", "Orders", row),
        invoice_id=f"INV-{row}" if invoiced else None,
        invoice_date=day if invoiced else None,
        due_date=(day + dt.timedelta(days=30)) if invoiced and rng.random() > 0.05
        else None,
        status="APPROVED" if not invoiced and rng.random() < 0.5 else None,
    )


def random_payment(rng: random.Random, row: int, orders: list[Order],
                   customers: int) -> Payment:
    """A payment naming an invoice, an order id, nothing, or an unknown reference."""
    target = rng.choice(orders)
    payer = target.customer_id if rng.random() < 0.85 else f"C{rng.randrange(customers)}"
    reference = rng.choice([target.invoice_id, target.order_id, None, "NOPE-1",
                            (target.invoice_id or "").lower()])
    return Payment(
        payment_id=f"PAY-{row}",
        customer_id=payer,
        payment_date=AS_OF - dt.timedelta(days=rng.randint(-10, 100)),
        amount=D(rng.choice(["50.00", "100.00", "250.50", "0.00", "-5.00", "400.00"])),
        currency=rng.choice(["USD"] * 9 + ["EUR"]),
        ref=RowRef("payments.xlsx", "Payments", row),
        reference=reference,
    )


def random_inputs(seed: int, customers: int = 12, orders: int = 80,
                  payments: int = 60) -> Inputs:
    rng = random.Random(seed)
    order_rows = [random_order(rng, row, customers) for row in range(2, orders + 2)]
    payment_rows = [random_payment(rng, row, order_rows, customers)
                    for row in range(2, payments + 2)]
    return Inputs(customers=[customer(n) for n in range(customers)],
                  orders=order_rows, payments=payment_rows)


def shown(ledger) -> str:
    """Everything the ledger holds, with each Decimal's exponent."""
    return repr((ledger.as_of, list(ledger.accounts.items()), ledger.findings))


def check(memo: LedgerMemo, inputs: Inputs, as_of=AS_OF, rates=None) -> None:
    rates = RATES if rates is None else rates
    to_base = to_base_with(rates)
    key = tuple(sorted(rates.items()))
    expected = shown(build_ledger(inputs, as_of, to_base))
    built = memo.build(inputs, as_of, to_base, key)
    assert shown(built) == expected
    # A pass adds its new approvals to the accounts it was given; the memo's stay.
    for account in built.accounts.values():
        account.pending += D("1000")
        account.open_items.clear()


def edited(inputs: Inputs, **lists) -> Inputs:
    return Inputs(customers=lists.get("customers", inputs.customers),
                  orders=lists.get("orders", inputs.orders),
                  payments=lists.get("payments", inputs.payments))


def replaced(rows: list, position: int, **changes) -> list:
    rows = list(rows)
    rows[position] = replace(rows[position], **changes)
    return rows


@pytest.mark.parametrize("seed", range(6))
def test_memo_equals_full_build_after_edits(seed):
    memo = LedgerMemo()
    inputs = random_inputs(seed)
    check(memo, inputs)
    check(memo, inputs)  # nothing changed: every account reused

    steps = [
        lambda i: edited(i, orders=replaced(i.orders, 5, amount=D("99999.00"))),
        lambda i: edited(i, orders=replaced(i.orders, 7, customer_id="C3")),  # moved
        lambda i: edited(i, orders=i.orders[:10] + i.orders[11:]),  # a deleted row
        lambda i: edited(i, payments=replaced(i.payments, 3, amount=D("1.00"))),
        lambda i: edited(i, payments=replaced(i.payments, 4, customer_id="C1")),
        lambda i: edited(i, payments=i.payments[:-1]),
        lambda i: edited(i, orders=replaced(i.orders, 20, status="APPROVED",
                                            invoice_id=None, invoice_date=None)),
        lambda i: edited(i, orders=i.orders[:30] + [i.orders[31], i.orders[30]]
                         + i.orders[32:]),  # out of row order
        lambda i: edited(i, orders=sorted(i.orders, key=lambda order: order.ref)),
        lambda i: edited(i, payments=replaced(i.payments, 6, customer_id="C99")),
        lambda i: edited(i, payments=replaced(i.payments, 6, customer_id="C2")),
        lambda i: edited(i, customers=i.customers[::-1]),  # another order of books
    ]
    for step in steps:
        inputs = step(inputs)
        check(memo, inputs)
    check(memo, inputs, as_of=AS_OF - dt.timedelta(days=40))  # another ledger date
    check(memo, inputs, rates={"EUR": D("1.2")})  # another rate
    check(memo, inputs, rates={"EUR": D("1.2"), "XYZ": D("0.5")})
    check(memo, inputs)


def test_reference_owner_change_rebuilds_payer():
    """A payment naming an order id goes elsewhere once another customer owns it."""
    orders = [
        Order("ORD-1", "C0", AS_OF - dt.timedelta(days=60), D("100.00"), "USD",
              RowRef("orders.xlsx", "Orders", 2), invoice_id="INV-1",
              invoice_date=AS_OF - dt.timedelta(days=60),
              due_date=AS_OF - dt.timedelta(days=30)),
        Order("ORD-2", "C1", AS_OF - dt.timedelta(days=50), D("80.00"), "USD",
              RowRef("orders.xlsx", "Orders", 3), invoice_id="INV-2",
              invoice_date=AS_OF - dt.timedelta(days=50),
              due_date=AS_OF - dt.timedelta(days=20)),
        Order("ORD-3", "C1", AS_OF - dt.timedelta(days=40), D("70.00"), "USD",
              RowRef("orders.xlsx", "Orders", 4), invoice_id="INV-3",
              invoice_date=AS_OF - dt.timedelta(days=40),
              due_date=AS_OF - dt.timedelta(days=10)),
    ]
    payments = [Payment("PAY-1", "C1", AS_OF - dt.timedelta(days=5), D("70.00"), "USD",
                        RowRef("payments.xlsx", "Payments", 2), reference="X-9")]
    inputs = Inputs(customers=[customer(0), customer(1)], orders=orders,
                    payments=payments)
    memo = LedgerMemo()
    check(memo, inputs)
    # C1's rows stay the same objects; C0's invoice now carries the referenced number,
    # so the payment of C1 no longer matches an unknown reference.
    inputs = edited(inputs, orders=replaced(orders, 0, invoice_id="X-9"))
    check(memo, inputs)
    # And C1's own invoice takes the number: the payment pays it.
    inputs = edited(inputs, orders=replaced(replaced(inputs.orders, 0, invoice_id="INV-1"),
                                            2, invoice_id="X-9"))
    check(memo, inputs)


def test_unprovable_inputs_build_in_full():
    memo = LedgerMemo()
    inputs = random_inputs(11)
    check(memo, inputs)
    # A customer missing from the customers sheet, and an invoice number used twice.
    check(memo, edited(inputs, orders=replaced(inputs.orders, 2, customer_id="C99")))
    assert memo.key is None
    twice = replaced(inputs.orders, 3, invoice_id=inputs.orders[1].invoice_id or "INV-2")
    twice = replaced(twice, 1, invoice_id=twice[3].invoice_id)
    check(memo, edited(inputs, orders=twice))
    check(memo, inputs)
    assert memo.key is not None


def test_unchanged_inputs_reuse_accounts(caplog):
    memo = LedgerMemo()
    inputs = random_inputs(3)
    check(memo, inputs)
    caplog.set_level("DEBUG", logger="engine.ledger_memo")
    check(memo, inputs)
    assert "0 of 12 accounts rebuilt" in caplog.text
    check(memo, edited(inputs, orders=replaced(inputs.orders, 0, amount=D("1.00"))))
    assert "1 of 12 accounts rebuilt" in caplog.text


def test_failed_build_leaves_empty_memo():
    memo = LedgerMemo()
    inputs = random_inputs(5)
    check(memo, inputs)

    def failing(amount, currency, ref):
        raise RuntimeError("rate service down")

    changed = edited(inputs, orders=replaced(inputs.orders, 0, amount=D("2.00")))
    with pytest.raises(RuntimeError):
        memo.build(changed, AS_OF, failing, tuple(sorted(RATES.items())))
    assert memo.kept == {}
    check(memo, changed)
