"""Customer limit amounts derived once per distinct input equal customer_limit's."""

from __future__ import annotations

import datetime as dt
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from engine.decide import customer_fields, customer_limit, customer_limit_amounts
from engine.ledger import build_ledger
from engine.model import Customer, Inputs, Order, Payment, RowRef
from engine.rules import limits as limits_module
from engine.rules.check import load_rules
from engine.rules.limits import LimitAmounts, adjustment_fields

REPO = Path(__file__).resolve().parent.parent
RULES = REPO / "tests" / "data" / "rules"
AS_OF = dt.date(2024, 5, 1)
D = Decimal

# A second adjustment that reads two more fields than the shipped 'slow payer'.
LONG_OVERDUE = """  - name: long overdue
    when: days_overdue > 30 and exposure > 1000
    factor: 0.8
"""


def project_with(tmp_path: Path, *, adjustment: str = "", hold: bool = False) -> Path:
    shutil.copytree(RULES, tmp_path / "rules")
    folder = tmp_path / "templates" / "en"
    folder.mkdir(parents=True)
    for level in (1, 2, 3):
        (folder / f"reminder_level{level}.txt.j2").write_text("x\n")
    credit = tmp_path / "rules" / "credit.yaml"
    text = credit.read_text()
    if adjustment:
        text = text.replace(
            "limit_adjustments:\n", "limit_adjustments:\n" + adjustment, 1
        )
    if hold:
        text = text.replace("default_rating: C ", "default_rating: hold ", 1)
    credit.write_text(text)
    return tmp_path


def customer(cid: str, row: int, rating: str | None = "B", **kw) -> Customer:
    return Customer(
        cid,
        f"Customer {cid}",
        RowRef("customers.xlsx", "Customers", row),
        rating=rating,
        salesperson="AKE",
        **kw,
    )


def invoice(oid: str, cid: str, amount: str, row: int, due: dt.date) -> Order:
    return Order(
        oid,
        cid,
        due - dt.timedelta(days=30),
        D(amount),
        "USD",
        RowRef("orders.xlsx", "Orders", row),
        invoice_id="I" + oid,
        invoice_date=due - dt.timedelta(days=30),
        due_date=due,
    )


def paid_late(
    cid: str, count: int, first_row: int
) -> tuple[list[Order], list[Payment]]:
    """Return `count` invoices of 100 due 100 days ago and paid 40 days late."""
    orders, payments = [], []
    for number in range(count):
        oid = f"{cid}-L{number}"
        orders.append(
            invoice(oid, cid, "100", first_row + number, AS_OF - dt.timedelta(days=100))
        )
        payments.append(
            Payment(
                f"{cid}-P{number}",
                cid,
                AS_OF - dt.timedelta(days=60),
                D("100"),
                "USD",
                RowRef("payments.xlsx", "Payments", first_row + number),
                reference="I" + oid,
            )
        )
    return orders, payments


def book() -> Inputs:
    """Customers that cover each way a limit is derived, several of them alike."""
    customers = [
        customer("T1", 2, credit_limit=D("500"), currency="USD"),
        customer("T2", 3, credit_limit=D("500"), currency="USD"),
        customer("T3", 4, credit_limit=D("1000"), currency="EUR"),
        customer("T4", 5, credit_limit=D("1000"), currency="GBP"),  # no rate
        customer("R1", 6, rating="A"),
        customer("R2", 7, rating="b"),
        customer("R3", 8, rating="B"),
        customer("R4", 9, rating="Z"),  # unknown: default rating
        customer("R5", 10, rating=None),
        customer("S1", 11, rating="B"),  # slow payer
        customer("S2", 12, rating="B"),  # slow payer
        customer("S3", 13, rating="A"),  # two late payments only
        customer("O1", 14, rating="B"),  # long overdue with exposure
    ]
    orders: list[Order] = []
    payments: list[Payment] = []
    for cid, count, row in (("S1", 3, 100), ("S2", 4, 200), ("S3", 2, 300)):
        late_orders, late_payments = paid_late(cid, count, row)
        orders += late_orders
        payments += late_payments
    orders.append(invoice("O1-1", "O1", "5000", 400, AS_OF - dt.timedelta(days=45)))
    return Inputs(customers, orders, payments)


def one_by_one(rules, inputs: Inputs, ledger) -> dict[str, Decimal | None]:
    return {
        c.customer_id: customer_limit(
            rules, c, ledger.account(c.customer_id), AS_OF
        ).amount
        for c in inputs.customers
    }


@pytest.mark.parametrize(
    ("adjustment", "hold"),
    [("", False), (LONG_OVERDUE, False), ("", True), (LONG_OVERDUE, True)],
    ids=["shipped", "two-adjustments", "hold", "hold-two-adjustments"],
)
def test_amounts_equal_customer_limit(tmp_path, adjustment, hold):
    rules = load_rules(project_with(tmp_path, adjustment=adjustment, hold=hold))
    inputs = book()
    ledger = build_ledger(inputs, AS_OF, lambda amount, currency, ref: amount)
    customers = {c.customer_id: c for c in inputs.customers}

    amounts = customer_limit_amounts(rules, customers, ledger, AS_OF)

    assert amounts == one_by_one(rules, inputs, ledger)


def test_amounts_cover_each_derivation(tmp_path):
    rules = load_rules(project_with(tmp_path, adjustment=LONG_OVERDUE))
    inputs = book()
    ledger = build_ledger(inputs, AS_OF, lambda amount, currency, ref: amount)
    customers = {c.customer_id: c for c in inputs.customers}

    amounts = customer_limit_amounts(rules, customers, ledger, AS_OF)

    assert amounts["T1"] == D("500")
    assert amounts["T3"] == D("1080.00")
    assert amounts["T4"] is None
    assert amounts["R2"] == D("25000")
    assert amounts["R3"] == D("25000")
    assert amounts["S1"] == D("12500.00")
    assert amounts["S2"] == D("12500.00")
    assert amounts["S3"] == amounts["R1"]
    assert amounts["O1"] == D("20000.00")


def test_alike_customers_share_a_derivation(tmp_path, monkeypatch):
    rules = load_rules(project_with(tmp_path))
    inputs = book()
    ledger = build_ledger(inputs, AS_OF, lambda amount, currency, ref: amount)
    customers = {c.customer_id: c for c in inputs.customers}
    calls = []
    real = limits_module.limit_from

    def counted(*args):
        calls.append(args[1].customer_id)
        return real(*args)

    monkeypatch.setattr(limits_module, "limit_from", counted)
    customer_limit_amounts(rules, customers, ledger, AS_OF)

    # T2 repeats T1's typed limit, and R3 and O1 repeat R2's rating ("b") and
    # count of late payments.
    assert "T2" not in calls
    assert "R3" not in calls
    assert "O1" not in calls
    assert len(calls) < len(customers)


def test_adjustment_fields_of_shipped_rules(tmp_path):
    rules = load_rules(project_with(tmp_path, adjustment=LONG_OVERDUE))
    assert adjustment_fields(rules) == (
        "days_overdue",
        "exposure",
        "late_payments_15d_365d",
    )
    assert LimitAmounts(rules).fields == adjustment_fields(rules)


def test_named_fields_skip_the_item_walks(tmp_path):
    rules = load_rules(project_with(tmp_path))
    inputs = book()
    ledger = build_ledger(inputs, AS_OF, lambda amount, currency, ref: amount)
    account = ledger.account("S1")
    every = customer_fields(rules, inputs.customers[9], account, AS_OF)
    named = customer_fields(
        rules, inputs.customers[9], account, AS_OF, names=("late_payments_15d_365d",)
    )
    assert "days_overdue" in every
    assert "days_overdue" not in named
    assert named["late_payments_15d_365d"] == 3
    assert every["late_payments_15d_365d"] == 3
    assert list(every) == [
        "customer_id",
        "rating",
        "country",
        "outstanding",
        "overdue",
        "days_overdue",
        "credit",
        "pending",
        "exposure",
        "rating_limit",
        "late_payments_15d_365d",
    ]
