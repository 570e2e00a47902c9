"""File stamps: what a workbook looked like when it was read or written.

A write is only allowed onto the exact bytes that were read (a staff save in between
means the pass runs again), and the watcher recognises the engine's own writes by the
content hash recorded right after writing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class FileStamp:
    size: int
    mtime_ns: int
    sha256: str

    def matches(self, path: Path) -> bool:
        """Return True when the file at `path` still has exactly these bytes."""
        try:
            info = path.stat()
        except FileNotFoundError:
            return False
        if info.st_size != self.size:
            return False
        if info.st_mtime_ns == self.mtime_ns:
            return True
        return file_sha256(path) == self.sha256


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def stamp_of(path: Path) -> FileStamp:
    """Stamp a file; the hash is taken over the bytes present at the time of the call."""
    info = path.stat()
    return FileStamp(info.st_size, info.st_mtime_ns, file_sha256(path))


def stamp_of_bytes(path: Path, data: bytes) -> FileStamp:
    """Stamp bytes already read from `path`, with the file's current size and mtime."""
    info = path.stat()
    return FileStamp(len(data), info.st_mtime_ns, hashlib.sha256(data).hexdigest())
