"""Typing order and payment rows whose cells need no parsing, without a RowValues.

Most rows of a large sheet contain only clean text (printable, without outer or
doubled spaces), real dates inside the date window and amounts whose Decimal is
already cached. `order_typer` and `payment_typer` return functions that build the
record of such a row directly, as `engine.inputs.build_order` and `build_payment`
would build it. For every other row they return None, and the row is typed by the
build function, which reports its problems. A change to what those functions read
must be made here too; tests/test_clean_rows.py compares both ways on every row of
generated sheets.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping

from engine.model import Order, Payment
from engine.workbook_map import REQUIRED
from engine.xlsx.read import SheetRead, SheetRow

MISSING = object()


def clean_typer(read: SheetRead, currencies: dict[str, str], base_currency: str,
                build: Callable) -> Callable[[SheetRow], object] | None:
    """Return the clean-row typer of an orders or payments sheet, else None.

    `build` is the sheet's build function. A payments build function made by
    `engine.inputs.payments_builder` carries the orders' invoice ids, which the
    payments' references share.
    """
    if read.source.kind == "orders":
        return order_typer(read, currencies, base_currency)
    if read.source.kind == "payments":
        return payment_typer(read, currencies, base_currency,
                             getattr(build, "invoice_ids", None))
    return None


def cell_readers(read: SheetRead) -> tuple[Callable, Callable]:
    """Return the text and date readers of clean cells, with MISSING for the rest."""
    earliest, latest = read.source.date_window

    def text(value: object) -> object:
        """Return clean text as RowValues.text returns it, None for None, else MISSING."""
        if value is None:
            return None
        if type(value) is str and value.isprintable() and value[:1] != " " \
                and value[-1:] != " " and "  " not in value:
            return value
        return MISSING

    def date(value: object) -> object:
        """Return a date inside the window, None for None, else MISSING."""
        if value is None:
            return None
        if type(value) is dt.date and earliest <= value <= latest:
            return value
        return MISSING

    return text, date


def mapped_required(read: SheetRead) -> bool:
    """Return True when every required field is mapped.

    RowValues skips an unmapped required field, which only the build functions handle.
    """
    return all(name in read.columns for name in REQUIRED[read.source.kind])


def order_typer(read: SheetRead, currencies: dict[str, str],
                base_currency: str) -> Callable[[SheetRow], Order | None] | None:
    """Return the clean-row typer of an orders sheet, or None for another sheet."""
    from engine import inputs  # imports this module

    if read.source.kind != "orders" or not mapped_required(read):
        return None
    amounts = inputs.FLOAT_AMOUNTS
    text, date = cell_readers(read)
    def order(row: SheetRow) -> Order | None:
        if row.held:
            return None
        values = row.values
        get = values.get
        if get("override_approver") is not None or get("override_amount") is not None \
                or get("override_expires") is not None:
            return None
        order_id, customer_id = text(get("order_id")), text(get("customer_id"))
        salesperson, invoice_id = text(get("salesperson")), text(get("invoice_id"))
        currency_text = text(get("currency"))
        order_date, invoice_date = date(get("order_date")), date(get("invoice_date"))
        due_date, promised = date(get("due_date")), date(get("promised_date"))
        amount = get("amount")
        if type(amount) is not float or amount not in amounts:
            return None
        if order_id is None or customer_id is None or order_date is None \
                or MISSING in (order_id, customer_id, salesperson, invoice_id,
                               currency_text, order_date, invoice_date, due_date,
                               promised):
            return None
        owned = row.owned
        currency = inputs.upper(currency_text) or currencies.get(customer_id) \
            or base_currency
        return Order(
            order_id=order_id, customer_id=customer_id, order_date=order_date,
            amount=amounts[amount], currency=currency, ref=row.ref,
            salesperson=salesperson, invoice_id=invoice_id, invoice_date=invoice_date,
            due_date=due_date, status=inputs.text_of(owned.get("status")),
            reason=inputs.text_of(owned.get("reason")), override=None,
            promised_date=promised,
        )

    return order


def payment_typer(read: SheetRead, currencies: dict[str, str], base_currency: str,
                  invoice_ids: Mapping[str, str] | None,
                  ) -> Callable[[SheetRow], Payment | None] | None:
    """Return the clean-row typer of a payments sheet, or None for another sheet.

    A reference equal to a key of `invoice_ids` is that key's value, as in
    `engine.inputs.build_payment`.
    """
    from engine import inputs  # imports this module

    if read.source.kind != "payments" or not mapped_required(read):
        return None
    amounts = inputs.FLOAT_AMOUNTS
    text, date = cell_readers(read)

    def payment(row: SheetRow) -> Payment | None:
        if row.held:
            return None
        get = row.values.get
        customer_id, payment_id = text(get("customer_id")), text(get("payment_id"))
        currency_text, reference = text(get("currency")), text(get("reference"))
        method = text(get("method"))
        payment_date, promised = date(get("payment_date")), date(get("promised_date"))
        amount = get("amount")
        if type(amount) is not float or amount not in amounts:
            return None
        if customer_id is None or payment_date is None \
                or MISSING in (customer_id, payment_id, currency_text, reference, method,
                               payment_date, promised):
            return None
        currency = inputs.upper(currency_text) or currencies.get(customer_id) \
            or base_currency
        return Payment(
            payment_id=payment_id or f"row {row.ref.row}", customer_id=customer_id,
            payment_date=payment_date, amount=amounts[amount], currency=currency,
            ref=row.ref, reference=inputs.shared(reference, invoice_ids),
            method=method, promised_date=promised,
        )

    return payment
