"""The typed rows a pass works on: customers, orders and payments.

Money is `Decimal` in the row's own currency; dates are `datetime.date` already
converted with the workbook's date system. Every row keeps a `RowRef` so a finding
or a write can name the exact row it came from.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal


def column_letter(column: int) -> str:
    """Return the Excel column name for a 1-based column number (1 -> A, 28 -> AB)."""
    letters = ""
    while column > 0:
        column, remainder = divmod(column - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


class RowRef(int):
    """A row of a sheet: file name as the user knows it, sheet name, 1-based row.

    A pass keeps one per order, payment and customer, over two million at Excel's
    row limit. So a RowRef is the row number itself, an int of a subclass made once
    per file and sheet that stores both names: 48 bytes, not the 88 of a slotted
    object and its int. Equality and hashing cover the file, sheet and row, as for
    a dataclass of the three.
    """

    __slots__ = ()
    file: str
    sheet: str

    def __new__(cls, file: str, sheet: str, row: int) -> RowRef:  # noqa: PYI034
        sheet_class = SHEET_CLASSES.get((file, sheet))
        if sheet_class is None:
            made = type("RowRef", (RowRef,), {"__slots__": (), "file": file,
                                              "sheet": sheet})
            # setdefault: threads that race here still share one class per sheet.
            sheet_class = SHEET_CLASSES.setdefault((file, sheet), made)
        return int.__new__(sheet_class, row)

    @property
    def row(self) -> int:
        return int(self)

    def cell(self, column: int) -> str:
        """Return `file › sheet › A1` for a 1-based column of this row."""
        return f"{self.file} › {self.sheet} › {column_letter(column)}{int(self)}"

    def __str__(self) -> str:
        return f"{self.file} › {self.sheet} › row {int(self)}"

    def __repr__(self) -> str:
        return f"RowRef(file={self.file!r}, sheet={self.sheet!r}, row={int(self)!r})"

    def __eq__(self, other: object) -> bool:
        # One subclass per (file, sheet), so the type stands for both names. A plain
        # int is never equal to a RowRef.
        return type(self) is type(other) and int(self) == int(other)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return hash((self.file, self.sheet, int(self)))

    def __reduce__(self):
        return RowRef, (self.file, self.sheet, int(self))


# The RowRef subclass of each (file, sheet). A process reads few sheets, so this
# stays small.
SHEET_CLASSES: dict[tuple[str, str], type[RowRef]] = {}


@dataclass(frozen=True, slots=True)
class Customer:
    customer_id: str
    name: str
    ref: RowRef
    rating: str | None = None
    # A limit typed in the customers sheet; it takes precedence over the rating table.
    credit_limit: Decimal | None = None
    salesperson: str | None = None
    email: str | None = None
    contact: str | None = None
    salutation: str | None = None
    language: str | None = None
    currency: str | None = None
    country: str | None = None


@dataclass(frozen=True, slots=True)
class Override:
    """A manager's release of a blocked order, typed in the orders sheet."""

    approver: str
    approved_amount: Decimal | None
    expires: dt.date | None
    reason: str


@dataclass(frozen=True, slots=True)
class Order:
    """An order; once invoiced (invoice date set) it is also an open receivable."""

    order_id: str
    customer_id: str
    order_date: dt.date
    amount: Decimal
    currency: str
    ref: RowRef
    salesperson: str | None = None
    invoice_id: str | None = None
    invoice_date: dt.date | None = None
    due_date: dt.date | None = None
    # The status and reason currently in the sheet (the engine's own earlier output).
    status: str | None = None
    reason: str | None = None
    override: Override | None = None
    promised_date: dt.date | None = None


@dataclass(frozen=True, slots=True)
class Payment:
    payment_id: str
    customer_id: str
    payment_date: dt.date
    amount: Decimal
    currency: str
    ref: RowRef
    # The order or invoice id the payment names, if any.
    reference: str | None = None
    method: str | None = None
    promised_date: dt.date | None = None


@dataclass(frozen=True, slots=True)
class HeldRow:
    """A row the engine will not decide on, because a value in it could not be read.

    For an orders row the engine writes HELD and `reason` into its status cells; for a
    customers row (an unreadable credit limit, say) all that customer's orders are held.
    """

    kind: str  # "orders", "payments" or "customers"
    key: str  # the row's order, payment or customer id, or "" when that is unreadable
    ref: RowRef
    reason: str
    # The row's customer id when it could be read; "" when not (or not known).
    customer_id: str = ""
    # False for an order row not yet invoiced nor approved: it is not part of any
    # exposure, so holding it leaves its customer's figures complete.
    affects_exposure: bool = True
    # The status and reason an orders row shows now, as Order.status and reason.
    current_status: tuple[str | None, str | None] = (None, None)


@dataclass(slots=True)
class Inputs:
    """The typed rows of one pass."""

    customers: list[Customer] = field(default_factory=list)
    orders: list[Order] = field(default_factory=list)
    payments: list[Payment] = field(default_factory=list)
    held: list[HeldRow] = field(default_factory=list)
