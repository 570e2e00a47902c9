"""The customer ledger on one day: open items, aging, credit and exposure.

Semantics of `build_ledger(inputs, as_of, to_base)`:

- Only rows dated on or before `as_of` exist on that day. An order whose invoice date
  is after `as_of` is not invoiced yet, and a payment dated after `as_of` is not
  received yet, so a replay on any past date reproduces that day's figures.
- An order with an invoice date is a receivable (an open item until paid), whatever
  its status. An order without one whose status is APPROVED is `pending` exposure.
  An invoiced order with a negative amount is a credit note: it is allocated like an
  unreferenced payment received on its invoice date.
- Payments are allocated in payment date, then row, order. A payment first pays the
  item its `reference` names: the reference is matched against invoice numbers, then
  order ids, ignoring case and surrounding spaces. What is left (or the whole payment
  when the reference is empty, unknown or names another customer's item) pays the
  customer's oldest open items: by due date, then invoice date, then row. Partial
  payments leave the rest of an item open. What is left after every item of the
  customer is paid is `credit`.
- An item is overdue on `as_of` when it is open and its due date is before `as_of`.
  Its days overdue are `(as_of - due_date).days` and set its aging bucket.
- `exposure = outstanding - credit + pending`: what the customer would owe if every
  approved order were invoiced today, net of money received but not yet allocated.
- Every amount is converted to the base currency with `to_base`, rounded half-up to
  the cent as booked, and added as Decimal, so every figure is a sum of cent amounts.
  A row whose currency `to_base` rejects is left out, with its finding. A converted
  amount must depend on the amount and currency alone, because `to_base` is called
  once per distinct pair that it accepts (`ref` only names the row in its findings).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from decimal import ROUND_HALF_UP, Decimal
from operator import attrgetter

from engine.aging import BUCKETS, bucket_for, days_overdue
from engine.findings import EngineError, Finding, Severity
from engine.model import Inputs, Order, Payment, RowRef

__all__ = [
    "BUCKETS",
    "Account",
    "Ledger",
    "OpenItem",
    "SettledItem",
    "ToBase",
    "average_days_late",
    "build_ledger",
    "late_payments",
]

log = logging.getLogger(__name__)

ToBase = Callable[[Decimal, str, RowRef], Decimal]
ZERO = Decimal(0)
CENT = Decimal("0.01")
# Amounts rounded to the cent, by amount before rounding (see _convert).
_BOOKED_SIZE = 200_000
_BOOKED: dict[Decimal, Decimal] = {}


@dataclass(frozen=True, slots=True)
class OpenItem:
    """An invoice not fully paid on the ledger date, with amounts in base currency."""

    order: Order
    invoice_id: str
    customer_id: str
    due_date: dt.date
    amount: Decimal
    open_amount: Decimal
    days_overdue: int
    bucket: str


@dataclass(frozen=True, slots=True)
class SettledItem:
    """An invoice fully paid on or before the ledger date."""

    invoice_id: str
    customer_id: str
    due_date: dt.date
    settled_on: dt.date  # date of the payment that closed it
    days_late: int  # settled_on - due_date, 0 when paid on time
    invoice_date: dt.date | None = None
    amount: Decimal = ZERO


@dataclass(slots=True)
class Account:
    """One customer's figures in base currency on the ledger date."""

    customer_id: str
    outstanding: Decimal = ZERO
    overdue: Decimal = ZERO
    buckets: dict[str, Decimal] = field(
        default_factory=lambda: dict.fromkeys(BUCKETS, ZERO)
    )
    credit: Decimal = ZERO  # unallocated overpayment, never negative
    pending: Decimal = ZERO  # approved orders not yet invoiced
    exposure: Decimal = ZERO  # outstanding - credit + pending
    open_items: list[OpenItem] = field(default_factory=list)
    settled: list[SettledItem] = field(default_factory=list)


@dataclass(slots=True)
class Ledger:
    as_of: dt.date
    accounts: dict[str, Account]
    findings: list[Finding] = field(default_factory=list)

    def account(self, customer_id: str) -> Account:
        """Return the customer's account, or an empty one for an unknown id."""
        return self.accounts.get(customer_id) or Account(customer_id)


@dataclass(slots=True)
class _Item:
    """A receivable during allocation, whose `open_amount` falls as payments apply."""

    order: Order
    customer_id: str  # the order's customer, so allocation need not load the order
    invoice_id: str
    invoice_date: dt.date
    due_date: dt.date
    amount: Decimal
    open_amount: Decimal
    settled_on: dt.date | None = None


@dataclass(slots=True)
class _InvoiceKeys:
    """Items by normalised invoice number, the first in row order for each number."""

    items: dict[str, _Item] = field(default_factory=dict)
    numbered: int = 0  # items whose order has an invoice number, blank or not


@dataclass(slots=True)
class _Receipt:
    """Money to allocate: a payment, or a credit note as an unreferenced receipt."""

    customer_id: str
    date: dt.date
    amount: Decimal
    reference: str | None
    ref: RowRef


@dataclass(slots=True)
class _CustomerBook:
    items: list[_Item] = field(default_factory=list)
    oldest_open: int = 0  # position in `items` before which every item is paid
    credit: Decimal = ZERO
    pending: Decimal = ZERO


def build_ledger(inputs: Inputs, as_of: dt.date, to_base: ToBase) -> Ledger:
    """Allocate the payments to the invoices and age what is open on `as_of`."""
    findings: list[Finding] = []
    books: dict[str, _CustomerBook] = defaultdict(_CustomerBook)
    for customer in inputs.customers:
        books[customer.customer_id]  # every known customer gets an account
    convert = _Converter(to_base, findings)

    with _automatic_gc_paused():
        keys = _InvoiceKeys()
        credit_notes = _book_orders(
            inputs.orders, as_of, convert, books, findings, keys
        )
        payments = _kept_payments(inputs.payments, as_of, convert, findings)
        index = _ItemIndex(books, findings, keys)
        del keys
        _allocate_all(credit_notes, payments, convert, books, index, findings)
        del index, payments

        accounts = {}
        aging: dict[dt.date, tuple[int, str]] = {}
        for cid, book in books.items():
            accounts[cid] = _account(cid, book, as_of, aging)
            # Open and settled items reuse the freed items' memory: CPython 3.11
            # allocates all three in blocks of 96 bytes.
            book.items = []
    ledger = Ledger(as_of, accounts, findings)
    log_built(ledger)
    return ledger


def log_built(ledger: Ledger) -> None:
    """Log the end of a ledger build (the bench times the ledger stage by this line)."""
    log.debug(
        "ledger on %s: %d accounts, %d findings",
        ledger.as_of,
        len(ledger.accounts),
        len(ledger.findings),
    )


@contextlib.contextmanager
def _automatic_gc_paused():
    """Pause the cyclic garbage collector while the ledger allocates its objects.

    The ledger creates no reference cycles, but a million-row pass allocates millions
    of objects, and the allocations trigger full collections that rescan the input
    rows. In a synthetic run of 1,048,575 orders on 2 cores, those collections took
    about a third of the build time.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _collect_orders(
    orders: list[Order],
    as_of: dt.date,
    to_base: ToBase,
    books: dict[str, _CustomerBook],
    findings: list[Finding],
) -> list[_Receipt]:
    """Add invoices and pending orders to the books; return credit notes as receipts."""
    return _book_orders(orders, as_of, _Converter(to_base, findings), books, findings)


def _book_orders(
    orders: list[Order],
    as_of: dt.date,
    convert: _Converter,
    books: dict[str, _CustomerBook],
    findings: list[Finding],
    keys: _InvoiceKeys | None = None,
) -> list[_Receipt]:
    """Do the work of `_collect_orders` with a `_Converter`.

    Each item goes into `keys`, if given, while its order is still in the CPU cache.
    A second pass over 1,048,575 synthetic orders took about 1.2 s on 2 cores.
    """
    credit_notes: list[_Receipt] = []
    by_invoice = None if keys is None else keys.items
    numbered = 0
    booked = convert.booked
    for order in orders:
        invoice_date = order.invoice_date
        invoiced = invoice_date is not None and invoice_date <= as_of
        if not invoiced and not (
            _is_approved(order.status) and order.order_date <= as_of
        ):
            continue

        value, currency = order.amount, order.currency
        amounts = booked.get(currency)
        amount = None if amounts is None else amounts.get(value)
        if amount is None:
            amount = convert(value, currency, order.ref)
            if amount is None:
                continue
        if not invoiced:
            books[order.customer_id].pending += amount
            continue
        if not amount:
            continue
        if amount < ZERO:
            credit_notes.append(
                _Receipt(order.customer_id, invoice_date, -amount, None, order.ref)
            )
            continue
        due_date = order.due_date
        if due_date is None:
            due_date = invoice_date
            findings.append(_no_due_date(order))
        invoice_id = order.invoice_id
        number = invoice_id.strip() if invoice_id else ""
        customer_id = order.customer_id
        item = _Item(
            order,
            customer_id,
            number or order.order_id,
            invoice_date,
            due_date,
            amount,
            amount,
        )
        books[customer_id].items.append(item)
        if invoice_id and by_invoice is not None:
            numbered += 1
            if number:
                if not (number.isascii() and number.isupper()):
                    number = _normalise(number)
                by_invoice.setdefault(number, item)

    # Each book's items are in row order and the sort is stable, so items due and
    # invoiced on the same dates stay in row order.
    for book in books.values():
        book.items.sort(key=_ITEM_AGE)
    if keys is not None:
        keys.numbered += numbered
    return credit_notes


_ITEM_AGE = attrgetter("due_date", "invoice_date")


def _no_due_date(order: Order) -> Finding:
    return Finding(
        str(order.ref),
        f"order {order.order_id} is invoiced but has no due date, "
        f"so it is treated as due on its invoice date {order.invoice_date}.",
        "Type the due date in the Due Date column.",
        Severity.WARNING,
        code="ledger-no-due-date",
    )


def _collect_payments(
    payments: list[Payment], as_of: dt.date, to_base: ToBase, findings: list[Finding]
) -> list[Payment]:
    """Return the payments to allocate, with a finding for each one left out.

    A million-row ledger would need 80 MB for a receipt per payment, so the
    receipt is made when the payment is allocated (see `_payment_receipt`).
    """
    return _kept_payments(payments, as_of, _Converter(to_base, findings), findings)


def _kept_payments(
    payments: list[Payment],
    as_of: dt.date,
    convert: _Converter,
    findings: list[Finding],
) -> list[Payment]:
    """Do the work of `_collect_payments` with a `_Converter`."""
    kept = []
    booked = convert.booked
    for payment in payments:
        if payment.payment_date > as_of:
            continue
        value, currency = payment.amount, payment.currency
        amounts = booked.get(currency)
        amount = None if amounts is None else amounts.get(value)
        if amount is None:
            amount = convert(value, currency, payment.ref)
            if amount is None:
                continue
        if amount <= ZERO:
            findings.append(_payment_not_positive(payment))
            continue
        kept.append(payment)
    return kept


def _payment_not_positive(payment: Payment) -> Finding:
    return Finding(
        str(payment.ref),
        f"payment {payment.payment_id} has amount {payment.amount}. "
        "Only amounts above zero are allocated, so it is ignored.",
        "Record refunds outside the payments sheet, or correct the amount.",
        Severity.WARNING,
        code="ledger-payment-not-positive",
    )


def _payment_receipt(payment: Payment, to_base: ToBase, findings: list[Finding]):
    """Return the receipt of a payment that `_collect_payments` kept."""
    # The conversion succeeded in _collect_payments, so it adds no finding here.
    amount = _convert(payment.amount, payment.currency, payment.ref, to_base, findings)
    return _Receipt(
        payment.customer_id,
        payment.payment_date,
        amount,
        payment.reference,
        payment.ref,
    )


def _receipt_date(receipt: _Receipt | Payment) -> dt.date:
    return receipt.date if type(receipt) is _Receipt else receipt.payment_date


def _allocate_all(
    credit_notes: list[_Receipt],
    payments: list[Payment],
    convert: _Converter,
    books: dict[str, _CustomerBook],
    index: _ItemIndex,
    findings: list[Finding],
) -> None:
    """Allocate the credit notes and payments in date order, credit notes first.

    Each list is in row order and the sorts are stable, so receipts of one date
    keep their row order, and a credit note goes before the payments of its date.
    A payment needs no receipt object: its amount is converted again, from the
    converter's cache.
    """
    credit_notes.sort(key=_receipt_date)
    credit_notes.reverse()
    payments.sort(key=_PAYMENT_DATE)
    invoice_item = index.by_invoice.get
    booked = convert.booked
    for payment in payments:
        date = payment.payment_date
        # Popped from the end of the reversed list, each credit note is freed once
        # allocated.
        while credit_notes and credit_notes[-1].date <= date:
            _allocate(credit_notes.pop(), books, index, findings)

        customer_id = payment.customer_id
        reference = payment.reference
        target = None
        if reference:
            # An ASCII reference found as it is, on an item of the payer, is its own
            # key. Any other reference takes the full lookup, which adds findings.
            key = reference.strip()
            target = invoice_item(key) if key.isascii() else None
            if target is None or target.customer_id != customer_id:
                target = _referenced_item(
                    customer_id, reference, payment.ref, index, findings
                )
        # `_kept_payments` booked every amount here, so the lookup finds it.
        value, currency = payment.amount, payment.currency
        amount = booked[currency].get(value) or convert(value, currency, payment.ref)
        _pay_items(books[customer_id], target, amount, date)
    while credit_notes:
        _allocate(credit_notes.pop(), books, index, findings)


_PAYMENT_DATE = attrgetter("payment_date")


class _Converter:
    """`_convert` for one `to_base`, calling `to_base` once per amount and currency.

    Amounts repeat (the 100,000-row bench has 7,754 distinct ones), and a converted
    amount depends on the amount and currency alone, so equal amounts share one
    booked Decimal. Loops over a million rows read `booked` themselves and call the
    converter only when the amount is not there yet. A row whose currency `to_base`
    rejects is converted again, so each such row adds its own finding. Zero is never
    cached, because 0 and -0 are equal keys that `to_base` may convert differently.
    """

    __slots__ = ("_findings", "_to_base", "booked")

    def __init__(self, to_base: ToBase, findings: list[Finding]):
        self.booked: dict[str, dict[Decimal, Decimal]] = {}  # by currency, then amount
        self._to_base = to_base
        self._findings = findings

    def __call__(self, amount: Decimal, currency: str, ref: RowRef) -> Decimal | None:
        amounts = self.booked.get(currency)
        if amounts is None:
            amounts = self.booked[currency] = {}
        booked = amounts.get(amount)
        if booked is None:
            booked = _convert(amount, currency, ref, self._to_base, self._findings)
            if booked is not None and amount:
                amounts[amount] = booked
        return booked


def _convert(
    amount: Decimal,
    currency: str,
    ref: RowRef,
    to_base: ToBase,
    findings: list[Finding],
) -> Decimal | None:
    try:
        converted = to_base(amount, currency, ref)
    except EngineError as exc:
        findings.extend(exc.findings)
        return None
    # Amounts repeat across ledgers too, so each booked amount is one shared Decimal
    # instead of a new one per row. Zero is left out of the cache because 0 and -0
    # are equal keys with different text.
    booked = _BOOKED.get(converted)
    if booked is None:
        booked = converted
        if not converted.same_quantum(CENT):  # an amount in cents is kept as it is
            booked = converted.quantize(CENT, rounding=ROUND_HALF_UP)
        if converted and len(_BOOKED) < _BOOKED_SIZE:
            _BOOKED[converted] = booked
    return booked


def _is_approved(status: str | None) -> bool:
    return status is not None and (
        status == "APPROVED" or status.strip().upper() == "APPROVED"
    )


def _normalise(reference: str | None) -> str:
    """Return the reference's index key: two keys are equal when the casefolds are.

    An ASCII key is in capitals, so an invoice number typed in capitals is its own key
    and the index of a million invoices keeps no copy of their numbers.
    """
    text = (reference or "").strip()
    if not text.isascii():
        text = text.casefold()
        if not text.isascii():
            return text
    if text.isupper():
        return text
    upper = text.upper()
    return text if upper == text else upper


def _keys_in_book_order(books: dict[str, _CustomerBook]) -> _InvoiceKeys:
    keys = _InvoiceKeys()
    for book in books.values():
        for item in book.items:
            invoice_id = item.order.invoice_id
            if invoice_id:
                keys.numbered += 1
                keys.items.setdefault(_normalise(invoice_id), item)
    return keys


class _ItemIndex:
    """Open items by normalised invoice number, and by order id once a lookup needs it.

    Payments reference invoice numbers far more often than order ids, so the order-id
    index is built on the first reference that no invoice number matches.
    """

    def __init__(
        self,
        books: dict[str, _CustomerBook],
        findings: list[Finding],
        keys: _InvoiceKeys | None = None,
    ):
        self._books = books
        self._by_order: dict[str, _Item] | None = None
        if keys is None or len(keys.items) < keys.numbered:
            # An invoice number on two items goes to the first in book order.
            keys = _keys_in_book_order(books)
        self.by_invoice = keys.items
        self.by_invoice.pop("", None)
        if len(self.by_invoice) < keys.numbered:
            findings.extend(self._duplicate_findings())

    def _duplicate_findings(self) -> list[Finding]:
        findings = []
        for book in self._books.values():
            for item in book.items:
                first = self.by_invoice.get(_normalise(item.order.invoice_id))
                if first is None or first is item:
                    continue
                findings.append(
                    Finding(
                        str(item.order.ref),
                        f"invoice number '{item.order.invoice_id}' is also on "
                        f"{first.order.ref}. Payments that reference it go to "
                        "the first of them.",
                        "Give each invoice its own number.",
                        Severity.WARNING,
                        code="ledger-duplicate-invoice",
                    )
                )
        return findings

    def _build_by_order(self) -> dict[str, _Item]:
        # An item's book is that of its order's customer, so the index keeps the
        # item alone and `find` reads the owner from the order.
        index: dict[str, _Item] = {}
        for book in self._books.values():
            for item in book.items:
                index.setdefault(_normalise(item.order.order_id), item)
        index.pop("", None)
        return index

    def find(self, key: str) -> tuple[str, _Item] | None:
        found = self.by_invoice.get(key)
        if found is None:
            if self._by_order is None:
                self._by_order = self._build_by_order()
            found = self._by_order.get(key)
        return None if found is None else (found.order.customer_id, found)


def _allocate(
    receipt: _Receipt,
    books: dict[str, _CustomerBook],
    index: _ItemIndex,
    findings: list[Finding],
) -> None:
    """Pay the referenced item, then the oldest open items; keep the rest as credit."""
    target = None
    if receipt.reference:
        target = _referenced_item(
            receipt.customer_id, receipt.reference, receipt.ref, index, findings
        )
    _pay_items(books[receipt.customer_id], target, receipt.amount, receipt.date)


def _pay_items(
    book: _CustomerBook, target: _Item | None, amount: Decimal, date: dt.date
) -> None:
    """Pay `target`, then the book's oldest open items, and keep the rest as credit.

    An item is open while `settled_on` is None. Every amount is booked in cents, so
    every difference is in cents too, whichever of two equal amounts is subtracted.
    """
    remaining = amount
    if target is not None and target.settled_on is None:
        open_amount = target.open_amount
        if remaining < open_amount:
            target.open_amount = open_amount - remaining
            remaining -= remaining
        else:
            target.open_amount = ZERO
            target.settled_on = date
            remaining -= open_amount

    items = book.items
    position = book.oldest_open
    end = len(items)
    while remaining > ZERO and position < end:
        item = items[position]
        if item.settled_on is None:
            open_amount = item.open_amount
            if remaining < open_amount:
                item.open_amount = open_amount - remaining
                remaining -= remaining
                break
            # A settled item's open amount is never shown, so it need not keep the
            # exponent of the subtraction. One shared zero saves a Decimal per item.
            item.open_amount = ZERO
            item.settled_on = date
            remaining -= open_amount
        position += 1
    book.oldest_open = position
    book.credit += remaining


def _referenced_item(
    customer_id: str,
    reference: str,
    ref: RowRef,
    index: _ItemIndex,
    findings: list[Finding],
) -> _Item | None:
    key = reference.strip()
    if not key:
        return None
    found = index.find(key.upper() if key.isascii() else _normalise(key))
    if found is None:
        findings.append(
            Finding(
                str(ref),
                f"payment reference '{reference}' matches no invoice or order. "
                "The payment goes to the customer's oldest open items.",
                "Correct the Reference to an invoice number or order id.",
                Severity.WARNING,
                code="ledger-unknown-reference",
            )
        )
        return None
    owner, item = found
    if owner != customer_id:
        findings.append(
            Finding(
                str(ref),
                f"payment reference '{reference}' is an invoice of customer "
                f"{owner}, not of {customer_id}. The payment goes to "
                f"{customer_id}'s oldest open items.",
                "Correct the Customer ID or the Reference of this payment.",
                Severity.WARNING,
                code="ledger-reference-other-customer",
            )
        )
        return None
    return item


def _account(
    customer_id: str,
    book: _CustomerBook,
    as_of: dt.date,
    aging: dict[dt.date, tuple[int, str]] | None = None,
) -> Account:
    """Build the customer's account. `aging` caches days overdue and bucket by due date."""
    if aging is None:
        aging = {}
    open_items = []
    settled = []
    outstanding = overdue = ZERO
    buckets = dict.fromkeys(BUCKETS, ZERO)
    for item in book.items:
        due_date = item.due_date
        settled_on = item.settled_on
        if settled_on is not None:
            days_late = (settled_on - due_date).days
            settled.append(
                _new_settled_item(
                    item.invoice_id,
                    customer_id,
                    due_date,
                    settled_on,
                    days_late if days_late > 0 else 0,  # noqa: FURB136 - no call
                    item.invoice_date,
                    item.amount,
                )
            )
            continue

        aged = aging.get(due_date)
        if aged is None:
            days = days_overdue(due_date, as_of)
            aged = aging[due_date] = (days, bucket_for(days))
        days, bucket = aged
        open_amount = item.open_amount
        open_items.append(
            _new_open_item(
                item.order,
                item.invoice_id,
                customer_id,
                due_date,
                item.amount,
                open_amount,
                days,
                bucket,
            )
        )
        outstanding += open_amount
        buckets[bucket] += open_amount
        if days > 0:
            overdue += open_amount

    credit, pending = book.credit, book.pending
    exposure = outstanding - credit + pending
    return Account(
        customer_id,
        outstanding,
        overdue,
        buckets,
        credit,
        pending,
        exposure,
        open_items,
        settled,
    )


def _positional_constructor(cls: type) -> Callable:
    """Return a constructor of the frozen, slotted dataclass `cls` by field position.

    A frozen dataclass's `__init__` sets each field with `object.__setattr__`. Setting
    the slots through their descriptors builds an equal SettledItem in about 0.45 us
    instead of 0.77 us (timeit, CPython 3.11 on 2 cores), and a ledger of a million
    invoices makes a million items. The function is generated, as `dataclasses` generates `__init__`,
    so it takes no loop per field.
    """
    names = [field_.name for field_ in fields(cls)]
    namespace = {"new": object.__new__, "cls": cls}
    lines = [f"def construct({', '.join(names)}):", "    obj = new(cls)"]
    for name in names:
        namespace[f"set_{name}"] = getattr(cls, name).__set__
        lines.append(f"    set_{name}(obj, {name})")
    lines.append("    return obj")
    exec("\n".join(lines), namespace)  # noqa: S102 - the text is made of field names
    return namespace["construct"]


_new_open_item = _positional_constructor(OpenItem)
_new_settled_item = _positional_constructor(SettledItem)


def _settled_within(
    account: Account, as_of: dt.date, within_days: int
) -> Iterable[SettledItem]:
    start = as_of - dt.timedelta(days=within_days)
    return (item for item in account.settled if start < item.settled_on <= as_of)


def late_payments(
    account: Account, as_of: dt.date, *, min_days_late: int, within_days: int
) -> int:
    """Count invoices settled more than `min_days_late` days late.

    Only invoices settled in the `within_days` days up to and including `as_of` count.
    """
    return sum(
        1
        for item in _settled_within(account, as_of, within_days)
        if item.days_late > min_days_late
    )


def average_days_late(account: Account, as_of: dt.date, *, within_days: int) -> Decimal:
    """Return the mean days late, to 0.01, of invoices settled in the window.

    The window is the `within_days` days up to and including `as_of`. Invoices paid on
    time count as 0 days late. Returns 0 when no invoice was settled in the window.
    """
    days = [item.days_late for item in _settled_within(account, as_of, within_days)]
    if not days:
        return ZERO
    return (Decimal(sum(days)) / len(days)).quantize(Decimal("0.01"))
