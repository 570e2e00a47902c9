"""Live mode: write owned cells through a running Excel that has the workbook open.

When staff keep a workbook open, Excel holds its lock and a file write has to wait
until they close it. Where xlwings can reach Excel (Windows through COM, macOS through
AppleScript), the flags can instead be typed into the open workbook by Excel itself.
The user's workbook is never saved or closed here; the user's next save stores the
flags. On Linux, or without xlwings or a running Excel, `try_live_write` returns False
after one log line and the caller keeps to file mode.

Every call into Excel runs on a worker thread with a deadline, because a busy Excel
(a dialog open, a cell being edited) can block a COM call for minutes. A call Excel
rejects as busy is retried with back-off until the deadline.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path

log = logging.getLogger(__name__)

# HRESULTs of a busy Excel: RPC_E_CALL_REJECTED, RPC_E_SERVERCALL_RETRYLATER and
# VBA_E_IGNORE (Excel is in edit mode). AppleScript's errAETimeout is -1712.
BUSY_CODES = {-2147418111, -2147417846, -2146777998, -1712}
MAX_BUSY_DELAY = 1.0

_unavailable_logged = False


class LiveTimeout(Exception):
    """Excel did not respond to a call within the deadline."""


def try_live_write(
    path: Path,
    sheet: str,
    cells: Mapping[tuple[int, int], object],
    *,
    timeout: float = 10.0,
    xlwings_module=None,
) -> bool:
    """Write `cells` ((row, column) 1-based) into the open workbook; True when done live.

    Returns False, and writes nothing, when xlwings or Excel is unavailable or the
    workbook is not open in Excel. Returns False after a partial write when Excel stays
    busy or stops responding within `timeout` seconds in total; the caller then writes
    the file, which holds every value.
    """
    xw = xlwings_module if xlwings_module is not None else _import_xlwings()
    if xw is None:
        return False
    deadline = time.monotonic() + timeout
    caller = _ExcelCaller(deadline)
    try:
        book = caller.call(lambda: _find_open_book(xw, Path(path)))
        if book is None:
            log.debug("%s is not open in a running Excel; writing the file", path.name)
            return False
        target = caller.call(lambda: book.sheets[sheet])
        for (row, column), value in sorted(cells.items()):
            excel_value = _excel_value(value)
            caller.call(lambda: _set_value(target, row, column, excel_value))
    except LiveTimeout:
        log.warning("Excel timed out after %.1f s while writing %s; the file will be "
                    "written when the workbook is closed", timeout, path.name)
        return False
    except Exception as exc:  # COM and AppleScript errors have no common base class
        _log_unavailable(f"Excel could not be used for {path.name} ({exc})")
        return False
    finally:
        caller.close()
    log.info("wrote %d cells to %s › %s through Excel", len(cells), path.name, sheet)
    return True


def _import_xlwings():
    try:
        import xlwings
    except ImportError:
        _log_unavailable("xlwings is not installed (it needs Windows or macOS)")
        return None
    return xlwings


def _log_unavailable(reason: str) -> None:
    global _unavailable_logged
    if not _unavailable_logged:
        _unavailable_logged = True
        log.info("live mode off: %s; writing workbook files instead", reason)


def _find_open_book(xw, path: Path):
    """Return the open Book whose full name is `path`, or None; never opens one."""
    wanted = os.path.normcase(str(path.resolve()))
    for app in xw.apps:
        for book in app.books:
            if os.path.normcase(str(book.fullname)) == wanted:
                return book
    return None


def _set_value(sheet, row: int, column: int, value) -> None:
    sheet.range((row, column)).value = value


def _excel_value(value):
    """Convert to what Excel stores: Decimal to float (a double is all a cell holds)."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return dt.datetime(value.year, value.month, value.day)
    return value


def _is_busy(exc: Exception) -> bool:
    codes = [arg for arg in getattr(exc, "args", ()) if isinstance(arg, int)]
    codes.append(getattr(exc, "hresult", None))
    codes.append(getattr(exc, "number", None))
    return any(code in BUSY_CODES for code in codes)


class _ExcelCaller:
    """Run calls into Excel on one worker thread, each bounded by a shared deadline."""

    def __init__(self, deadline: float):
        self.deadline = deadline
        self.jobs: queue.Queue = queue.Queue()
        self.worker = threading.Thread(target=self._work, name="excel-live", daemon=True)
        self.worker.start()

    def call(self, function: Callable[[], object]):
        delay = 0.05
        while True:
            try:
                return self._call_once(function)
            except LiveTimeout:
                raise
            except Exception as exc:
                if not _is_busy(exc) or time.monotonic() + delay >= self.deadline:
                    raise LiveTimeout() if _is_busy(exc) else exc
                log.debug("Excel is busy (%s); retrying in %.2f s", exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, MAX_BUSY_DELAY)

    def _call_once(self, function: Callable[[], object]):
        answer: queue.Queue = queue.Queue(maxsize=1)
        self.jobs.put((function, answer))
        remaining = self.deadline - time.monotonic()
        try:
            ok, value = answer.get(timeout=max(0.0, remaining))
        except queue.Empty:
            # The worker stays blocked in Excel; it is a daemon and is abandoned.
            raise LiveTimeout() from None
        if not ok:
            raise value
        return value

    def close(self) -> None:
        self.jobs.put(None)

    def _work(self) -> None:
        _initialise_com()
        while True:
            job = self.jobs.get()
            if job is None:
                return
            function, answer = job
            try:
                answer.put((True, function()))
            except Exception as exc:
                answer.put((False, exc))


def _initialise_com() -> None:
    """Initialise COM on this thread (Windows); xlwings does it only on its import thread."""
    try:
        import pythoncom
    except ImportError:
        return
    pythoncom.CoInitialize()
