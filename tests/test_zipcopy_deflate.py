"""Deflating a replaced member on a worker thread: same bytes, failures raised."""

from __future__ import annotations

import io
import random
import threading
import zipfile
import zlib

import pytest

from engine.xlsx import zipcopy

MEMBER = "xl/worksheets/sheet1.xml"


def sheet_xml(rows: int) -> bytes:
    """Return sheet XML of `rows` rows, several deflate batches long."""
    cells = "".join(
        f'<row r="{n}"><c r="A{n}" t="s"><v>{n % 97}</v></c>'
        f'<c r="B{n}" s="3"><v>{41000 + n % 900}</v></c>'
        f'<c r="C{n}"><v>{n * 7.25:.2f}</v></c></row>'
        for n in range(1, rows + 1)
    )
    return f"<worksheet><sheetData>{cells}</sheetData></worksheet>".encode()


def entry_of(data: bytes) -> zipcopy.CentralEntry:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(MEMBER, data[:100])
    buffer.seek(0)
    return zipcopy.read_central_directory(buffer)[0]


def pieces(data: bytes, seed: int):
    """Yield `data` in pieces of random sizes, as the sheet splicer yields rows."""
    chooser = random.Random(seed)
    start = 0
    while start < len(data):
        size = chooser.choice([1, 90, 4_000, 65_000, 700_000])
        yield data[start : start + size]
        start += size


def one_thread(data: bytes, level: int) -> tuple[bytes, int]:
    compressor = zlib.compressobj(level, zlib.DEFLATED, -15)
    packed = b"".join(compressor.compress(piece) for piece in pieces(data, 7))
    return packed + compressor.flush(), zlib.crc32(data)


@pytest.mark.parametrize("rows", [10, 60_000])
def test_member_bytes_match_one_thread(rows):
    data = sheet_xml(rows)
    target = io.BytesIO()
    record, counters = zipcopy.write_deflated_member(
        target, entry_of(data), pieces(data, 7), 6
    )
    packed, crc = one_thread(data, 6)
    written = target.getvalue()
    assert written.endswith(packed)
    assert counters.compress_size == len(packed)
    assert counters.crc == crc
    assert counters.file_size == len(data)
    assert record.startswith(b"PK\x01\x02")
    if rows > 10:
        assert len(data) > 2 * zipcopy.DEFLATE_BATCH  # so the worker thread ran


def test_member_reads_back_through_zipfile():
    data = sheet_xml(60_000)
    target = io.BytesIO()
    record, _ = zipcopy.write_deflated_member(target, entry_of(data), pieces(data, 3), 6)
    zipcopy.write_end_records(target, [record], b"")
    with zipfile.ZipFile(io.BytesIO(target.getvalue())) as archive:
        assert archive.read(MEMBER) == data
        assert archive.testzip() is None


def test_generator_failure_is_raised_and_ends_worker():
    data = sheet_xml(60_000)

    def failing():
        yield from pieces(data[: 3 * zipcopy.DEFLATE_BATCH], 5)
        raise ValueError("splice failed")

    threads = threading.active_count()
    with pytest.raises(ValueError, match="splice failed"):
        zipcopy.write_deflated_member(io.BytesIO(), entry_of(data), failing(), 6)
    assert threading.active_count() == threads


class FullDisk(io.BytesIO):
    """A target that fails once more than `room` bytes are written."""

    def __init__(self, room: int) -> None:
        super().__init__()
        self.room = room

    def write(self, block) -> int:
        if self.tell() + len(block) > self.room:
            raise OSError(28, "No space left on device")
        return super().write(block)


def test_write_failure_is_raised_in_caller():
    data = sheet_xml(60_000)
    threads = threading.active_count()
    with pytest.raises(OSError, match="No space left"):
        zipcopy.write_deflated_member(FullDisk(200_000), entry_of(data),
                                      pieces(data, 9), 6)
    assert threading.active_count() == threads
