"""The send ledger: which letter went out when, kept in the state database.

A letter is recorded as "sending" (with its exact bytes) before it is handed to the
mail server and as "sent" after the server accepted it. A letter still "sending" at
the next start was interrupted between the two, so whether it arrived is unknown:
it becomes "uncertain", is reported, and is not sent again unless a single resend
with the same Message-ID is configured, or until a person records whether it arrived
(`SendLedger.resolve`). "queued" means it was never handed over.
"failed" means the server rejected the letter with a 5xx reply. Its detail starts
with the rejection code from `engine.mail.transport` (such as "rcpt-refused: ..."),
which decides whether a later pass may try it again (see `engine.mail.delivery`).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from engine.state import ensure_schema, has_table

if TYPE_CHECKING:
    from engine.mail.letter import Letter

QUEUED = "queued"
SENDING = "sending"
SENT = "sent"
UNCERTAIN = "uncertain"
FAILED = "failed"

# Statuses that count as "the recipient may have this letter" for quiet days, repeat
# intervals and duplicates.
HANDED_OVER = (SENDING, SENT, UNCERTAIN)

# Keys per `IN (...)` query, below SQLite's limit of 999 parameters before 3.32.
KEYS_PER_QUERY = 500

SCHEMA = """
CREATE TABLE IF NOT EXISTS mail_letters (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    recipient_id TEXT NOT NULL,
    level INTEGER NOT NULL,
    as_of TEXT NOT NULL,
    message_id TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    message BLOB,
    detail TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS mail_letters_recipient
    ON mail_letters (recipient_id, kind, as_of);
CREATE TABLE IF NOT EXISTS mail_letter_items (
    key TEXT NOT NULL REFERENCES mail_letters (key),
    item_id TEXT NOT NULL,
    level INTEGER NOT NULL,
    PRIMARY KEY (key, item_id)
);
CREATE INDEX IF NOT EXISTS mail_letter_items_item ON mail_letter_items (item_id);
"""


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    key: str
    kind: str
    recipient_id: str
    level: int
    as_of: dt.date
    message_id: str
    status: str
    attempts: int
    detail: str


@dataclass(frozen=True, slots=True)
class Outcome:
    """Result of one hand-over, to be recorded as the letter's status."""

    key: str
    status: str
    detail: str = ""


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class SendLedger:
    """Letters handed to the outbox or the mail server, in SQLite."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        ensure_schema(conn, SCHEMA)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group the records made inside the block into one transaction.

        Each record is its own transaction otherwise, and with the state's
        `synchronous=FULL` each one waits for a sync of the database file. A block
        may contain further blocks.
        """
        with self._transaction():
            yield

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        # A savepoint works whether or not the connection is in autocommit mode.
        self.conn.execute("SAVEPOINT send_ledger")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK TO send_ledger")
            self.conn.execute("RELEASE send_ledger")
            raise
        self.conn.execute("RELEASE send_ledger")

    # Recording

    def begin(
        self,
        letter: Letter,
        message_id: str,
        message: bytes,
        outcomes: Sequence[Outcome] = (),
    ) -> None:
        """Record a letter as "sending" with its bytes, before it is handed over.

        `outcomes` of earlier hand-overs are recorded in the same transaction, which
        saves one synchronous commit per letter.
        """
        self.begin_many([(letter, message_id, message)], outcomes)

    def begin_many(
        self,
        letters: Sequence[tuple[Letter, str, bytes]],
        outcomes: Sequence[Outcome] = (),
    ) -> None:
        """Record letters (with Message-ID and bytes) as "sending" in one transaction.

        `outcomes` of earlier hand-overs are recorded in the same transaction.
        """
        now = _now()
        with self._transaction():
            self._record_outcomes(outcomes)
            self.conn.executemany(
                "INSERT INTO mail_letters (key, kind, recipient_id, level, as_of,"
                " message_id, status, attempts, message, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?)"
                " ON CONFLICT (key) DO UPDATE SET status = excluded.status,"
                " attempts = attempts + 1, message = excluded.message,"
                " message_id = excluded.message_id, updated_at = excluded.updated_at",
                [
                    (
                        letter.key,
                        letter.kind,
                        letter.recipient_id,
                        letter.level,
                        letter.as_of.isoformat(),
                        message_id,
                        SENDING,
                        message,
                        now,
                    )
                    for letter, message_id, message in letters
                ],
            )
            self.conn.executemany(
                "INSERT OR IGNORE INTO mail_letter_items (key, item_id, level) VALUES (?, ?, ?)",
                [
                    (letter.key, item.item_id, item.level)
                    for letter, _, _ in letters
                    for item in letter.items
                ],
            )

    def begin_resend(self, key: str) -> None:
        """Record the single resend of an uncertain letter as "sending"."""
        with self._transaction():
            self.conn.execute(
                "UPDATE mail_letters SET status = ?, attempts = attempts + 1,"
                " updated_at = ? WHERE key = ?",
                (SENDING, _now(), key),
            )

    def finish(self, key: str, status: str, detail: str = "") -> None:
        """Record the outcome of a hand-over: sent, uncertain, queued or failed."""
        with self._transaction():
            self._record_outcomes([Outcome(key, status, detail)])

    def _record_outcomes(self, outcomes: Sequence[Outcome]) -> None:
        self.conn.executemany(
            "UPDATE mail_letters SET status = ?, detail = ?, updated_at = ? WHERE key = ?",
            [
                (outcome.status, outcome.detail, _now(), outcome.key)
                for outcome in outcomes
            ],
        )

    def mark_interrupted(self) -> list[LedgerEntry]:
        """Turn letters left "sending" by an interrupted run into "uncertain"; return them."""
        interrupted = self._entries("WHERE status = ?", (SENDING,))
        for entry in interrupted:
            self.finish(
                entry.key,
                UNCERTAIN,
                "the run stopped while the letter was being handed over",
            )
        return interrupted

    # Queries

    def entry(self, key: str) -> LedgerEntry | None:
        entries = self._entries("WHERE key = ?", (key,))
        return entries[0] if entries else None

    def keys_present(self, keys: Iterable[str]) -> set[str]:
        """Return those of `keys` that have an entry, with one query per 500 keys."""
        keys = list(dict.fromkeys(keys))
        present: set[str] = set()
        for start in range(0, len(keys), KEYS_PER_QUERY):
            chunk = keys[start : start + KEYS_PER_QUERY]
            rows = self.conn.execute(
                "SELECT key FROM mail_letters"
                f" WHERE key IN ({', '.join('?' * len(chunk))})",
                chunk,
            ).fetchall()
            present.update(row[0] for row in rows)
        return present

    def failed_recipients(self) -> set[tuple[str, str]]:
        """Return the (recipient id, kind) pairs that have a letter recorded "failed"."""
        rows = self.conn.execute(
            "SELECT DISTINCT recipient_id, kind FROM mail_letters WHERE status = ?",
            (FAILED,),
        ).fetchall()
        return {(row[0], row[1]) for row in rows}

    def message_bytes(self, key: str) -> bytes | None:
        row = self.conn.execute(
            "SELECT message FROM mail_letters WHERE key = ?", (key,)
        ).fetchone()
        return bytes(row[0]) if row and row[0] is not None else None

    def resolve(self, message_id: str, arrived: bool) -> LedgerEntry | None:
        """Record what a person found out about an uncertain letter.

        `arrived` records it "sent". Otherwise it becomes "queued", so the next pass
        that still plans it sends it again. Returns the entry before the change, or
        None when no uncertain letter has that Message-ID.
        """
        message_id = message_id.strip()
        if not message_id.startswith("<"):
            message_id = f"<{message_id}>"
        entries = self._entries(
            "WHERE message_id = ? AND status = ?", (message_id, UNCERTAIN)
        )
        if not entries:
            return None
        detail = "arrived" if arrived else "did not arrive"
        detail += ", as a person confirmed"
        self.finish(entries[0].key, SENT if arrived else QUEUED, detail)
        return entries[0]

    def uncertain(self) -> list[LedgerEntry]:
        """Return letters whose delivery is uncertain, oldest first."""
        return self._entries("WHERE status = ? ORDER BY updated_at, key", (UNCERTAIN,))

    def failed_for(self, recipient_id: str, kind: str) -> list[LedgerEntry]:
        """Return the recipient's letters of a kind that the server rejected, newest first."""
        return self._entries(
            "WHERE recipient_id = ? AND kind = ? AND status = ?"
            " ORDER BY as_of DESC, updated_at DESC",
            (recipient_id, kind, FAILED),
        )

    def entries_on(self, as_of: dt.date) -> list[LedgerEntry]:
        """Return every letter planned for a day, for the digest."""
        return self._entries(
            "WHERE as_of = ? ORDER BY kind, recipient_id", (as_of.isoformat(),)
        )

    def last_letter_date(self, recipient_id: str, kind: str) -> dt.date | None:
        """Return the day of the latest letter of a kind the recipient may have received."""
        row = self.conn.execute(
            "SELECT MAX(as_of) FROM mail_letters WHERE recipient_id = ? AND kind = ?"
            f" AND status IN ({', '.join('?' * len(HANDED_OVER))})",
            (recipient_id, kind, *HANDED_OVER),
        ).fetchone()
        return dt.date.fromisoformat(row[0]) if row and row[0] else None

    def count_sent(self, recipient_id: str, kind: str, before: dt.date) -> int:
        """Return the number of the recipient's letters of a kind sent before a day.

        Only letters the server accepted count, so that a letter never mentions an
        earlier one whose delivery is uncertain.
        """
        row = self.conn.execute(
            "SELECT COUNT(*) FROM mail_letters WHERE recipient_id = ? AND kind = ?"
            " AND status = ? AND as_of < ?",
            (recipient_id, kind, SENT, before.isoformat()),
        ).fetchone()
        return int(row[0]) if row else 0

    def last_item_date(
        self, recipient_id: str, kind: str, item_id: str, level: int | None = None
    ) -> dt.date | None:
        """Return the day an item was last named in a letter (at `level`, if given)."""
        sql = (
            "SELECT MAX(l.as_of) FROM mail_letters l JOIN mail_letter_items i USING (key)"
            " WHERE l.recipient_id = ? AND l.kind = ? AND i.item_id = ?"
            f" AND l.status IN ({', '.join('?' * len(HANDED_OVER))})"
        )
        parameters: list[object] = [recipient_id, kind, item_id, *HANDED_OVER]
        if level is not None:
            sql += " AND i.level = ?"
            parameters.append(level)
        row = self.conn.execute(sql, parameters).fetchone()
        return dt.date.fromisoformat(row[0]) if row and row[0] else None

    def _entries(self, where: str, parameters: tuple) -> list[LedgerEntry]:
        rows = self.conn.execute(
            "SELECT key, kind, recipient_id, level, as_of, message_id, status, attempts,"
            f" detail FROM mail_letters {where}",
            parameters,
        ).fetchall()
        return [
            LedgerEntry(
                key=row[0],
                kind=row[1],
                recipient_id=row[2],
                level=row[3],
                as_of=dt.date.fromisoformat(row[4]),
                message_id=row[5],
                status=row[6],
                attempts=row[7],
                detail=row[8],
            )
            for row in rows
        ]


def read_unresolved(state_path: Path) -> list[dict[str, object]]:
    """Return the letters "sending" or "uncertain" in a state database, for `status`.

    Opens the database read-only, so a running service keeps writing to it.
    """
    if not state_path.exists():
        return []
    connection = sqlite3.connect(f"file:{state_path}?mode=ro", uri=True, timeout=30)
    try:
        if not has_table(connection, "mail_letters"):
            return []
        rows = connection.execute(
            "SELECT kind, recipient_id, level, as_of, message_id, status, detail,"
            " updated_at FROM mail_letters WHERE status IN (?, ?)"
            " ORDER BY updated_at, key",
            (SENDING, UNCERTAIN),
        ).fetchall()
    finally:
        connection.close()
    names = (
        "kind",
        "recipient",
        "level",
        "as_of",
        "message_id",
        "status",
        "detail",
        "since",
    )
    return [dict(zip(names, row, strict=True)) for row in rows]
