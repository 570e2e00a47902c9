"""The workbook map: which file, sheet and header hold each field the engine reads.

`rules/workbooks.yaml` is edited by finance, so every fault is reported with its
`file:line:column` and the fix, and all faults of the file are reported at once.
The checks are in `engine.workbook_map_check`, which imports ruamel.yaml and Babel.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from engine.findings import EngineError, Finding

SUPPORTED_VERSIONS = (1,)
KINDS = ("orders", "payments", "customers")
DATE_ORDERS = ("DMY", "MDY", "YMD")
ROWS_BELOW_TABLE = ("evaluate", "report")
DEFAULT_HEADER_SCAN_ROWS = 20
DEFAULT_EARLIEST_DATE = dt.date(2000, 1, 1)
DEFAULT_YEARS_AHEAD = 20
# Tokens a `date_formats` pattern may use, with the separators between them.
DATE_FORMAT_PATTERN = re.compile(r"^(DD?|MM?|YYYY)([./\- ])(DD?|MM?|YYYY)\2(DD?|MM?|YYYY)$")

# The value kind of every field the engine reads: "text", "date" or "money".
FIELDS: dict[str, dict[str, str]] = {
    "orders": {
        "order_id": "text",
        "order_date": "date",
        "customer_id": "text",
        "amount": "money",
        "currency": "text",
        "salesperson": "text",
        "invoice_id": "text",
        "invoice_date": "date",
        "due_date": "date",
        "promised_date": "date",
        "override_approver": "text",
        "override_amount": "money",
        "override_expires": "date",
        "override_reason": "text",
    },
    "payments": {
        "payment_id": "text",
        "payment_date": "date",
        "customer_id": "text",
        "amount": "money",
        "currency": "text",
        "reference": "text",
        "method": "text",
        "promised_date": "date",
    },
    "customers": {
        "customer_id": "text",
        "name": "text",
        "country": "text",
        "rating": "text",
        "credit_limit": "money",
        "salesperson": "text",
        "contact": "text",
        "salutation": "text",
        "email": "text",
        "language": "text",
        "currency": "text",
    },
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "orders": ("order_id", "order_date", "customer_id", "amount"),
    "payments": ("payment_date", "customer_id", "amount"),
    "customers": ("customer_id", "name"),
}
# Mapped fields the engine can do without: a sheet that lacks one of these columns
# gets a warning each pass. Every other mapped column can change an exposure, a
# credit limit or a decision, so a sheet that lacks it stops the pass like a
# missing required column.
INFORMATIONAL: dict[str, tuple[str, ...]] = {
    "orders": (),
    "payments": ("method",),
    "customers": ("contact", "salutation", "email", "language"),
}
# The field that names a row; a row without it is a totals or blank row.
KEY_FIELD = {"orders": "order_id", "payments": "payment_id", "customers": "customer_id"}

TOP_KEYS = (
    "version", "folder", "report", "outbox", "state", "locale", "date_order",
    "date_formats", "date_window", "base_currency", "header_scan_rows", "polling",
    "sources",
)
SOURCE_KEYS = (
    "file", "sheet", "header_row", "data_starts", "columns", "owned", "locale",
    "date_order", "date_formats", "rows_below_table", "style",
)
STYLE_KEYS = ("status_colours", "override_dropdown")
OWNED_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class SourceMap:
    """Where one kind of row lives and which header is which field."""

    kind: str
    file: str
    sheet: str
    header_row: int | None  # None: found by scanning for the mapped headers
    columns: dict[str, str]  # field -> header text
    owned: dict[str, str]  # engine-written field -> header text
    where: dict[str, str] = field(default_factory=dict)  # field -> "file:line:col"
    data_starts: int | None = None  # None: the row after the header
    locale: str = "en_US"
    date_order: str = "MDY"
    date_formats: tuple[str, ...] = ()
    date_window: tuple[dt.date, dt.date] = (DEFAULT_EARLIEST_DATE, dt.date(2100, 1, 1))
    years_ahead: int = DEFAULT_YEARS_AHEAD  # the window ends this far after the as-of date
    rows_below_table: str = "evaluate"
    # style: status cells coloured by status, and a list of the rule files'
    # approvers on the override approver column.
    status_colours: bool = False
    override_dropdown: bool = False
    header_scan_rows: int = DEFAULT_HEADER_SCAN_ROWS

    @property
    def key_field(self) -> str:
        """The field that identifies a row, falling back to the customer id."""
        key = KEY_FIELD[self.kind]
        return key if key in self.columns else "customer_id"

    def field_kind(self, name: str) -> str:
        return FIELDS[self.kind].get(name, "text")


@dataclass(frozen=True)
class WorkbookMap:
    path: Path
    root: Path  # the project folder; relative paths in the map start here
    folder: Path
    report: Path
    outbox: Path
    state: Path
    locale: str
    date_order: str
    sources: dict[str, SourceMap]
    polling: bool | None = None  # the watcher's force-polling switch; None: automatic
    base_currency: str = "EUR"
    date_formats: tuple[str, ...] = ()

    def source_path(self, kind: str) -> Path:
        return self.folder / self.sources[kind].file

    def for_date(self, as_of: dt.date) -> WorkbookMap:
        """Return the map with each date window ending `years_ahead` after `as_of`."""
        sources = {
            kind: replace(source, date_window=(source.date_window[0],
                                               years_after(as_of, source.years_ahead)))
            for kind, source in self.sources.items()
        }
        return replace(self, sources=sources)


def load_workbook_map(path: Path, root: Path) -> WorkbookMap:
    """Load and check the workbook map, raising EngineError with every fault found.

    A map that passed its checks before is read from the project's cache while the
    file's bytes are unchanged (`engine.workbook_map_cache`), so a pass that finds
    its input unchanged loads neither ruamel.yaml nor Babel.
    """
    from engine import workbook_map_cache

    raw = read_map_bytes(path, root)
    cached = workbook_map_cache.load(path, root, raw)
    if cached is not None:
        return cached
    from engine.workbook_map_check import build_workbook_map

    workbook_map, findings = build_workbook_map(path, root)
    if findings or workbook_map is None:
        raise EngineError(findings)
    workbook_map_cache.store(workbook_map, raw)
    return workbook_map


def read_map_bytes(path: Path, root: Path) -> bytes | None:
    """Return the map file's bytes, or None when it cannot be read.

    The checks then report the missing or unreadable file.
    """
    try:
        return path.read_bytes()
    except OSError:
        return None


def check_workbook_map(path: Path, root: Path) -> list[Finding]:
    """Return every fault of the workbook map without raising."""
    from engine.workbook_map_check import build_workbook_map

    try:
        _, findings = build_workbook_map(path, root)
    except EngineError as exc:
        return exc.findings
    return findings


def years_after(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def suggest(name, choices) -> str:
    import difflib

    close = difflib.get_close_matches(str(name), list(choices), n=1, cutoff=0.6)
    if close:
        return f"Did you mean '{close[0]}'?"
    return f"Valid names: {', '.join(choices)}."
