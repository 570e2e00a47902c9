"""The Reason sentence, the trace and the `explain` text of a decision.

A reason reads "Blocked: exposure would be 52,300.00 of a 50,000.00 limit (rating B)
— rule 'over-limit' credit.yaml:52": the outcome, the rule's own reason with its
placeholders filled in, and the rule's file and line. Reason templates are split
into parts once, and each rule's trace line is built once per pass, so a decision
only fills in numbers.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from babel.numbers import format_percent

from engine.rules import fields as catalogue
from engine.rules.decision import APPROVED, BLOCKED, HELD, Decision
from engine.rules.money import CACHE_SIZE, amount_formatter
from engine.rules.recorded import CustomerTexts, InputsLayout, RecordedInputs

PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
DEFAULT_APPROVE = (
    "exposure would be {exposure_after} of a {customer_limit} limit ({limit_how})"
)
DEFAULT_BLOCK = "no rule approved the order"
# Inputs recorded with every decision, besides the fields the rules read.
RECORDED = (
    "customer_id", "salesperson", "rating", "outstanding", "credit", "pending",
    "exposure", "order_amount", "order_currency", "exposure_after", "customer_limit",
    "salesperson_exposure_after", "salesperson_limit", "days_overdue", "overdue",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Verdict:
    """The parts of a decision fixed by which rules matched, shared by many orders."""

    status: str
    head: str  # "Blocked: "
    parts: list  # the reason template, split by ReasonWriter.parts
    tail: str  # " — rule 'over-limit' credit.yaml:49"
    rule: str
    where: str
    trace: tuple[str, ...]
    notify: tuple[str, ...]


# Kinds of reason placeholders: the limit's derivation, the FX note, an amount or
# any other field.
LIMIT_HOW, FX_NOTE, MONEY, TEXT = "limit_how", "fx_note", "money", "text"

MISSING = object()  # a field the customer's values do not have


PER_ORDER = frozenset(
    name for name, field in catalogue.FIELDS.items() if field.scope == catalogue.ORDER
) | {"pending", "exposure"}


def _kind(name: str) -> str:
    if name == LIMIT_HOW:
        return LIMIT_HOW
    if name == FX_NOTE:
        return FX_NOTE
    field = catalogue.FIELDS.get(name)
    return MONEY if field is not None and field.kind == catalogue.MONEY else TEXT


def short_where(where: str) -> str:
    """Return `credit.yaml:52` for `rules/credit.yaml:52:5`."""
    parts = where.rsplit(":", 2)
    if len(parts) < 3:
        return where
    return f"{parts[0].rsplit('/', 1)[-1]}:{parts[1]}"


class ReasonWriter:
    """Builds Decisions for one rule set, with its formatters and parsed reasons."""

    def __init__(self, rules):
        self.rules = rules
        self.money = amount_formatter(rules.locale)
        # str(amount) -> the amount as the Reason cell writes it.
        self.money_by_text: dict[str, str] = {}
        self.rate_format = amount_formatter(rules.locale, 4)
        self.warning_percent = format_percent(
            rules.warning_threshold, locale=rules.locale
        )
        self.templates: dict[str, list[tuple[str, str | None, bool]]] = {}
        self.lines = {
            id(rule): (
                f"{rule.name} ({rule.where}) {rule.outcome}: {rule.condition.text} "
                "-> no match",
                f"{rule.name} ({rule.where}) {rule.outcome}: {rule.condition.text} "
                "-> match",
            )
            for rule in rules.decision_rules
        }
        used = {name for rule in rules.decision_rules for name in rule.condition.fields}
        self.recorded = tuple(dict.fromkeys((*RECORDED, *sorted(used))))
        self.verdicts: dict[tuple, Verdict] = {}
        # id of a table result -> (that result, its verdict); the result is kept so
        # its id is not reused.
        self.shared: dict[int, tuple[Any, Verdict]] = {}
        self.fx_notes: dict[tuple[str, Decimal], tuple[str, str]] = {}
        # Recorded inputs that can differ between orders of one customer; the others
        # are turned into text once per customer by customer_inputs.
        self.per_order = tuple(n for n in self.recorded if n in PER_ORDER)
        self.per_customer = tuple(n for n in self.recorded if n not in PER_ORDER)
        self.layout = InputsLayout(
            (*self.per_customer, "limit_how", "limit_where"), self.per_order
        )
        self.amount_slot = self.per_order.index("order_amount")

    def customer_inputs(self, values: dict[str, Any], limit) -> CustomerTexts:
        """Return the recorded inputs as text for a customer's `values`.

        Inputs that can differ between orders keep the text of the customer's values
        ("" for order fields) in `slots`. `decision` turns the ones an order changes
        into text again.
        """
        texts = [str(values[name]) for name in self.per_customer]
        texts += (limit.how, limit.where)
        befores = []
        slot_texts = []
        for name in self.per_order:
            value = values.get(name, MISSING)
            befores.append(value)
            slot_texts.append("" if value is MISSING else str(value))
        return CustomerTexts(
            self.layout, tuple(texts), tuple(befores), tuple(slot_texts)
        )

    def parts(self, template: str) -> list[tuple[str, str | None, str, int | None]]:
        """Split a reason into (text, placeholder, kind, input slot) parts, once.

        The warning percentage is the same for every order, so it joins the text.
        The slot is the position of an amount among an order's own recorded inputs,
        or None when the order does not record it as its own.
        """
        parts = self.templates.get(template)
        if parts is None:
            parts = []
            text = ""
            position = 0
            for match in PLACEHOLDER.finditer(template):
                name = match.group(1)
                text += template[position : match.start()]
                position = match.end()
                if name == "warning_percent":
                    text += self.warning_percent
                    continue
                kind = _kind(name)
                slot = None
                if kind is MONEY and name in self.per_order:
                    slot = self.per_order.index(name)
                parts.append((text, name, kind, slot))
                text = ""
            parts.append((text + template[position:], None, TEXT, None))
            self.templates[template] = parts
        return parts

    def fill(
        self, parts, values: dict[str, Any], own, limit_how: str, fx_note: str
    ) -> str:
        """Fill a split reason template with formatted values.

        `own` is the order's recorded inputs as text (str of each value). An amount
        among them is looked up by that text, because hashing a new Decimal takes
        about 0.5 µs (Python 3.11, a 2-core AMD EPYC), several times as long as
        hashing a new str.
        """
        cache = self.money.cache
        by_text = self.money_by_text
        out = []
        for literal, name, kind, slot in parts:
            out.append(literal)
            if name is None:
                continue
            if kind is MONEY:
                if slot is not None:
                    key = own[slot]
                    text = by_text.get(key)
                    if text is None:
                        if len(by_text) >= CACHE_SIZE:
                            by_text.clear()
                        text = by_text[key] = self.money(values[name])
                    out.append(text)
                    continue
                value = values[name]
                text = cache.get(value)
                out.append(self.money(value) if text is None else text)
            elif kind is LIMIT_HOW:
                out.append(limit_how)
            elif kind is FX_NOTE:
                out.append(fx_note)
            else:
                out.append(str(values.get(name, "")))
        return "".join(out)

    def held(self, order_id: str, ref, reason: str, customer_id: str) -> Decision:
        return Decision(
            order_id=order_id, ref=ref, status=HELD, warning=False,
            reason=f"Held: {reason}.", rule="", rule_where="", inputs={},
            trace=(f"held: {reason}",), notify=(), override_event=None,
            customer_id=customer_id,
        )  # fmt: skip

    def verdict(self, result) -> Verdict:
        """Return the parts of a decision that depend only on which rules matched."""
        # run_table shares one result per way the rules matched, so most lookups
        # find the result itself; the key by content covers results made elsewhere.
        shared = self.shared.get(id(result))
        if shared is not None and shared[0] is result:
            return shared[1]
        key = (id(result.rule), id(result.warning), result.outcome, result.matches)
        verdict = self.verdicts.get(key)
        if verdict is None:
            verdict = self.verdicts[key] = self._verdict(result)
        if len(self.shared) < 256:
            self.shared[id(result)] = (result, verdict)
        return verdict

    def _verdict(self, result) -> Verdict:
        rules = self.rules
        rule, warning = result.rule, result.warning
        if result.outcome == "block":
            status, head = BLOCKED, "Blocked"
            text = (rule.reason or rule.condition.text) if rule else DEFAULT_BLOCK
            notify = rule.notify if rule else ()
        elif warning is not None and rule is None:
            status, head, rule = APPROVED, "Approved with warning", warning
            text = warning.reason or warning.condition.text
            notify = warning.notify or rules.warning_notify
        else:
            status, head = APPROVED, "Approved"
            text = (rule.reason or rule.condition.text) if rule else DEFAULT_APPROVE
            notify = rule.notify if rule else ()
        if warning is not None and status == APPROVED:
            head = "Approved with warning"
            notify = tuple(
                dict.fromkeys((*notify, *(warning.notify or rules.warning_notify)))
            )
        where = rule.where if rule else rules.where.get("default", "")
        label = f"rule '{rule.name}'" if rule else "default"
        tried = rules.decision_rules[: len(result.matches)]
        trace = tuple(self.lines[id(r)][m] for r, m in zip(tried, result.matches))
        if rule is None:
            trace += (f"default ({where}): {result.outcome}",)
        return Verdict(
            status, f"{head}: ", self.parts(text), f" — {label} {short_where(where)}",
            rule.name if rule else "default", where, trace, notify,
        )  # fmt: skip

    def decision(
        self, order, values, result, limit, rate: Decimal, base: CustomerTexts
    ) -> Decision:
        """Return the decision on an order's `values`.

        `base` is the customer's `customer_inputs`; only the inputs whose value the
        order changed are turned into text again.
        """
        verdict = self.verdict(result)
        currency = values["order_currency"]
        foreign = rate != 1
        fx_note = ""
        if foreign:
            fx_note, rate_text = self.fx_note(currency, rate)
        own = [
            text if (value := values[name]) is before else str(value)
            for name, before, text in zip(self.per_order, base.befores, base.slot_texts)
        ]
        reason = (
            verdict.head
            + self.fill(verdict.parts, values, own, limit.how, fx_note)
            + fx_note
            + verdict.tail
        )
        if foreign:
            own.append(rate_text)
            amount = str(order.amount)
        else:
            amount = own[self.amount_slot]
        inputs = RecordedInputs(base, tuple(own))
        # A frozen dataclass's __init__ sets each field through object.__setattr__,
        # a fifth of a decision's cost; setting __dict__ directly gives the same object.
        decision = object.__new__(Decision)
        object.__setattr__(decision, "__dict__", {
            "order_id": order.order_id, "ref": order.ref, "status": verdict.status,
            "warning": result.warning is not None, "reason": reason,
            "rule": verdict.rule, "rule_where": verdict.where, "inputs": inputs,
            "trace": verdict.trace, "notify": verdict.notify, "override_event": None,
            "customer_id": order.customer_id, "salesperson": values["salesperson"],
            "override_by": "", "override_reason": "", "amount": amount,
            "currency": currency,
        })  # fmt: skip
        return decision

    def fx_note(self, currency: str, rate: Decimal) -> tuple[str, str]:
        """Return the FX note of the reason and the rate as text, once per currency."""
        key = (currency, rate)
        note = self.fx_notes.get(key)
        if note is None:
            note = (f" ({currency} at {self.rate_format(rate)})", str(rate))
            self.fx_notes[key] = note
        return note

    def with_override(self, decision, event: str, approver: str, override, problem):
        why = override.reason or "no reason given"
        if event == "released":
            cap = ""
            if override.approved_amount is not None:
                cap = f" up to {self.money(override.approved_amount)}"
            until = f" until {override.expires.isoformat()}" if override.expires else ""
            reason = (
                f"Approved by override of {approver}{cap}{until} ({why}); the rules "
                f"would block: {decision.reason.removeprefix('Blocked: ')}"
            )
            line = f"override by {approver}: released ({why})"
            return dataclasses.replace(
                decision, status=APPROVED, reason=reason, override_event=event,
                trace=decision.trace + (line,), override_by=approver,
                override_reason=why,
            )  # fmt: skip
        if event == "re-blocked":
            line = f"override by {approver} does not apply: {problem}"
            reason = (
                f"{decision.reason}; override by {approver} does not apply: {problem}"
            )
        else:
            line = f"override by '{approver}' ignored: not a listed approver"
            reason = (
                f"{decision.reason}; override by '{approver}' ignored: not an approver"
            )
        return dataclasses.replace(
            decision, reason=reason, override_event=event,
            trace=decision.trace + (line,), override_by=approver, override_reason=why,
        )  # fmt: skip


def explain_text(decision: Decision, locale: str = "en_US") -> str:
    """Return the full trace of a decision: exposure parts, limit, rules tried."""
    money = amount_formatter(locale)
    inputs = decision.inputs

    def amount(name: str) -> str:
        value = inputs.get(name)
        return money(Decimal(value)) if value not in (None, "") else "-"

    warning = " with warning" if decision.warning else ""
    lines = [
        f"Order {decision.order_id} ({decision.ref}): {decision.status}{warning}",
        f"Reason: {decision.reason}",
    ]
    if decision.rule:
        lines.append(f"Decided by: {decision.rule} ({decision.rule_where})")
    if inputs:
        currency = inputs.get("order_currency", "")
        fx = f" (in {currency} at {inputs['fx_rate']})" if "fx_rate" in inputs else ""
        lines += [
            f"Customer: {inputs.get('customer_id', '')}, rating "
            f"{inputs.get('rating') or 'none'}",
            "Exposure:",
            f"  outstanding      {amount('outstanding'):>16}",
            # exposure = outstanding - credit + pending, as docs/rules.md defines it.
            f"  less credit      {amount('credit'):>16}",
            f"  pending          {amount('pending'):>16}",
            f"  this order       {amount('order_amount'):>16}{fx}",
            f"  exposure after   {amount('exposure_after'):>16}",
            f"Limit: {amount('customer_limit')} ({inputs.get('limit_how', '')}, "
            f"{inputs.get('limit_where', '')})",
            f"Overdue: {amount('overdue')}, oldest {inputs.get('days_overdue', '0')} days",
        ]
        if inputs.get("salesperson"):
            lines.append(
                f"Salesperson {inputs['salesperson']}: exposure after "
                f"{amount('salesperson_exposure_after')} of a "
                f"{amount('salesperson_limit')} limit"
            )
        shown = [
            k
            for k in inputs
            if k not in RECORDED and k not in ("limit_how", "limit_where", "fx_rate")
        ]
        for name in shown:
            lines.append(f"  {name} = {inputs[name]}")
    lines.append("Rules tried:")
    for number, line in enumerate(decision.trace, start=1):
        lines.append(f"  {number}. {line}")
    if decision.notify:
        lines.append("Notify: " + ", ".join(decision.notify))
    return "\n".join(lines)
