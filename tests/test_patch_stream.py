"""Splitting sheet XML into rows must not depend on where the input chunks end."""

from __future__ import annotations

import pytest

from engine.xlsx.patch_stream import Gap, RowSpan, SheetHead, SheetSyntaxError, Tail, split_sheet
from patch_builder import sheet

ROWS = (
    '<row r="1" spans="1:2"><c r="A1" t="inlineStr"><is><t>a &lt;row&gt;</t></is></c></row>\n'
    "<row><c><v>2</v></c></row >"
    '<row r="5"/>'
    '<row r="7" ht="20" customHeight="1"><c r="B7"><f>SUM(A1:A5)</f><v>2</v></c></row>'
)
XML = sheet(ROWS, tail='<rowBreaks count="1"><brk id="3"/></rowBreaks>').encode()


def pieces(chunks):
    result = []
    for piece in split_sheet(chunks):
        if isinstance(piece, RowSpan):
            result.append(("row", piece.number, piece.data))
        elif isinstance(piece, SheetHead):
            result.append(("head", piece.data))
        elif isinstance(piece, Gap):
            result.append(("gap", piece.data))
        else:
            assert isinstance(piece, Tail)
            result.append(("tail", piece.data))
    return result


def merged(found):
    """Join adjacent gap and tail pieces, which may arrive split at chunk ends."""
    result = []
    for item in found:
        if result and item[0] in ("gap", "tail") and result[-1][0] == item[0]:
            result[-1] = (item[0], result[-1][1] + item[1])
        else:
            result.append(item)
    return result


def test_split_whole_buffer():
    found = merged(pieces([XML]))
    rows = [item[1:] for item in found if item[0] == "row"]
    assert [number for number, _ in rows] == [1, 2, 5, 7]
    assert rows[1][1] == b"<row><c><v>2</v></c></row >"
    assert b"".join(item[-1] for item in found) == XML


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 64])
def test_split_any_chunk_size(size):
    chunks = [XML[i : i + size] for i in range(0, len(XML), size)]
    assert merged(pieces(chunks)) == merged(pieces([XML]))


def test_split_truncated_sheet():
    with pytest.raises(SheetSyntaxError):
        list(split_sheet([XML[: XML.index(b'<row r="5"')]]))
