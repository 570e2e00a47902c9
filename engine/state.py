"""The engine's memory: one SQLite database per project.

The sheets are the staff's view; SQLite keeps what must survive a restart or a crash:
decisions, overrides, pending writes, the send ledger and pass history. Each module
creates its own tables with `CREATE TABLE IF NOT EXISTS` through `ensure_schema`.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path


def open_state(path: Path) -> sqlite3.Connection:
    """Open (creating if needed) the state database in WAL mode with foreign keys on."""
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, timeout=30, isolation_level=None)
    connection.row_factory = sqlite3.Row
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute("PRAGMA foreign_keys=ON")
    return connection


def has_table(connection: sqlite3.Connection, name: str) -> bool:
    """Return True when the database has a table called `name`."""
    found = connection.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
    ).fetchone()
    return found is not None


def ensure_schema(connection: sqlite3.Connection, ddl: str) -> None:
    """Run a module's CREATE TABLE/INDEX IF NOT EXISTS statements."""
    connection.executescript(ddl)
