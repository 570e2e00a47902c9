"""Credit decisions for new orders: APPROVED, BLOCKED or HELD, each with its trace.

Which orders are decided: rows whose Status is empty, BLOCKED or HELD, dated on or
before the as-of date and not yet invoiced then. APPROVED orders are never revoked or
re-decided; they count in exposure through the ledger's `pending`. An invoiced order
is a receivable, past the point of a credit decision, so it is not decided either.

Orders are decided in order date, then row, order. Each approval adds the order's
amount in the base currency to its customer's and salesperson's exposure before the
next order is decided, so two orders that each fit under a limit cannot both pass
when together they exceed it.

An approval is never revoked for the order as approved. The decision log keeps the
amount, currency and customer of each approval, and an APPROVED order whose values
differ from them is decided again as a new request (`reopen_changed_approvals`).

An order is HELD, never guessed, when its row or its customer's row could not be
read, the customer is unknown, no limit can be set, its currency has no FX rate,
its customer's or salesperson's exposure is unknown (engine.rules.incomplete: rows in
such a currency, or an orders or payments row that could not be read), its amount is
not positive, another row has the same order id, or a rule fails on its values. Each
order held here gets a finding (code `order-held`) unless another finding already
names its row.

A salesperson's exposure is the sum of their customers' exposures, each counted at
no less than zero: one customer's prepayment is that customer's money and must not
make room for another customer's orders. A customer's own negative exposure (credit
above its outstanding and pending) still counts for its own orders.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import gc
import logging
import operator
from collections import Counter, defaultdict
from collections.abc import Collection, Mapping
from decimal import Decimal
from typing import Any

from engine.findings import Finding, Severity
from engine.model import Customer, Inputs, Order, RowRef
from engine.rules.decision import APPROVED, BLOCKED, HELD, Decision
from engine.rules.incomplete import IncompleteCustomers
from engine.rules.limits import (
    LimitAmounts,
    LimitResult,
    find_rating,
    fx_rate,
    limit_from,
    salesperson_limit_of,
)
from engine.rules.model import RuleSet
from engine.rules.money import amount_formatter
from engine.rules.reasons import ReasonWriter
from engine.rules.table import RuleEvaluationError, TableResult, decision_table

logger = logging.getLogger(__name__)

UNDECIDED = {"", BLOCKED, HELD}
ZERO = Decimal(0)
CENT = Decimal("0.01")

__all__ = [
    "Decision",
    "LimitResult",
    "customer_limit",
    "customer_limit_amounts",
    "decide_orders",
    "explain_decision",
    "reopen_changed_approvals",
    "salesperson_limit",
]


def customer_limit(
    rules: RuleSet, customer: Customer, account, as_of: dt.date
) -> LimitResult:
    """Return the customer's credit limit in base currency and how it was derived."""
    return limit_from(rules, customer, customer_fields(rules, customer, account, as_of))


def salesperson_limit(rules: RuleSet, salesperson: str | None) -> LimitResult:
    """Return the salesperson's limit on the exposure of all their customers."""
    return salesperson_limit_of(rules, salesperson)


def customer_limit_amounts(
    rules: RuleSet, customers: Mapping[str, Customer], ledger, as_of: dt.date
) -> dict[str, Decimal | None]:
    """Return each customer's `customer_limit(...).amount`, by customer id.

    Only the fields the limit adjustments read are worked out, and customers with
    the same limit inputs share one derivation (see `LimitAmounts`).
    """
    amounts = LimitAmounts(rules)
    names = amounts.fields
    limits: dict[str, Decimal | None] = {}
    for customer_id, customer in customers.items():
        history: dict[str, Any] = {}
        if customer.credit_limit is None:
            account = ledger.account(customer_id)
            history = customer_fields(rules, customer, account, as_of, names=names)
        limits[customer_id] = amounts.amount(customer, history)
    return limits


def customer_fields(
    rules: RuleSet,
    customer: Customer,
    account,
    as_of,
    *,
    names: Collection[str] | None = None,
) -> dict[str, Any]:
    """Return the customer-scope field values of the rule conditions.

    With `names`, the days overdue and the late-payment counts are worked out only
    when named, because they walk the account's items.
    """
    from engine.ledger import late_payments

    days = 0
    if names is None or "days_overdue" in names:
        days = max((item.days_overdue for item in account.open_items), default=0)
    values: dict[str, Any] = {
        "customer_id": customer.customer_id,
        "rating": (customer.rating or "").strip(),
        "country": customer.country or "",
        "outstanding": account.outstanding,
        "overdue": account.overdue,
        "days_overdue": max(days, 0),
        "credit": account.credit,
        "pending": account.pending,
        "exposure": account.exposure,
        "rating_limit": ZERO,
    }
    if names is not None and "days_overdue" not in names:
        del values["days_overdue"]  # not worked out
    for min_days, within in rules.late_payment_windows:
        name = f"late_payments_{min_days}d_{within}d"
        if names is None or name in names:
            values[name] = late_payments(
                account, as_of, min_days_late=min_days, within_days=within
            )
    return values


def decide_orders(
    rules: RuleSet,
    ledger,
    inputs: Inputs,
    as_of: dt.date,
    *,
    findings: list[Finding] | None = None,
    changes: Mapping[str, str] | None = None,
    incomplete: IncompleteCustomers | None = None,
) -> list[Decision]:
    """Decide every undecided order; append override, id and hold findings.

    `changes` maps order ids to how the order differs from its logged approval (from
    `reopen_changed_approvals`); the note is added to the order's reason. Customers
    in `incomplete` have their orders, and their salespeople's orders, held.
    """
    decider = _Decider(rules, ledger, inputs, as_of, incomplete)
    decisions = [decider.held_row(row) for row in inputs.held if row.kind == "orders"]
    duplicates = duplicate_ids(inputs, decider.findings)
    # The loop allocates millions of small acyclic objects; the cyclic garbage
    # collector would rescan every live object many times while finding nothing.
    collecting = gc.isenabled()
    gc.disable()
    try:
        decided = []
        for order in _in_decision_order(_to_decide(inputs.orders, as_of)):
            decision = decider.decide_safely(order, duplicates.get(order.order_id))
            # A blocked order's decision is written once the pass's approvals are
            # known, so keep the exposure it was blocked on.
            blocked = decider.blocked if decision is None else None
            decided.append((order, decision, blocked))
        final = _final_reasons(decider, decided)
        decisions.extend(final)
    finally:
        if collecting:
            gc.enable()
    if changes:
        decisions = [_with_change(decision, changes) for decision in decisions]
    if findings is not None:
        findings.extend(decider.findings)
        findings.extend(held_findings(decider.findings, final))
    return decisions


def held_findings(reported: list[Finding], decisions) -> list[Finding]:
    """Return one `order-held` warning per held order no other finding names."""
    named = {finding.where for finding in reported}
    return [
        Finding(
            str(decision.ref),
            f"order {decision.order_id} is held: "
            f"{decision.reason.removeprefix('Held: ')}",
            "Once that is fixed, the next pass decides the order.",
            Severity.WARNING,
            code="order-held",
        )
        for decision in decisions
        if decision.status == HELD and str(decision.ref) not in named
    ]


def _with_change(decision: Decision, changes: Mapping[str, str]) -> Decision:
    change = changes.get(decision.order_id)
    if change is None:
        return decision
    return dataclasses.replace(
        decision,
        reason=f"{decision.reason.removesuffix('.')}; {change}",
        trace=decision.trace + (change,),
    )


def reopen_changed_approvals(
    inputs: Inputs, approvals: Mapping, locale: str
) -> dict[str, str]:
    """Clear the status of APPROVED orders that changed since the engine approved them.

    `approvals` maps order ids to the logged Approval (engine.decision_log). An order
    whose amount, currency or customer differs is put back in `inputs.orders` without
    its status, so the ledger does not count it as pending and it is decided again.
    Returns a note per order that differs from its approval, whatever its status, so
    the reason stays the same on later passes. Orders approved by hand (no logged
    approval) and orders whose id is on several rows keep their status.
    """
    if not approvals:
        return {}
    money = amount_formatter(locale)
    counts: dict[str, int] = defaultdict(int)
    for order in inputs.orders:
        counts[order.order_id] += 1
    changes: dict[str, str] = {}
    for index, order in enumerate(inputs.orders):
        approval = approvals.get(order.order_id)
        if approval is None or counts[order.order_id] > 1:
            continue
        differences = []
        if order.amount != approval.amount:
            differences.append(
                f"amount changed from {money(approval.amount)} to {money(order.amount)}"
            )
        if order.currency != approval.currency:
            differences.append(
                f"currency changed from {approval.currency} to {order.currency}"
            )
        if order.customer_id != approval.customer_id:
            differences.append(
                f"customer changed from {approval.customer_id} to {order.customer_id}"
            )
        if not differences:
            continue
        changes[order.order_id] = ", ".join(differences) + " after approval"
        if (order.status or "").strip().upper() == APPROVED:
            inputs.orders[index] = dataclasses.replace(order, status=None, reason=None)
            logger.info(
                "order %s re-decided: %s", order.order_id, changes[order.order_id]
            )
    return changes


def duplicate_ids(inputs: Inputs, findings: list[Finding]) -> dict[str, list[int]]:
    """Return the rows of each order id that is on more than one row, with findings.

    The decision log and `explain` are keyed by order id, so two rows with one id
    would share a trace; the undecided ones are held until the ids are fixed.
    """
    held_ids = [held for held in inputs.held if held.kind == "orders" and held.key]
    counts = Counter(order.order_id for order in inputs.orders)
    counts.update(held.key for held in held_ids)
    if counts and max(counts.values()) < 2:
        return {}
    rows: dict[str, list[RowRef]] = defaultdict(list)
    for order in inputs.orders:
        if counts[order.order_id] > 1:
            rows[order.order_id].append(order.ref)
    for held in held_ids:
        if counts[held.key] > 1:
            rows[held.key].append(held.ref)
    repeated: dict[str, list[int]] = {}
    for order_id, refs in rows.items():
        if len(refs) < 2:
            continue
        refs.sort(key=operator.attrgetter("row"))
        repeated[order_id] = [ref.row for ref in refs]
        for ref in refs[1:]:
            findings.append(
                Finding(
                    str(ref),
                    f"order id {order_id} is also in row {refs[0].row}; undecided "
                    "rows with this id are held.",
                    "Give each order its own id.",
                    code="duplicate-order-id",
                )
            )
    return repeated


def _final_reasons(decider: _Decider, decided) -> list[Decision]:
    """Write each blocked order against the exposure after all of this pass's approvals.

    An order blocked early in the pass is re-checked on the next pass, when the orders
    approved after it already count as pending. Deciding it again now gives the reason
    the next pass would write, so a pass on unchanged input writes nothing. Exposure
    only grows during a pass, so the order stays blocked. If another rule would release
    it, the decision on the exposure it was blocked on is kept.

    The first pass leaves blocked orders (without an override) undecided, as None with
    their exposure mark, table result, salesperson code, customer state and currency,
    so each blocked order's reason is built once.
    """
    return [
        decider.restate(order, *blocked) if decision is None else decision
        for order, decision, blocked in decided
    ]


def _to_decide(orders, as_of: dt.date):
    for order in orders:
        if (order.status or "").strip().upper() not in UNDECIDED:
            continue
        if order.order_date > as_of:
            continue
        if order.invoice_date is not None and order.invoice_date <= as_of:
            continue
        yield order


def _in_decision_order(orders) -> list[Order]:
    """Return `orders` sorted by order date, then row, keeping ties in input order.

    Two stable sorts on one attribute each give the same order as the key
    (order_date, ref.row). They take about a third of its time on the 200,000 orders
    of bench/bench_decisions.py (Python 3.11), because no key tuples are built and
    the orders are mostly in row order already.
    """
    ordered = list(orders)
    ordered.sort(key=ROW_KEY)
    ordered.sort(key=DATE_KEY)
    return ordered


ROW_KEY = operator.attrgetter("ref.row")
DATE_KEY = operator.attrgetter("order_date")
# The fields of an order's values that follow the exposure approved so far in a pass.
RUNNING_FIELDS = frozenset(
    ("pending", "exposure", "exposure_after", "salesperson_exposure_after")
)


class _Decider:
    """The running state of one pass: customer figures and exposure approved so far."""

    def __init__(
        self,
        rules: RuleSet,
        ledger,
        inputs: Inputs,
        as_of: dt.date,
        incomplete: IncompleteCustomers | None = None,
    ):
        self.rules = rules
        self.ledger = ledger
        self.as_of = as_of
        self.findings: list[Finding] = []
        self.writer = ReasonWriter(rules)
        self.table = decision_table(rules)
        self.customers = {c.customer_id: c for c in inputs.customers}
        # Customer ids by their casefold, built for the first unknown id.
        self.folded_ids: dict[str, str] | None = None
        self.held_customers = {
            row.key: row for row in inputs.held if row.kind == "customers" and row.key
        }
        self.approvers = {" ".join(a.split()).casefold(): a for a in rules.approvers}
        self.customer_cache: dict[str, _CustomerState] = {}
        self.added: dict[str, Decimal] = defaultdict(Decimal)  # approved this pass
        self.salesperson_exposure = self._salesperson_totals()
        self.salesperson_limits: dict[str, LimitResult] = {}
        # Order currency -> (FX rate or None, the currency code the values record).
        self.currencies: dict[str | None, tuple[Decimal | None, str]] = {}
        self.money = amount_formatter(rules.locale)
        # id of a table result -> (that result, whether ignores_exposure holds).
        self.exposure_free: dict[int, tuple[TableResult, bool]] = {}
        # (exposure mark, table result, salesperson code, customer state, currency
        # entry) of the last order `decide` left undecided as blocked.
        self.blocked: tuple | None = None
        self.incomplete = incomplete or IncompleteCustomers()
        self.any_incomplete = len(self.incomplete) > 0
        self.codes = {
            customer_id: (customer.salesperson or "").strip().upper()
            for customer_id, customer in self.customers.items()
        }
        # Salesperson (upper case) -> a customer of theirs whose exposure is unknown.
        self.incomplete_salespeople: dict[str, str] = {}
        for customer in sorted(
            self.customers.values(), key=operator.attrgetter("customer_id")
        ):
            if customer.salesperson and customer.customer_id in self.incomplete:
                key = customer.salesperson.strip().upper()
                self.incomplete_salespeople[key] = customer.customer_id

    def _salesperson_totals(self) -> dict[str, Decimal]:
        totals: dict[str, Decimal] = defaultdict(Decimal)
        for customer in self.customers.values():
            if customer.salesperson:
                account = self.ledger.account(customer.customer_id)
                if account.exposure > ZERO:
                    totals[customer.salesperson.strip().upper()] += account.exposure
        return totals

    def held_row(self, row) -> Decision:
        return self.writer.held(row.key, row.ref, row.reason, "")

    def customer(self, customer: Customer) -> _CustomerState:
        cached = self.customer_cache.get(customer.customer_id)
        if cached is None:
            account = self.ledger.account(customer.customer_id)
            values = customer_fields(self.rules, customer, account, self.as_of)
            band = find_rating(self.rules, customer.rating) or find_rating(
                self.rules, self.rules.default_rating
            )
            values["rating_limit"] = band.limit if band else ZERO
            limit = limit_from(self.rules, customer, values)
            values["customer_limit"] = limit.amount
            values["has_typed_limit"] = customer.credit_limit is not None
            values["warning_threshold"] = self.rules.warning_threshold
            salesperson = (customer.salesperson or "").strip()
            values["salesperson"] = salesperson
            values["salesperson_limit"] = self.salesperson_limit(salesperson)
            texts = self.writer.customer_inputs(values, limit)
            cached = _CustomerState(values, limit, texts)
            self.customer_cache[customer.customer_id] = cached
        return cached

    def decide_safely(
        self, order: Order, duplicate_rows: list[int] | None
    ) -> Decision | None:
        """Decide one order, holding it on a problem no rule can decide on.

        Returns None for an order the rules block and no override covers; `restate`
        writes its decision at the end of the pass. An arithmetic error holds this
        order alone with a finding, so one bad value never stops the pass.
        """
        problem = self.order_problem(order, duplicate_rows)
        if problem is not None:
            return self._held(order, problem)
        try:
            return self.decide(order, defer_blocked=True)
        except ArithmeticError as exc:
            logger.warning(
                "order %s held: %s: %s", order.order_id, type(exc).__name__, exc
            )
            self.findings.append(
                Finding(
                    str(order.ref),
                    f"order {order.order_id} could not be computed "
                    f"({type(exc).__name__}) with amount {order.amount}.",
                    "Check the amount and the customer's figures, then save again.",
                    code="decide-arithmetic",
                )
            )
            return self._held(
                order,
                f"the order could not be computed with amount {order.amount}. "
                "Check the amount",
            )

    def unknown_customer(self, customer_id: str) -> str:
        """Return the held reason of an order whose customer id is not in the sheet."""
        reason = f"customer '{customer_id}' is not in the customers sheet"
        if self.folded_ids is None:
            self.folded_ids = {known.casefold(): known for known in self.customers}
        close = self.folded_ids.get(customer_id.strip().casefold())
        if close is not None:
            reason += f". Did you mean '{close}'? Ids must match exactly"
        return reason

    def _held(self, order: Order, reason: str) -> Decision:
        """Return the held decision on `order` with `reason`."""
        return self.writer.held(order.order_id, order.ref, reason, order.customer_id)

    def order_problem(
        self, order: Order, duplicate_rows: list[int] | None
    ) -> str | None:
        """Return why the order cannot be decided from its own row, or None."""
        if duplicate_rows:
            other = next(row for row in duplicate_rows if row != order.ref.row)
            return (
                f"order id {order.order_id} is also in row {other}. "
                "Give each order its own id"
            )
        if order.amount <= ZERO:
            return (
                f"amount {self.money(order.amount)} is not a positive order amount. "
                "Enter a credit note as a negative amount with its Invoice No and "
                "Invoice Date"
            )
        if not self.any_incomplete:
            return None
        reason = self.incomplete.customer_reason(order.customer_id)
        if reason is not None:
            return reason.rstrip(".")
        customer = self.customers.get(order.customer_id)
        if customer is None and order.customer_id not in self.held_customers:
            # An unknown customer is the nearer problem, which `decide` reports.
            return None
        salesperson = (order.salesperson or "").strip() or (
            customer.salesperson if customer and customer.salesperson else ""
        )
        other = self.incomplete_salespeople.get(salesperson.strip().upper())
        if other is not None:
            detail = self.incomplete.customer_reason(other)
            return (
                f"the total exposure of salesperson {salesperson.strip()} is unknown: "
                f"{detail.rstrip('.')}"
            )
        return None

    def exposure_mark(self, order: Order) -> tuple:
        """Return the running exposure an order's decision depended on.

        It changes only when an order approved later in the pass belongs to the same
        customer or salesperson, which is when a blocked order's reason needs restating.
        """
        code = self.salesperson_code(order)
        return (self.added.get(order.customer_id), self.salesperson_exposure.get(code))

    def salesperson_code(self, order: Order) -> str:
        """Return the upper-case code of the salesperson an order counts against."""
        if order.salesperson:
            return order.salesperson.strip().upper()
        return self.codes.get(order.customer_id, "")

    def restate(
        self,
        order: Order,
        mark: tuple,
        result: TableResult,
        code: str,
        state: _CustomerState,
        currency: tuple[Decimal, str],
    ) -> Decision:
        """Return the decision of an order blocked on exposure `mark`, as of now.

        `result` is the table result on `mark`, which stays valid while the running
        exposure of the order's customer and salesperson (`code`) is at `mark`.
        `state` and `currency` are what `decide` found for the order: the checks
        that could hold it do not change during a pass.
        """
        now = (self.added.get(order.customer_id), self.salesperson_exposure.get(code))
        if now == mark or self.ignores_exposure(result):
            rate = currency[0]
            values, _ = self.order_values(order, state, rate, currency[1])
            return self.writer.decision(
                order, values, result, state.limit, rate, state.texts
            )
        decision = self.decide(order, commit=False)
        if decision.status == BLOCKED and decision.override_event is None:
            return decision
        if self.exposure_mark(order) == mark:
            return decision
        return self.decide_at(order, mark)

    def ignores_exposure(self, result: TableResult) -> bool:
        """Return whether no rule tried for `result` reads the running exposure.

        Then the rules match the same way whatever the exposure is.
        """
        known = self.exposure_free.get(id(result))
        if known is None or known[0] is not result:
            tried = self.rules.decision_rules[: len(result.matches)]
            free = not any(
                RUNNING_FIELDS.intersection(rule.condition.fields) for rule in tried
            )
            known = self.exposure_free[id(result)] = (result, free)
        return known[1]

    def decide_at(self, order: Order, mark: tuple) -> Decision:
        """Decide an order again on the running exposure `mark` it was blocked on."""
        keys = (order.customer_id, self.salesperson_code(order))
        tables = (self.added, self.salesperson_exposure)
        now = tuple(table.get(key) for table, key in zip(tables, keys))
        try:
            _set_all(tables, keys, mark)
            return self.decide(order, commit=False)
        finally:
            _set_all(tables, keys, now)

    def decide(
        self,
        order: Order,
        *,
        commit: bool = True,
        defer_blocked: bool = False,
        result: TableResult | None = None,
    ) -> Decision | None:
        """Decide one order; with `commit`, an approval adds to the running exposure.

        With `defer_blocked`, an order the rules block and no override covers gives
        None instead of its decision, and its exposure mark, table result,
        salesperson code, customer state and currency are kept in `blocked`. A
        `result` given is used in place of running the table.
        """
        held = (
            self.held_customers.get(order.customer_id) if self.held_customers else None
        )
        if held is not None:
            # The reason is written in the orders sheet, so it names the customers
            # sheet whose cell it quotes.
            return self._held(
                order,
                f"the customer's row in {held.ref.file} › {held.ref.sheet} could not "
                f"be read: {held.reason}",
            )
        state = self.customer_cache.get(order.customer_id)
        if state is None:
            customer = self.customers.get(order.customer_id)
            if customer is None:
                return self._held(order, self.unknown_customer(order.customer_id))
            state = self.customer(customer)
        limit = state.limit
        if limit.held_reason:
            return self._held(order, limit.held_reason)
        currency = self.currencies.get(order.currency)
        if currency is None:
            currency = self.currencies[order.currency] = (
                fx_rate(self.rules, order.currency),
                (order.currency or self.rules.base_currency).upper(),
            )
        rate = currency[0]
        if rate is None:
            return self._held(
                order,
                f"currency '{order.currency}' has no rate in the fx table of credit.yaml",
            )
        values, code = self.order_values(order, state, rate, currency[1])
        try:
            if result is None:
                result = self.table.run(values)
        except RuleEvaluationError as exc:
            return self._held(
                order,
                f"rule '{exc.rule.name}' ({exc.rule.where}) could not be evaluated: "
                f"{type(exc.error).__name__}",
            )
        if defer_blocked and result.outcome == "block" and order.override is None:
            mark = (
                self.added.get(order.customer_id),
                self.salesperson_exposure.get(code),
            )
            self.blocked = (mark, result, code, state, currency)
            return None
        decision = self.writer.decision(order, values, result, limit, rate, state.texts)
        if decision.status == BLOCKED and order.override is not None:
            decision = self.apply_override(order, decision, values, rate)
        if decision.status == APPROVED and commit:
            self.added[order.customer_id] += values["order_amount"]
            if code:
                self.salesperson_exposure[code] += salesperson_growth(values)
        return decision

    def order_values(
        self, order: Order, state: _CustomerState, rate: Decimal, currency: str
    ) -> tuple[dict[str, Any], str]:
        """Return the values the rules read for `order`, and its salesperson code."""
        values = dict(state.values)
        amount = order.amount if rate == 1 else (order.amount * rate).quantize(CENT)
        added = self.added.get(order.customer_id)
        if added is None:
            exposure = state.exposure
        else:
            values["pending"] = state.pending + added
            exposure = values["exposure"] = state.exposure + added
        after = exposure + amount
        values["order_id"] = order.order_id
        values["order_amount"] = amount
        values["order_currency"] = currency
        values["exposure_after"] = after
        salesperson, code = state.salesperson, state.code
        if order.salesperson and order.salesperson.strip() != salesperson:
            salesperson = values["salesperson"] = order.salesperson.strip()
            values["salesperson_limit"] = self.salesperson_limit(salesperson)
            code = salesperson.upper()
        if salesperson:
            # Written out salesperson_growth, because this runs for every order.
            floor_after = ZERO if after < ZERO else after  # noqa: FURB136
            floor_before = ZERO if exposure < ZERO else exposure  # noqa: FURB136
            values["salesperson_exposure_after"] = self.salesperson_exposure[code] + (
                floor_after - floor_before
            )
        else:
            values["salesperson_exposure_after"] = ZERO
        return values, code

    def salesperson_limit(self, salesperson: str) -> Decimal:
        if not salesperson:
            return ZERO
        limit = self.salesperson_limits.get(salesperson)
        if limit is None:
            limit = self.salesperson_limits[salesperson] = salesperson_limit_of(
                self.rules, salesperson
            )
        return limit.amount if limit.amount is not None else ZERO

    def apply_override(
        self, order: Order, decision: Decision, values, rate
    ) -> Decision:
        override = order.override
        name = " ".join(override.approver.split())
        approver = self.approvers.get(name.casefold())
        if approver is None:
            logger.warning(
                "override of order %s by %r ignored: not a listed approver",
                order.order_id,
                override.approver,
            )
            self.findings.append(
                Finding(
                    f"{order.ref}",
                    f"override of order {order.order_id} by '{override.approver}' "
                    "ignored: that name is not in the approvers of credit.yaml.",
                    "Ask a listed approver to sign the override, or add the name to "
                    "approvers in rules/credit.yaml.",
                    Severity.WARNING,
                    code="override-approver",
                )
            )
            return self.writer.with_override(
                decision, "rejected-approver", name, override, None
            )
        problem = override_problem(order, override, self.as_of, self.rules.locale)
        if problem:
            return self.writer.with_override(
                decision, "re-blocked", approver, override, problem
            )
        return self.writer.with_override(decision, "released", approver, override, None)


class _CustomerState:
    """One customer's figures for a pass, which each order's values start from."""

    __slots__ = (
        "code", "exposure", "limit", "pending", "salesperson", "texts", "values",
    )  # fmt: skip

    def __init__(self, values: dict[str, Any], limit: LimitResult, texts):
        self.values = values
        self.limit = limit
        self.texts = texts  # the recorded inputs as text (ReasonWriter.customer_inputs)
        # The customer's own figures, which order_values starts each order from.
        self.pending = values["pending"]
        self.exposure = values["exposure"]
        self.salesperson = values["salesperson"]
        self.code = self.salesperson.upper()


def _set_all(tables, keys, values) -> None:
    """Set each table's key to its value, removing the key where the value is None."""
    for table, key, value in zip(tables, keys, values):
        if value is None:
            table.pop(key, None)
        else:
            table[key] = value


def salesperson_growth(values: Mapping[str, Any]) -> Decimal:
    """Return how much the order adds to its salesperson's total.

    The total counts each customer's exposure at no less than zero, so an order that
    a customer's credit covers adds nothing, and one that uses up the credit adds
    only the part above it.
    """
    after, before = values["exposure_after"], values["exposure"]
    # max(x, ZERO) written out, because this runs for every order.
    floor_after = ZERO if after < ZERO else after  # noqa: FURB136
    floor_before = ZERO if before < ZERO else before  # noqa: FURB136
    return floor_after - floor_before


def override_problem(order: Order, override, as_of: dt.date, locale: str) -> str | None:
    """Return why the override does not cover the order, or None when it does."""
    money = amount_formatter(locale)
    if override.approved_amount is None:
        return "the override has no approved amount"
    if order.amount > override.approved_amount:
        return (
            f"the order's {money(order.amount)} {order.currency} is over the "
            f"{money(override.approved_amount)} approved"
        )
    if override.expires is not None and as_of > override.expires:
        return f"the override expired on {override.expires.isoformat()}"
    return None


def explain_decision(decision: Decision, locale: str = "en_US") -> str:
    """Return the full trace of a decision as text for `arrears-guard explain`."""
    from engine.rules.reasons import explain_text

    return explain_text(decision, locale)
