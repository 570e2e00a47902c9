"""Closures for the common shapes of a comparison or an arithmetic step.

The general closure `op(left(values), right(values))` makes three Python calls per
comparison. Most rule conditions compare a field with a number or with another
field (`days_overdue > 60`, `exposure_after > customer_limit`), so these shapes get
closures with the field lookup, the operator and the number written in: one call.
The operators are the same Python operators on the same Decimal values, so results
and errors (KeyError for a missing field, ArithmeticError) are unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Evaluator = Callable[[dict[str, Any]], Any]

# op -> factory(field name, constant) for `field op constant`.
FIELD_CONSTANT: dict[str, Callable[[str, Any], Evaluator]] = {
    "eq": lambda name, c: lambda values: values[name] == c,
    "ne": lambda name, c: lambda values: values[name] != c,
    "gt": lambda name, c: lambda values: values[name] > c,
    "ge": lambda name, c: lambda values: values[name] >= c,
    "lt": lambda name, c: lambda values: values[name] < c,
    "le": lambda name, c: lambda values: values[name] <= c,
}
# op -> factory(field name, field name) for `field op field`.
FIELD_FIELD: dict[str, Callable[[str, str], Evaluator]] = {
    "eq": lambda a, b: lambda values: values[a] == values[b],
    "ne": lambda a, b: lambda values: values[a] != values[b],
    "gt": lambda a, b: lambda values: values[a] > values[b],
    "ge": lambda a, b: lambda values: values[a] >= values[b],
    "lt": lambda a, b: lambda values: values[a] < values[b],
    "le": lambda a, b: lambda values: values[a] <= values[b],
}
# op -> factory(left evaluator, right evaluator) for any other comparison.
ANY_ANY: dict[str, Callable[[Evaluator, Evaluator], Evaluator]] = {
    "eq": lambda left, right: lambda values: left(values) == right(values),
    "ne": lambda left, right: lambda values: left(values) != right(values),
    "gt": lambda left, right: lambda values: left(values) > right(values),
    "ge": lambda left, right: lambda values: left(values) >= right(values),
    "lt": lambda left, right: lambda values: left(values) < right(values),
    "le": lambda left, right: lambda values: left(values) <= right(values),
}

# Arithmetic op -> factory for `field op field`, `constant op field` and
# `field op constant`, for the four operators rules mostly use.
ARITHMETIC_FIELD_FIELD: dict[str, Callable[[str, str], Evaluator]] = {
    "add": lambda a, b: lambda values: values[a] + values[b],
    "sub": lambda a, b: lambda values: values[a] - values[b],
    "mul": lambda a, b: lambda values: values[a] * values[b],
    "tdiv": lambda a, b: lambda values: values[a] / values[b],
}
ARITHMETIC_CONSTANT_FIELD: dict[str, Callable[[Any, str], Evaluator]] = {
    "add": lambda c, name: lambda values: c + values[name],
    "sub": lambda c, name: lambda values: c - values[name],
    "mul": lambda c, name: lambda values: c * values[name],
    "tdiv": lambda c, name: lambda values: c / values[name],
}
ARITHMETIC_FIELD_CONSTANT: dict[str, Callable[[str, Any], Evaluator]] = {
    "add": lambda name, c: lambda values: values[name] + c,
    "sub": lambda name, c: lambda values: values[name] - c,
    "mul": lambda name, c: lambda values: values[name] * c,
    "tdiv": lambda name, c: lambda values: values[name] / c,
}
