"""Rule conditions: typed checks from rule-engine, evaluation by compiled closures."""

from __future__ import annotations

from decimal import Decimal

import pytest
import rule_engine

from engine.rules import fields
from engine.rules.expressions import ConditionError, compile_condition, contradiction

VALUES = {
    "days_overdue": 40, "exposure_after": Decimal("52300"), "customer_limit": Decimal("50000"),
    "rating": "B", "late_payments_15d_365d": 3, "warning_threshold": Decimal("0.8"),
    "has_typed_limit": False, "overdue": Decimal("10.10"), "salesperson": "",
}  # fmt: skip


@pytest.mark.parametrize(
    "text,expected",
    [
        ("days_overdue >= 30", True),
        ("exposure_after > 0.8 * customer_limit", True),
        ('rating in ["B", "C"]', True),
        ('rating in ["A"]', False),
        ("late_payments_15d_365d >= 3 and not has_typed_limit", True),
        ("overdue == 10.1", True),
        ("exposure_after - customer_limit > 2300", False),
        ("salesperson == '' or days_overdue > 99", True),
    ],
)
def test_compiled_matches_rule_engine(text, expected):
    condition = compile_condition(text)
    assert condition(VALUES) is expected
    reference = rule_engine.Rule(text)
    assert reference.matches(VALUES) is expected


def test_decimal_arithmetic_is_exact():
    condition = compile_condition("overdue * 3 == 30.3")
    assert condition(VALUES) is True


def test_late_payment_windows_collected():
    condition = compile_condition("late_payments_30d_180d > 1", fields.CUSTOMER)
    assert condition.late_payment_windows == ((30, 180),)


@pytest.mark.parametrize(
    "text,message",
    [
        ("days_overdu > 3", "unknown field 'days_overdu' in condition."),
        (
            "rating > 5",
            "condition 'rating > 5': '>' compares 'rating' (text) with the number 5.",
        ),
        (
            "rating == null",
            "condition 'rating == null': fields are never null in rule conditions.",
        ),
        (
            "exposure_after",
            "condition 'exposure_after' is a number, not a yes/no test.",
        ),
        ("days_overdue >", "condition 'days_overdue >' ends too early."),
    ],
)
def test_condition_errors(text, message):
    with pytest.raises(ConditionError) as raised:
        compile_condition(text)
    assert raised.value.message == message


def test_contradiction_found():
    condition = compile_condition("days_overdue > 5 and days_overdue < 3")
    assert (
        contradiction(condition)
        == "no value of 'days_overdue' is both above 5 and below 3"
    )


def test_no_contradiction_for_open_range():
    assert (
        contradiction(compile_condition("days_overdue > 5 and days_overdue <= 6"))
        is None
    )
