"""Turning a pass's results into owned-cell values, and writing only what changed.

The orders sheet gets a status and a reason per decided order; the customers sheet gets
balances, limit, utilisation and aging per customer. A cell is written only when its
new value differs from what the sheet shows, so a pass on unchanged input writes nothing
and the watcher sees no change of the engine's own making.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from engine.filestamp import FileStamp
from engine.findings import Finding, Severity
from engine.state import ensure_schema

log = logging.getLogger(__name__)

CENT = Decimal("0.01")
TENTH = Decimal("0.1")

Cells = dict[tuple[int, int], object]

PENDING_SCHEMA = """
CREATE TABLE IF NOT EXISTS pending_writes (
    path TEXT NOT NULL,
    sheet TEXT NOT NULL,
    cells TEXT NOT NULL,
    expected TEXT NOT NULL,
    owner TEXT,
    since TEXT NOT NULL,
    PRIMARY KEY (path, sheet)
);
"""


@dataclass(slots=True)
class SheetWrite:
    """The cells one pass wants to change in one sheet."""

    path: Path
    sheet: str
    shown_as: str
    expected: FileStamp
    cells: Cells = field(default_factory=dict)
    # A drop-down list to add to the sheet (engine.xlsx.validation.ListValidation).
    validation: object | None = None


def as_decimal(value: object) -> Decimal | None:
    """Return a sheet value as Decimal, or None when it is empty or not a number."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return value
    if isinstance(value, (int, float)):
        return Decimal(repr(value))
    try:
        return Decimal(str(value).strip())
    except InvalidOperation:
        return None


def same_value(current: object, new: object, *, date1904: bool = False) -> bool:
    """Return True when writing `new` would not change what the cell holds.

    A date written into a cell without a date format reads back as its serial
    number, so a number equal to the date's serial in the workbook's date system
    counts as the same value.
    """
    if new is None or new == "":
        return current is None or current == ""
    if isinstance(new, str):
        return isinstance(current, str) and current == new
    if isinstance(new, dt.date):
        if isinstance(current, dt.datetime):
            return current.date() == new and current.time() == dt.time(0)
        if isinstance(current, (int, float)) and not isinstance(current, bool):
            return _from_serial(current, date1904) == dt.datetime.combine(
                new, dt.time(0)
            )
        return isinstance(current, dt.date) and current == new
    if isinstance(new, (Decimal, int)):
        old = as_decimal(current)
        return old is not None and old == Decimal(new)
    return current == new


def _from_serial(serial: float, date1904: bool) -> dt.datetime | None:
    """Return the date and time of an Excel serial number in the workbook's date system."""
    # Imported here because openpyxl takes about 0.1 s to import, and only a date
    # cell that contains a bare serial number needs it.
    from openpyxl.utils.datetime import (
        CALENDAR_MAC_1904,
        CALENDAR_WINDOWS_1900,
        from_excel,
    )

    return from_excel(serial, CALENDAR_MAC_1904 if date1904 else CALENDAR_WINDOWS_1900)


def changed_cells(
    row: int,
    columns: Mapping[str, int],
    current: Mapping[str, object],
    new: Mapping[str, object],
    *,
    date1904: bool = False,
) -> Cells:
    """Return the (row, column) -> value pairs of `new` that differ from `current`."""
    cells: Cells = {}
    add_changed_cells(cells, row, columns, current, new, date1904=date1904)
    return cells


def add_changed_cells(
    cells: Cells,
    row: int,
    columns: Mapping[str, int],
    current: Mapping[str, object],
    new: Mapping[str, object],
    *,
    date1904: bool = False,
) -> None:
    """Add to `cells` the (row, column) -> value pairs of `new` that differ from `current`.

    A customers sheet near Excel's row limit plans over a million cells, so the
    common cases are compared here as `same_value` compares them. An empty cell
    differs from every value but an empty one, and a text from every other text. A
    number read from the sheet differs from a Decimal of another value.
    """
    # An empty value is None or "". The test avoids `value != ""`, because comparing
    # a Decimal with a str goes through the numbers ABCs (about a tenth of the plan's
    # time in a cProfile run at 100,000 rows).
    if not current:
        # A row whose owned cells are all empty, as on a first pass.
        for name, value in new.items():
            column = columns.get(name)
            if (
                column is not None
                and value is not None
                and not (isinstance(value, str) and not value)
            ):
                cells[(row, column)] = value
        return
    now = current.get
    for name, value in new.items():
        column = columns.get(name)
        if column is None:
            continue
        old = now(name)
        if old is None:
            if value is not None and not (isinstance(value, str) and not value):
                cells[(row, column)] = value
            continue
        kind = type(value)
        if kind is Decimal and type(old) is float:
            changed = Decimal(repr(old)) != value
        elif kind is str:
            changed = old != value
        else:
            changed = not same_value(old, value, date1904=date1904)
        if changed:
            cells[(row, column)] = value


def customer_figures(
    account, limit: Decimal | None, as_of: dt.date
) -> dict[str, object]:
    """Return the owned customers-sheet values for one customer's account."""
    utilisation = None
    if limit is not None and limit > 0:
        # A credit balance uses none of the limit: never a negative percentage.
        utilisation = quantized(max(account.exposure, 0) / limit * 100, TENTH)
    figures = {
        "outstanding": quantized(account.outstanding, CENT),
        "overdue": quantized(account.overdue, CENT),
        "exposure": quantized(account.exposure, CENT),
        "limit": quantized(limit, CENT) if limit is not None else None,
        "utilisation": utilisation,
        "checked_on": as_of,
    }
    for bucket, amount in account.buckets.items():
        figures[bucket] = quantized(amount, CENT)
    return figures


# Zero quantized to a step, by the step's exponent and the sign: most customers have several zero
# figures, and a customers sheet near Excel's row limit plans over a million cells.
_ZEROS: dict[tuple[int, bool], Decimal] = {}
# The same for the usual steps, looked up by identity, because reading a step's
# exponent takes longer than the rest of `quantized`.
_STEP_ZEROS: dict[tuple[int, bool], Decimal] = {
    (id(step), signed): (Decimal("-0") if signed else Decimal(0)).quantize(step)
    for step in (CENT, TENTH)
    for signed in (False, True)
}


def quantized(amount: Decimal, step: Decimal) -> Decimal:
    """Return `amount.quantize(step)`, without a new Decimal where one can be shared.

    An amount already at the step (a ledger sum of cents) is returned itself, and
    each zero result is one shared Decimal.
    """
    if amount:
        return amount if amount.same_quantum(step) else amount.quantize(step)
    zero = _STEP_ZEROS.get((id(step), amount.is_signed()))
    if zero is not None:
        return zero
    key = (step.as_tuple().exponent, amount.is_signed())
    zero = _ZEROS.get(key)
    if zero is None:
        zero = _ZEROS[key] = amount.quantize(step)
    return zero


# Pending writes: results kept while a workbook is open in Excel.


def store_pending(
    connection: sqlite3.Connection, write: SheetWrite, owner: str | None
) -> None:
    """Keep a write that could not happen now, replacing an older one for that sheet."""
    ensure_schema(connection, PENDING_SCHEMA)
    cells = [
        [row, column, encode_value(value)]
        for (row, column), value in write.cells.items()
    ]
    expected = [write.expected.size, write.expected.mtime_ns, write.expected.sha256]
    connection.execute(
        "INSERT OR REPLACE INTO pending_writes VALUES (?, ?, ?, ?, ?, ?)",
        (
            str(write.path),
            write.sheet,
            json.dumps(cells),
            json.dumps(expected),
            owner,
            dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        ),
    )


def load_pending(connection: sqlite3.Connection) -> list[tuple[SheetWrite, str | None]]:
    ensure_schema(connection, PENDING_SCHEMA)
    pending = []
    for row in connection.execute("SELECT * FROM pending_writes ORDER BY path, sheet"):
        size, mtime_ns, sha256 = json.loads(row["expected"])
        path = Path(row["path"])
        write = SheetWrite(
            path, row["sheet"], path.name, FileStamp(size, mtime_ns, sha256)
        )
        for row_number, column, value in json.loads(row["cells"]):
            write.cells[(row_number, column)] = decode_value(value)
        pending.append((write, row["owner"]))
    return pending


def drop_pending(connection: sqlite3.Connection, path: Path, sheet: str) -> None:
    ensure_schema(connection, PENDING_SCHEMA)
    connection.execute(
        "DELETE FROM pending_writes WHERE path = ? AND sheet = ?", (str(path), sheet)
    )


def encode_value(value: object) -> list:
    value = getattr(value, "value", value)  # a CellWrite keeps only its value
    if value is None:
        return ["none", None]
    if isinstance(value, Decimal):
        return ["decimal", str(value)]
    if isinstance(value, dt.date):
        return ["date", value.isoformat()]
    if isinstance(value, int):
        return ["int", value]
    return ["str", str(value)]


def decode_value(encoded: list) -> object:
    kind, value = encoded
    if kind == "decimal":
        return Decimal(value)
    if kind == "date":
        return dt.date.fromisoformat(value)
    if kind == "none":
        return None
    return value


def locked_finding(shown_as: str, owner: str | None) -> Finding:
    user = owner or "another user"
    return Finding(
        shown_as,
        f"is open by {user}; flags will be written when it is closed.",
        severity=Severity.INFO,
        code="workbook-locked",
    )
