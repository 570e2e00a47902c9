"""Template variables for a letter.

Values missing in the sheet are left out of the context instead of being set to
None, so that a template using them fails under StrictUndefined rather than
printing an empty salutation.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from engine.mail.letter import Letter, LetterItem
from engine.model import Customer
from engine.rules.model import RuleSet


class ContextNode(dict):
    """A dict that carries its variable path, so an undefined key is named 'customer.salutation'."""

    def __init__(self, path: str, values: dict[str, Any]):
        super().__init__(
            (key, value)
            for key, value in values.items()
            if value is not None and value != ""
        )
        self.path = path


# Template names of customer fields, as `customer_context` fills them.
CUSTOMER_FIELDS = (
    "customer_id",
    "name",
    "company",
    "contact",
    "salutation",
    "email",
    "language",
    "currency",
    "salesperson",
    "country",
)


def customer_context(customer: Customer) -> ContextNode:
    return ContextNode(
        "customer",
        {
            "customer_id": customer.customer_id,
            "name": customer.name,
            "company": customer.name,
            "contact": customer.contact,
            "salutation": customer.salutation,
            "email": customer.email,
            "language": customer.language,
            "currency": customer.currency,
            "salesperson": customer.salesperson,
            "country": customer.country,
        },
    )


def item_context(item: LetterItem, path: str) -> ContextNode:
    return ContextNode(
        path,
        {
            "id": item.item_id,
            "invoice_id": item.item_id,
            "order_id": item.order_id,
            "due_date": item.due_date,
            "amount": item.amount,
            "balance": item.open_amount,
            "open_amount": item.open_amount,
            "currency": item.currency,
            "days_overdue": item.days_overdue,
            "level": item.level,
        },
    )


def totals_by_currency(items: tuple[LetterItem, ...]) -> list[ContextNode]:
    """Return the open total per currency, in order of first appearance."""
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for item in items:
        totals[item.currency] += item.open_amount
    return [
        ContextNode("total", {"currency": currency, "amount": amount})
        for currency, amount in totals.items()
    ]


def build_context(letter: Letter, rules: RuleSet) -> dict[str, Any]:
    """Return the variables a letter's templates see."""
    items = [item_context(item, "item") for item in letter.items]
    context: dict[str, Any] = {
        "as_of": letter.as_of,
        "kind": letter.kind,
        "level": letter.level,
        "language": letter.language,
        "items": items,
        "totals": totals_by_currency(letter.items),
        "sender": rules.contacts.sender,
        "base_currency": rules.base_currency,
        # Reminders sent before this one; 0 unless the planner counted them.
        "earlier_reminders": 0,
    }
    if items:
        # The item with the maximum days overdue, for templates about a single invoice.
        context["invoice"] = ContextNode("invoice", dict(items[0]))
    customer = letter.customer
    if customer is not None:
        context["customer"] = customer_context(customer)
        code = customer.salesperson
        context["salesperson"] = ContextNode(
            "salesperson",
            {"code": code, "email": rules.contacts.salespeople.get(code or "")},
        )
    for key, value in letter.context.items():
        context[key] = ContextNode(key, value) if isinstance(value, dict) else value
    return context


def item_ids_of(letter: Letter) -> str:
    return ",".join(item.item_id for item in letter.items)
