"""Salesperson notices that are due, kept in SQLite until a notice names them.

A notice informs a salesperson of orders newly blocked or approved with a warning.
It is planned from decisions, but an order approved with a warning is decided only
once: the next pass reads APPROVED from its Status cell. If the pass that approved
it wrote the orders sheet and then stopped before its mail (a failed mail stage, a
kill), no later pass would see that decision again. So each pass stores the
decisions that call for a notice before it writes the orders sheet, and the mail
stage plans notices from these as well as from its own decisions.

A row is replaced whenever its order is decided again, so a notice never reports an
outcome that a later decision changed. Rows whose notice item the send ledger has
recorded are deleted after the mail stage.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from engine.state import ensure_schema, has_table

SCHEMA = """
CREATE TABLE IF NOT EXISTS mail_notices_due (
    order_id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    warning INTEGER NOT NULL,
    reason TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    salesperson TEXT NOT NULL,
    as_of TEXT NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class DueNotice:
    """A stored decision that calls for a notice, with the fields a notice shows."""

    order_id: str
    status: str
    warning: bool
    reason: str
    customer_id: str
    salesperson: str


def calls_for_notice(decision) -> bool:
    """Return True when `decision` is one a salesperson gets a notice about."""
    return decision.status == "BLOCKED" or bool(decision.warning)


def remember(conn: sqlite3.Connection, decisions: Iterable, as_of: str) -> None:
    """Replace the stored rows of the decided orders by those that call for a notice."""
    ensure_schema(conn, SCHEMA)
    decisions = list(decisions)
    with conn:
        conn.execute("BEGIN")
        conn.executemany(
            "DELETE FROM mail_notices_due WHERE order_id = ?",
            [(decision.order_id,) for decision in decisions],
        )
        conn.executemany(
            "INSERT OR REPLACE INTO mail_notices_due (order_id, status, warning, "
            "reason, customer_id, salesperson, as_of) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    decision.order_id,
                    decision.status,
                    int(bool(decision.warning)),
                    decision.reason or "",
                    decision.customer_id,
                    decision.salesperson or "",
                    as_of,
                )
                for decision in decisions
                if calls_for_notice(decision)
            ],
        )


def load(conn: sqlite3.Connection) -> list[DueNotice]:
    """Return the stored rows, oldest pass first, then by order id."""
    if not has_table(conn, "mail_notices_due"):
        return []
    rows = conn.execute(
        "SELECT order_id, status, warning, reason, customer_id, salesperson "
        "FROM mail_notices_due ORDER BY as_of, order_id"
    ).fetchall()
    return [
        DueNotice(order_id, status, bool(warning), reason, customer_id, salesperson)
        for order_id, status, warning, reason, customer_id, salesperson in rows
    ]


def with_earlier(decisions: Iterable, due: Iterable[DueNotice]) -> list:
    """Return the pass's decisions followed by stored rows of orders it did not decide."""
    decisions = list(decisions)
    decided = {decision.order_id for decision in decisions}
    return decisions + [notice for notice in due if notice.order_id not in decided]


def forget_notified(
    conn: sqlite3.Connection, notified: Callable[[DueNotice], bool]
) -> None:
    """Delete the stored rows for which `notified` returns True."""
    sent = [(notice.order_id,) for notice in load(conn) if notified(notice)]
    if sent:
        with conn:
            conn.execute("BEGIN")
            conn.executemany("DELETE FROM mail_notices_due WHERE order_id = ?", sent)
