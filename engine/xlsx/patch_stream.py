"""Split a worksheet's XML stream into head, rows and tail without parsing all of it.

Only row boundaries are found, by regular expressions on the bytes. Rows pass through
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
_ROW_NUMBER = re.compile(rb"\sr\s*=\s*[\"'](\d+)[\"']")
_NAMESPACE_DECL = re.compile(rb"\sxmlns(?::[\w.-]+)?\s*=\s*(?:\"[^\"]*\"|'[^']*')")
# An empty byte means the buffer ends right after "<row": read more before deciding.
_TAG_END = (b" ", b"\t", b"\r", b"\n", b"/", b">", b"")
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

    # Attribute values of <row> (numbers, spans, flags) contain no ">", so plain byte
    # searches find the tags; they are much faster than regular expressions here.
    row_open = b"<" + prefix + b"row"
    row_close = b"</" + prefix + b"row"
    end_tag = b"</" + prefix + b"sheetData"
    number = 0
    position = 0
    while True:
        start = buffer.find(row_open, position)
        while start >= 0 and buffer[start + len(row_open) : start + len(row_open) + 1] not in _TAG_END:
            start = buffer.find(row_open, start + 1)
        gap_end = len(buffer) if start < 0 else start
        end = buffer.find(end_tag, position, gap_end)
        if end >= 0:
            if end > position:
                yield Gap(buffer[position:end])
            yield Tail(buffer[end:])
            yield from (Tail(chunk) for chunk in source)
            return
        stop = -1
        if start >= 0:
            tag_end = buffer.find(b">", start)
            if tag_end >= 0 and buffer[tag_end - 1 : tag_end] == b"/":
                stop = tag_end + 1
            elif tag_end >= 0:
                stop = _end_of_row(buffer, row_close, tag_end)
        if stop < 0:
            # The next row (or the end of sheetData) is not in the buffer yet.
            keep = start if start >= 0 else max(position, len(buffer) - len(end_tag))
            if keep > position:
                yield Gap(buffer[position:keep])
            buffer, position = buffer[keep:], 0
            if len(buffer) > MAX_PENDING_BYTES:
                raise SheetSyntaxError("a <row> element is larger than 256 MiB")
            if not read_more():
                raise SheetSyntaxError("the sheet ends inside <sheetData>")
            continue
        if start > position:
            yield Gap(buffer[position:start])
        explicit = _ROW_NUMBER.search(buffer, start, tag_end)
        number = int(explicit.group(1)) if explicit else number + 1
        yield RowSpan(buffer[start:stop], number)
        position = stop


def _end_of_row(buffer: bytes, row_close: bytes, after: int) -> int:
    """Return the offset just past `</row>` (whitespace allowed before `>`), or -1."""
    close = buffer.find(row_close, after)
    while close >= 0:
        cursor = close + len(row_close)
        while buffer[cursor : cursor + 1] in (b" ", b"\t", b"\r", b"\n"):
            cursor += 1
        if buffer[cursor : cursor + 1] == b">":
            return cursor + 1
        if cursor >= len(buffer):
            return -1
        close = buffer.find(row_close, cursor)
    return -1
