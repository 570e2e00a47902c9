"""Turning the rows of the three mapped sheets into typed customers, orders and payments.

A row with a required value that cannot be read becomes a `HeldRow` with a finding for
each bad cell: it is never decided on a guessed or default value. An unreadable credit
limit holds the customer (and so all of its orders), because "no limit" is a guess too.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from engine.clean_rows import clean_typer
from engine.filestamp import FileStamp, stamp_of
from engine.findings import EngineError, Finding
from engine.ledger_memo import LedgerMemo
from engine.model import Customer, HeldRow, Inputs, Order, Override, Payment
from engine.values import MissingValue, ValueProblem, parse_date, parse_money
from engine.workbook_map import KINDS, REQUIRED, WorkbookMap
from engine.xlsx.read import KeptRows, ReadAgain, SheetRead, SheetRow, open_sheet

log = logging.getLogger(__name__)

# Amount cells repeat the same few thousand values, so each float is converted to
# Decimal once per process (Decimals are immutable, so sharing them is safe).
FLOAT_CACHE_SIZE = 200_000
FLOAT_AMOUNTS: dict[float, Decimal] = {}
NONE: frozenset[str] = frozenset()

class RowValues:
    """Typed values of one row; problems are collected instead of raised."""

    __slots__ = (
        "columns",
        "key",
        "problems",
        "read",
        "reported",
        "row",
        "source",
        "values",
    )

    def __init__(self, read: SheetRead, row: SheetRow):
        self.read = read
        self.row = row
        self.source = read.source
        self.values = row.values
        self.columns = read.columns
        self.problems: list[Finding] = list(row.held) if row.held else []
        # Cells the reader already reported are not parsed again.
        self.reported = {finding.where for finding in row.held} if row.held else NONE
        self.key = self.text(self.source.key_field, required=False) or ""

    def where(self, name: str) -> str:
        where = self.row.ref.cell(self.read.columns[name])
        key = self.row.values.get(self.source.key_field)
        return f"{where} ({text_of(key)})" if key is not None else where

    def text(self, name: str, *, required: bool | None = None) -> str | None:
        value = self.values.get(name)
        # The clean-text case of text_of, inline because it runs for most cells.
        if type(value) is str and value.isprintable() and value[:1] != " " \
                and value[-1:] != " " and "  " not in value:
            return value
        value = text_of(value)
        if value is None and self.is_required(name, required) and not self.skip(name):
            self.problems.append(Finding(self.where(name) if name in self.read.columns
                                         else str(self.row.ref),
                                         f"{name.replace('_', ' ')} is missing.",
                                         "Fill in the cell.", code="value"))
        return value

    def skip(self, name: str) -> bool:
        if name not in self.columns:
            return True
        if not self.reported:
            return False
        return self.row.ref.cell(self.columns[name]) in self.reported

    def money(self, name: str, *, required: bool | None = None) -> Decimal | None:
        if self.skip(name):
            return None
        raw = self.values.get(name)
        # Fast paths for the common cells; everything else, and every problem, goes
        # through parse_money so its messages stay in one place.
        if type(raw) is float and raw in FLOAT_AMOUNTS:
            return FLOAT_AMOUNTS[raw]
        if raw is None and not self.is_required(name, required):
            return None
        try:
            amount = parse_money(raw, self.source.locale, where=self.where(name))
            if type(raw) is float and len(FLOAT_AMOUNTS) < FLOAT_CACHE_SIZE:
                FLOAT_AMOUNTS[raw] = amount
            return amount
        except MissingValue as exc:
            if self.is_required(name, required):
                self.problems.append(exc.finding)
        except ValueProblem as exc:
            self.problems.append(exc.finding)
        return None

    def date(self, name: str, *, required: bool | None = None) -> dt.date | None:
        if self.skip(name):
            return None
        raw = self.values.get(name)
        if type(raw) is dt.date:
            earliest, latest = self.source.date_window
            if earliest <= raw <= latest:
                return raw
        elif type(raw) is dt.datetime:
            earliest, latest = self.source.date_window
            if earliest <= raw.date() <= latest:
                return raw.date()
        elif raw is None and not self.is_required(name, required):
            return None
        try:
            return parse_date(raw, date1904=self.read.date1904,
                              date_order=self.source.date_order,
                              extra_formats=self.source.date_formats,
                              where=self.where(name), window=self.source.date_window)
        except MissingValue as exc:
            if self.is_required(name, required):
                self.problems.append(exc.finding)
        except ValueProblem as exc:
            self.problems.append(exc.finding)
        return None

    def is_required(self, name: str, required: bool | None) -> bool:
        if required is not None:
            return required
        return name in REQUIRED[self.source.kind]

    def held(self) -> HeldRow | None:
        if not self.problems:
            return None
        customer_id = text_of(self.values.get("customer_id")) or ""
        current_status = (None, None)
        if self.source.kind == "orders":
            owned = self.row.owned
            current_status = (text_of(owned.get("status")),
                              text_of(owned.get("reason")))
        return HeldRow(self.source.kind, self.key, self.row.ref,
                       held_reason(self.problems), customer_id,
                       self.affects_exposure(), current_status)

    def affects_exposure(self) -> bool:
        """Return False for an order row that is neither invoiced nor approved."""
        if self.source.kind != "orders":
            return True
        invoiced = any(
            self.values.get(name) not in (None, "")
            for name in ("invoice_id", "invoice_date")
        )
        status = text_of(self.row.owned.get("status")) or ""
        return invoiced or status.strip().upper() == "APPROVED"


# Staff read the Reason cell, not the log, so it carries each fix; Excel shows long
# text in one line, so it is kept to about this many characters.
MAX_REASON = 240


def held_reason(problems: list[Finding]) -> str:
    """Return the problems as one Reason text: cell, problem and fix for each.

    The text has no final full stop; the Reason cell adds its own. When all fixes do
    not fit in MAX_REASON characters, the fixes are left out, then the text is cut.
    """
    with_fix = "; ".join(describe_problem(problem, fix=True) for problem in problems)
    if len(with_fix) <= MAX_REASON:
        return with_fix
    short = "; ".join(describe_problem(problem, fix=False) for problem in problems)
    if len(short) <= MAX_REASON:
        return short
    return short[: MAX_REASON - 1].rstrip() + "…"


def describe_problem(problem: Finding, *, fix: bool) -> str:
    text = f"{problem.where.rsplit(' › ', 1)[-1]}: {problem.message.rstrip('.')}"
    if fix and problem.fix:
        text += f". {problem.fix.rstrip('.')}"
    return text


def text_of(value: object) -> str | None:
    """Return a cell as text: ids typed as numbers (1001.0) read as '1001'."""
    if value is None:
        return None
    if type(value) is str and value.isprintable() and value[:1] != " " \
            and value[-1:] != " " and "  " not in value:
        return value  # no whitespace to collapse (isprintable rejects tabs, NBSP)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    text = " ".join(str(value).split())
    return text or None


@dataclass(slots=True)
class KeptSheet:
    """The typed rows of one sheet as the last pass read them (or the engine wrote them)."""

    key: tuple
    read: SheetRead
    records: list
    held: list[HeldRow]
    problems: list[Finding]


# Rows whose records TypedRows keeps, at most, so a watcher on a sheet near Excel's
# row limit does not hold a second copy of its raw values between passes.
MAX_TYPED_ROWS = 250_000


class TypedRows:
    """Records typed from a sheet's rows by the last pass, by row number.

    A row whose raw and owned values equal those of the same row in the last pass
    (the same types too, and no float zero, whose sign == ignores) gets the same
    record without being typed again. The key contains everything else a record
    depends on: the file, the sheet's map, the date window, the workbook's date
    system, the base currency and the customers' currencies.
    """

    def __init__(self, key: tuple) -> None:
        self.key = key
        self.rows: dict[int, tuple] = {}
        self.next_rows: dict[int, tuple] = {}

    def kept_record(self, row: SheetRow):
        """Return the kept record of a row whose values are unchanged, else None."""
        if row.held:
            return None
        kept = self.rows.get(row.ref.row)
        if kept is None:
            return None
        # A kept row contains no float zero (see `builder`), so values equal to its
        # values contain none either and need no check for the sign of a zero.
        raw = tuple(row.values.values())
        if kept[0] != raw or kept[2] != tuple(row.owned.values()) \
                or kept[1] != tuple(map(type, raw)):
            return None
        self.next_rows[row.ref.row] = kept
        return kept[3]

    def builder(self, build):
        """Wrap `build` so it reuses a kept record for a row with the same values.

        The wrapped `build` also keeps each record it types for the next read.
        `type_rows` calls `kept_record` before it makes a row's RowValues, so for most
        rows the wrapped `build` is not called.
        """
        self.next_rows = {}  # a read that failed may have left rows here
        next_rows = self.next_rows

        def build_or_reuse(values: RowValues, *args):
            row = values.row
            record = self.kept_record(row)
            if record is not None:
                return record
            record = build(values, *args)
            if row.held or record is None or values.problems \
                    or len(next_rows) >= MAX_TYPED_ROWS:
                return record
            raw = tuple(row.values.values())
            owned = tuple(row.owned.values())
            if 0.0 not in raw and 0.0 not in owned:
                next_rows[row.ref.row] = (raw, tuple(map(type, raw)), owned, record)
            return record

        return build_or_reuse

    def finish(self) -> None:
        """Keep the records of this read for the next one, dropping rows not read."""
        self.rows, self.next_rows = self.next_rows, {}


class ReadMemo:
    """Typed rows of unchanged sheets, reused by the next pass instead of read again.

    The watcher runs a pass after every save, mostly of one workbook. A sheet's records
    depend only on the file's bytes, the sheet's map, the date window, the base
    currency and the customers' currencies. While all of those are unchanged, the last
    pass's records are used again. The engine's own write of owned cells changes the
    bytes but no record, so `wrote` moves the kept sheet to the new bytes and owned
    values. Of the sheets with owned columns only the customers sheet is kept: the
    orders sheet is the one staff save, and keeping the largest sheet between passes
    would rarely save a read.
    """

    OWNED_KINDS = ("customers",)

    def __init__(self) -> None:
        self.kept: dict[str, KeptSheet] = {}
        self.typed: dict[str, TypedRows] = {}
        # The accounts built from these records, for the pass's ledger stage.
        self.ledger = LedgerMemo()

    def typed_rows(self, kind: str, key: tuple) -> TypedRows:
        """Return the last pass's records of `kind` by row, emptied when `key` changed."""
        typed = self.typed.get(kind)
        if typed is None or typed.key != key:
            typed = self.typed[kind] = TypedRows(key)
        return typed

    def keeps(self, source, keep_values: bool) -> bool:
        """Return True when the memo can keep the sheet of `source`."""
        if not source.owned:
            return True
        # Owned values are updated after a write only in KeptRows (no raw values).
        return source.kind in self.OWNED_KINDS and not keep_values

    def wrote(self, path: Path, sheet: str, cells: Mapping, stamp: FileStamp) -> None:
        """Move the kept sheet at `path` to the bytes and owned values the engine wrote.

        A written value is kept as written. The next read would see it as the cell
        stores it (a float for a Decimal), and `engine.writeback.same_value` counts
        both as the same value. A write that adds headers drops the kept sheet.
        """
        for kind, kept in list(self.kept.items()):
            read = kept.read
            if read.path != path or read.source.sheet != sheet:
                continue
            if read.new_headers or not isinstance(read.rows, KeptRows):
                del self.kept[kind]
                continue
            names = {column: name for name, column in read.owned_columns.items()}
            changed: dict[int, dict[str, object]] = {}
            for (row, column), value in cells.items():
                name = names.get(column)
                if name is None or row == read.header_row:
                    del self.kept[kind]
                    break
                owned = changed.setdefault(row, dict(read.rows.owned_at(row)))
                owned[name] = getattr(value, "value", value)
            else:
                for row, owned in changed.items():
                    read.rows.set_owned(row, owned)
                read.stamp = stamp
                kept.key = (kept.key[0], stamp.sha256, *kept.key[2:])

    def key_for(self, path: Path, source, currencies: dict[str, str], base_currency: str,
                keep_values: bool) -> tuple[tuple, FileStamp] | None:
        try:
            stamp = stamp_of(path)
        except OSError:
            return None
        key = (str(path), stamp.sha256, repr(source), base_currency, keep_values,
               tuple(sorted(currencies.items())))
        return key, stamp

    def reuse(self, kind: str, key: tuple, stamp: FileStamp, inputs: Inputs,
              target: list) -> SheetRead | None:
        """Add the kept records of `kind` to `inputs` when `key` matches; return the read."""
        kept = self.kept.get(kind)
        if kept is None or kept.key != key:
            return None
        kept.read.stamp = stamp
        target.extend(kept.records)
        inputs.held.extend(kept.held)
        log.debug("%s unchanged since the last pass; %d records reused",
                  kept.read.shown_as, len(kept.records))
        return kept.read


def read_inputs(
    wmap: WorkbookMap, *, as_of: dt.date | None = None, keep_values: bool = True,
    memo: ReadMemo | None = None,
) -> tuple[Inputs, dict[str, SheetRead], list[Finding]]:
    """Read the three mapped sheets; raise EngineError when one cannot be read at all.

    Every workbook is tried, so the error lists the faults of all of them at once.
    With `as_of`, the plausible-date window ends `years_ahead` after that date
    instead of after today. Without `keep_values`, each returned row keeps only its
    reference and owned values, and sheets without owned columns keep no rows, so a
    pass does not carry the raw cells of every row past this point. With a `memo`,
    sheets the memo keeps (see `ReadMemo`) whose inputs are unchanged are not read
    again.
    """
    if as_of is not None:
        wmap = wmap.for_date(as_of)
    reads: dict[str, SheetRead] = {}
    failures: dict[str, list[Finding]] = {}
    inputs = Inputs()
    findings: list[Finding] = []
    currencies: dict[str, str] = {}
    # Customers first: their currencies are the default of their orders and payments.
    for kind, build, target in (("customers", build_customer, inputs.customers),
                                ("orders", build_order, inputs.orders),
                                ("payments", build_payment, inputs.payments)):
        if kind not in wmap.sources:
            continue
        source, path = wmap.sources[kind], wmap.source_path(kind)
        keyed = None
        if memo is not None and memo.keeps(source, keep_values):
            keyed = memo.key_for(path, source, currencies, wmap.base_currency, keep_values)
            read = None
            if keyed is not None:
                read = memo.reuse(kind, *keyed, inputs, target)
            if read is not None:
                if kind == "customers":
                    add_currencies(currencies, memo.kept[kind].records)
                reads[kind] = read
                findings.extend(read.findings)
                findings.extend(memo.kept[kind].problems)
                continue
        first_record, first_held = len(target), len(inputs.held)
        typed = None
        try:
            read = open_sheet(path, source, shown_as=source.file)
            if memo is not None and kind == "orders":
                typed = memo.typed_rows(kind, (
                    str(path), repr(source), read.date1904, wmap.base_currency,
                    tuple(sorted(currencies.items()))))
                build = typed.builder(build)
            if kind == "payments":
                build = payments_builder(inputs.orders)
            problems = type_rows(read, inputs, build, target, currencies,
                                 wmap.base_currency, keep_values=keep_values,
                                 typed=typed)
        except EngineError as exc:
            failures[kind] = exc.findings
            continue
        if typed is not None:
            typed.finish()
        reads[kind] = read
        findings.extend(read.findings)
        findings.extend(problems)
        if keyed is not None and read.stamp.sha256 == keyed[1].sha256:
            memo.kept[kind] = KeptSheet(keyed[0], read, target[first_record:],
                                        inputs.held[first_held:], problems)
    if failures:
        raise EngineError([finding for kind in KINDS for finding in failures.get(kind, [])])
    log.info("read %d customers, %d orders, %d payments; %d rows held",
             len(inputs.customers), len(inputs.orders), len(inputs.payments),
             len(inputs.held))
    return inputs, {kind: reads[kind] for kind in KINDS if kind in reads}, dedupe(findings)


def add_currencies(currencies: dict[str, str], customers: list[Customer]) -> None:
    """Add each customer's currency, as `type_rows` does while it types the customers."""
    for customer in customers:
        if customer.currency:
            currencies[customer.customer_id] = customer.currency


def type_rows(read: SheetRead, inputs: Inputs, build, target: list, currencies: dict,
              base_currency: str, *, keep_values: bool,
              typed: TypedRows | None = None) -> list[Finding]:
    """Type each row of `read` as `type_read_rows` does, again after ReadAgain.

    A sheet's merged ranges follow its rows. When they start at or above the header
    or cover mapped data cells, the typed rows are dropped and the sheet is read and
    typed again.
    """
    first_record, first_held = len(target), len(inputs.held)
    options = {"keep_values": keep_values, "typed": typed}
    try:
        return type_read_rows(read, inputs, build, target, currencies, base_currency,
                              **options)
    except ReadAgain as again:
        del target[first_record:]
        del inputs.held[first_held:]
        if typed is not None:
            typed.next_rows.clear()
        again.reread(read)
    return type_read_rows(read, inputs, build, target, currencies, base_currency,
                          **options)


def type_read_rows(read: SheetRead, inputs: Inputs, build, target: list,
                   currencies: dict, base_currency: str, *, keep_values: bool,
                   typed: TypedRows | None = None) -> list[Finding]:
    """Type each row of `read` as it is read; return the problems found in its values.

    Without `keep_values`, only the row numbers and owned values are kept (see
    KeptRows), and a sheet without owned columns keeps no rows. With `typed`, a row
    it keeps a record of is not typed again (`build` must be `typed.builder(...)`).
    """
    problems: list[Finding] = []
    kept: list[SheetRow] | KeptRows = []
    keep_rows = keep_values or bool(read.source.owned)
    if not keep_values and read.source.owned:
        kept = KeptRows(read.shown_as, read.source.sheet, tuple(read.source.owned))
    customers = read.source.kind == "customers"
    clean = clean_typer(read, currencies, base_currency, build) if typed is None else None
    for row in read.take_rows():
        if typed is not None or clean is not None:
            record = typed.kept_record(row) if typed is not None else clean(row)
            if record is not None:  # a kept record's row had no problems
                target.append(record)
                if keep_rows:
                    kept.append(row)
                continue
        values = RowValues(read, row)
        if customers:
            record = build(values)
            if record is not None and record.currency:
                currencies[record.customer_id] = record.currency
        else:
            record = build(values, currencies, base_currency)
        collect(inputs, problems, values, record, target)
        if keep_rows:
            kept.append(row)
    read.rows = kept
    return problems


def collect(inputs: Inputs, findings: list[Finding], values: RowValues, record, target):
    """Add the row's record, or its HeldRow; a held customer keeps a partial record.

    A customer row with an unreadable value still names a customer with a
    salesperson and an account, so its record (with credit_limit None) stays in
    the salesperson's total while the HeldRow holds its orders.
    """
    if not values.problems:  # most rows: no HeldRow and no findings
        if record is not None:
            target.append(record)
        return
    held = values.held()
    findings.extend(problem for problem in values.problems if problem not in values.row.held)
    if held is not None:
        inputs.held.append(held)
    if record is not None and (held is None or values.source.kind == "customers"):
        target.append(record)


def dedupe(findings: list[Finding]) -> list[Finding]:
    return list(dict.fromkeys(findings))


def build_customer(values: RowValues) -> Customer | None:
    customer_id = values.text("customer_id")
    name = values.text("name")
    # An empty credit limit means no typed limit (the rating decides); text that
    # cannot be read holds the customer (collect keeps this record beside the hold).
    limit = values.money("credit_limit", required=False)
    if customer_id is None or name is None:
        return None
    return Customer(
        customer_id=customer_id, name=name, ref=values.row.ref,
        rating=values.text("rating"), credit_limit=limit,
        salesperson=values.text("salesperson"), email=values.text("email"),
        contact=values.text("contact"), salutation=values.text("salutation"),
        language=values.text("language"), currency=upper(values.text("currency")),
        country=values.text("country"),
    )


def build_order(values: RowValues, currencies: dict, base_currency: str) -> Order | None:
    order_id = values.text("order_id")
    customer_id = values.text("customer_id")
    order_date = values.date("order_date")
    amount = values.money("amount")
    invoice_date = values.date("invoice_date")
    due_date = values.date("due_date")
    promised = values.date("promised_date")
    override = build_override(values)
    currency = upper(values.text("currency")) or currencies.get(customer_id) or base_currency
    if values.problems:
        return None
    return Order(
        order_id=order_id, customer_id=customer_id, order_date=order_date, amount=amount,
        currency=currency, ref=values.row.ref, salesperson=values.text("salesperson"),
        invoice_id=values.text("invoice_id"), invoice_date=invoice_date,
        due_date=due_date, status=text_of(values.row.owned.get("status")),
        reason=text_of(values.row.owned.get("reason")), override=override,
        promised_date=promised,
    )


def build_override(values: RowValues) -> Override | None:
    """Return the manager's release typed in the row; an approver name starts one."""
    approver = values.text("override_approver")
    amount = values.money("override_amount", required=False)
    expires = values.date("override_expires", required=False)
    reason = values.text("override_reason")
    if approver is None:
        return None
    return Override(approver=approver, approved_amount=amount, expires=expires,
                    reason=reason or "")


def payments_builder(orders: list[Order]):
    """Return `build_payment` with the orders' invoice ids as shared references.

    A payment's reference is mostly the invoice id it pays, read again from the
    payments workbook. Sharing the order's string saves a copy per payment, an
    estimated 60 MB for a million payments.
    """
    invoice_ids = {order.invoice_id: order.invoice_id for order in orders
                   if order.invoice_id}

    def build(values: RowValues, currencies: dict, base_currency: str) -> Payment | None:
        return build_payment(values, currencies, base_currency, invoice_ids)

    build.invoice_ids = invoice_ids  # shared by engine.clean_rows.payment_typer too
    return build


def build_payment(values: RowValues, currencies: dict, base_currency: str,
                  invoice_ids: Mapping[str, str] | None = None) -> Payment | None:
    """Return the row's payment; a reference equal to a key of `invoice_ids` is its value."""
    customer_id = values.text("customer_id")
    payment_date = values.date("payment_date")
    amount = values.money("amount")
    payment_id = values.text("payment_id") or f"row {values.row.ref.row}"
    currency = upper(values.text("currency")) or currencies.get(customer_id) or base_currency
    promised = values.date("promised_date")
    if values.problems:
        return None
    return Payment(
        payment_id=payment_id, customer_id=customer_id, payment_date=payment_date,
        amount=amount, currency=currency, ref=values.row.ref,
        reference=shared(values.text("reference"), invoice_ids),
        method=values.text("method"), promised_date=promised,
    )


def shared(text: str | None, strings: Mapping[str, str] | None) -> str | None:
    if text is None or not strings:
        return text
    return strings.get(text, text)


def upper(text: str | None) -> str | None:
    # A code already in capitals is returned as is: one shared string, not a copy per row.
    if not text or text.isupper():
        return text or None
    return text.upper()
