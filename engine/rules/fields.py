"""The named fields rule conditions can use, with their types and meanings.

This catalogue is the one place a field is defined: the expression checker types
conditions with it, "did you mean" suggestions come from it, and docs/rules.md lists
the same descriptions. Money fields are in the base currency.

Besides the fixed names, `late_payments_<N>d_<M>d` is a family of fields: the number
of invoices paid more than N days after their due date, settled in the last M days.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

MONEY = "money"
NUMBER = "number"
TEXT = "text"
FLAG = "yes/no"

# Field scopes. Customer fields are usable in limit adjustments and decision rules.
# Order fields describe the order being decided, so only decision rules can use them.
CUSTOMER = "customer"
ORDER = "order"


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    kind: str  # MONEY, NUMBER, TEXT or FLAG
    scope: str  # CUSTOMER or ORDER
    description: str


FIELDS: dict[str, Field] = {
    f.name: f
    for f in (
        Field("customer_id", TEXT, CUSTOMER, "the customer's id"),
        Field("rating", TEXT, CUSTOMER, "the customer's rating, '' when none"),
        Field("country", TEXT, CUSTOMER, "the customer's country, '' when none"),
        Field("outstanding", MONEY, CUSTOMER, "open invoice amounts not yet paid"),
        Field("overdue", MONEY, CUSTOMER, "the part of outstanding past its due date"),
        Field(
            "days_overdue",
            NUMBER,
            CUSTOMER,
            "days the oldest overdue invoice is past due, 0 when none is overdue",
        ),
        Field("credit", MONEY, CUSTOMER, "payments not yet matched to an invoice"),
        Field(
            "pending",
            MONEY,
            CUSTOMER,
            "approved orders not yet invoiced, including those approved this pass",
        ),
        Field(
            "exposure",
            MONEY,
            CUSTOMER,
            "outstanding - credit + pending, before the order being decided",
        ),
        Field("rating_limit", MONEY, CUSTOMER, "the limit of the customer's rating"),
        Field("order_id", TEXT, ORDER, "the order's id"),
        Field("order_amount", MONEY, ORDER, "the order's amount in the base currency"),
        Field("order_currency", TEXT, ORDER, "the currency the order is written in"),
        Field("salesperson", TEXT, ORDER, "the order's salesperson code, '' when none"),
        Field("exposure_after", MONEY, ORDER, "exposure + order_amount"),
        Field(
            "customer_limit",
            MONEY,
            ORDER,
            "the customer's credit limit after adjustments, or the typed limit",
        ),
        Field(
            "has_typed_limit",
            FLAG,
            ORDER,
            "yes when the limit comes from the Credit Limit column",
        ),
        Field(
            "warning_threshold",
            NUMBER,
            ORDER,
            "the warning threshold as a fraction (0.8 for 80 %)",
        ),
        Field(
            "salesperson_exposure_after",
            MONEY,
            ORDER,
            "exposure of all the salesperson's customers with this order, "
            "0 when the order has no salesperson",
        ),
        Field(
            "salesperson_limit",
            MONEY,
            ORDER,
            "the salesperson's limit, 0 when the order has no salesperson",
        ),
    )
}

LATE_PAYMENTS = re.compile(r"late_payments_(\d{1,4})d_(\d{1,4})d")
LATE_PAYMENTS_DESCRIPTION = (
    "invoices paid more than N days late that were settled in the last M days "
    "(write late_payments_15d_365d for N=15, M=365)"
)


def lookup(name: str, scope: str) -> Field | None:
    """Return the field called `name` if a condition in `scope` may use it."""
    match = LATE_PAYMENTS.fullmatch(name)
    if match:
        return Field(name, NUMBER, CUSTOMER, LATE_PAYMENTS_DESCRIPTION)
    field = FIELDS.get(name)
    if field is None:
        return None
    if scope == CUSTOMER and field.scope == ORDER:
        return None
    return field


def late_payment_window(name: str) -> tuple[int, int] | None:
    """Return (min_days_late, within_days) for a `late_payments_<N>d_<M>d` name."""
    match = LATE_PAYMENTS.fullmatch(name)
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2))


def names_in(scope: str) -> list[str]:
    """Return the fixed field names a condition in `scope` may use."""
    return [n for n, f in FIELDS.items() if scope == ORDER or f.scope == CUSTOMER]


def closest(name: str, candidates) -> str | None:
    """Return the candidate most like `name`, or None when nothing is close."""
    found = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return found[0] if found else None


def suggest_field(name: str, scope: str) -> str | None:
    """Return the closest field name for a misspelt one."""
    if name.startswith("late_payment"):
        return "late_payments_15d_365d"
    return closest(name, names_in(scope))
