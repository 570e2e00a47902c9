"""Split a worksheet's XML stream into head, rows and tail without parsing all of it.

Only row boundaries are found (by regular expressions on the bytes); rows pass through
as the exact bytes they arrived in, so a caller can rewrite a few rows and copy the
rest unchanged. Memory stays at about one input chunk plus the largest row.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

MAX_PENDING_BYTES = 256 << 20

_SHEET_DATA = re.compile(
    rb"<([A-Za-z_][\w.-]*:)?sheetData((?:\s+[^\s=/>]+\s*=\s*(?:\"[^\"]*\"|'[^']*'))*)\s*(/?)>"
)
_ATTRIBUTES = r"((?:\s+[^\s=/>]+\s*=\s*(?:\"[^\"]*\"|'[^']*'))*)\s*(/?)>"
_ROW_NUMBER = re.compile(rb"\sr\s*=\s*[\"'](\d+)[\"']")
_NAMESPACE_DECL = re.compile(rb"\sxmlns(?::[\w.-]+)?\s*=\s*(?:\"[^\"]*\"|'[^']*')")
_ROOT = re.compile(rb"<([A-Za-z_][\w.-]*:)?worksheet[\s>]")


class SheetSyntaxError(Exception):
    """The worksheet XML does not have the structure the patcher relies on."""


@dataclass(frozen=True, slots=True)
class SheetHead:
    """Everything before the first row, and what the rows need from it."""

    data: bytes
    prefix: bytes
    namespace_decls: bytes


@dataclass(frozen=True, slots=True)
class RowSpan:
    """One `<row>` element exactly as stored, with its (explicit or implicit) number."""

    data: bytes
    number: int


@dataclass(frozen=True, slots=True)
class Gap:
    """Bytes between rows (usually none), kept as they are."""

    data: bytes


@dataclass(frozen=True, slots=True)
class Tail:
    """Part of everything from `</sheetData>` to the end."""

    data: bytes


def split_sheet(chunks: Iterable[bytes]) -> Iterator[SheetHead | RowSpan | Gap | Tail]:
    """Yield the head once, then rows and gaps in order, then the tail in pieces."""
    source = iter(chunks)
    buffer = b""

    def read_more() -> bool:
        nonlocal buffer
        for chunk in source:
            if chunk:
                buffer += chunk
                return True
        return False

    # Head: up to and including the <sheetData> start tag.
    while True:
        match = _SHEET_DATA.search(buffer)
        if match:
            break
        if len(buffer) > MAX_PENDING_BYTES or not read_more():
            raise SheetSyntaxError("no <sheetData> element found")
    head = buffer[: match.start()]
    if b"<!DOCTYPE" in head:
        raise SheetSyntaxError("the sheet part contains a DOCTYPE declaration")
    root = _ROOT.search(head)
    if root is None:
        raise SheetSyntaxError("no <worksheet> root element found")
    prefix = match.group(1) or b""
    decls = b"".join(_NAMESPACE_DECL.findall(head[root.start() :]))
    if match.group(3):
        # An empty <sheetData/> becomes a start and end tag so rows can be added.
        yield SheetHead(head + b"<" + prefix + b"sheetData" + match.group(2) + b">", prefix, decls)
        yield Tail(b"</" + prefix + b"sheetData>")
        yield Tail(buffer[match.end() :])
        yield from (Tail(chunk) for chunk in source)
        return
    yield SheetHead(buffer[: match.end()], prefix, decls)
    buffer = buffer[match.end() :]

    row_or_end = re.compile(
        rb"<(?:" + re.escape(prefix) + rb"row(?=[\s/>])|/" + re.escape(prefix) + rb"sheetData\s*>)"
    )
    row_start = re.compile(rb"<" + re.escape(prefix) + rb"row" + _ATTRIBUTES.encode())
    row_end = re.compile(rb"</" + re.escape(prefix) + rb"row\s*>")
    number = 0
    position = 0
    while True:
        found = row_or_end.search(buffer, position)
        if found is None:
            keep = buffer.rfind(b"<", position)
            keep = len(buffer) if keep < 0 else keep
            if keep > position:
                yield Gap(buffer[position:keep])
            buffer, position = buffer[keep:], 0
            if not read_more():
                raise SheetSyntaxError("the sheet ends inside <sheetData>")
            continue
        if found.start() > position:
            yield Gap(buffer[position : found.start()])
            position = found.start()
        if buffer[position + 1 : position + 2] == b"/":
            break

        start = row_start.match(buffer, position)
        end = None
        if start is not None and not start.group(2):
            end = row_end.search(buffer, start.end())
        if start is None or (not start.group(2) and end is None):
            buffer, position = buffer[position:], 0
            if len(buffer) > MAX_PENDING_BYTES:
                raise SheetSyntaxError("a <row> element is larger than 256 MiB")
            if not read_more():
                raise SheetSyntaxError("the sheet ends inside a <row> element")
            continue
        stop = start.end() if end is None else end.end()
        explicit = _ROW_NUMBER.search(start.group(1))
        number = int(explicit.group(1)) if explicit else number + 1
        yield RowSpan(buffer[position:stop], number)
        position = stop

    yield Tail(buffer[position:])
    yield from (Tail(chunk) for chunk in source)
