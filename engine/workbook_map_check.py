"""Reading and checking `rules/workbooks.yaml` into a `WorkbookMap`.

Every fault is collected with its `file:line:column` and the fix, so all faults of
the file are reported at once.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from babel import Locale, UnknownLocaleError
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from engine.findings import Finding
from engine.workbook_map import (
    DATE_FORMAT_PATTERN,
    DATE_ORDERS,
    DEFAULT_EARLIEST_DATE,
    DEFAULT_HEADER_SCAN_ROWS,
    DEFAULT_YEARS_AHEAD,
    FIELDS,
    KINDS,
    OWNED_NAME,
    REQUIRED,
    ROWS_BELOW_TABLE,
    SOURCE_KEYS,
    STYLE_KEYS,
    SUPPORTED_VERSIONS,
    TOP_KEYS,
    SourceMap,
    WorkbookMap,
    suggest,
    years_after,
)
from engine.yamlfile import display_path, key_position, load_yaml, position


class _Checker:
    """Collects faults of one map file, each at its line and column."""

    def __init__(self, shown: str):
        self.shown = shown
        self.findings: list[Finding] = []

    def fault(self, node, key, message: str, fix: str = "", *, at_key=False) -> None:
        if at_key and isinstance(node, CommentedMap):
            where = key_position(node, key, path=self.shown)
        else:
            where = position(node, key, path=self.shown)
        self.findings.append(Finding(str(where), message, fix, code="workbook-map"))

    def where(self, node, key) -> str:
        return str(position(node, key, path=self.shown))

    def unknown_keys(self, node: CommentedMap, allowed, what: str) -> None:
        for key in node:
            if key not in allowed:
                self.fault(node, key, f"unknown {what} '{key}'.", suggest(key, allowed),
                           at_key=True)

    def text(self, node, key, default: str | None = None) -> str | None:
        if key not in node:
            if default is None:
                self.fault(node, None, f"missing '{key}'.", f"Add '{key}:' here.")
            return default
        value = node[key]
        if not isinstance(value, str) or not value.strip():
            self.fault(node, key, f"'{key}' must be text, found {describe(value)}.")
            return default
        return value.strip()

    def choice(self, node, key, choices, default: str) -> str:
        value = self.text(node, key, default)
        if value not in choices:
            self.fault(node, key, f"'{key}' is '{value}'; expected one of "
                       f"{', '.join(choices)}.", suggest(value, choices))
            return default
        return value

    def positive_int(self, node, key, default: int | None) -> int | None:
        if key not in node:
            return default
        value = node[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            self.fault(node, key, f"'{key}' must be a row number of 1 or more, "
                       f"found {describe(value)}.")
            return default
        return value


def build_workbook_map(path: Path, root: Path) -> tuple[WorkbookMap | None, list[Finding]]:
    """Read the map file and return the map (None if unusable) and every fault found."""
    shown = display_path(path, root)
    data = load_yaml(path, shown)
    check = _Checker(shown)
    if not isinstance(data, CommentedMap):
        return None, [Finding(f"{shown}:1:1", f"expected a mapping of settings, found "
                              f"{describe(data)}.", "Start from the shipped example.")]
    check.unknown_keys(data, TOP_KEYS, "setting")
    check_version(check, data)

    locale = check_locale(check, data, "locale", "en_US")
    date_order = check.choice(data, "date_order", DATE_ORDERS, "MDY")
    date_formats = check_date_formats(check, data)
    window, years_ahead = check_date_window(check, data)
    scan_rows = check.positive_int(data, "header_scan_rows", DEFAULT_HEADER_SCAN_ROWS)
    base_currency = check.text(data, "base_currency", "EUR").upper()
    polling = data.get("polling")
    if polling is not None and not isinstance(polling, bool):
        check.fault(data, "polling", f"'polling' must be true or false, found "
                    f"{describe(polling)}.")
        polling = None

    defaults = dict(locale=locale, date_order=date_order, date_formats=date_formats,
                    date_window=window, years_ahead=years_ahead,
                    header_scan_rows=scan_rows)
    sources = check_sources(check, data, defaults)
    paths = {key: root / (check.text(data, key) or "") for key in
             ("folder", "report", "outbox", "state")}
    workbook_map = WorkbookMap(
        path=path, root=root, folder=paths["folder"], report=paths["report"],
        outbox=paths["outbox"], state=paths["state"], locale=locale,
        date_order=date_order, sources=sources, polling=polling,
        base_currency=base_currency, date_formats=date_formats,
    )
    return workbook_map, check.findings


def check_version(check: _Checker, data: CommentedMap) -> None:
    if "version" not in data:
        check.fault(data, None, "missing 'version'.", "Add 'version: 1' as the first line.")
    elif data["version"] not in SUPPORTED_VERSIONS or isinstance(data["version"], bool):
        check.fault(data, "version", f"unknown version {data['version']!r}; this engine "
                    f"reads version {', '.join(map(str, SUPPORTED_VERSIONS))}.",
                    "Set 'version: 1'.")


def check_locale(check: _Checker, node, key: str, default: str) -> str:
    value = check.text(node, key, default)
    try:
        Locale.parse(value.replace("-", "_"))
    except (ValueError, UnknownLocaleError):
        check.fault(node, key, f"unknown locale '{value}'.",
                    "Use a code such as en_US, de_DE or fr_FR.")
        return default
    return value.replace("-", "_")


def check_date_formats(check: _Checker, node) -> tuple[str, ...]:
    if "date_formats" not in node:
        return ()
    value = node["date_formats"]
    if not isinstance(value, CommentedSeq):
        check.fault(node, "date_formats", f"'date_formats' must be a list such as "
                    f"[DD.MM.YYYY], found {describe(value)}.")
        return ()
    formats = []
    for index, item in enumerate(value):
        if not isinstance(item, str) or not DATE_FORMAT_PATTERN.match(item.strip()):
            check.fault(value, index, f"date format {item!r} is not understood.",
                        "Use DD, MM and YYYY with one separator, such as DD.MM.YYYY.")
            continue
        formats.append(item.strip())
    return tuple(formats)


def check_date_window(check: _Checker, data) -> tuple[tuple[dt.date, dt.date], int]:
    """Return the plausible range for dates and `years_ahead`.

    The range ends `years_ahead` after today; a pass moves it to its as-of date
    with `WorkbookMap.for_date`.
    """
    earliest, years = DEFAULT_EARLIEST_DATE, DEFAULT_YEARS_AHEAD
    node = data.get("date_window")
    if isinstance(node, CommentedMap):
        check.unknown_keys(node, ("earliest", "years_ahead"), "date_window setting")
        if "earliest" in node:
            value = node["earliest"]
            if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
                earliest = value
            else:
                check.fault(node, "earliest", f"'earliest' must be a date such as "
                            f"2000-01-01, found {describe(value)}.")
        years = check.positive_int(node, "years_ahead", DEFAULT_YEARS_AHEAD)
    elif node is not None:
        check.fault(data, "date_window", "'date_window' must be a mapping with "
                    "'earliest' and 'years_ahead'.")
    return (earliest, years_after(dt.date.today(), years)), years


def check_sources(check: _Checker, data, defaults: dict) -> dict[str, SourceMap]:
    node = data.get("sources")
    if not isinstance(node, CommentedMap):
        check.fault(data, "sources" if "sources" in data else None,
                    "missing 'sources' with orders, payments and customers.")
        return {}
    check.unknown_keys(node, KINDS, "source")
    sources = {}
    for kind in KINDS:
        if kind not in node:
            check.fault(node, None, f"missing source '{kind}'.",
                        f"Add '{kind}:' with file, sheet and columns.")
            continue
        source = check_source(check, kind, node[kind], node, defaults)
        if source is not None:
            sources[kind] = source
    return sources


def check_source(check: _Checker, kind: str, node, parent, defaults) -> SourceMap | None:
    if not isinstance(node, CommentedMap):
        check.fault(parent, kind, f"source '{kind}' must be a mapping, found "
                    f"{describe(node)}.")
        return None
    check.unknown_keys(node, SOURCE_KEYS, f"{kind} setting")
    file = check.text(node, "file")
    sheet = check.text(node, "sheet")
    header_row = check_header_row(check, node)
    data_starts = check.positive_int(node, "data_starts", None)
    if data_starts is not None and header_row is not None and data_starts <= header_row:
        check.fault(node, "data_starts", f"'data_starts' ({data_starts}) must be below "
                    f"the header row ({header_row}).")
    columns, where = check_columns(check, kind, node)
    for key in ("file", "sheet"):
        if key in node:
            where[key] = check.where(node, key)
    owned = check_owned(check, kind, node, where, columns)
    settings = dict(defaults)
    if "locale" in node:
        settings["locale"] = check_locale(check, node, "locale", defaults["locale"])
    if "date_order" in node:
        settings["date_order"] = check.choice(node, "date_order", DATE_ORDERS,
                                              defaults["date_order"])
    if "date_formats" in node:
        settings["date_formats"] = defaults["date_formats"] + check_date_formats(check, node)
    below = check.choice(node, "rows_below_table", ROWS_BELOW_TABLE, "evaluate")
    style = check_style(check, node)
    if file is None or sheet is None:
        return None
    return SourceMap(kind=kind, file=file, sheet=sheet, header_row=header_row,
                     columns=columns, owned=owned, where=where, data_starts=data_starts,
                     rows_below_table=below, **style, **settings)


def check_style(check: _Checker, node) -> dict[str, bool]:
    style = node.get("style")
    if style is None:
        return {}
    if not isinstance(style, CommentedMap):
        check.fault(node, "style", "'style' must be a mapping such as "
                    "{status_colours: true}, found " f"{describe(style)}.")
        return {}
    check.unknown_keys(style, STYLE_KEYS, "style setting")
    found = {}
    for key in STYLE_KEYS:
        value = style.get(key, False)
        if not isinstance(value, bool):
            check.fault(style, key, f"'{key}' must be true or false, found "
                        f"{describe(value)}.")
            continue
        found[key] = value
    return found


def check_header_row(check: _Checker, node) -> int | None:
    value = node.get("header_row", "auto")
    if value == "auto":
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        check.fault(node, "header_row", f"'header_row' must be 'auto' or a row number, "
                    f"found {describe(value)}.")
        return None
    return value


def check_columns(check: _Checker, kind: str, node) -> tuple[dict[str, str], dict]:
    columns: dict[str, str] = {}
    where: dict[str, str] = {}
    mapping = node.get("columns")
    if not isinstance(mapping, CommentedMap):
        check.fault(node, "columns" if "columns" in node else None,
                    f"'{kind}' needs a 'columns' mapping of field: header.")
        return columns, where
    known = FIELDS[kind]
    for name, header in mapping.items():
        if name not in known:
            check.fault(mapping, name, f"unknown {kind} field '{name}'.",
                        suggest(name, known), at_key=True)
            continue
        if not isinstance(header, str) or not header.strip():
            check.fault(mapping, name, f"header for '{name}' must be text, found "
                        f"{describe(header)}.", "Write the column's header as it "
                        "appears in the sheet.")
            continue
        columns[name] = header.strip()
        where[name] = check.where(mapping, name)
    for name in REQUIRED[kind]:
        if name not in columns and name not in mapping:
            check.fault(mapping, None, f"{kind} needs the field '{name}'.",
                        f"Add '{name}: <header in the sheet>' under columns.")
    return columns, where


def check_owned(check: _Checker, kind: str, node, where: dict,
                columns: dict[str, str]) -> dict[str, str]:
    mapping = node.get("owned")
    if mapping is None:
        return {}
    if not isinstance(mapping, CommentedMap):
        check.fault(node, "owned", f"'owned' must be a mapping of field: header, found "
                    f"{describe(mapping)}.")
        return {}
    owned = {}
    for name, header in mapping.items():
        if not isinstance(name, str) or not OWNED_NAME.match(name):
            check.fault(mapping, name, f"owned field name {name!r} must be lower-case "
                        "letters, digits and underscores.", at_key=True)
        elif name in FIELDS[kind]:
            check.fault(mapping, name, f"'{name}' is a field the engine reads; it cannot "
                        "also be written.", "Remove it from 'owned'.", at_key=True)
        elif not isinstance(header, str) or not header.strip():
            check.fault(mapping, name, f"header for '{name}' must be text, found "
                        f"{describe(header)}.")
        elif (read := read_field_with(header, columns)) is not None:
            check.fault(mapping, name, f"owned column '{name}' has the header "
                        f"'{header.strip()}', which the field '{read}' is read from "
                        f"({where[read]}); the engine would overwrite that input.",
                        f"Give '{name}' a header of its own, such as "
                        f"{name.replace('_', ' ').title()}.")
        else:
            owned[name] = header.strip()
            where[name] = check.where(mapping, name)
    return owned


def read_field_with(header: str, columns: dict[str, str]) -> str | None:
    """Return the read field whose header matches `header`, as the reader matches."""
    wanted = " ".join(header.split()).casefold()
    for name, text in columns.items():
        if " ".join(text.split()).casefold() == wanted:
            return name
    return None


def describe(value) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"{str(value).lower()} (true/false)"
    if isinstance(value, CommentedMap):
        return "a mapping"
    if isinstance(value, CommentedSeq):
        return "a list"
    if isinstance(value, str):
        return f"'{value}'"
    return f"{type(value).__name__} {value!r}"
