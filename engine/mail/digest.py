"""Digests for managers and salespeople, with an aging chart for managers.

The manager digest lists blocked and held orders, customers the pass could not
evaluate, customers over or near their credit limit, aging totals by salesperson
(which add up to the ledger's totals to the cent, without the customers not
evaluated), letters sent, failures and letters whose delivery is uncertain. The HTML part
carries the aging chart as an inline PNG (a `cid:` related part).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import logging
import os
import tempfile
from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

from engine.findings import Finding
from engine.mail import chart
from engine.mail.aging_ahead import AgingAhead
from engine.mail.formatting import round_money
from engine.mail.letter import DIGEST, NOTICE, Letter
from engine.mail.render import LetterRenderer
from engine.model import Customer
from engine.rules.model import RuleSet

BUCKETS = (
    "not_due",
    "overdue_1_30",
    "overdue_31_60",
    "overdue_61_90",
    "overdue_over_90",
)
BUCKET_LABELS = ("Not due", "1-30", "31-60", "61-90", "Over 90")
CHART_PREFIX = "aging-chart-"

log = logging.getLogger(__name__)
OVERDUE_BUCKETS = BUCKETS[1:]
UNASSIGNED = "(none)"


@dataclass(slots=True)
class DigestData:
    """Data of one pass that a digest reports."""

    as_of: dt.date
    base_currency: str
    decisions: list[
        Any
    ]  # objects with order_id, status, warning, reason, customer_id, salesperson
    ledger: Any  # accounts[customer_id] with open_items, outstanding, overdue, buckets, exposure
    customers: Mapping[str, Customer]
    limits: dict[str, Decimal | None] = field(default_factory=dict)
    letters_sent: list[Letter] = field(default_factory=list)
    failures: list[Finding] = field(default_factory=list)
    uncertain: list[Any] = field(default_factory=list)  # LedgerEntry rows
    findings: list[Finding] = field(default_factory=list)
    # Customers the pass could not evaluate (unreadable rows, a currency without a
    # rate), with the reason. Their figures are left out of the aging totals.
    held_customers: dict[str, str] = field(default_factory=dict)
    # The scheduled digest day this digest is for, or None for a digest sent every
    # pass. A scheduled digest's send-ledger key is its recipient and this day, so a
    # pass that plans the same slot's digest again finds it already sent.
    slot: dt.date | None = None
    # Customer ids per salesperson, kept on first use (`_customers_by_salesperson`).
    by_salesperson: dict[str, list[str]] | None = field(
        default=None, init=False, repr=False, compare=False
    )


def _salesperson_of(customer_id: str, customers: Mapping[str, Customer]) -> str:
    customer = customers.get(customer_id)
    return (customer.salesperson if customer else None) or UNASSIGNED


def aging_by_salesperson(
    ledger: Any,
    customers: Mapping[str, Customer],
    currency: str = "EUR",
    left_out: Collection[str] = (),
) -> tuple[list[dict[str, Any]], dict[str, Decimal]]:
    """Return aging rows per salesperson and the all-customers totals.

    Each customer's bucket is rounded half-up to the cent first, as the customers
    sheet shows it, so that every printed row and total adds up to the cent. The
    totals are summed over the accounts directly, not over the rows. Accounts of
    the customer ids in `left_out` are not counted.
    """
    # Sums per bucket, in the order of BUCKETS, per salesperson and for everyone.
    rows: dict[str, list[Decimal]] = {}
    totals = [Decimal(0)] * len(BUCKETS)
    zero = Decimal(0)
    # The quantum `round_money` rounds to, looked up once instead of per amount.
    quantum = round_money(Decimal(1), currency)
    for customer_id, account in ledger.accounts.items():
        if customer_id in left_out:
            continue
        salesperson = _salesperson_of(customer_id, customers)
        row = rows.get(salesperson)
        if row is None:
            row = rows[salesperson] = [Decimal(0)] * len(BUCKETS)
        buckets = account.buckets
        for index, bucket in enumerate(BUCKETS):
            amount = buckets.get(bucket, zero)
            if type(amount) is Decimal:
                amount = amount.quantize(quantum, rounding=ROUND_HALF_UP)
            else:
                amount = round_money(amount, currency)
            row[index] += amount
            totals[index] += amount
    result = []
    for salesperson in sorted(rows):
        row = dict(zip(BUCKETS, rows[salesperson], strict=True))
        result.append(
            {"salesperson": salesperson, **row, "total": sum(row.values(), Decimal(0))}
        )
    total_row = dict(zip(BUCKETS, totals, strict=True))
    total_row["total"] = sum((total_row[bucket] for bucket in BUCKETS), Decimal(0))
    total_row["overdue"] = sum(
        (total_row[bucket] for bucket in OVERDUE_BUCKETS), Decimal(0)
    )
    return result, total_row


def limit_watch(data: DigestData, threshold: Decimal) -> list[dict[str, Any]]:
    """Return customers whose exposure reaches `threshold` of their limit, highest first."""
    rows = []
    for customer_id, limit in data.limits.items():
        account = data.ledger.accounts.get(customer_id)
        if limit is None or limit <= 0 or account is None:
            continue
        if customer_id in data.held_customers:
            continue
        exposure = account.exposure
        if exposure < limit * threshold:
            continue
        customer = data.customers.get(customer_id)
        utilisation = (exposure * 100 / limit).quantize(
            Decimal("0.1"), rounding=ROUND_HALF_UP
        )
        rows.append(
            {
                "customer_id": customer_id,
                "customer_name": customer.name if customer else customer_id,
                "exposure": exposure,
                "limit": limit,
                "utilisation": utilisation,
                "over": exposure > limit,
            }
        )
    return sorted(rows, key=lambda row: row["utilisation"], reverse=True)


def aging_chart_png(aging: list[dict[str, Any]], currency: str) -> bytes:
    """Draw a stacked bar chart of aging buckets per salesperson as PNG bytes."""
    return chart.aging_chart_png(aging, BUCKETS, BUCKET_LABELS, currency)


def _chart_key(aging: list[dict[str, Any]], currency: str) -> str:
    """Return a SHA-256 over the chart's data, drawing module, font and Pillow version."""
    # Imported here: importlib.metadata and its imports take several milliseconds,
    # and the key is needed only when a manager digest is built.
    from importlib.metadata import PackageNotFoundError, version

    try:
        pillow_version = version("pillow")
    except PackageNotFoundError:
        pillow_version = ""
    data = [
        [row["salesperson"], *(str(row[bucket]) for bucket in BUCKETS)] for row in aging
    ]
    text = json.dumps([data, currency, BUCKET_LABELS, pillow_version, chart.font_in_use()])
    digest = hashlib.sha256(text.encode("utf-8"))
    digest.update(_chart_code())
    return digest.hexdigest()


@functools.cache
def _chart_code() -> bytes:
    """Return the drawing module's source, so an edit to it draws the chart again."""
    return Path(chart.__file__).read_bytes()


def cached_aging_chart(
    aging: list[dict[str, Any]], currency: str, cache_dir: Path | None
) -> bytes:
    """Return the aging chart PNG, drawn only when its data changed since the last one.

    The aging is often unchanged between passes, so the last chart is reused. The last chart is kept in `cache_dir`.
    """
    path = chart_path(aging, currency, cache_dir)
    if path is None:
        return aging_chart_png(aging, currency)
    png = read_chart(path)
    if png is not None:
        return png
    png = aging_chart_png(aging, currency)
    keep_chart(path, png)
    return png


def chart_path(
    aging: list[dict[str, Any]], currency: str, cache_dir: Path | None
) -> Path | None:
    """Return the file that keeps the chart of this aging, or None without a folder."""
    if cache_dir is None:
        return None
    return cache_dir / f"{CHART_PREFIX}{_chart_key(aging, currency)[:32]}.png"


def read_chart(path: Path | None) -> bytes | None:
    """Return the kept chart's PNG, or None when there is none."""
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError:
        return None


def keep_chart(path: Path, png: bytes) -> None:
    """Keep the chart for the next pass; a failure is logged, not raised."""
    try:
        _keep_chart(path, png)
    except OSError as error:
        log.warning("aging chart not kept in %s: %s", path.parent, error)


def _keep_chart(path: Path, png: bytes) -> None:
    """Write the chart atomically and remove the charts of earlier data."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(png)
        os.replace(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)
    for old in path.parent.glob(f"{CHART_PREFIX}*.png"):
        if old != path:
            old.unlink(missing_ok=True)


def _item_list(letter: Letter) -> str:
    """Return the ids a letter is about; a notice names each order with its outcome."""
    decisions = letter.context.get("decisions") if letter.kind == NOTICE else None
    if decisions:
        return ", ".join(
            f"{decision['order_id']} ({decision['outcome']})" for decision in decisions
        )
    return ", ".join(item.item_id for item in letter.items)


def _letters_context(letters: list[Letter]) -> list[dict[str, Any]]:
    return [
        {
            "kind": letter.kind,
            "level": letter.level,
            "recipient_id": letter.recipient_id,
            # Not "items": Jinja would find the dict method of that name first.
            "item_ids": _item_list(letter),
        }
        for letter in letters
    ]


def _digest_letter(
    rules: RuleSet,
    data: DigestData,
    recipient_id: str,
    to: tuple[str, ...],
    template: str,
    text: str,
) -> Letter:
    # A scheduled digest is keyed by its slot (by the day only when no slot is given).
    # Per pass it is keyed by its text, so a pass that changes nothing does not send
    # the same digest again.
    if data.slot is not None:
        content_key = f"slot {data.slot.isoformat()}"
    elif rules.digest_schedule != "every-pass":
        content_key = ""
    else:
        content_key = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return Letter(
        kind=DIGEST,
        template=template,
        as_of=data.as_of,
        recipient_id=recipient_id,
        to=to,
        language=rules.fallback_language,
        context={"content_key": content_key},
    )


def _customer_name(data: DigestData, customer_id: str) -> str:
    return getattr(data.customers.get(customer_id), "name", "") or customer_id


def _decision_rows(data: DigestData, status: str) -> list[dict[str, Any]]:
    """Return the decisions with `status`, with customer name and salesperson."""
    return [
        {
            "order_id": decision.order_id,
            "customer_id": decision.customer_id,
            "customer_name": _customer_name(data, decision.customer_id),
            "salesperson": decision.salesperson
            or _salesperson_of(decision.customer_id, data.customers),
            "reason": decision.reason or "",
        }
        for decision in data.decisions
        if decision.status == status
    ]


def manager_context(
    data: DigestData,
    rules: RuleSet,
    chart_cid: str = "aging-chart",
    aging: tuple[list[dict[str, Any]], dict[str, Decimal]] | None = None,
) -> dict[str, Any]:
    """Return the variables the digest_manager templates see.

    `aging` is the result of `aging_by_salesperson` for this data, when the caller
    has it already.
    """
    if aging is None:
        aging = aging_by_salesperson(
            data.ledger, data.customers, data.base_currency, data.held_customers
        )
    aging, aging_total = aging
    not_evaluated = [
        {
            "customer_id": customer_id,
            "customer_name": _customer_name(data, customer_id),
            "salesperson": _salesperson_of(customer_id, data.customers),
            "reason": reason,
        }
        for customer_id, reason in sorted(data.held_customers.items())
    ]
    return {
        "as_of": data.as_of,
        "language": rules.fallback_language,
        "base_currency": data.base_currency,
        "blocked": _decision_rows(data, "BLOCKED"),
        "held": _decision_rows(data, "HELD"),
        "not_evaluated": not_evaluated,
        "limit_watch": limit_watch(data, rules.warning_threshold),
        "aging": aging,
        "aging_total": aging_total,
        "buckets": BUCKETS,
        "bucket_labels": BUCKET_LABELS,
        "letters": _letters_context(data.letters_sent),
        "uncertain": data.uncertain,
        "failures": data.failures,
        "findings": data.findings,
        "chart_cid": chart_cid,
    }


def build_manager_digest(
    data: DigestData,
    rules: RuleSet,
    renderer: LetterRenderer,
    chart_cache: Path | None = None,
    ahead: AgingAhead | None = None,
) -> tuple[Letter, EmailMessage] | None:
    """Return the manager digest, or None when the rules name no manager or finance address.

    `chart_cache` is a folder that keeps the last aging chart (`cached_aging_chart`).
    `ahead` may hold the aging table and chart, computed in a thread while the
    letters went out.
    """
    to = tuple(dict.fromkeys(rules.contacts.managers + rules.contacts.finance))
    if not to:
        return None

    early = None
    if ahead is not None:
        early = ahead.result_for(
            data.ledger,
            data.customers,
            data.base_currency,
            data.held_customers,
            chart_cache,
        )
    chart_cid = make_msgid(domain="arrears-guard.invalid")
    context = manager_context(
        data,
        rules,
        chart_cid[1:-1],
        aging=(early.aging, early.total) if early is not None else None,
    )
    subject, text, html = renderer.render_parts(
        "digest_manager", rules.fallback_language, context, "the manager digest"
    )
    letter = _digest_letter(rules, data, "managers", to, "digest_manager", text)
    message = renderer.compose(letter, subject, text, html)

    if early is None:
        png = cached_aging_chart(context["aging"], data.base_currency, chart_cache)
    else:
        png = early.png
        if early.drawn and early.path is not None:
            keep_chart(early.path, png)
    html_part = message.get_body(("html",))
    html_part.add_related(
        png,
        "image",
        "png",
        cid=chart_cid,
        filename="aging.png",
        disposition="inline",
    )
    return letter, message


def _customers_by_salesperson(data: DigestData) -> dict[str, list[str]]:
    """Return the customer ids with an account per salesperson, computed once per data."""
    if data.by_salesperson is None:
        by_salesperson: dict[str, list[str]] = defaultdict(list)
        for customer_id in sorted(data.ledger.accounts):
            code = _salesperson_of(customer_id, data.customers)
            by_salesperson[code].append(customer_id)
        data.by_salesperson = by_salesperson
    return data.by_salesperson


def digest_recipients(data: DigestData, rules: RuleSet) -> list[str]:
    """Return the recipient ids of the digests a pass plans: "managers", then codes.

    These are the recipients `build_manager_digest` and `build_salesperson_digests`
    build digests for, found without rendering any.
    """
    recipients = []
    if rules.contacts.managers or rules.contacts.finance:
        recipients.append("managers")
    for code in sorted(_customers_by_salesperson(data)):
        if rules.contacts.salespeople.get(code):
            recipients.append(code)
    return recipients


def build_salesperson_digests(
    data: DigestData,
    rules: RuleSet,
    renderer: LetterRenderer,
    only: Collection[str] | None = None,
) -> list[tuple[Letter, EmailMessage]]:
    """Return one collections digest per salesperson with an address, own customers only.

    `only`, when given, limits the digests to those salesperson codes.
    """
    digests = []
    for code, customer_ids in sorted(_customers_by_salesperson(data).items()):
        address = rules.contacts.salespeople.get(code)
        if not address or (only is not None and code not in only):
            continue
        context = salesperson_context(data, rules, code, customer_ids)
        subject, text, html = renderer.render_parts(
            "digest_salesperson",
            rules.fallback_language,
            context,
            f"the digest for {code}",
        )
        letter = _digest_letter(
            rules, data, code, (address,), "digest_salesperson", text
        )
        digests.append((letter, renderer.compose(letter, subject, text, html)))
    return digests


def salesperson_context(
    data: DigestData, rules: RuleSet, code: str, customer_ids: list[str]
) -> dict[str, Any]:
    """Return the variables the digest_salesperson templates see for one salesperson."""
    rows = []
    total_overdue = Decimal(0)
    total_outstanding = Decimal(0)
    for customer_id in customer_ids:
        account = data.ledger.accounts[customer_id]
        total_outstanding += account.outstanding
        total_overdue += account.overdue
        items = [
            {
                "item_id": item.invoice_id or item.order.order_id,
                "due_date": item.due_date,
                "days_overdue": item.days_overdue,
                "open_amount": item.open_amount,
            }
            for item in account.open_items
            if item.days_overdue > 0 and item.open_amount > 0
        ]
        if not items:
            continue
        customer = data.customers.get(customer_id)
        rows.append(
            {
                "customer_id": customer_id,
                "customer_name": customer.name if customer else customer_id,
                "overdue": account.overdue,
                "outstanding": account.outstanding,
                "open_items": items,
            }
        )
    return {
        "as_of": data.as_of,
        "language": rules.fallback_language,
        "base_currency": data.base_currency,
        "salesperson_code": code,
        "customers": rows,
        "aging_total": {"overdue": total_overdue, "total": total_outstanding},
    }
