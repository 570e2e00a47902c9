"""The report workbook: exposure by customer and by salesperson, and the open items.

The engine owns this file entirely, so it is written whole with openpyxl in write-only
mode (rows are streamed to the file, no cell grid is kept in memory). Every amount
is in the base currency and rounded half-up to the cent before it is written. Each
totals row is the sum of the rounded cells above it, so the sheet adds up as shown.
The workbook is saved to a temporary file in the same folder and moved over the old
report with `os.replace`, so a reader never sees a half-written report.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from openpyxl import Workbook
from openpyxl.cell import Cell, WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.styles.cell_style import StyleArray
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from engine.aging import BUCKETS
from engine.findings import EngineError, Finding
from engine.ledger import Account, Ledger
from engine.model import Customer

log = logging.getLogger(__name__)

CENT = Decimal("0.01")
ZERO = Decimal(0)
MONEY_FORMAT = "#,##0.00"
PERCENT_FORMAT = "0.0%"
DATE_FORMAT = "yyyy-mm-dd"
NO_SALESPERSON = "(none)"
BUCKET_HEADERS = ("Not Due", "1-30", "31-60", "61-90", "Over 90")
FIGURE_HEADERS = (
    "Outstanding",
    "Overdue",
    *BUCKET_HEADERS,
    "Credit",
    "Pending",
    "Exposure",
)
BOLD = Font(bold=True)


def write_report(
    path: Path,
    ledger: Ledger,
    customers: Mapping[str, Customer],
    limits: Mapping[str, Decimal | None],
    salesperson_limits: Mapping[str, Decimal | None],
    as_of: dt.date,
    base_currency: str,
) -> None:
    """Write the report workbook to `path`, replacing any earlier report atomically."""
    book = Workbook(write_only=True)
    _fill_by_customer(book.create_sheet("By customer"), ledger, customers, limits)
    _fill_by_salesperson(
        book.create_sheet("By salesperson"), ledger, customers, salesperson_limits
    )
    _fill_open_items(book.create_sheet("Open items"), ledger, customers)
    _fill_about(book.create_sheet("About"), ledger, as_of, base_currency)
    book.properties.title = f"Receivables report on {as_of.isoformat()}"
    _save_atomically(book, path)
    log.info("report written to %s for %s", path, as_of)


def _cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def _figures(account: Account) -> list[Decimal]:
    """Return the FIGURE_HEADERS amounts of an account, each rounded to the cent."""
    amounts = [
        account.outstanding,
        account.overdue,
        *(account.buckets[bucket] for bucket in BUCKETS),
        account.credit,
        account.pending,
        account.exposure,
    ]
    return [_cents(amount) for amount in amounts]


def _utilisation(exposure: Decimal, limit: Decimal | None) -> Decimal | None:
    """Return exposure as a fraction of the limit, or None without a positive limit.

    A credit balance (negative exposure) shows as 0, as in the customers sheet.
    """
    if limit is None or limit <= ZERO:
        return None
    return (max(exposure, ZERO) / limit).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


def _salesperson(customers: Mapping[str, Customer], customer_id: str) -> str:
    customer = customers.get(customer_id)
    return (customer.salesperson if customer else None) or NO_SALESPERSON


def _fill_by_customer(ws, ledger, customers, limits) -> None:
    headers = [
        "Customer ID",
        "Name",
        "Salesperson",
        *FIGURE_HEADERS,
        "Limit",
        "Utilisation %",
    ]
    rows = []
    for customer_id in sorted(ledger.accounts):
        customer = customers.get(customer_id)
        figures = _figures(ledger.accounts[customer_id])
        limit = limits.get(customer_id)
        rows.append(
            [
                customer_id,
                customer.name if customer else "",
                _salesperson(customers, customer_id),
                *figures,
                _cents(limit) if limit is not None else None,
                _utilisation(figures[-1], limit),
            ]
        )
    _write_table(ws, headers, rows, money_columns=range(4, 15), percent_column=15)


def _fill_by_salesperson(ws, ledger, customers, salesperson_limits) -> None:
    headers = ["Salesperson", "Customers", *FIGURE_HEADERS, "Limit", "Utilisation %"]
    totals: dict[str, list[Decimal]] = defaultdict(lambda: [ZERO] * len(FIGURE_HEADERS))
    counts: dict[str, int] = defaultdict(int)
    for customer_id, account in ledger.accounts.items():
        salesperson = _salesperson(customers, customer_id)
        counts[salesperson] += 1
        figures = _figures(account)
        # One customer's credit does not lower the exposure of the salesperson's other
        # customers: the salesperson limit counts each customer at no less than 0.
        figures[-1] = max(figures[-1], ZERO)
        totals[salesperson] = _add(totals[salesperson], figures)

    rows = []
    for salesperson in sorted(totals):
        limit = salesperson_limits.get(salesperson)
        figures = totals[salesperson]
        rows.append(
            [
                salesperson,
                counts[salesperson],
                *figures,
                _cents(limit) if limit is not None else None,
                _utilisation(figures[-1], limit),
            ]
        )
    _write_table(
        ws,
        headers,
        rows,
        money_columns=range(3, 14),
        percent_column=14,
        count_columns=(2,),
    )


def _fill_open_items(ws, ledger, customers) -> None:
    headers = [
        "Customer ID",
        "Name",
        "Salesperson",
        "Order ID",
        "Invoice No",
        "Invoice Date",
        "Due Date",
        "Amount",
        "Open Amount",
        "Days Overdue",
        "Bucket",
    ]
    bucket_names = dict(zip(BUCKETS, BUCKET_HEADERS, strict=True))
    rows = []
    for customer_id in sorted(ledger.accounts):
        customer = customers.get(customer_id)
        for item in ledger.accounts[customer_id].open_items:
            rows.append(
                [
                    customer_id,
                    customer.name if customer else "",
                    _salesperson(customers, customer_id),
                    item.order.order_id,
                    item.invoice_id,
                    item.order.invoice_date,
                    item.due_date,
                    _cents(item.amount),
                    _cents(item.open_amount),
                    item.days_overdue,
                    bucket_names[item.bucket],
                ]
            )
    _write_table(ws, headers, rows, money_columns=(8, 9), date_columns=(6, 7))


def _fill_about(ws, ledger: Ledger, as_of: dt.date, base_currency: str) -> None:
    open_items = sum(len(account.open_items) for account in ledger.accounts.values())
    lines = [
        ("As of", as_of),
        ("Base currency", base_currency),
        ("Customers", len(ledger.accounts)),
        ("Open items", open_items),
        ("Amounts", f"in {base_currency}, rounded to the cent; totals add the cells"),
    ]
    ws.column_dimensions["A"].width = 16
    ws.column_dimensions["B"].width = 40
    cell = _CellMaker(ws)
    for number, (label, value) in enumerate(lines, start=1):
        number_format = DATE_FORMAT if number == 1 else None
        ws.append([cell(label, bold=True), cell(value, number_format=number_format)])


def _add(left: Sequence[Decimal], right: Sequence[Decimal]) -> list[Decimal]:
    return [a + b for a, b in zip(left, right, strict=True)]


def _write_table(
    ws: WriteOnlyWorksheet,
    headers: list[str],
    rows: list[list],
    *,
    money_columns: Iterable[int],
    percent_column: int | None = None,
    date_columns: Iterable[int] = (),
    count_columns: Iterable[int] = (),
) -> None:
    """Write a bold header, the rows and a bold totals row; freeze and filter.

    A write-only sheet takes its column widths, frozen pane and filter before the
    first row, and each cell carries its format as it is appended.
    """
    money_columns = tuple(money_columns)
    last_column = get_column_letter(len(headers))
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:{last_column}{len(rows) + 1}"
    for index, header in enumerate(headers, start=1):
        ws.column_dimensions[get_column_letter(index)].width = max(12, len(header) + 4)

    totals: list = ["Total"] + [None] * (len(headers) - 1)
    for column in (*money_columns, *count_columns):
        totals[column - 1] = sum((row[column - 1] or 0 for row in rows), start=ZERO)
    # Limits are not amounts owed, so the Limit column has no total.
    if "Limit" in headers:
        totals[headers.index("Limit")] = None

    formats = {column: MONEY_FORMAT for column in money_columns}
    formats.update((column, DATE_FORMAT) for column in date_columns)
    if percent_column is not None:
        formats[percent_column] = PERCENT_FORMAT
    formats = {column - 1: number_format for column, number_format in formats.items()}

    cell = _CellMaker(ws)
    ws.append([cell(header, bold=True) for header in headers])
    for row in rows:
        ws.append(cell.row(row, formats))
    ws.append(cell.row(totals, formats, bold=True))


class _CellMaker:
    """Make the cells of one write-only sheet, sharing one style per format.

    Setting a font or number format on a cell looks the style up in the workbook.
    Copying the style array of a template cell skips that lookup for every other cell.
    """

    def __init__(self, ws: WriteOnlyWorksheet):
        self.ws = ws
        self.styles: dict[tuple[str | None, bool], StyleArray] = {}

    def __call__(self, value, *, number_format: str | None = None,
                 bold: bool = False) -> Cell:
        style = self.styles.get((number_format, bold))
        if style is None:
            template = WriteOnlyCell(self.ws)
            if number_format is not None:
                template.number_format = number_format
            if bold:
                template.font = BOLD
            style = self.styles[(number_format, bold)] = template._style
        return Cell(self.ws, row=1, column=1, value=value, style_array=style)

    def row(self, values: list, formats: dict[int, str], *, bold: bool = False) -> list:
        """Return the values with a styled cell in each formatted column.

        With `bold`, every column gets a styled cell.
        """
        if bold:
            return [self(value, number_format=formats.get(index), bold=True)
                    for index, value in enumerate(values)]
        row = list(values)
        for index, number_format in formats.items():
            row[index] = self(row[index], number_format=number_format)
        return row


def _save_atomically(book: Workbook, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(
        prefix=f".{path.stem}-", suffix=".xlsx", dir=path.parent
    )
    os.close(handle)
    try:
        book.save(temp_name)
        os.replace(temp_name, path)
    except PermissionError as exc:
        raise EngineError(
            Finding(
                str(path),
                f"the report could not be replaced: {exc.strerror}.",
                "Close the report in Excel; the next pass writes it again.",
            )
        ) from exc
    finally:
        if os.path.exists(temp_name):
            os.remove(temp_name)
