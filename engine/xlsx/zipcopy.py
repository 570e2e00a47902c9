"""Rebuild a zip package with one member replaced and every other member copied raw.

Copied members keep their local header, compressed bytes, CRC and data descriptor
byte for byte, in the original order. Only offsets in the central directory change.
The replaced member is deflated once. Zip64 records are written only when an offset,
size or entry count of the new archive needs them.

A large member is deflated on a worker thread in batches, while the caller's
generator makes the next batch. zlib releases the GIL while it compresses, so on
two cores the sheet's XML is spliced and compressed at the same time. The bytes
written are the same as when one thread compresses every chunk in turn.
"""

from __future__ import annotations

import struct
import threading
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from queue import Queue
from typing import BinaryIO

_LOCAL_SIG = b"PK\x03\x04"
_CENTRAL_SIG = b"PK\x01\x02"
_DESCRIPTOR_SIG = b"PK\x07\x08"
_EOCD_SIG = b"PK\x05\x06"
_ZIP64_EOCD_SIG = b"PK\x06\x06"
_ZIP64_LOCATOR_SIG = b"PK\x06\x07"
_LIMIT32 = 0xFFFFFFFF
_COPY_BLOCK = 1 << 20
# Content is handed to the deflating thread in batches of at least this size. A
# batch of sheet XML takes about 15 ms at level 6 on the benchmark machine, longer
# than the wait for the GIL between batches (the switch interval, 5 ms by default).
DEFLATE_BATCH = 1 << 20
# Batches made and not yet compressed; more would only hold more memory.
QUEUED_BATCHES = 4


class ZipLayoutError(Exception):
    """The archive's records are not at the offsets its central directory records."""


@dataclass(frozen=True, slots=True)
class CentralEntry:
    """One central directory record, kept as raw bytes plus the fields we rewrite."""

    raw: bytes
    name: str
    header_offset: int
    compress_size: int
    file_size: int
    flag_bits: int


def read_central_directory(handle: BinaryIO) -> list[CentralEntry]:
    """Read the central directory records in their stored order."""
    with zipfile.ZipFile(handle) as archive:
        infos = archive.infolist()
    start = _central_directory_offset(handle)
    handle.seek(start)
    entries = []
    for info in infos:
        fixed = handle.read(46)
        if fixed[:4] != _CENTRAL_SIG:
            raise ZipLayoutError(f"central directory record for {info.filename} not found")
        name_len, extra_len, comment_len = struct.unpack("<HHH", fixed[28:34])
        variable = handle.read(name_len + extra_len + comment_len)
        entries.append(
            CentralEntry(
                raw=fixed + variable,
                name=info.filename,
                header_offset=info.header_offset,
                compress_size=info.compress_size,
                file_size=info.file_size,
                flag_bits=info.flag_bits,
            )
        )
    return entries


def _central_directory_offset(handle: BinaryIO) -> int:
    handle.seek(0, 2)
    size = handle.tell()
    tail_len = min(size, 22 + 0xFFFF + 20)
    handle.seek(size - tail_len)
    tail = handle.read(tail_len)
    eocd = tail.rfind(_EOCD_SIG)
    if eocd < 0:
        raise ZipLayoutError("end of central directory record not found")
    offset = struct.unpack("<I", tail[eocd + 16 : eocd + 20])[0]
    locator = eocd - 20
    if locator >= 0 and tail[locator : locator + 4] == _ZIP64_LOCATOR_SIG:
        zip64_eocd = struct.unpack("<Q", tail[locator + 8 : locator + 16])[0]
        handle.seek(zip64_eocd)
        record = handle.read(56)
        if record[:4] == _ZIP64_EOCD_SIG:
            offset = struct.unpack("<Q", record[48:56])[0]
    return offset


def local_record_length(handle: BinaryIO, entry: CentralEntry) -> int:
    """Return the byte length of a member's local header, data and data descriptor."""
    handle.seek(entry.header_offset)
    header = handle.read(30)
    if header[:4] != _LOCAL_SIG:
        raise ZipLayoutError(f"local header of {entry.name} not found")
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    extra = handle.read(name_len + extra_len)[name_len:]
    length = 30 + name_len + extra_len + entry.compress_size
    if entry.flag_bits & 0x08:
        handle.seek(entry.header_offset + length)
        signature = handle.read(4)
        zip64 = _has_zip64_extra(extra) or entry.compress_size >= _LIMIT32
        sizes = 16 if zip64 else 8
        length += (4 if signature == _DESCRIPTOR_SIG else 0) + 4 + sizes
    return length


def _has_zip64_extra(extra: bytes) -> bool:
    position = 0
    while position + 4 <= len(extra):
        tag, size = struct.unpack("<HH", extra[position : position + 4])
        if tag == 0x0001:
            return True
        position += 4 + size
    return False


def copy_range(source: BinaryIO, target: BinaryIO, start: int, length: int) -> None:
    source.seek(start)
    while length > 0:
        block = source.read(min(_COPY_BLOCK, length))
        if not block:
            raise ZipLayoutError("archive ends inside a member")
        target.write(block)
        length -= len(block)


@dataclass(slots=True)
class DeflatedMember:
    """Counters of a member written by `write_deflated_member`."""

    crc: int = 0
    compress_size: int = 0
    file_size: int = 0


def write_deflated_member(
    target: BinaryIO, entry: CentralEntry, chunks: Iterable[bytes], level: int
) -> tuple[bytes, DeflatedMember]:
    """Write a new local record for `entry` with `chunks` deflated as its content.

    The local header is written first with zero sizes and patched afterwards, so the
    record needs no data descriptor. Returns the central directory record to use.
    """
    name = entry.name.encode("utf-8") if entry.flag_bits & 0x800 else _cp437(entry.name)
    dos_time, dos_date = struct.unpack("<HH", entry.raw[12:16])
    flags = (entry.flag_bits & 0x800) | _deflate_level_flags(level)
    header_offset = target.tell()
    header = struct.pack(
        "<4sHHHHHIIIHH",
        _LOCAL_SIG, 20, flags, zipfile.ZIP_DEFLATED, dos_time, dos_date, 0, 0, 0,
        len(name), 0,
    )  # fmt: skip
    target.write(header + name)

    counters = DeflatedMember()
    compressor = zlib.compressobj(level, zlib.DEFLATED, -15)

    def add(data: bytes) -> None:
        counters.crc = zlib.crc32(data, counters.crc)
        counters.file_size += len(data)
        packed = compressor.compress(data)
        counters.compress_size += len(packed)
        target.write(packed)

    batches = _batches(chunks, DEFLATE_BATCH)
    first = next(batches, b"")
    second = next(batches, None)
    if second is None:
        add(first)  # one batch: a thread would only cost its start
    else:
        _add_on_worker(add, _chained(first, second, batches))
    packed = compressor.flush()
    counters.compress_size += len(packed)
    target.write(packed)
    if counters.file_size >= _LIMIT32 or counters.compress_size >= _LIMIT32:
        # TODO: zip64 local and central records for a sheet part of 4 GiB or more.
        raise ZipLayoutError(f"{entry.name} would exceed 4 GiB")

    end = target.tell()
    target.seek(header_offset + 14)
    target.write(struct.pack("<III", counters.crc, counters.compress_size, counters.file_size))
    target.seek(end)
    return _central_for_new_member(entry, name, flags, header_offset, counters), counters


def _batches(chunks: Iterable[bytes], size: int) -> Iterator[bytes]:
    """Yield `chunks` joined into batches of at least `size` bytes, the last shorter."""
    pending: list[bytes] = []
    length = 0
    for chunk in chunks:
        pending.append(chunk)
        length += len(chunk)
        if length >= size:
            yield b"".join(pending)
            pending, length = [], 0
    if pending:
        yield b"".join(pending)


def _chained(first: bytes, second: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield second
    yield from rest


def _add_on_worker(add: Callable[[bytes], None], batches: Iterator[bytes]) -> None:
    """Call `add` on each batch in a worker thread while this thread makes the next.

    An exception of `add` is raised here, after the worker has ended, and an exception
    of `batches` ends the worker before it is raised. Either way the caller discards
    the target, so batches compressed after a failure do no harm.
    """
    queue: Queue[bytes | None] = Queue(maxsize=QUEUED_BATCHES)
    failures: list[BaseException] = []

    def work() -> None:
        try:
            while (batch := queue.get()) is not None:
                add(batch)
        except BaseException as exc:  # noqa: BLE001 - raised again in the caller
            failures.append(exc)
            # Drain what the caller still puts, so a caller waiting on the full
            # queue goes on, sees the failure and stops.
            while queue.get() is not None:
                pass

    worker = threading.Thread(target=work, name="deflate", daemon=True)
    worker.start()
    try:
        for batch in batches:
            if failures:
                break
            queue.put(batch)
    finally:
        queue.put(None)
        worker.join()
    if failures:
        raise failures[0]


def _cp437(name: str) -> bytes:
    try:
        return name.encode("cp437")
    except UnicodeEncodeError:
        return name.encode("utf-8")


def _deflate_level_flags(level: int) -> int:
    # Bits 1-2 of the general purpose flags record the deflate option used.
    if level >= 8:
        return 0x2
    if level <= 2:
        return 0x4
    return 0


def _central_for_new_member(
    entry: CentralEntry, name: bytes, flags: int, offset: int, counters: DeflatedMember
) -> bytes:
    fixed = bytearray(entry.raw[:46])
    struct.pack_into("<HHH", fixed, 6, 20, flags, zipfile.ZIP_DEFLATED)
    struct.pack_into("<III", fixed, 16, counters.crc, counters.compress_size, counters.file_size)
    struct.pack_into("<HHH", fixed, 28, len(name), 0, 0)
    fixed = _with_offset(bytes(fixed), offset)
    return fixed + name


def relocated_central_entry(entry: CentralEntry, new_offset: int) -> bytes:
    """Return the raw central record of a copied member, pointing at `new_offset`."""
    stored = struct.unpack("<I", entry.raw[42:46])[0]
    if stored != _LIMIT32:
        if new_offset >= _LIMIT32:
            # TODO: add a zip64 extra field when a copied member moves past 4 GiB.
            raise ZipLayoutError(f"{entry.name} would start past 4 GiB")
        return _with_offset(entry.raw, new_offset)
    return _with_zip64_offset(entry, new_offset)


def _with_offset(raw: bytes, offset: int) -> bytes:
    return raw[:42] + struct.pack("<I", offset) + raw[46:]


def _with_zip64_offset(entry: CentralEntry, new_offset: int) -> bytes:
    raw = bytearray(entry.raw)
    name_len, extra_len = struct.unpack("<HH", raw[28:32])
    position = 46 + name_len
    end = position + extra_len
    while position + 4 <= end:
        tag, size = struct.unpack("<HH", raw[position : position + 4])
        if tag == 0x0001:
            # The zip64 field lists only the values whose 32-bit slot is 0xFFFFFFFF,
            # in the order: size, compressed size, offset.
            field = position + 4
            if struct.unpack("<I", raw[24:28])[0] == _LIMIT32:
                field += 8
            if struct.unpack("<I", raw[20:24])[0] == _LIMIT32:
                field += 8
            struct.pack_into("<Q", raw, field, new_offset)
            return bytes(raw)
        position += 4 + size
    raise ZipLayoutError(f"zip64 offset of {entry.name} not found")


def write_end_records(target: BinaryIO, central: list[bytes], comment: bytes = b"") -> None:
    """Write the central directory and its end records, with zip64 only when needed."""
    comment = comment[:0xFFFF]
    start = target.tell()
    for record in central:
        target.write(record)
    size = target.tell() - start
    count = len(central)
    if start >= _LIMIT32 or size >= _LIMIT32 or count >= 0xFFFF:
        zip64_start = target.tell()
        target.write(
            struct.pack(
                "<4sQHHIIQQQQ",
                _ZIP64_EOCD_SIG, 44, 45, 45, 0, 0, count, count, size, start,
            )  # fmt: skip
        )
        target.write(struct.pack("<4sIQI", _ZIP64_LOCATOR_SIG, 0, zip64_start, 1))
        count32 = min(count, 0xFFFF)
        target.write(
            struct.pack(
                "<4sHHHHIIH", _EOCD_SIG, 0, 0, count32, count32,
                min(size, _LIMIT32), min(start, _LIMIT32), len(comment),
            )  # fmt: skip
            + comment
        )
        return
    target.write(
        struct.pack("<4sHHHHIIH", _EOCD_SIG, 0, 0, count, count, size, start, len(comment))
        + comment
    )
