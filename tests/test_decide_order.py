"""The order in which a pass decides orders: order date, then row."""

from __future__ import annotations

import datetime as dt
import operator
import random
from decimal import Decimal

from engine.decide import _in_decision_order
from engine.model import Order, RowRef


def make_order(number: int, day: int, row: int, sheet: str = "Orders") -> Order:
    return Order(
        f"O{number}", "C1", dt.date(2024, 5, day), Decimal("10.00"), "USD",
        RowRef("orders.xlsx", sheet, row),
    )  # fmt: skip


def test_decision_order_matches_key_sort():
    rng = random.Random(3)
    orders = [
        make_order(n, rng.randint(1, 4), rng.randint(2, 40), rng.choice("AB"))
        for n in range(400)
    ]
    expected = sorted(orders, key=operator.attrgetter("order_date", "ref.row"))

    ordered = _in_decision_order(iter(orders))

    assert [order.order_id for order in ordered] == [
        order.order_id for order in expected
    ]


def test_decision_order_keeps_ties_in_input_order():
    first, second = make_order(1, 2, 7, "A"), make_order(2, 2, 7, "B")
    earlier = make_order(3, 1, 9)

    ordered = _in_decision_order([second, earlier, first])

    assert [order.order_id for order in ordered] == ["O3", "O2", "O1"]
