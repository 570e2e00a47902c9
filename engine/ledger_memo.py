"""The ledger of a series of passes, rebuilt only for the customers whose rows changed.

A customer's account depends on its own orders and payments, on the ledger date and
the currency rates, and on one thing outside its rows: which customer owns the
invoice number or order id that each of its payments references. `LedgerMemo` keeps
each customer's account and findings with the order and payment records they were
built from. The next pass rebuilds a customer only when one of its records is not
the very same object as last time (the read memo hands unchanged rows the same
record), or when one of its payment references now points to another owner. Every
other account is a copy of the kept one, so a pass may change its copy.

The figures and findings equal those of `build_ledger` on the same inputs, in the
same order. Inputs the memo cannot prove that for (a row of a customer missing from
the customers sheet, rows out of sheet order, an invoice number on two invoices) are
built in full by `build_ledger`.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from operator import is_

from engine.findings import Finding
from engine.ledger import (
    Account,
    Ledger,
    ToBase,
    _account,
    _allocate,
    _automatic_gc_paused,
    _collect_orders,
    _collect_payments,
    _CustomerBook,
    _normalise,
    _payment_receipt,
    _Receipt,
    _receipt_date,
    build_ledger,
    log_built,
)
from engine.model import Inputs, Order, Payment

log = logging.getLogger(__name__)

# Above this many orders and payments the memo keeps nothing between passes (the read
# memo does not keep the records of larger sheets either, so every customer would be
# rebuilt anyway).
MAX_KEPT_ROWS = 500_000


@dataclass(slots=True)
class _Kept:
    """One customer's records, index keys, and the account and findings built from them."""

    orders: tuple[Order, ...]
    payments: tuple[Payment, ...]
    invoice_keys: list[str] = field(default_factory=list)  # of its items, in order
    order_keys: list[str] = field(default_factory=list)
    invoiced: int = 0  # items with an invoice number, as _ItemIndex counts them
    references: list[str] = field(default_factory=list)  # non-empty, normalised
    owners: tuple = ()  # the owner of each reference when the account was built
    account: Account | None = None
    # (sort key, finding): key (1, row) for an order, (2, row) for a payment, and
    # (4, date, row) for a payment's allocation, as build_ledger adds them.
    findings: list[tuple[tuple, Finding]] = field(default_factory=list)


class _CustomerIndex:
    """The lookups of `_ItemIndex` that one customer's allocation uses."""

    def __init__(self, owners, customer_id: str, book: _CustomerBook):
        self._owners = owners
        self._customer_id = customer_id
        self._book = book
        self._by_invoice: dict | None = None
        self._by_order: dict | None = None

    def find(self, key: str):
        owner = self._owners.invoice_owner(key)
        if owner is not None:
            if owner != self._customer_id:
                return owner, None
            if self._by_invoice is None:
                self._by_invoice = self._own(lambda item: item.order.invoice_id)
            return owner, self._by_invoice[key]
        owner = self._owners.order_owner(key)
        if owner is None:
            return None
        if owner != self._customer_id:
            return owner, None
        if self._by_order is None:
            self._by_order = self._own(lambda item: item.order.order_id)
        return owner, self._by_order[key]

    def _own(self, key_of) -> dict:
        index: dict = {}
        for item in self._book.items:
            index.setdefault(_normalise(key_of(item)), item)
        return index


class _Owners:
    """The customer owning each invoice number and order id, first one in book order."""

    def __init__(self, kept: dict[str, _Kept]):
        self._kept = kept
        self.by_invoice: dict[str, str] = {}
        for customer_id, entry in kept.items():
            for key in entry.invoice_keys:
                self.by_invoice.setdefault(key, customer_id)
        self.by_invoice.pop("", None)
        self._by_order: dict[str, str] | None = None

    def invoice_owner(self, key: str) -> str | None:
        return self.by_invoice.get(key)

    def order_owner(self, key: str) -> str | None:
        if self._by_order is None:
            self._by_order = {}
            for customer_id, entry in self._kept.items():
                for key_ in entry.order_keys:
                    self._by_order.setdefault(key_, customer_id)
            self._by_order.pop("", None)
        return self._by_order.get(key)

    def of(self, references: list[str]) -> tuple:
        owners = []
        for key in references:
            owner = self.invoice_owner(key)
            owners.append(self.order_owner(key) if owner is None else owner)
        return tuple(owners)


class LedgerMemo:
    """Accounts of the last pass by customer, for `build` to reuse."""

    def __init__(self) -> None:
        self.key: tuple | None = None
        self.kept: dict[str, _Kept] = {}

    def clear(self) -> None:
        self.key, self.kept = None, {}

    def build(self, inputs: Inputs, as_of: dt.date, to_base: ToBase,
              key: tuple) -> Ledger:
        """Return `build_ledger(inputs, as_of, to_base)`, rebuilding changed customers only.

        `key` must change whenever `to_base` converts any amount differently (the base
        currency and the rates); the ledger date is added to it here.
        """
        key = (as_of, key)
        if key != self.key:
            self.clear()
        groups = None
        if len(inputs.orders) + len(inputs.payments) <= MAX_KEPT_ROWS:
            groups = _grouped(inputs)
        if groups is None:
            self.clear()
            return build_ledger(inputs, as_of, to_base)
        with _automatic_gc_paused():
            ledger = self._build(groups, as_of, to_base)
        if ledger is None:
            self.clear()
            return build_ledger(inputs, as_of, to_base)
        self.key = key
        return ledger

    def _build(self, groups, as_of: dt.date, to_base: ToBase) -> Ledger | None:
        kept: dict[str, _Kept] = {}
        rebuilt = set()
        for customer_id, (orders, payments) in groups.items():
            entry = self.kept.get(customer_id)
            if entry is None or not _same(entry.orders, orders) \
                    or not _same(entry.payments, payments):
                entry = _Kept(tuple(orders), tuple(payments))
                _index_keys(entry, as_of, to_base)
                rebuilt.add(customer_id)
            kept[customer_id] = entry
        self.kept = kept
        owners = _Owners(kept)
        if len(owners.by_invoice) < sum(entry.invoiced for entry in kept.values()):
            return None  # an invoice number on two invoices: build_ledger reports it
        accounts = {}
        for customer_id, entry in kept.items():
            now = owners.of(entry.references)
            if customer_id in rebuilt or now != entry.owners:
                entry.owners = now
                _settle(customer_id, entry, owners, as_of, to_base)
            accounts[customer_id] = _copy(entry.account)
        findings = [finding for _, finding in sorted(
            (pair for entry in kept.values() for pair in entry.findings),
            key=lambda pair: pair[0])]
        log.debug("%d of %d accounts rebuilt", len(rebuilt), len(accounts))
        ledger = Ledger(as_of, accounts, findings)
        log_built(ledger)
        return ledger


def _grouped(inputs: Inputs) -> dict[str, tuple[list, list]] | None:
    """Return each customer's orders and payments, in build_ledger's order of books.

    Returns None when a row names a customer missing from the customers sheet, or
    when rows are out of row order, because findings are sorted back by row.
    """
    groups: dict[str, tuple[list, list]] = {
        customer.customer_id: ([], []) for customer in inputs.customers
    }
    for position, rows in ((0, inputs.orders), (1, inputs.payments)):
        previous = 0
        for row in rows:
            group = groups.get(row.customer_id)
            if group is None or row.ref <= previous:
                return None
            previous = row.ref
            group[position].append(row)
    return groups


def _same(kept: tuple, rows: list) -> bool:
    return len(kept) == len(rows) and all(map(is_, kept, rows))


def _book(entry: _Kept, as_of: dt.date, to_base: ToBase):
    """Return the customer's book and receipts, as build_ledger collects them."""
    book = _CustomerBook()
    books = _OneBook(book)
    findings: list[Finding] = []
    receipts: list = _collect_orders(list(entry.orders), as_of, to_base, books, findings)
    receipts += _collect_payments(list(entry.payments), as_of, to_base, findings)
    return book, receipts, bool(findings)


class _OneBook(dict):
    """A books mapping that gives every customer id the one book of this customer."""

    def __init__(self, book: _CustomerBook):
        super().__init__()
        self.book = book

    def __getitem__(self, _customer_id):
        return self.book

    def values(self):
        return [self.book]


def _index_keys(entry: _Kept, as_of: dt.date, to_base: ToBase) -> None:
    """Set the entry's index keys and references, from a book built for them."""
    book, _, _ = _book(entry, as_of, to_base)
    entry.invoice_keys = [_normalise(item.order.invoice_id) for item in book.items]
    entry.order_keys = [_normalise(item.order.order_id) for item in book.items]
    entry.invoiced = sum(1 for item in book.items if item.order.invoice_id)
    entry.references = [key for key in (_normalise(payment.reference)
                                        for payment in entry.payments) if key]


def _settle(customer_id: str, entry: _Kept, owners: _Owners, as_of: dt.date,
            to_base: ToBase) -> None:
    """Allocate the customer's receipts and set its account and findings."""
    book, receipts, collected = _book(entry, as_of, to_base)
    entry.findings = _collect_findings(entry, as_of, to_base) if collected else []
    index = _CustomerIndex(owners, customer_id, book)
    receipts.sort(key=_receipt_date)
    books = _OneBook(book)
    for receipt in receipts:
        findings: list[Finding] = []
        if type(receipt) is not _Receipt:
            payment = receipt
            receipt = _payment_receipt(payment, to_base, findings)
        _allocate(receipt, books, index, findings)
        if findings:
            order = (4, receipt.date, receipt.ref)
            entry.findings.extend((order, finding) for finding in findings)
    entry.account = _account(customer_id, book, as_of)


def _collect_findings(entry: _Kept, as_of: dt.date, to_base: ToBase) -> list:
    """Return the findings of collecting each order and payment, keyed by its row."""
    keyed = []
    for kind, rows, collect in ((1, entry.orders, _collect_orders),
                                (2, entry.payments, _collect_payments)):
        for row in rows:
            findings: list[Finding] = []
            if kind == 1:
                collect([row], as_of, to_base, _OneBook(_CustomerBook()), findings)
            else:
                collect([row], as_of, to_base, findings)
            keyed.extend(((kind, row.ref), finding) for finding in findings)
    return keyed


def _copy(account: Account) -> Account:
    """Return a copy a pass may change (it adds its new approvals to `pending`)."""
    return Account(
        account.customer_id, account.outstanding, account.overdue,
        dict(account.buckets), account.credit, account.pending, account.exposure,
        list(account.open_items), list(account.settled),
    )
