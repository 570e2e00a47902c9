"""Recorded inputs shared between a customer's decisions, and specialised closures."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from engine.rules.expressions import compile_condition
from engine.rules.recorded import (
    CustomerTexts,
    InputsLayout,
    RecordedInputs,
    inputs_json,
)

LAYOUT = InputsLayout(
    ("customer_id", "rating", "limit_how"), ("pending", "order_amount")
)


def recorded(own: tuple[str, ...]) -> RecordedInputs:
    customer = CustomerTexts(LAYOUT, ("C1", "Ä", "rating A 400.00"), ())
    return RecordedInputs(customer, own)


def test_recorded_inputs_read_as_dict():
    inputs = recorded(("0", "12.50"))
    expected = {
        "customer_id": "C1", "rating": "Ä", "limit_how": "rating A 400.00",
        "pending": "0", "order_amount": "12.50",
    }  # fmt: skip

    assert inputs == expected
    assert list(inputs) == list(expected)
    assert repr(inputs) == repr(expected)
    assert inputs.get("fx_rate") is None
    assert "fx_rate" not in inputs
    assert inputs_json(inputs) == json.dumps(expected, ensure_ascii=False)


def test_recorded_inputs_fx_rate_last():
    inputs = recorded(("0", "12.50", "1.08"))

    assert list(inputs)[-1] == "fx_rate"
    assert inputs["fx_rate"] == "1.08"
    assert inputs_json(inputs) == json.dumps(inputs.to_dict(), ensure_ascii=False)


def test_recorded_inputs_unknown_name():
    with pytest.raises(KeyError):
        recorded(("0", "12.50"))["overdue"]


@pytest.mark.parametrize(
    "text, values, expected",
    [
        ("days_overdue > 60", {"days_overdue": 61}, True),
        ("days_overdue > 60", {"days_overdue": 60}, False),
        ("60 < days_overdue", {"days_overdue": 61}, True),
        ("exposure_after > customer_limit",
         {"exposure_after": Decimal("300.01"), "customer_limit": Decimal("300")}, True),
        ("exposure_after <= customer_limit",
         {"exposure_after": Decimal("300.00"), "customer_limit": Decimal("300")}, True),
        ("exposure_after > warning_threshold * customer_limit",
         {"exposure_after": Decimal("240.01"), "warning_threshold": Decimal("0.8"),
          "customer_limit": Decimal("300")}, True),
        ("exposure_after > 0.8 * customer_limit",
         {"exposure_after": Decimal("240"), "customer_limit": Decimal("300")}, False),
        ("overdue / 2 >= 5",
         {"overdue": Decimal("10")}, True),
        ("rating != 'A'", {"rating": "B"}, True),
    ],
)  # fmt: skip
def test_specialised_comparison(text, values, expected):
    assert compile_condition(text)(values) is expected


def test_specialised_division_by_zero():
    condition = compile_condition("outstanding / pending > 1")

    with pytest.raises(ArithmeticError):
        condition({"outstanding": Decimal(1), "pending": Decimal(0)})
