"""The report workbook: exposure by customer and by salesperson, and the open items.

The engine owns this file entirely, so it is written whole with openpyxl in write-only
mode (rows are streamed to the file, no cell grid is kept in memory). Every amount
is in the base currency and rounded half-up to the cent before it is written. Each
totals row is the sum of the rounded cells above it, so the sheet adds up as shown.
The workbook is saved to a temporary file in the same folder and moved over the old
report with `os.replace`, so a reader never sees a half-written report.

openpyxl writes each cell through a Cell object and nested lxml writer contexts,
which took most of the report's time. Tables whose values are all plain (numbers,
text, dates in date-formatted columns, empty cells) are therefore written as the
text of each row, with openpyxl's number conversion and style registry and lxml's
escaping, and give the same sheet XML byte for byte (the tests compare both). Any
other value sends the whole table through openpyxl's cell writer.
"""

from __future__ import annotations

import datetime as dt
import gc
import logging
import os
import re
import secrets
import stat
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import ROUND_HALF_UP, Decimal
from itertools import groupby, repeat
from operator import itemgetter
from pathlib import Path
from zipfile import ZIP_DEFLATED, ZipFile

import openpyxl
from openpyxl import Workbook
from openpyxl.cell import Cell, WriteOnlyCell
from openpyxl.cell.cell import ERROR_CODES, ILLEGAL_CHARACTERS_RE
from openpyxl.compat.strings import safe_string
from openpyxl.styles import Font
from openpyxl.styles.cell_style import StyleArray
from openpyxl.styles.numbers import is_date_format
from openpyxl.utils import get_column_letter
from openpyxl.utils.datetime import to_excel
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from openpyxl.worksheet._writer import WorksheetWriter
from openpyxl.writer.excel import ExcelWriter
from openpyxl.xml.constants import SHEET_MAIN_NS
from openpyxl.xml.functions import xmlfile

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
MAX_TEXT = 32767  # openpyxl cuts longer text; such tables take the cell writer
# Characters lxml refuses in text; openpyxl's own writer raises on them.
NOT_XML = re.compile(r"[\ud800-\udfff\ufffe\uffff]")
# An underscore that starts an `_xHHHH_` escape, and the control characters XML 1.0
# forbids, which Excel stores as `_xHHHH_`.
EXCEL_ESCAPE = re.compile(r"_(?=x[0-9A-Fa-f]{4}_)|[\x00-\x08\x0b\x0c\x0e-\x1f]")


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
    # The tables' rows are lists the cyclic collector would traverse again at each
    # full collection while they are built, though they contain no cycles.
    with _collector_off():
        book = Workbook(write_only=True)
        # Both sheets show each account's rounded figures, so they are rounded once.
        figures = {key: _figures(account) for key, account in ledger.accounts.items()}
        _fill_by_customer(_add_sheet(book, "By customer"), figures, customers, limits)
        _fill_by_salesperson(
            _add_sheet(book, "By salesperson"), figures, customers, salesperson_limits
        )
        del figures
        _fill_open_items(_add_sheet(book, "Open items"), ledger, customers)
        _fill_about(_add_sheet(book, "About"), ledger, as_of, base_currency)
        book.properties.title = f"Receivables report on {as_of.isoformat()}"
        _save_atomically(book, path)
    log.info("report written to %s for %s", path, as_of)


@contextmanager
def _collector_off():
    """Turn the cyclic garbage collector off, and back on if it was on."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# Zero in cents, by sign (Decimal keeps the sign of a negative zero).
_ZERO_CENTS = {False: Decimal("0.00"), True: Decimal("-0.00")}


def _cents(amount: Decimal) -> Decimal:
    """Return the amount rounded half-up to the cent, sharing Decimals where it can.

    A zero is one of two shared Decimals, and an amount already in cents (most
    ledger sums) is returned itself, so the report of 104,857 customers does not
    hold 1.2 million new Decimals.
    """
    if not amount:
        return _ZERO_CENTS[amount.is_signed()]
    if amount.same_quantum(CENT):
        return amount
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def _figures(account: Account) -> list[Decimal]:
    """Return the FIGURE_HEADERS amounts of an account, each rounded to the cent."""
    buckets = account.buckets
    amounts = (
        account.outstanding,
        account.overdue,
        *map(buckets.__getitem__, BUCKETS),
        account.credit,
        account.pending,
        account.exposure,
    )
    # A nonzero amount in cents is kept as `_cents` would keep it, without the call.
    return [
        amount if amount and amount.same_quantum(CENT) else _cents(amount)
        for amount in amounts
    ]


def _utilisation(exposure: Decimal, limit: Decimal | None) -> Decimal | None:
    """Return exposure as a fraction of the limit, or None without a positive limit.

    A credit balance (negative exposure) shows as 0, as in the customers sheet.
    """
    if limit is None or limit <= ZERO:
        return None
    return (max(exposure, ZERO) / limit).quantize(
        Decimal("0.0001"), rounding=ROUND_HALF_UP
    )


def _salesperson(customers: Mapping[str, Customer], customer_id: str) -> str:
    customer = customers.get(customer_id)
    return (customer.salesperson if customer else None) or NO_SALESPERSON


def _fill_by_customer(ws, figures_of, customers, limits) -> None:
    headers = [
        "Customer ID",
        "Name",
        "Salesperson",
        *FIGURE_HEADERS,
        "Limit",
        "Utilisation %",
    ]
    rows = []
    for customer_id in sorted(figures_of):
        customer = customers.get(customer_id)
        figures = figures_of[customer_id]
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


def _fill_by_salesperson(ws, figures_of, customers, salesperson_limits) -> None:
    headers = ["Salesperson", "Customers", *FIGURE_HEADERS, "Limit", "Utilisation %"]
    books: dict[str, list[list[Decimal]]] = defaultdict(list)
    for customer_id, account_figures in figures_of.items():
        books[_salesperson(customers, customer_id)].append(account_figures)

    rows = []
    for salesperson in sorted(books):
        limit = salesperson_limits.get(salesperson)
        *columns, exposures = zip(*books[salesperson], strict=True)
        figures = [sum(column, ZERO) for column in columns]
        # One customer's credit does not lower the exposure of the salesperson's other
        # customers: the salesperson limit counts each customer at no less than 0.
        figures.append(sum((max(exposure, ZERO) for exposure in exposures), ZERO))
        rows.append(
            [
                salesperson,
                len(books[salesperson]),
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
    rows = []
    for number, (label, value) in enumerate(lines, start=1):
        number_format = DATE_FORMAT if number == 1 else None
        styles = [cell.style(None, True), cell.style(number_format, False)]
        rows.append(([label, value], styles))
    _append_rows(ws, rows)


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
        # Empty cells and zeros add nothing, so `filter` leaves them out without a
        # Python step per row.
        totals[column - 1] = sum(filter(None, map(itemgetter(column - 1), rows)), ZERO)
    # Limits are not amounts owed, so the Limit column has no total.
    if "Limit" in headers:
        totals[headers.index("Limit")] = None

    formats = {column: MONEY_FORMAT for column in money_columns}
    formats.update((column, DATE_FORMAT) for column in date_columns)
    if percent_column is not None:
        formats[percent_column] = PERCENT_FORMAT
    formats = {column - 1: number_format for column, number_format in formats.items()}

    cell = _CellMaker(ws)
    # The styles are made in the order the cell writer would make them, so that
    # number formats and styles get the same ids in the workbook.
    width = len(headers)
    table: list[_Row] = [(headers, [cell.style(None, True)] * width)]
    if rows:
        styles: list[StyleArray | None] = [None] * width
        for index, number_format in formats.items():
            styles[index] = cell.style(number_format, False)
        table.extend(zip(rows, repeat(styles)))
    bold = [cell.style(formats.get(index), True) for index in range(width)]
    table.append((totals, bold))
    _append_rows(ws, table)


class _CellMaker:
    """Make the cells of one write-only sheet, sharing one style per format.

    Setting a font or number format on a cell looks the style up in the workbook.
    Copying the style array of a template cell skips that lookup for every other cell.
    """

    def __init__(self, ws: WriteOnlyWorksheet):
        self.ws = ws
        self.styles: dict[tuple[str | None, bool], StyleArray] = {}

    def style(self, number_format: str | None, bold: bool) -> StyleArray | None:
        """Return the style of a cell with this format and weight; None for neither."""
        if number_format is None and not bold:
            return None
        style = self.styles.get((number_format, bold))
        if style is None:
            template = WriteOnlyCell(self.ws)
            if number_format is not None:
                template.number_format = number_format
            if bold:
                template.font = BOLD
            style = self.styles[(number_format, bold)] = template._style
        return style


# The values of one sheet row and the style of each cell (None for no style).
_Row = tuple[list, Sequence[StyleArray | None]]
# Rows the row writer writes with one `append`: a block pays openpyxl's per-row
# steps (the generator, an lxml flush, an encode and a write) once.
BLOCK_ROWS = 512


class _Block(tuple):
    """Consecutive rows that share one list of styles, written by one `append`."""

    def __new__(cls, rows: list[list], styles: Sequence[StyleArray | None]):
        return super().__new__(cls, (rows, styles))

    @property
    def rows(self) -> list[list]:
        return self[0]

    @property
    def styles(self) -> Sequence[StyleArray | None]:
        return self[1]


def _append_rows(ws: WriteOnlyWorksheet, rows: list[_Row]) -> None:
    """Append the rows as row elements when all values are plain, else as cells."""
    styles = {id(style): style for row in _unique_styles(rows) for style in row}
    date_styles = {
        key
        for key, style in styles.items()
        if style is not None
        and is_date_format(Cell(ws, style_array=style).number_format)
    }
    plain = _plain_rows(rows, date_styles)
    if isinstance(ws, _TableSheet) and openpyxl.LXML and plain:
        for block in _blocks(rows):
            ws.append(block)
        return
    for row in rows:
        ws.append(_cells(ws, row))


def _blocks(rows: list[_Row]) -> Iterator[_Block]:
    """Yield the rows in blocks of at most BLOCK_ROWS rows that share their styles."""
    for _, group in groupby(rows, key=lambda row: id(row[1])):
        members = list(group)
        styles = members[0][1]
        values = list(map(itemgetter(0), members))
        for at in range(0, len(values), BLOCK_ROWS):
            yield _Block(values[at : at + BLOCK_ROWS], styles)


def _unique_styles(rows: list[_Row]) -> list[Sequence[StyleArray | None]]:
    return list({id(styles): styles for _, styles in rows}.values())


def _cells(ws: WriteOnlyWorksheet, row: _Row) -> list:
    """Return the row for openpyxl's cell writer: styled cells and plain values."""
    values, styles = row
    return [
        _cell(ws, value, style)
        for value, style in zip(values, styles, strict=True)
    ]


def _cell(ws: WriteOnlyWorksheet, value, style: StyleArray | None):
    if type(value) is str:
        value = _excel_text(value)
    if type(value) is str and (value.startswith("=") or value in ERROR_CODES):
        # Text typed by staff (a customer named "=SUM(A1)", "#N/A") stays text:
        # openpyxl would write it as a formula or an error value.
        cell = Cell(ws, 1, 1, value, style_array=style)
        cell.data_type = "s"
        return cell
    if style is None:
        return value
    return Cell(ws, 1, 1, value, style_array=style)


def _plain_rows(rows: list[_Row], date_styles: set[int]) -> bool:
    """Return True when the row writer can write every value of the rows.

    The values are checked a column of up to BLOCK_ROWS rows at a time, by the
    set of their types, so only text cells take a Python step each. Texts repeat
    (names, salespeople), so each distinct text is checked once.
    """
    texts: set[str] = set()
    for block in _blocks(rows):
        styles = block.styles
        if any(len(values) != len(styles) for values in block.rows):
            return False
        for index, column in enumerate(zip(*block.rows)):
            kinds = set(map(type, column)) - _NOT_CHECKED
            if str in kinds:
                kinds.discard(str)
                texts.update(value for value in column if type(value) is str)
            if dt.date in kinds and id(styles[index]) in date_styles:
                # openpyxl gives a date in a cell without a date format its own format.
                kinds.discard(dt.date)
            if kinds:
                return False
    return _plain_texts(texts)


def _plain_texts(texts: set[str]) -> bool:
    """Return True when every text is plain, as `_plain_cell` judges each.

    The texts are first checked together, joined by spaces. Printable text without
    `_x` is its own Excel text and contains no character lxml or openpyxl rejects.
    A text after a space that starts with "=" or "#" could be a formula or an error
    code. Any doubt sends each text through `_plain_cell`.
    """
    joined = " " + " ".join(texts)
    if (
        joined.isprintable()
        and "_x" not in joined
        and " =" not in joined
        and " #" not in joined
        and max(map(len, texts), default=0) <= MAX_TEXT
    ):
        return True
    return all(_plain_cell(text, False) for text in texts)


_NUMBERS = frozenset((Decimal, int, float))
# Types the row writer writes as openpyxl does without looking at the value.
_NOT_CHECKED = frozenset((type(None), Decimal, int, float))


def _plain_cell(value, date_style: bool) -> bool:
    """Return True for a value the row writer converts as openpyxl would."""
    kind = type(value)
    if value is None or kind in _NUMBERS:
        return True
    if kind is str:
        value = _excel_text(value)
        # Formula-looking text and error codes go through `_cell`, which keeps them text.
        return (
            len(value) <= MAX_TEXT
            and not (len(value) > 1 and value.startswith("="))
            and value not in ERROR_CODES
            and ILLEGAL_CHARACTERS_RE.search(value) is None
            and NOT_XML.search(value) is None
        )
    # openpyxl gives a date in a cell without a date format its own format.
    return kind is dt.date and date_style


def _add_sheet(book: Workbook, title: str) -> _TableSheet:
    sheet = _TableSheet(parent=book, title=title)
    book._add_sheet(sheet)
    return sheet


class _TableSheet(WriteOnlyWorksheet):
    """A write-only sheet that takes `_Block`s, written whole by `_RowWriter`."""

    def _values_to_row(self, values, row_idx):
        if isinstance(values, _Block):
            return values
        return super()._values_to_row(values, row_idx)

    def _get_writer(self):
        if self._writer is None:
            self._writer = _RowWriter(self)
            self._writer.write_top()


class _RowWriter(WorksheetWriter):
    """Write each `_Block` as the text openpyxl's cell writer gives for its cells.

    The sheet XML is written to a file this writer opens, so that the rows can go
    straight to it as text between lxml's own writes (after `xf.flush()`). The text
    is escaped as lxml escapes it: `&`, `<`, `>` and carriage returns as references,
    and every non-ASCII character as a numeric character reference.

    openpyxl numbers the rows it is given one by one, so a block of n rows puts the
    rows after it n - 1 rows further down (`rows_ahead`).
    """

    def __init__(self, ws: _TableSheet):
        self.handle = None
        super().__init__(ws)
        self.columns: list[str] = []
        self.row_cells: dict[int, list[tuple[str, str]]] = {}
        self.kept: list[Sequence[StyleArray | None]] = []
        self.epoch = ws.parent.epoch
        self.serials: dict[dt.date, str] = {}
        self.rows_ahead = 0

    def get_stream(self):
        with open(self.out, "wb") as handle, xmlfile(handle) as xf:
            self.handle = handle
            with xf.element("worksheet", xmlns=SHEET_MAIN_NS):
                try:
                    while True:
                        element = yield
                        if element is True:
                            yield xf
                        elif element is not None:
                            xf.write(element)
                except GeneratorExit:
                    pass

    def write_row(self, xf, row, row_idx):
        row_idx += self.rows_ahead
        if not isinstance(row, _Block):
            return super().write_row(xf, row, row_idx)
        xf.flush()
        cells = self._cells_of(row.styles)
        text = "".join(
            [
                self._row_text(cells, values, str(number))
                for number, values in enumerate(row.rows, start=row_idx)
            ]
        )
        self.handle.write(text.encode("ascii", "xmlcharrefreplace"))
        self.rows_ahead += len(row.rows) - 1

    def _row_text(self, cells: list[tuple[str, str]], values: list, number: str) -> str:
        parts = [f'<row r="{number}">']
        append = parts.append
        for (start, style), value in zip(cells, values):
            kind = type(value)
            if kind is Decimal:
                # As `_number`, inline for the most common value. Many figures are
                # zero (aging buckets), which "%.16g" writes as "0" or "-0".
                if not value:
                    text = "-0" if value.is_signed() else "0"
                else:
                    text = "%.16g" % value  # noqa: UP031
                    if not text[-1].isdigit():
                        text = safe_string(value)
                append(f'{start}{number}"{style} t="n"><v>{text}</v></c>')
            elif value is None:
                if style:
                    append(f'{start}{number}"{style} t="n"></c>')
            elif kind is str:
                if not value:
                    append(f'{start}{number}"{style} t="inlineStr"></c>')
                    continue
                # The checks of `_excel_text` and `_escape`, inline for the usual text.
                text = value
                if "_x" in text or not text.isprintable():
                    text = _excel_text(text)
                space = ' xml:space="preserve"' if text != text.strip() else ""
                if "&" in text or "<" in text or ">" in text or "\r" in text:
                    text = _escape(text)
                append(
                    f'{start}{number}"{style} t="inlineStr"><is><t{space}>'
                    f"{text}</t></is></c>"
                )
            else:
                text = self._serial(value) if kind is dt.date else _number(value)
                append(f'{start}{number}"{style} t="n"><v>{text}</v></c>')
        append("</row>")
        return "".join(parts)

    def _serial(self, value: dt.date) -> str:
        text = self.serials.get(value)
        if text is None:
            text = self.serials[value] = safe_string(to_excel(value, self.epoch))
        return text

    def _cells_of(self, styles: Sequence[StyleArray | None]) -> list[tuple[str, str]]:
        """Return each column's cell start and `s` attribute ("" for no style).

        A style is registered in the workbook when the first row that uses it is
        written, in column order, as openpyxl's writer does cell by cell.
        """
        cells = self.row_cells.get(id(styles))
        if cells is None:
            while len(self.columns) < len(styles):
                self.columns.append(get_column_letter(len(self.columns) + 1))
            cells = []
            for letter, style in zip(self.columns, styles):
                attribute = ""
                if style is not None and any(style):
                    attribute = f' s="{self.ws.parent._cell_styles.add(style)}"'
                cells.append((f'<c r="{letter}', attribute))
            self.row_cells[id(styles)] = cells
            self.kept.append(styles)  # keeps id(styles) unique while cached
        return cells


def _excel_text(text: str) -> str:
    """Return text as Excel stores it, with `_xHHHH_` for control characters.

    Excel, and python-calamine, decode `_xHHHH_` in cell text, so a literal
    `_x0041_` is stored as `_x005F_x0041_`. A control character read from a
    workbook (Excel stores it as `_x0001_`) cannot be written into XML as it is.
    Tab, line feed and carriage return are valid XML and stay as they are.
    """
    if "_x" in text or not text.isprintable():
        return EXCEL_ESCAPE.sub(_excel_escape, text)
    return text


def _excel_escape(match: re.Match[str]) -> str:
    found = match.group()
    return "_x005F_" if found == "_" else f"_x{ord(found):04X}_"


def _escape(text: str) -> str:
    """Escape element text as lxml does (non-ASCII is left to the encoder)."""
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    if "\r" in text:
        text = text.replace("\r", "&#13;")
    return text


def _number(value) -> str:
    """Return a number's text as openpyxl's `safe_string` gives it."""
    # %-formatting converts a Decimal to float first, as safe_string does, so
    # Decimal("1.10") gives "1.1"; str.format would keep the Decimal's digits.
    text = "%.16g" % value  # noqa: UP031
    return text if text[-1].isdigit() else safe_string(value)


def _save(book: Workbook, name: str) -> None:
    """Save as `Workbook.save` does, with a faster compression level.

    Deflate level 3 takes about a third of the time of the default level 6 on the
    report's sheets, for a file about a fifth larger.
    """
    book.properties.modified = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    archive = ZipFile(name, "w", ZIP_DEFLATED, allowZip64=True, compresslevel=3)
    with archive:
        ExcelWriter(book, archive).save()


def _save_atomically(book: Workbook, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp_name = _new_temp_file(path)
    try:
        _save(book, temp_name)
        _keep_mode(path, temp_name)
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


def _new_temp_file(path: Path) -> str:
    """Create an empty temporary file beside `path` and return its name.

    `tempfile.mkstemp` creates files readable by their owner alone, so a report
    made that way could not be opened by colleagues on a shared drive. This file
    gets the permissions the user's umask gives any new file.
    """
    while True:
        name = str(path.parent / f".{path.stem}-{secrets.token_hex(4)}.xlsx")
        try:
            handle = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(handle)
        return name


def _keep_mode(path: Path, temp_name: str) -> None:
    """Give the new report the permissions of the report it replaces, if any."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    os.chmod(temp_name, mode)
