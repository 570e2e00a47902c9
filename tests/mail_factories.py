"""Rules, customers and ledgers for the mail tests, built in code."""

from __future__ import annotations

import dataclasses
import datetime as dt
import sqlite3
from decimal import Decimal
from pathlib import Path

from engine.ledger import build_ledger
from engine.mail.ledger import SENT, SendLedger
from engine.mail.letter import REMINDER, Letter
from engine.model import Customer, Inputs, Order, Payment, RowRef
from engine.rules.model import Contacts, DunningLevel, RuleSet
from engine.state import open_state

AS_OF = dt.date(2024, 6, 30)
FX = {"EUR": Decimal(1), "USD": Decimal("0.9"), "JPY": Decimal("0.006")}


def levels(repeat: int | None = None) -> tuple[DunningLevel, ...]:
    return (
        DunningLevel(
            1,
            "friendly",
            7,
            20,
            "reminder_level1",
            ("customer",),
            repeat,
            "rules/mail.yaml:3",
        ),
        DunningLevel(
            2,
            "second",
            21,
            44,
            "reminder_level2",
            ("customer", "salesperson"),
            repeat,
            "rules/mail.yaml:5",
        ),
        DunningLevel(
            3,
            "final",
            45,
            None,
            "reminder_level3",
            ("customer", "finance"),
            repeat,
            "rules/mail.yaml:7",
        ),
    )


def make_rules(**changes) -> RuleSet:
    rules = RuleSet(
        base_currency="EUR",
        timezone="Europe/Berlin",
        rating_bands=(),
        default_rating=None,
        adjustments=(),
        salesperson_limits=(),
        warning_threshold=Decimal("0.8"),
        decision_rules=(),
        default_outcome="approve",
        dunning_levels=levels(),
        quiet_days=7,
        promise_grace_days=3,
        fx_rates=dict(FX),
        approvers=(),
        contacts=Contacts(
            finance=("finance@agency.test",),
            managers=("manager@agency.test",),
            salespeople={"S01": "s01@agency.test", "S02": "s02@agency.test"},
            sender="Buchhaltung Nordlicht Reisebüro <buchhaltung@example.test>",
        ),
    )
    return dataclasses.replace(rules, **changes)


def customer(customer_id: str, row: int, **fields) -> Customer:
    values = dict(
        name=f"Company {customer_id}",
        contact=f"Contact {customer_id}",
        salutation="Dear",
        email=f"{customer_id.lower()}@example.test",
        language="en",
        currency="EUR",
        salesperson="S01",
    )
    values.update(fields)
    return Customer(
        customer_id=customer_id,
        ref=RowRef("customers.xlsx", "Customers", row),
        **values,
    )


def invoice(
    order_id: str,
    customer_id: str,
    amount: str,
    due: dt.date,
    row: int,
    currency: str = "EUR",
    invoice_id: str | None = None,
    **fields,
) -> Order:
    return Order(
        order_id=order_id,
        customer_id=customer_id,
        order_date=due - dt.timedelta(days=40),
        amount=Decimal(amount),
        currency=currency,
        ref=RowRef("orders.xlsx", "Orders", row),
        invoice_id=invoice_id or f"INV-{order_id}",
        invoice_date=due - dt.timedelta(days=30),
        due_date=due,
        **fields,
    )


def payment(
    payment_id: str,
    customer_id: str,
    amount: str,
    on: dt.date,
    reference: str,
    row: int,
    **fields,
) -> Payment:
    return Payment(
        payment_id=payment_id,
        customer_id=customer_id,
        payment_date=on,
        amount=Decimal(amount),
        currency="EUR",
        ref=RowRef("payments.xlsx", "Payments", row),
        reference=reference,
        **fields,
    )


def to_base(amount: Decimal, currency: str, ref: RowRef) -> Decimal:
    return amount * FX[currency]


def ledger_for(customers, orders, payments=(), as_of: dt.date = AS_OF):
    inputs = Inputs(
        customers=list(customers), orders=list(orders), payments=list(payments)
    )
    return build_ledger(inputs, as_of, to_base)


def send_ledger(path: Path) -> SendLedger:
    return SendLedger(open_state(path))


def memory_send_ledger() -> SendLedger:
    return SendLedger(sqlite3.connect(":memory:", isolation_level=None))


def templates_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "templates"


def record_sent_reminder(
    sent: SendLedger, customer_id: str, as_of: dt.date, level: int = 1
) -> None:
    """Record in the send ledger that a reminder reached the customer on `as_of`."""
    earlier = Letter(
        kind=REMINDER,
        template=f"reminder_level{level}",
        as_of=as_of,
        recipient_id=customer_id,
        to=(f"{customer_id.lower()}@example.test",),
        language="en",
        level=level,
    )
    sent.begin(earlier, earlier.message_id("ar@agency.test"), b"")
    sent.finish(earlier.key, SENT)
