"""Helpers for the write-back tests: raw zip members, sheet trees, read-back values."""

from __future__ import annotations

import datetime as dt
import struct
import warnings
import zipfile
from decimal import Decimal
from pathlib import Path

import openpyxl
from lxml import etree
from python_calamine import CalamineWorkbook

from engine.model import column_letter
from engine.xlsx.patch_package import find_sheet

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def raw_members(path: Path) -> list[tuple[str, int, bytes]]:
    """Return (name, CRC, compressed bytes) of every member in central directory order."""
    result = []
    with zipfile.ZipFile(path) as archive, path.open("rb") as handle:
        for info in archive.infolist():
            handle.seek(info.header_offset)
            header = handle.read(30)
            name_len, extra_len = struct.unpack("<HH", header[26:30])
            handle.seek(info.header_offset + 30 + name_len + extra_len)
            result.append((info.filename, info.CRC, handle.read(info.compress_size)))
    return result


def sheet_part_name(path: Path, sheet: str) -> str:
    with zipfile.ZipFile(path) as archive:
        return find_sheet(archive, sheet, path.name).part


def first_worksheet(path: Path) -> str:
    """Return the name of the first sheet that is a worksheet (not a chart sheet)."""
    with zipfile.ZipFile(path) as archive:
        root = etree.fromstring(archive.read("xl/workbook.xml"))
        for el in root.iter("{*}sheet"):
            try:
                find_sheet(archive, el.get("name"), path.name)
            except Exception:
                continue
            return el.get("name")
    raise AssertionError(f"{path.name} has no worksheet")


def sheet_xml(path: Path, sheet: str) -> bytes:
    with zipfile.ZipFile(path) as archive:
        return archive.read(sheet_part_name(path, sheet))


def used_extent(xml: bytes) -> tuple[int, int]:
    """Return (last row, last column) of cells, rows, merges and the dimension."""
    root = etree.fromstring(xml)
    last_row = last_column = 1
    for row in root.iter("{*}row"):
        last_row = max(last_row, int(row.get("r", "1")))
        for cell in row.iter("{*}c"):
            ref = cell.get("r")
            if ref:
                last_column = max(last_column, column_number(ref))
    for el in list(root.iter("{*}mergeCell")) + list(root.iter("{*}dimension")):
        for part in el.get("ref", "").split(":"):
            if part:
                last_column = max(last_column, column_number(part))
                last_row = max(last_row, int("".join(ch for ch in part if ch.isdigit()) or 1))
    return last_row, last_column


def column_number(ref: str) -> int:
    number = 0
    for char in ref:
        if not char.isalpha():
            break
        number = number * 26 + ord(char.upper()) - 64
    return number


def stripped_tree(xml: bytes, written: set[tuple[int, int]]) -> bytes:
    """Canonical sheet XML without <dimension>, the written cells and rows that only
    hold written cells; `spans` is dropped from rows that were written into."""
    root = etree.fromstring(xml)
    written_rows = {row for row, _ in written}
    refs = {f"{column_letter(column)}{row}" for row, column in written}
    for el in list(root.iter("{*}dimension")):
        el.getparent().remove(el)
    for row in list(root.iter("{*}row")):
        number = int(row.get("r"))
        if number not in written_rows:
            continue
        row.attrib.pop("spans", None)
        for cell in list(row.iter("{*}c")):
            if cell.get("r") in refs:
                row.remove(cell)
        if len(row) == 0 and set(row.attrib) <= {"r"}:
            row.getparent().remove(row)
    return etree.tostring(root, method="c14n")


def read_openpyxl(path: Path, sheet: str, cells) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        workbook = openpyxl.load_workbook(path)
    values = {target: workbook[sheet].cell(*target).value for target in cells}
    workbook.close()
    return values


def read_calamine(path: Path, sheet: str, cells) -> dict:
    rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_name(sheet).to_python(
        skip_empty_area=False
    )
    values = {}
    for row, column in cells:
        line = rows[row - 1] if row - 1 < len(rows) else []
        values[(row, column)] = line[column - 1] if column - 1 < len(line) else ""
    return values


def excel_serial(day: dt.date, date1904: bool = False) -> int:
    if date1904:
        return (day - dt.date(1904, 1, 1)).days
    return (day - dt.date(1899, 12, 30)).days


def same_value(found, expected, date1904: bool = False) -> bool:
    """Compare a value read back by openpyxl or calamine with the value written."""
    if isinstance(expected, dt.date):
        if isinstance(found, dt.datetime):
            return found.date() == expected
        if isinstance(found, dt.date):
            return found == expected
        return found == excel_serial(expected, date1904)
    if isinstance(expected, (Decimal, int)) and not isinstance(expected, bool):
        if isinstance(found, (int, float)) and not isinstance(found, bool):
            return Decimal(repr(found)) == Decimal(expected)
        return False
    return found == expected


def libreoffice_csv(path: Path, scratch: Path) -> str:
    """Export a workbook's first sheet to CSV with headless LibreOffice; return the text.

    Skips the calling test, with the reason shown, when LibreOffice is not installed.
    """
    import shutil
    import subprocess

    import pytest

    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        pytest.skip("LibreOffice (soffice) is not installed")
    out = scratch / "csv"
    subprocess.run(
        [
            soffice,
            "--headless",
            f"-env:UserInstallation=file://{scratch}/lo",
            "--convert-to",
            "csv",
            "--outdir",
            str(out),
            str(path),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return (out / f"{path.stem}.csv").read_text(encoding="utf-8", errors="replace")
