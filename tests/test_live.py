"""Live mode against a small fake of the xlwings objects it uses.

xlwings needs a running Excel on Windows or macOS, so these tests cannot reach a real
one. The fake mirrors the parts used: `apps`, `App.books`, `Book.fullname`,
`Book.sheets[name]`, `Sheet.range((row, column)).value`.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest

from engine import live
from engine.live import try_live_write


class ComError(Exception):
    """Stands in for pywintypes.com_error: args are (hresult, text, details, arg)."""


CALL_REJECTED = ComError(-2147418111, "Call was rejected by callee.", None, None)


class FakeRange:
    def __init__(self, sheet, address):
        self.sheet, self.address = sheet, address

    @property
    def value(self):
        return self.sheet.cells.get(self.address)

    @value.setter
    def value(self, value):
        self.sheet.book.app.before_call()
        self.sheet.cells[self.address] = value


class FakeSheet:
    def __init__(self, book):
        self.book, self.cells = book, {}

    def range(self, address):
        return FakeRange(self, address)


class FakeBook:
    def __init__(self, app, fullname: Path):
        self.app, self.fullname = app, str(fullname)
        self.sheets = {"Orders": FakeSheet(self)}
        self.closed = self.saved = False

    def close(self):
        self.closed = True

    def save(self, path=None):
        self.saved = True


class FakeApp:
    def __init__(self, busy_calls: int = 0, hang: float = 0.0):
        self.books: list[FakeBook] = []
        self.busy_calls, self.hang = busy_calls, hang

    def before_call(self):
        if self.hang:
            time.sleep(self.hang)
        if self.busy_calls:
            self.busy_calls -= 1
            raise CALL_REJECTED


class FakeXlwings:
    def __init__(self, *apps):
        self.apps = list(apps)


@pytest.fixture(autouse=True)
def log_unavailable_again(monkeypatch):
    monkeypatch.setattr(live, "_unavailable_logged", False)


def open_book(tmp_path: Path, **app_options) -> tuple[FakeXlwings, FakeBook, Path]:
    path = tmp_path / "orders.xlsx"
    path.write_bytes(b"")
    app = FakeApp(**app_options)
    book = FakeBook(app, path)
    app.books.append(book)
    return FakeXlwings(app), book, path


CELLS = {(7, 8): "BLOCKED", (7, 9): "over limit", (8, 10): Decimal("12.50"),
         (8, 11): dt.date(2024, 6, 30)}


def test_open_workbook_written_live(tmp_path):
    xw, book, path = open_book(tmp_path)
    assert try_live_write(path, "Orders", CELLS, xlwings_module=xw) is True
    assert book.sheets["Orders"].cells == {
        (7, 8): "BLOCKED", (7, 9): "over limit", (8, 10): 12.5,
        (8, 11): dt.datetime(2024, 6, 30),
    }
    assert book.closed is False
    assert book.saved is False


def test_busy_excel_retried(tmp_path):
    xw, book, path = open_book(tmp_path, busy_calls=3)
    assert try_live_write(path, "Orders", CELLS, xlwings_module=xw, timeout=5) is True
    assert book.sheets["Orders"].cells[(7, 8)] == "BLOCKED"


def test_busy_past_deadline_falls_back(tmp_path, caplog):
    xw, book, path = open_book(tmp_path, busy_calls=10_000)
    started = time.monotonic()
    assert try_live_write(path, "Orders", CELLS, xlwings_module=xw, timeout=0.5) is False
    assert time.monotonic() - started < 2.0
    assert "Excel timed out after 0.5 s while writing orders.xlsx" in caplog.text


def test_hanging_excel_times_out(tmp_path):
    xw, book, path = open_book(tmp_path, hang=3.0)
    started = time.monotonic()
    assert try_live_write(path, "Orders", CELLS, xlwings_module=xw, timeout=0.3) is False
    assert time.monotonic() - started < 1.0
    assert book.closed is False


def test_workbook_not_open_uses_file(tmp_path):
    xw, book, path = open_book(tmp_path)
    other = tmp_path / "payments.xlsx"
    assert try_live_write(other, "Orders", CELLS, xlwings_module=xw) is False
    assert book.sheets["Orders"].cells == {}


def test_no_excel_running_uses_file(tmp_path):
    assert try_live_write(tmp_path / "orders.xlsx", "Orders", CELLS,
                          xlwings_module=FakeXlwings()) is False


def test_missing_xlwings_logged_once(tmp_path, caplog, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_xlwings(name, *args, **kwargs):
        if name == "xlwings":
            raise ImportError("No module named 'xlwings'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_xlwings)
    caplog.set_level("INFO", logger="engine.live")
    for _ in range(3):
        assert try_live_write(tmp_path / "orders.xlsx", "Orders", CELLS) is False
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "live mode off: xlwings is not installed (it needs Windows or macOS); "
        "writing workbook files instead"
    ]


def test_unknown_sheet_falls_back(tmp_path, caplog):
    caplog.set_level("INFO", logger="engine.live")
    xw, book, path = open_book(tmp_path)
    assert try_live_write(path, "Bookings", CELLS, xlwings_module=xw) is False
    assert "live mode off: Excel could not be used for orders.xlsx ('Bookings')" in caplog.text


def test_worker_threads_end(tmp_path):
    xw, book, path = open_book(tmp_path)
    before = threading.active_count()
    for _ in range(5):
        try_live_write(path, "Orders", CELLS, xlwings_module=xw)
    time.sleep(0.1)
    assert threading.active_count() <= before
