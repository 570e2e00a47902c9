"""The ledger of a series of passes, rebuilt only for the customers whose rows changed.

A customer's account depends on its own orders and payments, on the ledger date and
the currency rates, and on one thing outside its rows: which customer owns the
invoice number or order id that each of its payments references. `LedgerMemo` keeps
each customer's account and findings with the order and payment records they were
built from. The next pass rebuilds a customer only when one of its records is not
the very same object as last time, or when one of its payment references now
points to another owner. The read memo hands unchanged rows the same record object.
Every other account is a copy of the kept one, so a pass may change its copy.

The figures and findings equal those of `build_ledger` on the same inputs, in the
same order. Inputs the memo cannot prove that for (a row of a customer missing from
the customers sheet, rows out of sheet order, an invoice number on two invoices) are
built in full by `build_ledger`.
"""

from __future__ import annotations

import datetime as dt
import logging
from bisect import insort
from dataclasses import dataclass, field
from itertools import compress
from operator import is_, is_not

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
    # The book and receipts `_index_keys` collected, until `_settle` allocates them.
    collected: tuple | None = None
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

    def __init__(self, kept: dict[str, _Kept], by_invoice: dict[str, str]):
        self._kept = kept
        self.by_invoice = by_invoice
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
        # The rows and customer ids of the last build, to find the rows that changed.
        self.orders: list[Order] = []
        self.payments: list[Payment] = []
        self.customer_ids: list[str] = []
        # The owner of each invoice number, and the count of invoice numbers in `kept`.
        self.by_invoice: dict[str, str] = {}
        self.invoiced = 0

    def clear(self) -> None:
        self.key, self.kept = None, {}
        self.orders, self.payments, self.customer_ids = [], [], []
        self.by_invoice, self.invoiced = {}, 0

    def build(self, inputs: Inputs, as_of: dt.date, to_base: ToBase,
              key: tuple) -> Ledger:
        """Return `build_ledger(inputs, as_of, to_base)`, rebuilding changed customers only.

        `key` must change whenever `to_base` converts any amount differently (the base
        currency and the rates); the ledger date is added to it here.
        """
        key = (as_of, key)
        if key != self.key:
            self.clear()
        groups, changed_only = None, False
        customer_ids = [customer.customer_id for customer in inputs.customers]
        if len(inputs.orders) + len(inputs.payments) <= MAX_KEPT_ROWS:
            groups = self._changed_groups(inputs, customer_ids)
            changed_only = groups is not None
            if groups is None:
                groups = _grouped(inputs)
        if groups is None:
            self.clear()
            return build_ledger(inputs, as_of, to_base)
        try:
            with _automatic_gc_paused():
                ledger = self._build(groups, changed_only, as_of, to_base)
        except BaseException:
            self.clear()  # entries may lack their accounts
            raise
        if ledger is None:
            self.clear()
            return build_ledger(inputs, as_of, to_base)
        self.key = key
        self.orders, self.payments = list(inputs.orders), list(inputs.payments)
        self.customer_ids = customer_ids
        return ledger

    def _changed_groups(self, inputs: Inputs, customer_ids: list[str]):
        """Return the rows of the customers whose rows changed in place, else None.

        Returns None, so every customer is grouped again, unless the customers are
        the same and the orders and payments are as many as in the last build.
        """
        if not self.kept or customer_ids != self.customer_ids \
                or len(inputs.orders) != len(self.orders) \
                or len(inputs.payments) != len(self.payments):
            return None
        groups: dict[str, tuple[list, list]] = {}
        for position, old, new in ((0, self.orders, inputs.orders),
                                   (1, self.payments, inputs.payments)):
            for number in compress(range(len(new)), map(is_not, old, new)):
                row = new[number]
                if row.customer_id not in self.kept or not _in_order(new, number):
                    return None
                was = old[number]
                for customer_id in (was.customer_id, row.customer_id):
                    if customer_id not in groups:
                        entry = self.kept[customer_id]
                        groups[customer_id] = (list(entry.orders), list(entry.payments))
                rows = groups[was.customer_id][position]
                del rows[next(i for i, kept in enumerate(rows) if kept is was)]
                insort(groups[row.customer_id][position], row, key=_row_number)
        return groups

    def _build(self, groups, changed_only: bool, as_of: dt.date,
               to_base: ToBase) -> Ledger | None:
        """Build the accounts; with `changed_only`, `groups` has changed customers only."""
        kept: dict[str, _Kept] = {}
        replaced: dict[str, _Kept | None] = {}  # rebuilt customers' last entries
        for customer_id in (self.kept if changed_only else groups):
            entry = self.kept.get(customer_id)
            group = groups.get(customer_id)
            if group is not None and (entry is None or not _same(entry.orders, group[0])
                                      or not _same(entry.payments, group[1])):
                replaced[customer_id] = entry
                entry = _Kept(tuple(group[0]), tuple(group[1]))
                _index_keys(entry, as_of, to_base)
            kept[customer_id] = entry
        self.kept = kept
        if changed_only:
            affected = self._update_invoice_owners(replaced)
        else:
            affected = None
            self.by_invoice = {}
            for customer_id, entry in kept.items():
                for key in entry.invoice_keys:
                    self.by_invoice.setdefault(key, customer_id)
            self.by_invoice.pop("", None)
            self.invoiced = sum(entry.invoiced for entry in kept.values())
        if len(self.by_invoice) < self.invoiced:
            return None  # an invoice number on two invoices: build_ledger reports it
        owners = _Owners(kept, self.by_invoice)
        accounts = {}
        for customer_id, entry in kept.items():
            rebuilt = customer_id in replaced
            # Only a key of a rebuilt customer can have changed its owner.
            if rebuilt or affected is None or not affected.isdisjoint(entry.references):
                now = owners.of(entry.references)
                if rebuilt or now != entry.owners:
                    entry.owners = now
                    _settle(customer_id, entry, owners, as_of, to_base)
            accounts[customer_id] = _copy(entry.account)
        findings = [finding for _, finding in sorted(
            (pair for entry in kept.values() for pair in entry.findings),
            key=lambda pair: pair[0])]
        log.debug("%d of %d accounts rebuilt", len(replaced), len(accounts))
        ledger = Ledger(as_of, accounts, findings)
        log_built(ledger)
        return ledger


    def _update_invoice_owners(self, replaced: dict[str, _Kept | None]) -> set[str]:
        """Move the rebuilt customers' invoice numbers in `by_invoice`; return their keys.

        The last build had no invoice number twice, so each number had one owner.
        The returned keys are the invoice numbers and order ids of the rebuilt
        customers, before and after, whose owners may have changed.
        """
        affected: set[str] = set()
        for customer_id, old in replaced.items():
            if old is None:
                continue
            affected.update(old.invoice_keys, old.order_keys)
            for key in old.invoice_keys:
                if self.by_invoice.get(key) == customer_id:
                    del self.by_invoice[key]
            self.invoiced -= old.invoiced
        for customer_id in replaced:
            new = self.kept[customer_id]
            affected.update(new.invoice_keys, new.order_keys)
            for key in new.invoice_keys:
                if key:
                    self.by_invoice.setdefault(key, customer_id)
            self.invoiced += new.invoiced
        return affected


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


def _in_order(rows: list, number: int) -> bool:
    """Return True when the row at `number` lies between its neighbours' rows."""
    row = rows[number].ref
    if number and rows[number - 1].ref >= row:
        return False
    return number + 1 == len(rows) or row < rows[number + 1].ref


def _row_number(row: Order | Payment) -> int:
    return row.ref


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
    entry.collected = _book(entry, as_of, to_base)
    book = entry.collected[0]
    entry.invoice_keys = [_normalise(item.order.invoice_id) for item in book.items]
    entry.order_keys = [_normalise(item.order.order_id) for item in book.items]
    entry.invoiced = sum(1 for item in book.items if item.order.invoice_id)
    entry.references = [key for key in (_normalise(payment.reference)
                                        for payment in entry.payments) if key]


def _settle(customer_id: str, entry: _Kept, owners: _Owners, as_of: dt.date,
            to_base: ToBase) -> None:
    """Allocate the customer's receipts and set its account and findings."""
    if entry.collected is None:  # a kept customer whose references changed owner
        entry.collected = _book(entry, as_of, to_base)
    (book, receipts, collected), entry.collected = entry.collected, None
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
