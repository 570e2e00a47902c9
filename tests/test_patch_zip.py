"""Zip container details: data descriptors, zip64 members, archive comments."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from engine.xlsx.patch import write_cells
from patch_builder import build_workbook, sheet
from patch_helpers import raw_members, read_calamine

ROWS = '<row r="1"><c r="A1" t="inlineStr"><is><t>Order</t></is></c></row>'


class Unseekable(io.RawIOBase):
    """A write-only stream, which makes zipfile use data descriptors."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, block) -> int:
        self.data += block
        return len(block)


def rezip(source: Path, target: Path, *, streamed: bool, zip64: bool, comment: bytes) -> None:
    stream = Unseekable() if streamed else None
    handle = stream if stream is not None else target.open("wb")
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as new:
        new.comment = comment
        for info in old.infolist():
            with new.open(info.filename, "w", force_zip64=zip64) as member:
                member.write(old.read(info))
    if stream is not None:
        target.write_bytes(bytes(stream.data))
    else:
        handle.close()


def local_records(path: Path) -> dict[str, bytes]:
    """Return each member's bytes from its local header up to the next record."""
    data = path.read_bytes()
    with zipfile.ZipFile(path) as archive:
        infos = sorted(archive.infolist(), key=lambda info: info.header_offset)
    central = data.index(b"PK\x01\x02", infos[-1].header_offset)
    ends = [info.header_offset for info in infos[1:]] + [central]
    return {info.filename: data[info.header_offset : end] for info, end in zip(infos, ends)}


def check_rewrite(path: Path) -> None:
    before = raw_members(path)
    records = local_records(path)
    with zipfile.ZipFile(path) as archive:
        comment = archive.comment
    write_cells(path, "Orders", {(2, 1): "APPROVED"})
    after = raw_members(path)
    assert [m for m in after if m[0] != "xl/worksheets/sheet1.xml"] == [
        m for m in before if m[0] != "xl/worksheets/sheet1.xml"
    ]
    new_records = local_records(path)
    for name, record in records.items():
        if name != "xl/worksheets/sheet1.xml":
            assert new_records[name] == record, name
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        assert archive.comment == comment
    assert read_calamine(path, "Orders", [(1, 1), (2, 1)]) == {(1, 1): "Order", (2, 1): "APPROVED"}


def test_members_with_data_descriptors(tmp_path):
    plain = build_workbook(tmp_path / "plain.xlsx", sheet(ROWS))
    path = tmp_path / "streamed.xlsx"
    rezip(plain, path, streamed=True, zip64=False, comment=b"")
    with zipfile.ZipFile(path) as archive:
        assert all(info.flag_bits & 0x08 for info in archive.infolist())
    check_rewrite(path)


def test_members_with_zip64_headers(tmp_path):
    plain = build_workbook(tmp_path / "plain.xlsx", sheet(ROWS))
    path = tmp_path / "zip64.xlsx"
    rezip(plain, path, streamed=True, zip64=True, comment=b"saved by a test")
    check_rewrite(path)
