"""Typing order rows whose cells need no parsing, without a RowValues per row.

Most rows of a large orders sheet hold only clean text (printable, without outer
or doubled spaces), real dates inside the date window and amounts whose Decimal
is already cached. `order_typer` returns a function that builds the Order of such
a row directly, as `engine.inputs.build_order` would build it. For every other
row it returns None, and the row is typed by `build_order`, which reports its
problems. A change to what `build_order` reads must be made here too;
tests/test_clean_rows.py compares the two on every row of generated sheets.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from engine.model import Order
from engine.workbook_map import REQUIRED
from engine.xlsx.read import SheetRead, SheetRow

MISSING = object()


def order_typer(read: SheetRead, currencies: dict[str, str],
                base_currency: str) -> Callable[[SheetRow], Order | None] | None:
    """Return the clean-row typer of an orders sheet, or None for another sheet.

    The required fields must be mapped: an unmapped required field is skipped by
    RowValues, which only `build_order` handles.
    """
    from engine import inputs  # imports this module

    source = read.source
    if source.kind != "orders" or not all(name in read.columns
                                          for name in REQUIRED["orders"]):
        return None
    earliest, latest = source.date_window
    amounts = inputs.FLOAT_AMOUNTS

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
