"""Save a workbook the way a person's program does, to test watchers on real files.

Each mode performs the file operations one editor or sync client performs on a save,
with chunked, fsynced writes and short pauses so a watcher sees the intermediate states:

- excel_kb814068: Excel as described in Microsoft KB 814068. The `~$` owner file
  exists while the workbook is open; the workbook is written to an extension-less
  temporary (`UJZDE8GX`), the original is deleted and the temporary renamed over it.
  The workbook itself never gets a "modified" event.
- excel_rf_tmp: newer Office: the original is renamed to `<name>~RFxxxxxx.TMP`, the
  temporary renamed to the original, then the backup deleted.
- libreoffice: `.~lock.<name>#` lock file, write to `lu<random>.tmp`, replace.
- inplace: truncate-free rewrite of the original in chunks, then truncate (what
  openpyxl's save and some sync clients do); readers can see a mix of old and new.
- copy_in: a colleague copies a finished file in (create or truncate, chunked writes).
- onedrive: a sync client downloading a newer version: the file is pre-allocated at
  full size with zero bytes, filled in place in chunks, and given the cloud copy's
  modification time, which can be older than the local one. This models the behaviour
  of pre-allocating sync clients; it is not a recording of OneDrive itself.
"""

from __future__ import annotations

import io
import os
import random
import string
import time
from pathlib import Path

MODES = (
    "excel_kb814068",
    "excel_rf_tmp",
    "libreoffice",
    "inplace",
    "copy_in",
    "onedrive",
)
# Modes that hold a lock file while saving and replace the workbook by a rename, as
# Excel and LibreOffice do. The in-place modes write through an open handle, so a
# rename by another program during their write leaves their bytes in a deleted file.
REPLACING_MODES = ("excel_kb814068", "excel_rf_tmp", "libreoffice")
EXCEL_OWNER = "Mia Svensen"
LIBREOFFICE_OWNER = "Jonas Berg"


def make_workbook(marker: str, *, rows: int = 40) -> bytes:
    """Return the bytes of a small orders workbook whose cell A1 holds `marker`."""
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Orders"
    sheet["A1"] = marker
    for row in range(2, rows + 2):
        sheet.cell(row, 1, f"ORD-{row:04d}")
        sheet.cell(row, 2, f"C{row % 7:03d}")
        sheet.cell(row, 3, row * 125)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def edited_workbook(
    source: bytes | Path, sheet: str, cells: dict, scratch: Path
) -> bytes:
    """Return a workbook's bytes with `cells` ((row, column) 1-based) changed.

    The edit is made on a copy in `scratch` with the engine's cell writer, so every
    other byte stays as the person's program had it. A None value clears the cell.
    """
    from engine.xlsx.patch import write_cells

    scratch.mkdir(parents=True, exist_ok=True)
    copy = scratch / f"edit-{time.monotonic_ns()}.xlsx"
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    copy.write_bytes(data)
    try:
        write_cells(copy, sheet, cells, fsync=False)
        return copy.read_bytes()
    finally:
        copy.unlink(missing_ok=True)


def read_marker(path: Path) -> str:
    """Return cell A1 of the first sheet, read with python-calamine."""
    from python_calamine import CalamineWorkbook

    workbook = CalamineWorkbook.from_path(str(path))
    rows = workbook.get_sheet_by_index(0).to_python(nrows=1)
    return str(rows[0][0])


def write_chunked(
    path: Path, data: bytes, *, mode: str, chunk: int, delay: float
) -> None:
    with open(path, mode) as handle:
        for start in range(0, len(data), chunk):
            handle.write(data[start : start + chunk])
            handle.flush()
            os.fsync(handle.fileno())
            time.sleep(delay)


def excel_owner_bytes(owner: str = EXCEL_OWNER) -> bytes:
    """Return an Excel `~$` owner file: name length, then the name padded to 165 bytes."""
    return bytes([len(owner)]) + owner.encode("ascii").ljust(164)


def save_as_person(
    path: Path,
    new_bytes: bytes,
    mode: str,
    *,
    chunk: int = 1024,
    delay: float = 0.01,
    lock_hold: float = 0.3,
    seed: int | None = None,
) -> None:
    """Replace the workbook at `path` with `new_bytes` the way `mode` saves it.

    `lock_hold` is how long the lock file stays after the save (the user closing the
    workbook later); 0 leaves it for the caller to remove.
    """
    rng = random.Random(seed)
    folder = path.parent
    chunked = {"chunk": chunk, "delay": delay}
    if mode in ("excel_kb814068", "excel_rf_tmp"):
        owner = folder / ("~$" + path.name)
        owner.write_bytes(excel_owner_bytes())
        temporary = folder / _random_name(
            rng, 8, string.ascii_uppercase + string.digits
        )
        write_chunked(temporary, new_bytes, mode="wb", **chunked)
        if mode == "excel_kb814068":
            path.unlink(missing_ok=True)
            os.rename(temporary, path)
        else:
            backup = (
                folder / f"{path.name}~RF{_random_name(rng, 6, '0123456789abcdef')}.TMP"
            )
            if path.exists():
                os.rename(path, backup)
            os.rename(temporary, path)
            backup.unlink(missing_ok=True)
        _release(owner, lock_hold)
    elif mode == "libreoffice":
        lock = folder / f".~lock.{path.name}#"
        lock.write_text(
            f"{LIBREOFFICE_OWNER},jberg,PC-SALES-07,30.06.2024 09:12,file:///tmp;"
        )
        temporary = folder / f"lu{_random_name(rng, 6, string.ascii_lowercase)}.tmp"
        write_chunked(temporary, new_bytes, mode="wb", **chunked)
        os.replace(temporary, path)
        _release(lock, lock_hold)
    elif mode == "inplace":
        write_chunked(path, new_bytes, mode="r+b" if path.exists() else "wb", **chunked)
        with open(path, "r+b") as handle:
            handle.truncate(len(new_bytes))
    elif mode == "copy_in":
        write_chunked(path, new_bytes, mode="wb", **chunked)
    elif mode == "onedrive":
        cloud_mtime = time.time() - 3600
        with open(path, "wb") as handle:
            handle.truncate(len(new_bytes))
        write_chunked(path, new_bytes, mode="r+b", **chunked)
        os.utime(path, (cloud_mtime, cloud_mtime))
    else:
        raise ValueError(f"unknown save mode {mode!r}; use one of {', '.join(MODES)}")


def _random_name(rng: random.Random, length: int, alphabet: str) -> str:
    return "".join(rng.choice(alphabet) for _ in range(length))


def _release(lock: Path, hold: float) -> None:
    if hold <= 0:
        return
    time.sleep(hold)
    lock.unlink(missing_ok=True)


def wait_for(predicate, timeout: float = 10.0) -> bool:
    """Poll `predicate` every 20 ms until it is true or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()
