"""Safety of the write-back: stamps, lock files, failures mid-write, broken packages."""

from __future__ import annotations

import os
import struct
import zipfile
from pathlib import Path

import pytest

from engine.filestamp import stamp_of
from engine.xlsx import zipcopy
from engine.xlsx.lockfile import lock_owner
from engine.xlsx.patch import (
    FileChanged,
    FileLocked,
    NotAWorkbook,
    WriteError,
    plan_check,
    write_cells,
)
from patch_builder import build_workbook, sheet

ROWS = '<row r="1"><c r="A1" t="inlineStr"><is><t>Order</t></is></c></row>'


@pytest.fixture
def workbook(tmp_path) -> Path:
    path = build_workbook(tmp_path / "orders.xlsx", sheet(ROWS))
    os.chmod(path, 0o640)
    return path


def excel_owner_file(user: str) -> bytes:
    """Bytes laid out like Excel's ~$ owner file for `user`."""
    ansi = bytes([len(user)]) + user.encode("cp1252")
    ansi += b" " * (54 - len(ansi))
    wide = struct.pack("<H", len(user)) + user.encode("utf-16-le")
    return (ansi + wide).ljust(165, b" ")


def test_write_returns_stamp_of_new_file(workbook):
    stamp = write_cells(workbook, "Orders", {(2, 1): "x"})
    assert stamp == stamp_of(workbook)
    assert stamp.matches(workbook)


def test_mode_kept_and_no_temp_left(workbook):
    write_cells(workbook, "Orders", {(2, 1): "x"})
    assert workbook.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in workbook.parent.iterdir()) == ["orders.xlsx"]


def test_expected_stamp_mismatch(workbook):
    stamp = stamp_of(workbook)
    build_workbook(workbook, sheet(ROWS + '<row r="2"><c r="A2"><v>1</v></c></row>'))
    original = workbook.read_bytes()
    with pytest.raises(FileChanged) as raised:
        write_cells(workbook, "Orders", {(3, 1): "x"}, expected=stamp)
    assert str(raised.value) == (
        "orders.xlsx: changed since it was read, so it was not written. Read the "
        "workbook again before writing to it."
    )
    assert workbook.read_bytes() == original


def test_excel_lock_file_names_owner(workbook):
    (workbook.parent / "~$orders.xlsx").write_bytes(excel_owner_file("Mia Svensen"))
    original = workbook.read_bytes()
    with pytest.raises(FileLocked) as raised:
        write_cells(workbook, "Orders", {(2, 1): "x"}, shown_as="orders.xlsx")
    assert raised.value.owner == "Mia Svensen"
    assert str(raised.value) == (
        "orders.xlsx: is open by Mia Svensen (lock file present), so it was not written. "
        "Close the workbook in Excel or LibreOffice so the engine can write it."
    )
    assert workbook.read_bytes() == original


def test_libreoffice_lock_file(workbook):
    lock = workbook.parent / ".~lock.orders.xlsx#"
    lock.write_text("Jonas Berg,jberg,PC-SALES-07,30.06.2024 09:12,file:///C:/Users/jberg;")
    assert lock_owner(workbook) == (True, "Jonas Berg")


def test_undecodable_lock_file(workbook):
    (workbook.parent / "~$orders.xlsx").write_bytes(b"\xff\x00\x01")
    assert lock_owner(workbook) == (True, None)
    with pytest.raises(FileLocked) as raised:
        write_cells(workbook, "Orders", {(2, 1): "x"})
    assert raised.value.owner is None
    assert "is open by another user" in str(raised.value)


def test_no_lock_file(workbook):
    assert lock_owner(workbook) == (False, None)


def test_failure_mid_write_leaves_original(workbook, monkeypatch):
    original = workbook.read_bytes()

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(zipcopy, "write_deflated_member", disk_full)
    with pytest.raises(WriteError) as raised:
        write_cells(workbook, "Orders", {(2, 1): "x"})
    assert str(raised.value) == (
        "orders.xlsx: could not be written: No space left on device. Check that its "
        "folder is writable and the disk has free space."
    )
    assert workbook.read_bytes() == original
    assert sorted(p.name for p in workbook.parent.iterdir()) == ["orders.xlsx"]


def test_save_during_write_detected(workbook, monkeypatch):
    real_copy = zipcopy.copy_range

    def copy_then_staff_saves(*args):
        real_copy(*args)
        if not getattr(copy_then_staff_saves, "done", False):
            copy_then_staff_saves.done = True
            workbook.write_bytes(workbook.read_bytes() + b"staff save")

    monkeypatch.setattr(zipcopy, "copy_range", copy_then_staff_saves)
    with pytest.raises(FileChanged):
        write_cells(workbook, "Orders", {(2, 1): "x"})
    assert workbook.read_bytes().endswith(b"staff save")
    assert len(list(workbook.parent.iterdir())) == 1


def test_password_protected_file(tmp_path):
    path = tmp_path / "secret.xlsx"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504)
    with pytest.raises(NotAWorkbook) as raised:
        write_cells(path, "Orders", {(1, 1): "x"})
    assert str(raised.value) == (
        "secret.xlsx: is a password-protected workbook or an old .xls file (OLE2 "
        "container), which the engine cannot write into. Save it as .xlsx without a "
        "password."
    )


def test_truncated_file(tmp_path, workbook):
    path = tmp_path / "half.xlsx"
    path.write_bytes(workbook.read_bytes()[:300])
    with pytest.raises(NotAWorkbook) as raised:
        write_cells(path, "Orders", {(1, 1): "x"})
    assert str(raised.value) == (
        "half.xlsx: is not an .xlsx workbook (not a zip archive); it may be truncated or "
        "still being saved. Open it in Excel and save it again as .xlsx."
    )


def test_zip_without_workbook(tmp_path):
    path = tmp_path / "notes.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(NotAWorkbook) as raised:
        write_cells(path, "Orders", {(1, 1): "x"})
    assert "is a zip archive without a workbook part (xl/workbook.xml)" in str(raised.value)


def test_binary_workbook(tmp_path):
    path = tmp_path / "fast.xlsb"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("xl/workbook.bin", b"\x83\x01\x00")
    with pytest.raises(NotAWorkbook) as raised:
        write_cells(path, "Orders", {(1, 1): "x"})
    assert str(raised.value) == (
        "fast.xlsb: is a binary workbook (.xlsb), which the engine cannot write into. "
        "Save it as .xlsx (Excel Workbook)."
    )


def test_doctype_rejected(tmp_path):
    xml = sheet(ROWS).replace(
        "\n", '\n<!DOCTYPE worksheet [<!ENTITY big "xxxxxxxx">]>\n', 1
    )
    path = build_workbook(tmp_path / "entity.xlsx", xml)
    with pytest.raises(NotAWorkbook) as raised:
        write_cells(path, "Orders", {(1, 2): "x"})
    assert "DOCTYPE" in str(raised.value)


def test_declared_size_too_large(tmp_path, workbook):
    # A sheet part claiming 3 GiB uncompressed is rejected before it is inflated.
    data = bytearray(workbook.read_bytes())
    name = b"xl/worksheets/sheet1.xml"
    record = data.find(b"PK\x01\x02")
    while data[record + 46 : record + 46 + len(name)] != name:
        record = data.find(b"PK\x01\x02", record + 4)
    struct.pack_into("<I", data, record + 24, 3 << 30)
    path = tmp_path / "bomb.xlsx"
    path.write_bytes(bytes(data))
    with pytest.raises(NotAWorkbook) as raised:
        write_cells(path, "Orders", {(1, 2): "x"})
    assert "part xl/worksheets/sheet1.xml declares 3,221,225,472 bytes uncompressed" in str(
        raised.value
    )


def test_sheet_not_found(workbook):
    with pytest.raises(WriteError) as raised:
        write_cells(workbook, "Ordres", {(1, 2): "x"})
    assert str(raised.value) == (
        "orders.xlsx › Ordres: sheet 'Ordres' not found; the workbook has 'Orders'. "
        "Correct the sheet name in rules/workbooks.yaml."
    )
    assert [f.code for f in plan_check(workbook, "Ordres", {(1, 2): "x"})] == [
        "sheet-not-found"
    ]
