"""Plan which letters are due today: reminders, thank-you notes, salesperson notices.

Planning is pure: it reads the ledger of open items, the customers, the rules and
the send ledger, and returns letters without sending anything.

- A customer gets at most one reminder per pass, at the highest dunning level any of
  their items has reached. It lists every item due for a reminder, each with its own
  level. Two reminders to one customer are never closer than `quiet_days`.
- An item is named again at the same level only after that level's `repeat_days`
  (never, when the level has no repeat interval).
- A promised payment date pauses reminders for the item until the date plus
  `promise_grace_days`; afterwards the item resumes at the level its days overdue
  have reached by then.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from engine.findings import Finding, Severity
from engine.mail.formatting import round_money
from engine.mail.ledger import SendLedger
from engine.mail.ledger_lookup import lookup_for
from engine.mail.letter import NOTICE, REMINDER, THANK_YOU, Letter, LetterItem
from engine.model import Customer, Order, Payment
from engine.rules.model import DunningLevel, RuleSet

log = logging.getLogger(__name__)


def today_in(rules: RuleSet, now: dt.datetime | None = None) -> dt.date:
    """Return today's date in the agency's time zone from the rules."""
    now = now or dt.datetime.now(dt.UTC)
    return now.astimezone(ZoneInfo(rules.timezone)).date()


def level_for(levels: Iterable[DunningLevel], days_overdue: int) -> DunningLevel | None:
    """Return the highest dunning level whose day range contains `days_overdue`."""
    matching = [
        level
        for level in levels
        if level.min_days <= days_overdue
        and (level.max_days is None or days_overdue <= level.max_days)
    ]
    return max(matching, key=lambda level: level.level, default=None)


def collect_promised_dates(
    orders: Iterable[Order], payments: Iterable[Payment]
) -> dict[str, dt.date]:
    """Return the latest promised payment date per order id and invoice id."""
    promised: dict[str, dt.date] = {}

    def note(key: str | None, date: dt.date | None) -> None:
        if key and date and (key not in promised or promised[key] < date):
            promised[key] = date

    for order in orders:
        note(order.order_id, order.promised_date)
        note(order.invoice_id, order.promised_date)
    for payment in payments:
        note(payment.reference, payment.promised_date)
    return promised


def _item_id(item: Any) -> str:
    return item.invoice_id or item.order.order_id


def _open_in_item_currency(item: Any, rules: RuleSet) -> tuple[Decimal, str]:
    """Return the open amount in the order's currency (the ledger keeps base currency)."""
    order = item.order
    explicit = getattr(item, "open_amount_currency", None)
    if explicit is not None:
        return explicit, order.currency
    if order.currency == rules.base_currency:
        return item.open_amount, order.currency
    rate = rules.fx_rates.get(order.currency)
    if not rate:
        return item.open_amount, rules.base_currency
    return round_money(item.open_amount / rate, order.currency), order.currency


def letter_item(item: Any, level: int, rules: RuleSet) -> LetterItem:
    """Return a ledger open item as a letter item, in the order's currency."""
    open_amount, currency = _open_in_item_currency(item, rules)
    amount = item.order.amount if currency == item.order.currency else item.amount
    return LetterItem(
        item_id=_item_id(item),
        order_id=item.order.order_id,
        due_date=item.due_date,
        amount=amount,
        open_amount=open_amount,
        currency=currency,
        days_overdue=item.days_overdue,
        level=level,
        ref=item.order.ref,
    )


def _is_paused(
    item: Any, promised: Mapping[str, dt.date], rules: RuleSet, as_of: dt.date
) -> bool:
    dates = [
        item.order.promised_date,
        promised.get(_item_id(item)),
        promised.get(item.order.order_id),
    ]
    latest = max((date for date in dates if date), default=None)
    return latest is not None and as_of <= latest + dt.timedelta(
        days=rules.promise_grace_days
    )


def _due_items(
    customer_id: str,
    account: Any,
    rules: RuleSet,
    as_of: dt.date,
    sent: SendLedger,
    promised: Mapping[str, dt.date],
) -> list[tuple[Any, DunningLevel]]:
    due = []
    lowest = _lowest_min_days(rules)
    for item in account.open_items:
        # No level starts below `lowest`, so `level_for` would return None.
        if lowest is None or item.days_overdue < lowest:
            continue
        level = level_for(rules.dunning_levels, item.days_overdue)
        if (
            level is None
            or item.open_amount <= 0
            or _is_paused(item, promised, rules, as_of)
        ):
            continue
        last = sent.last_item_date(customer_id, REMINDER, _item_id(item), level.level)
        if last is not None and (
            level.repeat_days is None or (as_of - last).days < level.repeat_days
        ):
            continue
        due.append((item, level))
    return due


def _lowest_min_days(rules: RuleSet) -> int | None:
    return min((level.min_days for level in rules.dunning_levels), default=None)


def _reminder_candidates(rules: RuleSet, ledger: Any) -> tuple[list[str], list[str]]:
    """Return the customers and items that may be due for a reminder.

    These are the open items at or above the lowest level's days overdue, a
    superset of the due ones. An account without such an item gets no reminder.
    """
    lowest = _lowest_min_days(rules)
    customer_ids: list[str] = []
    item_ids: list[str] = []
    if lowest is None:
        return customer_ids, item_ids
    for customer_id, account in ledger.accounts.items():
        candidates = [
            _item_id(item)
            for item in account.open_items
            if item.days_overdue >= lowest and item.open_amount > 0
        ]
        if candidates:
            item_ids.extend(candidates)
            customer_ids.append(customer_id)
    return customer_ids, item_ids


def _recipients(
    roles: Iterable[str], customer: Customer, rules: RuleSet
) -> tuple[tuple[str, ...], list[Finding]]:
    """Return the addresses for a letter's roles and findings for missing addresses."""
    addresses: list[str] = []
    findings: list[Finding] = []
    contacts = rules.contacts
    for role in roles:
        if role == "customer":
            if customer.email:
                addresses.append(customer.email)
            else:
                findings.append(
                    Finding(
                        where=str(customer.ref),
                        message=f"customer {customer.customer_id} has no e-mail address, "
                        "so the reminder cannot be sent to them.",
                        fix="Enter the address in the Email column.",
                        code="mail-no-address",
                    )
                )
        elif role == "salesperson":
            address = contacts.salespeople.get(customer.salesperson or "")
            if address:
                addresses.append(address)
        elif role == "finance":
            addresses.extend(contacts.finance)
        elif role in ("manager", "managers"):
            addresses.extend(contacts.managers)
    return tuple(dict.fromkeys(addresses)), findings


def plan_reminders(
    rules: RuleSet,
    ledger: Any,
    customers: Mapping[str, Customer],
    as_of: dt.date,
    sent: SendLedger,
    *,
    promised: Mapping[str, dt.date] | None = None,
    held: Collection[str] = (),
) -> tuple[list[Letter], list[Finding]]:
    """Return the reminder letters due on `as_of` and findings about missing data.

    `ledger` is the pass's ledger of open items (`accounts[customer_id].open_items`).
    `promised` maps order and invoice ids to promised payment dates from the payments
    sheet (see `collect_promised_dates`). Order rows' own promised dates are read from
    the items. `held` names customers whose row could not be read. They get no
    letter, and the finding on their row gives the reason.
    """
    letters: list[Letter] = []
    findings: list[Finding] = []
    customer_ids, item_ids = _reminder_candidates(rules, ledger)
    lookup = lookup_for(sent)
    if lookup is not None:
        # Every send-ledger query below is about these customers and items.
        lookup.load_item_dates(REMINDER, item_ids)
        lookup.load_letter_dates(REMINDER, customer_ids)
        lookup.load_sent_counts(REMINDER, customer_ids, as_of)
        sent = lookup
    for customer_id in sorted(customer_ids):
        account = ledger.accounts[customer_id]
        due = _due_items(customer_id, account, rules, as_of, sent, promised or {})
        if not due:
            continue
        customer = customers.get(customer_id)
        if customer is None and customer_id in held:
            log.info("%s: customers row is held, so no reminder is planned", customer_id)
            continue
        if customer is None:
            findings.append(
                Finding(
                    where="customers",
                    message=f"customer {customer_id} has overdue items but no customers row.",
                    fix="Add the customer to the customers sheet.",
                    code="mail-unknown-customer",
                )
            )
            continue
        last = sent.last_letter_date(customer_id, REMINDER)
        if last is not None and (as_of - last).days < rules.quiet_days:
            log.info(
                "%s: last reminder on %s, within the quiet days", customer_id, last
            )
            continue
        earlier = sent.count_sent(customer_id, REMINDER, as_of)
        letter, letter_findings = _reminder(customer, due, rules, as_of, earlier)
        findings.extend(letter_findings)
        if letter is not None:
            letters.append(letter)
    return letters, findings


def _reminder(
    customer: Customer,
    due: list[tuple[Any, DunningLevel]],
    rules: RuleSet,
    as_of: dt.date,
    earlier_reminders: int,
) -> tuple[Letter | None, list[Finding]]:
    top = max((level for _, level in due), key=lambda level: level.level)
    to, cc, findings = _reminder_recipients(customer, top, rules)
    if not to:
        return None, findings
    items = sorted(
        (letter_item(item, level.level, rules) for item, level in due),
        key=lambda item: (-item.days_overdue, item.item_id),
    )
    letter = Letter(
        kind=REMINDER,
        template=top.template,
        as_of=as_of,
        recipient_id=customer.customer_id,
        to=to,
        cc=cc,
        language=customer.language or rules.fallback_language,
        level=top.level,
        customer=customer,
        items=tuple(items),
        # Templates mention earlier reminders only when the send ledger has them.
        context={"level_name": top.name, "earlier_reminders": earlier_reminders},
    )
    return letter, findings


def _reminder_recipients(
    customer: Customer, top: DunningLevel, rules: RuleSet
) -> tuple[tuple[str, ...], tuple[str, ...], list[Finding]]:
    """Return To and Cc for a reminder at level `top`, and findings for gaps.

    The customer gets the letter with the level's internal roles in copy. A level
    without the "customer" role goes to its internal roles only.
    """
    internal_roles = [role for role in top.recipients if role != "customer"]
    to, findings = _recipients(
        ["customer"] if "customer" in top.recipients else internal_roles,
        customer,
        rules,
    )
    cc, _ = _recipients(
        internal_roles if "customer" in top.recipients else [], customer, rules
    )
    return to, tuple(address for address in cc if address not in to), findings


def replan_reminder(
    letter: Letter, items: tuple[LetterItem, ...], rules: RuleSet
) -> Letter:
    """Return the reminder naming only `items`, at the highest level among them.

    Used when payments arrived after planning. The level sets the template, the
    level name and the copies (a level 3 letter copies finance, a level 1 letter
    does not), as planning would have chosen them for these items.
    """
    by_number = {level.level: level for level in rules.dunning_levels}
    top = by_number.get(max((item.level for item in items), default=letter.level))
    if top is None or letter.customer is None:
        return letter.with_items(items)
    to, cc, _ = _reminder_recipients(letter.customer, top, rules)
    return dataclasses.replace(
        letter,
        items=items,
        level=top.level,
        template=top.template,
        to=to or letter.to,
        cc=cc if to else letter.cc,
        context={**letter.context, "level_name": top.name},
    )


def plan_thank_you_notes(
    rules: RuleSet,
    ledger: Any,
    customers: Mapping[str, Customer],
    as_of: dt.date,
    sent: SendLedger,
) -> list[Letter]:
    """Return thank-you notes for customers who paid everything overdue since a reminder."""
    if not rules.send_thank_you:
        return []
    # Only customers with a reminder handed over can get a thank-you note.
    reminded: Iterable[str] = customers
    lookup = lookup_for(sent)
    if lookup is not None:
        lookup.load_letter_dates(REMINDER, customers)
        reminded = [
            customer_id
            for customer_id in customers
            if lookup.last_letter_date(customer_id, REMINDER) is not None
        ]
        lookup.load_letter_dates(THANK_YOU, reminded)
        sent = lookup
    letters = []
    for customer_id in sorted(reminded):
        customer = customers[customer_id]
        last_reminder = sent.last_letter_date(customer_id, REMINDER)
        if last_reminder is None or not customer.email:
            continue
        last_thanks = sent.last_letter_date(customer_id, THANK_YOU)
        if last_thanks is not None and last_thanks >= last_reminder:
            continue
        account = ledger.accounts.get(customer_id)
        items = account.open_items if account is not None else []
        if any(item.days_overdue > 0 and item.open_amount > 0 for item in items):
            continue
        letters.append(
            Letter(
                kind=THANK_YOU,
                template="thank_you",
                as_of=as_of,
                recipient_id=customer_id,
                to=(customer.email,),
                language=customer.language or rules.fallback_language,
                customer=customer,
            )
        )
    return letters


def plan_salesperson_notices(
    rules: RuleSet,
    decisions: Iterable[Any],
    customers: Mapping[str, Customer],
    as_of: dt.date,
    sent: SendLedger,
) -> tuple[list[Letter], list[Finding]]:
    """Return one notice per salesperson naming orders newly blocked or warned.

    A decision is reported once per order and outcome, so a salesperson is not notified
    again on every pass about an order that stays blocked.
    """
    by_salesperson: dict[str, list[tuple[LetterItem, Any]]] = defaultdict(list)
    decisions = list(decisions)
    lookup = lookup_for(sent)
    if lookup is not None:
        lookup.load_item_dates(
            NOTICE,
            (
                notice_item_id(decision)
                for decision in decisions
                if decision.status == "BLOCKED" or decision.warning
            ),
        )
        sent = lookup
    for decision in decisions:
        if decision.status != "BLOCKED" and not decision.warning:
            continue
        code = notice_salesperson(decision, customers)
        if not code:
            continue
        item_id = notice_item_id(decision)
        if sent.last_item_date(code, NOTICE, item_id) is not None:
            continue
        item = LetterItem(
            item_id=item_id,
            order_id=decision.order_id,
            due_date=None,
            amount=Decimal(0),
            open_amount=Decimal(0),
            currency=rules.base_currency,
            days_overdue=0,
            level=0,
        )
        by_salesperson[code].append((item, decision))

    letters: list[Letter] = []
    findings: list[Finding] = []
    for code, entries in sorted(by_salesperson.items()):
        address = rules.contacts.salespeople.get(code)
        if not address:
            findings.append(
                Finding(
                    where="rules: contacts.salespeople",
                    message=f"salesperson {code} has no e-mail address, so they get no notice "
                    f"about {len(entries)} blocked or warned order(s).",
                    fix=f"Add {code} with an address under contacts.salespeople.",
                    severity=Severity.WARNING,
                    code="mail-no-salesperson-address",
                )
            )
            continue
        decisions_context = [
            _decision_context(decision, customers) for _, decision in entries
        ]
        letters.append(
            Letter(
                kind=NOTICE,
                template="salesperson_notice",
                as_of=as_of,
                recipient_id=code,
                to=(address,),
                language=rules.fallback_language,
                items=tuple(item for item, _ in entries),
                context={"decisions": decisions_context, "salesperson_code": code},
            )
        )
    return letters, findings


def outcome_text(status: str, warning: bool) -> str:
    """Return a decision as staff read it: "blocked", "approved with a warning"."""
    if status == "APPROVED" and warning:
        return "approved with a warning"
    return status.lower()


def notice_salesperson(decision: Any, customers: Mapping[str, Customer]) -> str | None:
    """Return the code of the salesperson a notice about `decision` goes to."""
    customer = customers.get(decision.customer_id)
    return decision.salesperson or (customer.salesperson if customer else None)


def notice_item_id(decision: Any) -> str:
    """Return the id a notice records for `decision`: order, outcome and warning."""
    warning = ":warning" if decision.warning else ""
    return f"{decision.order_id}:{decision.status}{warning}"


def _decision_context(
    decision: Any, customers: Mapping[str, Customer]
) -> dict[str, Any]:
    customer = customers.get(decision.customer_id)
    return {
        "order_id": decision.order_id,
        "status": decision.status,
        "warning": bool(decision.warning),
        "outcome": outcome_text(decision.status, bool(decision.warning)),
        "reason": decision.reason or "",
        "customer_id": decision.customer_id,
        "customer_name": customer.name if customer else decision.customer_id,
    }
