"""Send-ledger facts for planning, read in bulk instead of one query per customer.

Planning queries the send ledger, for every customer, when the last reminder went out,
and for every overdue item, when a letter last named it. At 104,857 customers these
were over 100,000 queries, about 0.6 s on the bench VM. `LedgerLookup` reads the
results for many customers or items at once, with one query per 500 of them, and
returns them through the same methods as `SendLedger`. A query about a customer or
item that was not read in bulk goes to the ledger as before, so the results are
always the ledger's own.

A lookup is valid while nothing records letters, so it lives for one planning step.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from engine.mail.ledger import HANDED_OVER, KEYS_PER_QUERY, SENT, SendLedger

_HANDED_OVER = ", ".join("?" * len(HANDED_OVER))


def _date(text: str | None) -> dt.date | None:
    return dt.date.fromisoformat(text) if text else None


def _chunks(values: Iterable[str]) -> Iterable[list[str]]:
    unique = list(dict.fromkeys(values))
    for start in range(0, len(unique), KEYS_PER_QUERY):
        yield unique[start : start + KEYS_PER_QUERY]


def _marks(chunk: list[str]) -> str:
    return ", ".join("?" * len(chunk))


class LedgerLookup:
    """The planning queries of a `SendLedger`, served from bulk reads where loaded."""

    def __init__(self, ledger: SendLedger):
        self.ledger = ledger
        self.conn = ledger.conn
        # (recipient id, kind) -> day of the latest letter handed over, or None.
        self._letter_dates: dict[tuple[str, str], dt.date | None] = {}
        # (recipient id, kind, day) -> letters sent before that day.
        self._sent_counts: dict[tuple[str, str, dt.date], int] = {}
        # Kind and item ids read, and the latest day per recipient, item and level.
        self._items_read: set[tuple[str, str]] = set()
        self._item_dates: dict[tuple[str, str, str, int], dt.date] = {}
        self._item_any_level: dict[tuple[str, str, str], dt.date] = {}

    # Bulk reads

    def load_letter_dates(self, kind: str, recipient_ids: Iterable[str]) -> None:
        """Read the day of each recipient's latest letter of `kind` handed over."""
        for chunk in _chunks(recipient_ids):
            for recipient_id in chunk:
                self._letter_dates[recipient_id, kind] = None
            rows = self.conn.execute(
                "SELECT recipient_id, MAX(as_of) FROM mail_letters"
                f" WHERE kind = ? AND status IN ({_HANDED_OVER})"
                f" AND recipient_id IN ({_marks(chunk)}) GROUP BY recipient_id",
                (kind, *HANDED_OVER, *chunk),
            ).fetchall()
            for recipient_id, as_of in rows:
                self._letter_dates[recipient_id, kind] = _date(as_of)

    def load_sent_counts(
        self, kind: str, recipient_ids: Iterable[str], before: dt.date
    ) -> None:
        """Read how many letters of `kind` each recipient was sent before a day."""
        for chunk in _chunks(recipient_ids):
            for recipient_id in chunk:
                self._sent_counts[recipient_id, kind, before] = 0
            rows = self.conn.execute(
                "SELECT recipient_id, COUNT(*) FROM mail_letters"
                " WHERE kind = ? AND status = ? AND as_of < ?"
                f" AND recipient_id IN ({_marks(chunk)}) GROUP BY recipient_id",
                (kind, SENT, before.isoformat(), *chunk),
            ).fetchall()
            for recipient_id, count in rows:
                self._sent_counts[recipient_id, kind, before] = int(count)

    def load_item_dates(self, kind: str, item_ids: Iterable[str]) -> None:
        """Read the latest day each item was named in a letter of `kind`, per level."""
        for chunk in _chunks(item_ids):
            self._items_read.update((kind, item_id) for item_id in chunk)
            rows = self.conn.execute(
                "SELECT l.recipient_id, i.item_id, i.level, MAX(l.as_of)"
                " FROM mail_letter_items i JOIN mail_letters l USING (key)"
                f" WHERE l.kind = ? AND l.status IN ({_HANDED_OVER})"
                f" AND i.item_id IN ({_marks(chunk)})"
                " GROUP BY l.recipient_id, i.item_id, i.level",
                (kind, *HANDED_OVER, *chunk),
            ).fetchall()
            for recipient_id, item_id, level, as_of in rows:
                day = _date(as_of)
                if day is None:
                    continue
                self._item_dates[recipient_id, kind, item_id, level] = day
                latest = self._item_any_level.get((recipient_id, kind, item_id))
                if latest is None or latest < day:
                    self._item_any_level[recipient_id, kind, item_id] = day

    # The queries of SendLedger

    def last_letter_date(self, recipient_id: str, kind: str) -> dt.date | None:
        """Return the day of the latest letter of a kind the recipient may have received."""
        key = (recipient_id, kind)
        if key in self._letter_dates:
            return self._letter_dates[key]
        return self.ledger.last_letter_date(recipient_id, kind)

    def count_sent(self, recipient_id: str, kind: str, before: dt.date) -> int:
        """Return the number of the recipient's letters of a kind sent before a day."""
        count = self._sent_counts.get((recipient_id, kind, before))
        if count is not None:
            return count
        return self.ledger.count_sent(recipient_id, kind, before)

    def last_item_date(
        self, recipient_id: str, kind: str, item_id: str, level: int | None = None
    ) -> dt.date | None:
        """Return the day an item was last named in a letter (at `level`, if given)."""
        if (kind, item_id) not in self._items_read:
            return self.ledger.last_item_date(recipient_id, kind, item_id, level)
        if level is not None:
            return self._item_dates.get((recipient_id, kind, item_id, level))
        return self._item_any_level.get((recipient_id, kind, item_id))


def lookup_for(sent) -> LedgerLookup | None:
    """Return a `LedgerLookup` over `sent` when it is a `SendLedger`, else None."""
    if isinstance(sent, LedgerLookup):
        return sent
    if isinstance(sent, SendLedger):
        return LedgerLookup(sent)
    return None
