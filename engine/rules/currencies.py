"""Currencies the workbooks use that the FX table cannot convert.

A row in a currency with no rate cannot be counted in base currency, so its
customer's exposure, and the total of that customer's salesperson, is unknown.
Such customers are "incomplete": their orders and their salesperson's orders are
held and their figures are not written. Each currency gets one finding that counts
its rows, instead of one finding per row.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from operator import attrgetter

from babel.numbers import list_currencies

from engine.findings import Finding
from engine.model import Inputs, RowRef
from engine.rules.model import RuleSet

CREDIT = "rules/credit.yaml"
# ISO 4217 codes as Babel's CLDR data lists them, historic codes included.
ISO_CODES = frozenset(list_currencies())


@dataclass(slots=True)
class CurrencyGap:
    """The rows of one currency that cannot be converted."""

    code: str
    known: bool  # an ISO 4217 code, only missing from the FX table
    rows: int = 0
    files: list[str] = field(default_factory=list)
    first: RowRef | None = None
    customers: set[str] = field(default_factory=set)


@dataclass(slots=True)
class CurrencyCheck:
    """Customers whose exposure cannot be computed, by currency, with the findings."""

    gaps: dict[str, CurrencyGap] = field(default_factory=dict)
    # customer id -> the codes without a rate in its rows
    incomplete: dict[str, list[str]] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    def customer_reason(self, customer_id: str, base_currency: str) -> str | None:
        """Return why the customer's exposure is unknown, or None when it is known."""
        codes = self.incomplete.get(customer_id)
        if not codes:
            return None
        return (
            f"the exposure of customer {customer_id} is unknown because its rows in "
            f"{describe_codes(codes)} cannot be converted to {base_currency}. "
            f"{fix_for(codes, self.gaps)}"
        )


def check_currencies(rules: RuleSet, inputs: Inputs) -> CurrencyCheck:
    """Find the rows whose currency the FX table of `rules` cannot convert."""
    check = CurrencyCheck()
    # A workbook uses a handful of currency texts, so each is judged once and only
    # the rows of texts without a rate are visited one by one.
    texts = set(map(attrgetter("currency"), inputs.orders))
    texts.update(map(attrgetter("currency"), inputs.payments))
    codes = {text: _code(text, rules.base_currency) for text in texts}
    missing = {
        text
        for text, code in codes.items()
        if code != rules.base_currency and code not in rules.fx_rates
    }
    rows = (
        record
        for records in (inputs.orders, inputs.payments)
        if missing
        for record in records
        if record.currency in missing
    )
    for record in rows:
        code, customer_id, ref = codes[record.currency], record.customer_id, record.ref
        gap = check.gaps.get(code)
        if gap is None:
            gap = check.gaps[code] = CurrencyGap(code, code in ISO_CODES, first=ref)
        gap.rows += 1
        if ref.file not in gap.files:
            gap.files.append(ref.file)
        gap.customers.add(customer_id)
    incomplete: dict[str, list[str]] = defaultdict(list)
    for code, gap in sorted(check.gaps.items()):
        for customer_id in gap.customers:
            incomplete[customer_id].append(code)
        check.findings.append(gap_finding(gap, rules.base_currency))
    check.incomplete = dict(incomplete)
    return check


def _code(currency: str | None, base_currency: str) -> str:
    return (currency or base_currency).strip().upper()


def gap_finding(gap: CurrencyGap, base_currency: str) -> Finding:
    rows = f"{gap.rows:,} row{'s' if gap.rows != 1 else ''}"
    where = f"{rows} in {' and '.join(gap.files)}, first at {gap.first}"
    if gap.known:
        message = f"currency {gap.code} has no rate in {CREDIT} fx: {where}."
    else:
        message = f"currency '{gap.code}' is not an ISO 4217 currency code: {where}."
    return Finding(
        CREDIT if gap.known else str(gap.first),
        message + " The exposure of these customers is unknown, so their orders "
        "and their salespeople's orders are held.",
        fix_for([gap.code], {gap.code: gap}, base_currency),
        code="currency",
    )


def fix_for(codes: list[str], gaps: dict[str, CurrencyGap], base: str = "") -> str:
    unknown = [code for code in codes if not gaps[code].known]
    if unknown:
        return (
            f"Correct the Currency cells with {describe_codes(unknown)} to a code "
            "such as USD or EUR."
        )
    per = f" ({base} per unit)" if base else ""
    return " ".join(f"Add {code}: <rate>{per} under fx in {CREDIT}." for code in codes)


def describe_codes(codes: list[str]) -> str:
    return " and ".join(codes)
