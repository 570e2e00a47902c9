"""Lock files that Excel and LibreOffice create next to a workbook they have open.

Excel writes an owner file `~$orders.xlsx`: a length byte and the user name in the
ANSI code page, padded to 54 bytes, then a 16-bit length and the name in UTF-16LE.
LibreOffice writes `.~lock.orders.xlsx#`, one CSV line that starts with the user's
full name. Either file means the workbook must not be replaced now.
"""

from __future__ import annotations

import logging
import struct
from pathlib import Path

log = logging.getLogger(__name__)

_ANSI_BLOCK = 54
_MAX_LOCK_BYTES = 64 * 1024


def lock_owner(path: Path) -> tuple[bool, str | None]:
    """Return (locked, owner name) for a workbook; the name is None when undecodable.

    NOTE: a lock file left behind by a crashed Excel keeps the workbook locked until
    someone deletes it.
    """
    path = Path(path)
    excel = path.with_name("~$" + path.name)
    libreoffice = path.with_name(".~lock." + path.name + "#")
    if _exists(excel):
        return True, _excel_owner(_read_head(excel))
    if _exists(libreoffice):
        return True, _libreoffice_owner(_read_head(libreoffice))
    return False, None


def _exists(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:
        return False


def _read_head(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            return handle.read(_MAX_LOCK_BYTES)
    except OSError as error:
        # Excel keeps its owner file open exclusively on Windows shares.
        log.debug("cannot read lock file %s: %s", path, error)
        return b""


def _excel_owner(data: bytes) -> str | None:
    if len(data) >= _ANSI_BLOCK + 2:
        (length,) = struct.unpack("<H", data[_ANSI_BLOCK : _ANSI_BLOCK + 2])
        wide = data[_ANSI_BLOCK + 2 : _ANSI_BLOCK + 2 + 2 * length]
        if 0 < length and len(wide) == 2 * length:
            try:
                return _clean(wide.decode("utf-16-le"))
            except UnicodeDecodeError:
                pass
    if data and 0 < data[0] < _ANSI_BLOCK and len(data) > data[0]:
        return _clean(data[1 : 1 + data[0]].decode("cp1252", "replace"))
    return None


def _libreoffice_owner(data: bytes) -> str | None:
    text = data.decode("utf-8", "replace").strip()
    owner = text.split(",", 1)[0]
    return _clean(owner)


def _clean(name: str) -> str | None:
    name = name.strip().strip("\x00")
    if not name or not name.isprintable():
        return None
    return name
