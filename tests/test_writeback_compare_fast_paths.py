"""The fast paths of the write-back, report and letters against their plain paths.

Each test writes the same input through the fast path and with it switched off, and
compares the bytes. The fast paths are the threaded deflate of a large sheet, the
report's row blocks (more than one block, hostile names) and the letters' money
format in the locales finance mails to.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest
from babel import Locale, UnknownLocaleError
from babel.numbers import format_currency
from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.utils.datetime import CALENDAR_MAC_1904

from engine import report
from engine.aging import BUCKETS
from engine.mail.formatting import format_money, round_money
from engine.model import Customer, RowRef
from engine.xlsx import zipcopy
from engine.xlsx.patch import write_cells
from engine.xlsx.patch_cells import CellWrite

D = Decimal
AS_OF = dt.date(2013, 6, 3)
# Names staff type or paste: control characters, Excel's own escape written as text,
# emoji, numbers as text, formula and error look-alikes, very long text.
HOSTILE_NAMES = (
    "Ctl\x01\x02\x1f\x7f Reisen",
    "_x0041_ Travel",
    "_x005F_x0041_ Tours",
    "Emoji Reisen 😀🏖️ 👨‍👩‍👧",
    "00123",
    "1e5",
    "=SUM(A1)",
    "#N/A",
    "  spaced  ",
    "Tab\tNew\nLine\r",
    '<b>&amp;</b> "q" \'s',
    "شركة السفر",
    "L" * 40_000,
)


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


# Write-back: a sheet part over 2 MiB is deflated on a worker thread.


def big_orders(path: Path) -> None:
    """Save an orders sheet of 3,500 rows, styled owned columns, 1904 dates, gaps."""
    book = Workbook()
    book.epoch = CALENDAR_MAC_1904
    sheet = book.active
    sheet.title = "Orders"
    sheet.append(["Order ID", "Order Date", "Customer ID", "Amount", "Note", "Status"])
    fill = PatternFill("solid", fgColor="FFFFCC00")
    for n in range(2, 3_502):
        if n % 250 == 0:
            continue  # a row with no cells
        sheet.cell(n, 1, f"ORD-{n:05d}")
        sheet.cell(n, 2, dt.date(2013, 1, 1) + dt.timedelta(days=n % 150))
        sheet.cell(n, 3, f"Kunde Ünïcødé {n % 37}")
        sheet.cell(n, 4, D(n) / 8)
        sheet.cell(n, 5, "padding so the sheet part passes two MiB " * 12)
        status = sheet.cell(n, 6)
        status.fill = fill
        status.font = Font(bold=True)
    book.save(path)


def owned_writes() -> dict[tuple[int, int], object]:
    writes: dict[tuple[int, int], object] = {}
    for n in range(2, 3_600, 3):
        writes[(n, 6)] = CellWrite(
            "BLOCKED" if n % 2 else "APPROVED",
            fill="FFFFC7CE" if n % 2 else "FFC6EFCE",
        )
        writes[(n, 7)] = "Ünïcødé 🎉 " * 200 if n % 5 else "x" * 32_767
        writes[(n, 8)] = dt.date(2013, 6, 3)
        writes[(n, 9)] = D("-1234.505")
    return writes


def test_threaded_deflate_writes_the_bytes_of_one_thread(tmp_path, monkeypatch):
    source = tmp_path / "source.xlsx"
    big_orders(source)
    with zipfile.ZipFile(source) as archive:
        assert archive.getinfo("xl/worksheets/sheet1.xml").file_size > 2 << 20

    threaded = tmp_path / "threaded.xlsx"
    threaded.write_bytes(source.read_bytes())
    write_cells(threaded, "Orders", owned_writes(), fsync=False)

    single = tmp_path / "single.xlsx"
    single.write_bytes(source.read_bytes())
    with monkeypatch.context() as patch:
        patch.setattr(zipcopy, "DEFLATE_BATCH", 1 << 40)  # one batch: no thread
        write_cells(single, "Orders", owned_writes(), fsync=False)

    assert threaded.read_bytes() == single.read_bytes()

    # A second write of the same values and fills leaves the file as it is.
    before = threaded.read_bytes()
    write_cells(threaded, "Orders", owned_writes(), fsync=False)
    assert threaded.read_bytes() == before


# Report: more than one block of 512 rows, with hostile names.


def report_book(customers: int):
    accounts, rows, limits = {}, {}, {}
    for n in range(customers):
        cid = f"C{n:04d}"
        due = AS_OF - dt.timedelta(days=25 * (n % 5))
        items = [
            SimpleNamespace(
                order=SimpleNamespace(
                    order_id=f"ORD-{n}", invoice_date=due - dt.timedelta(30)
                ),
                invoice_id=f"INV-{n}" if n % 7 else "0042",
                due_date=due,
                amount=D(f"{n}.25"),
                open_amount=D(f"{n}.25"),
                days_overdue=max((AS_OF - due).days, 0),
                bucket=BUCKETS[n % 5],
            )
        ]
        buckets = {bucket: D("0.00") for bucket in BUCKETS}
        buckets[BUCKETS[n % 5]] = D(f"{n}.25")
        accounts[cid] = SimpleNamespace(
            outstanding=D(f"{n}.25"),
            overdue=D(f"{n}.25") if n % 5 else D("0.00"),
            buckets=buckets,
            credit=D("-12.50") if n % 11 == 0 else D("0.00"),
            pending=D(0),
            exposure=D(f"{n - 40}.255"),
            open_items=items,
        )
        name = HOSTILE_NAMES[n % len(HOSTILE_NAMES)] if n % 2 else f"Agency {n}"
        rows[cid] = Customer(
            cid,
            name,
            RowRef("customers.xlsx", "Customers", n + 2),
            salesperson=("AKE", "BSO\x01", None, "_x0042_")[n % 4],
        )
        limits[cid] = D("1000") if n % 3 else None
    ledger = SimpleNamespace(accounts=accounts)
    return ledger, rows, limits, {"AKE": D("5000"), "BSO\x01": None}


@pytest.mark.parametrize("customers", [512, 513, 1_100])
def test_report_blocks_match_cell_writer_with_hostile_names(
    tmp_path, monkeypatch, customers
):
    arguments = (*report_book(customers), AS_OF, "USD")
    report.write_report(tmp_path / "blocks.xlsx", *arguments)
    with monkeypatch.context() as patch:
        patch.setattr(report, "_plain_rows", lambda rows, date_styles: False)
        report.write_report(tmp_path / "cells.xlsx", *arguments)

    blocks = members(tmp_path / "blocks.xlsx")
    cells = members(tmp_path / "cells.xlsx")
    blocks.pop("docProps/core.xml")  # the time of writing
    cells.pop("docProps/core.xml")
    assert blocks.keys() == cells.keys()
    for name in cells:
        assert blocks[name] == cells[name], name


# Letters: the locale's pattern against Babel's format_currency.

LETTER_LOCALES = (
    "de_CH", "fr_FR", "ar", "ar_EG", "ar_SA", "hi_IN", "ja_JP", "pt-BR", "en-GB",
    "de_AT", "fr_CA", "bn", "fa_IR", "xx", "", None,
)  # fmt: skip
LETTER_CURRENCIES = ("JPY", "CHF", "EUR", "USD", "INR", "KWD", "ISK")
LETTER_AMOUNTS = (
    D("0"), D("-0"), D("0.5"), D("-0.5"), D("1.005"), D("-1234.567"), D("1000.005"),
    D("-123.45"), D("1234567.891"), D("99999999999.995"), 12, -3, "12.30",
)  # fmt: skip


def babel_text(value, currency: str, language: str | None) -> str:
    locale = None
    if language:
        try:
            locale = Locale.parse(language.replace("-", "_"))
        except (ValueError, TypeError, UnknownLocaleError):
            locale = None
    text = format_currency(
        round_money(value, currency),
        currency,
        locale=locale or Locale.parse("en"),
        decimal_quantization=False,
    )
    return text.replace("\u00a0", " ").replace("\u202f", " ")


@pytest.mark.parametrize("language", LETTER_LOCALES)
def test_letter_money_matches_babel_in_mailed_locales(language):
    for currency in LETTER_CURRENCIES:
        for value in LETTER_AMOUNTS:
            assert format_money(value, currency, language) == babel_text(
                value, currency, language
            ), (language, currency, value)
