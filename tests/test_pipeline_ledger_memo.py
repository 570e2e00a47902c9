"""Watcher passes with the ledger memo write, report and mail what fresh passes do."""

from __future__ import annotations

import datetime as dt
import email
import logging
import re
from decimal import Decimal
from pathlib import Path

from python_calamine import CalamineWorkbook

from engine.inputs import ReadMemo
from engine.pipeline import run_pass
from engine.project import Project
from engine.xlsx.patch import write_cells
from tests.conftest import copy_project

AS_OF = dt.date(2013, 6, 3)


def column_of(path: Path, sheet: str, header: str) -> int:
    grid = CalamineWorkbook.from_path(str(path)).get_sheet_by_name(sheet).to_python()
    return grid[0].index(header) + 1


def cell_of(path: Path, sheet: str, row: int, header: str):
    grid = CalamineWorkbook.from_path(str(path)).get_sheet_by_name(sheet).to_python()
    return grid[row - 1][grid[0].index(header)]


def report_grid(root: Path) -> dict:
    """Return the report workbook's cells by sheet (its file carries a save time)."""
    book = CalamineWorkbook.from_path(str(root / "report" / "arrears-report.xlsx"))
    return {name: book.get_sheet_by_name(name).to_python() for name in book.sheet_names}


# Headers and ids that differ in each message written, whatever its content.
VARYING = ("Date", "Message-ID", "Content-ID")
CONTENT_ID = re.compile(rb"[0-9.]+@arrears-guard\.invalid")


def letters(root: Path) -> dict[str, list]:
    """Return each outbox letter's headers and decoded parts, without varying ids."""
    outbox = root / "outbox"
    if not outbox.is_dir():
        return {}
    found = {}
    for path in sorted(outbox.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes())
        parts = []
        for part in message.walk():
            headers = [(key, value) for key, value in part.items()
                       if key not in VARYING and key != "Content-Type"]
            body = part.get_payload(decode=True) or b""
            parts.append((headers, part.get_content_type(),
                          CONTENT_ID.sub(b"ID", body)))
        found[path.name] = parts
    return found


def test_memo_passes_equal_fresh_passes(tmp_path, caplog):
    caplog.set_level(logging.DEBUG, logger="engine.ledger_memo")
    with_memo = copy_project(tmp_path / "memo")
    fresh = copy_project(tmp_path / "fresh")
    orders = with_memo / "workbooks" / "orders.xlsx"
    payments = with_memo / "workbooks" / "payments.xlsx"
    amount = column_of(orders, "Orders", "Amount")
    customer = column_of(orders, "Orders", "Customer ID")
    paid = column_of(payments, "Payments", "Amount")
    other = cell_of(orders, "Orders", 3, "Customer ID")
    saves = [
        None,
        ("orders.xlsx", "Orders", {(4, amount): Decimal("99999.00")}),
        ("orders.xlsx", "Orders", {(5, customer): other}),  # an order moved
        ("payments.xlsx", "Payments", {(6, paid): Decimal("1.00")}),
        ("orders.xlsx", "Orders", {(4, amount): Decimal("50.39")}),
        None,
    ]
    memo = ReadMemo()
    for save in saves:
        for root in (with_memo, fresh):
            if save is not None:
                name, sheet, cells = save
                write_cells(root / "workbooks" / name, sheet, cells)
        memo_result = run_pass(Project.at(with_memo), as_of=AS_OF, memo=memo)
        fresh_result = run_pass(Project.at(fresh), as_of=AS_OF)

        assert memo_result.decisions == fresh_result.decisions, save
        assert list(memo_result.findings) == list(fresh_result.findings), save
        for name in ("orders.xlsx", "customers.xlsx"):
            written = (with_memo / "workbooks" / name).read_bytes()
            assert written == (fresh / "workbooks" / name).read_bytes(), (save, name)
        assert report_grid(with_memo) == report_grid(fresh), save
        assert letters(with_memo) == letters(fresh), save
    rebuilt = [record.getMessage() for record in caplog.records
               if record.getMessage().endswith("accounts rebuilt")]
    # The first pass builds every account. The second rebuilds the customers whose
    # flags the first pass wrote. The payments save gives every payment a new
    # record, so all accounts are built again, and a one-row save after it rebuilds
    # the customer of that row and of any order whose flag the pass changed.
    # The last pass found nothing changed and built no ledger.
    assert len(rebuilt) == 5
    assert rebuilt[0] == "100 of 100 accounts rebuilt"
    assert rebuilt[3] == "100 of 100 accounts rebuilt"
    assert int(rebuilt[4].split()[0]) <= 2
