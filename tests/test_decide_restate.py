"""Blocked orders are written at the end of a pass, against its final exposure."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from engine.decide import Decision, decide_orders
from engine.ledger import build_ledger
from engine.model import Customer, Inputs, Order, RowRef
from engine.rules.check import load_rules

REPO = Path(__file__).resolve().parent.parent
RULES = REPO / "tests" / "data" / "rules"
AS_OF = dt.date(2024, 5, 1)
YESTERDAY = AS_OF - dt.timedelta(days=1)
# A rule that approves large accounts, so more exposure can release a blocked order.
LARGE_ACCOUNT = """rules:
  - name: large-account
    when: exposure_after > 30000
    outcome: approve
    reason: large account at {exposure_after}

"""


def rules_dir(tmp_path: Path, large_account: bool = False) -> Path:
    shutil.copytree(RULES, tmp_path / "rules")
    folder = tmp_path / "templates" / "en"
    folder.mkdir(parents=True)
    for level in (1, 2, 3):
        (folder / f"reminder_level{level}.txt.j2").write_text("x\n")
    if large_account:
        credit = tmp_path / "rules" / "credit.yaml"
        credit.write_text(credit.read_text().replace("rules:\n", LARGE_ACCOUNT, 1))
    return tmp_path


def customer(cid: str) -> Customer:
    ref = RowRef("customers.xlsx", "Customers", 2)
    return Customer(cid, f"Customer {cid}", ref, rating="B", salesperson="AKE")


def order(oid: str, amount: str, row: int, day: dt.date = AS_OF) -> Order:
    ref = RowRef("orders.xlsx", "Orders", row)
    return Order(oid, "C1", day, Decimal(amount), "USD", ref)


def decide(rules, orders: list[Order]) -> list[Decision]:
    inputs = Inputs([customer("C1")], orders)
    ledger = build_ledger(inputs, AS_OF, lambda amount, currency, ref: amount)
    return decide_orders(rules, ledger, inputs, AS_OF)


def test_blocked_order_counts_later_approvals(tmp_path):
    rules = load_rules(rules_dir(tmp_path))
    orders = [order("O1", "26000", 2, YESTERDAY), order("O2", "1000", 3)]

    first, second = decide(rules, orders)

    assert second.status == "APPROVED"
    assert first.status == "BLOCKED"
    assert first.inputs["exposure"] == "1000"
    assert first.inputs["exposure_after"] == "27000"
    assert first.reason.startswith("Blocked: exposure would be 27,000.00 of a ")


def test_release_by_more_exposure_ignored(tmp_path):
    rules = load_rules(rules_dir(tmp_path, large_account=True))
    orders = [order("O1", "26000", 2, YESTERDAY), order("O2", "5000", 3)]

    first, second = decide(rules, orders)

    # With O2's 5,000.00 counted, O1 would reach the large-account rule; it stays
    # blocked on the exposure it was decided on.
    assert second.status == "APPROVED"
    assert first.status == "BLOCKED"
    assert first.rule == "over-limit"
    assert first.inputs["exposure"] == "0"
    assert first.reason.startswith("Blocked: exposure would be 26,000.00 of a ")


def test_blocked_order_without_later_approvals(tmp_path):
    rules = load_rules(rules_dir(tmp_path))

    [decision] = decide(rules, [order("O1", "26000", 2)])

    assert decision.status == "BLOCKED"
    assert decision.inputs["exposure_after"] == "26000"


@pytest.mark.parametrize("amount", ["1000", "26000"])
def test_decision_equals_constructed_one(tmp_path, amount):
    rules = load_rules(rules_dir(tmp_path))
    [decision] = decide(rules, [order("O1", amount, 2)])
    fields = {name: getattr(decision, name) for name in decision.__dataclass_fields__}
    assert Decision(**fields) == decision
    assert dataclasses.replace(decision) == decision
