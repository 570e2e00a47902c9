"""Customers whose exposure is unknown this pass, and why.

A pass never decides or mails on partial data. A customer is "incomplete" when rows
that may count in its ledger were left out: rows in a currency the FX table cannot
convert (engine.rules.currencies), or an orders or payments row that could not be
read (a held row). An unreadable row may be an invoice, an approved order or a
payment, so the customer's outstanding, credit and exposure are all unknown.

For an incomplete customer the pass holds its undecided orders and the orders of its
salesperson (whose total includes it), writes none of its figures and sends it no
reminder or thank-you letter.

A held row whose customer id cannot be read cannot be attributed to any customer.
It holds nothing extra: holding every order of every customer would stop the agency
for one typo. It is reported as an error instead, so `once` exits 1 and the digest
lists it. So is a payment whose customer id is not in the customers sheet: its
money reaches no known customer's ledger, and it may belong to one of them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from operator import attrgetter

from engine.findings import Finding
from engine.model import HeldRow, Inputs
from engine.rules.currencies import CurrencyCheck, check_currencies
from engine.rules.model import RuleSet

LEDGER_KINDS = ("orders", "payments")
CUSTOMER_ID = attrgetter("customer_id")


@dataclass(slots=True)
class IncompleteCustomers:
    """Customer id -> why its exposure is unknown (a sentence with the fix)."""

    reasons: dict[str, str] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    currencies: CurrencyCheck = field(default_factory=CurrencyCheck)
    # Customers with an unreadable payment row: any of their items may be paid.
    payment_rows: set[str] = field(default_factory=set)

    def __contains__(self, customer_id: object) -> bool:
        return customer_id in self.reasons

    def __len__(self) -> int:
        return len(self.reasons)

    def reminder_reasons(self) -> dict[str, str]:
        """Return the customers whose reminders must wait, and why.

        An unreadable invoice leaves the other items' open amounts right, so their
        reminders go; an unreadable payment or an unconvertible row may have paid or
        changed any item, so those customers get no reminder.
        """
        return {
            customer_id: reason
            for customer_id, reason in self.reasons.items()
            if customer_id in self.payment_rows
            or customer_id in self.currencies.incomplete
        }

    def customer_reason(self, customer_id: str) -> str | None:
        """Return why the customer's exposure is unknown, or None when it is known."""
        return self.reasons.get(customer_id)


def find_incomplete(rules: RuleSet, inputs: Inputs) -> IncompleteCustomers:
    """Return the customers whose ledger rows are not all readable and convertible."""
    currencies = check_currencies(rules, inputs)
    result = IncompleteCustomers(currencies=currencies)
    result.findings.extend(currencies.findings)
    by_customer: dict[str, list[HeldRow]] = defaultdict(list)
    for row in inputs.held:
        if row.kind not in LEDGER_KINDS or not row.affects_exposure:
            continue
        if row.kind == "payments" and row.customer_id:
            result.payment_rows.add(row.customer_id)
        if row.customer_id:
            by_customer[row.customer_id].append(row)
        else:
            result.findings.append(unattributed_finding(row))
    result.findings.extend(unknown_payers(inputs))
    for customer_id in sorted(set(currencies.incomplete) | set(by_customer)):
        currency = currencies.customer_reason(customer_id, rules.base_currency)
        rows = by_customer.get(customer_id)
        result.reasons[customer_id] = currency or held_reason(customer_id, rows)
    return result


def unknown_payers(inputs: Inputs) -> list[Finding]:
    """Return one error per payment whose customer is not in the customers sheet."""
    known = set(map(CUSTOMER_ID, inputs.customers))
    known.update(row.key for row in inputs.held if row.kind == "customers")
    # Most passes find no unknown payer, and this check runs in C over every payment.
    if known.issuperset(map(CUSTOMER_ID, inputs.payments)):
        return []
    return [
        Finding(
            str(payment.ref),
            f"customer {payment.customer_id} of payment row {payment.ref.row} "
            f"({payment.payment_id}) is not in the customers sheet, so this payment "
            "counts for no known customer.",
            "Correct the customer id of the payment, or add the customer to the "
            "customers sheet.",
            code="payment-customer",
        )
        for payment in inputs.payments
        if payment.customer_id not in known
    ]


def held_reason(customer_id: str, rows: list[HeldRow]) -> str:
    first = rows[0]
    more = len(rows) - 1
    others = f" ({more} more of its rows could not be read either)" if more else ""
    return (
        f"the exposure of customer {customer_id} is unknown because {first.ref} "
        f"could not be read{others}: {first.reason.rstrip('.')}."
    )


def unattributed_finding(row: HeldRow) -> Finding:
    name = "order" if row.kind == "orders" else "payment"
    key = f" ({row.key})" if row.key else ""
    return Finding(
        str(row.ref),
        f"this {name} row{key} could not be read and its customer id is unreadable, "
        "so its amount could not be attributed to any customer's exposure; the "
        "figures and decisions of its customer may be wrong.",
        "Correct the row so its customer id and amount can be read.",
        code="exposure-unattributed",
    )
