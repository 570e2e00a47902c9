"""Finding the header row of a sheet by the header texts the workbook map names.

Headers match ignoring case and runs of whitespace. A two-row grouped header, such as
"Amount" merged over "Net" and "Currency", also matches as `Amount/Net`, and a cell
merged down over both header rows matches by its own text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from engine.findings import EngineError, Finding, Severity
from engine.model import column_letter
from engine.workbook_map import INFORMATIONAL, REQUIRED, SourceMap

PLAIN_SHEET_NAME = re.compile(r"^[A-Za-z0-9_.]+$")


@dataclass
class Header:
    row: int  # 1-based header row; the lower row of a two-row header
    rows: set[int]  # every row the header spans
    columns: dict[str, int]  # mapped field -> 1-based column
    owned: dict[str, int]  # owned field -> 1-based column, when present
    findings: list[Finding] = field(default_factory=list)


def sheet_label(name: str) -> str:
    """Return a sheet name as Excel quotes it in references: Orders, 'Orders Q2'."""
    return name if PLAIN_SHEET_NAME.match(name) else "'" + name.replace("'", "''") + "'"


def normalize(text: object) -> str:
    if not isinstance(text, str):
        return ""
    text = " ".join(text.split()).casefold()
    return re.sub(r"\s*/\s*", "/", text)


def find_header(grid, merges, source: SourceMap, shown: str, sheet: str) -> Header:
    """Return the header row and columns, or raise EngineError naming what was seen."""
    if source.header_row is not None:
        rows = [source.header_row]
    else:
        rows = list(range(1, min(source.header_scan_rows, len(grid)) + 1))
    anchors = merge_anchors(merges)
    required = REQUIRED[source.kind]
    best = None
    for row in rows:
        labels = header_labels(grid, anchors, row)
        columns = match_columns(labels, source.columns)
        score = (sum(1 for name in required if name in columns), len(columns))
        if best is None or score > best[0]:
            best = (score, row, labels, columns)
        if score[0] == len(required):
            break
    (found_required, found_total), row, labels, columns = best or ((0, 0), 1, {}, {})

    if found_required < len(required) and (source.header_row is None and found_total < 2):
        raise header_not_found(grid, rows, source, shown, sheet)
    missing = [name for name in source.columns if name not in columns]
    blocking = [name for name in missing if name not in INFORMATIONAL[source.kind]]
    if blocking:
        raise EngineError(missing_columns(blocking, row, grid, source, shown, sheet))

    header = Header(row, {row}, columns, match_columns(labels, source.owned))
    header.findings.extend(missing_columns(missing, row, grid, source, shown, sheet,
                                           severity=Severity.WARNING))
    if any(len(texts) > 1 for texts in labels.values()):
        header.rows.add(row - 1)
    header.findings.extend(duplicate_headers(labels, source, shown, sheet, row))
    return header


def merge_anchors(merges) -> dict[tuple[int, int], tuple[int, int]]:
    """Map each cell inside a merged range (1-based) to the range's top-left cell."""
    anchors = {}
    for (top, left), (bottom, right) in merges:
        if (bottom - top + 1) * (right - left + 1) > 10_000:
            continue  # a merge this large is no header; the reader reports it if mapped
        for row in range(top + 1, bottom + 2):
            for column in range(left + 1, right + 2):
                anchors[(row, column)] = (top + 1, left + 1)
    return anchors


def text_at(grid, anchors, row: int, column: int) -> str:
    row, column = anchors.get((row, column), (row, column))
    if row < 1 or row > len(grid) or column > len(grid[row - 1]):
        return ""
    return normalize(grid[row - 1][column - 1])


def header_labels(grid, anchors, row: int) -> dict[int, list[str]]:
    """Return the names each column of `row` can be matched by."""
    labels: dict[int, list[str]] = {}
    width = len(grid[row - 1]) if row <= len(grid) else 0
    for column in range(1, width + 1):
        own = text_at(grid, anchors, row, column)
        anchor = anchors.get((row, column))
        # A header merged across columns names only its first column.
        names = [own] if own and (anchor is None or anchor[1] == column) else []
        group = text_at(grid, anchors, row - 1, column) if row > 1 else ""
        same_merge = anchors.get((row, column)) is not None and anchors.get(
            (row, column)) == anchors.get((row - 1, column))
        if group and own and not same_merge:
            names.append(f"{group}/{own}")
        if names:
            labels[column] = names
    return labels


def match_columns(labels: dict[int, list[str]], wanted: dict[str, str]) -> dict[str, int]:
    found = {}
    for name, text in wanted.items():
        target = normalize(text)
        for column, names in labels.items():
            if target in names:
                found[name] = column
                break
    return found


def duplicate_headers(labels, source: SourceMap, shown: str, sheet: str, row: int):
    for name, text in source.columns.items():
        target = normalize(text)
        columns = [column for column, names in labels.items() if target in names]
        if len(columns) > 1:
            letters = ", ".join(column_letter(column) for column in columns)
            yield Finding(f"{shown} › {sheet} › row {row}",
                          f"header '{text}' appears in columns {letters}; reading "
                          f"column {column_letter(columns[0])} as {name}.",
                          "Rename the other columns.", severity=Severity.WARNING,
                          code="duplicate-header")


def seen_headers(grid, rows: list[int]) -> str:
    """Return the text of rows that look like headers: two or more cells, all text.

    Rows from the first one holding a number on are data, so they are not shown.
    """
    seen = []
    for row in rows:
        cells = [cell for cell in (grid[row - 1] if row <= len(grid) else []) if cell != ""]
        if any(not isinstance(cell, str) for cell in cells):
            break
        if len(cells) >= 2 and all(isinstance(cell, str) for cell in cells):
            seen.append(", ".join(" ".join(cell.split()) for cell in cells))
        if len(seen) == 3:
            break
    return " / ".join(seen) or "no header-like rows"


def header_not_found(grid, rows, source: SourceMap, shown: str, sheet: str) -> EngineError:
    looked_for = ", ".join(source.columns[name] for name in REQUIRED[source.kind]
                           if name in source.columns)
    span = f"rows {rows[0]}–{rows[-1]}" if len(rows) > 1 else f"row {rows[0]}"
    return EngineError(Finding(
        f"{shown} › {sheet_label(sheet)}",
        f"header not found in {span}; looked for {looked_for}; saw: "
        f"{seen_headers(grid, rows)}.",
        "Rename the headers in the sheet or change 'columns:' in rules/workbooks.yaml.",
        code="header"))


def missing_columns(missing, row, grid, source, shown, sheet,
                    severity: Severity = Severity.ERROR) -> list[Finding]:
    """Return one finding per mapped field whose header is not in header row `row`.

    A warning is for an informational column: its field is read as empty.
    """
    cells = grid[row - 1] if row <= len(grid) else []
    found = ", ".join(" ".join(str(cell).split()) for cell in cells if cell != "") or "none"
    findings = []
    for name in missing:
        expected = source.columns.get(name, name)
        where = source.where.get(name, "rules/workbooks.yaml")
        effect = f" {name} is read as empty." if severity is Severity.WARNING else ""
        findings.append(Finding(
            f"{shown} › {sheet_label(sheet)}",
            f"column '{expected}' ({name}) not found in header row {row}; headers "
            f"found: {found}.{effect}",
            f"Rename the column in the sheet or change '{name}:' at {where}.",
            severity=severity, code="header"))
    return findings


def added_owned_columns(new_headers: dict[int, str], row: int, shown: str,
                        sheet: str) -> list[Finding]:
    """Return a finding naming the owned columns the engine adds to a sheet with data."""
    if not new_headers:
        return []
    added = ", ".join(f"'{text}' in column {column_letter(column)}"
                      for column, text in sorted(new_headers.items()))
    return [Finding(f"{shown} › {sheet_label(sheet)} › row {row}",
                    f"the engine adds the columns it writes: {added}.",
                    "Nothing to do, unless these columns belong elsewhere: then add "
                    "them to the sheet yourself or change 'owned:' in "
                    "rules/workbooks.yaml.",
                    severity=Severity.INFO, code="owned-column-added")]
