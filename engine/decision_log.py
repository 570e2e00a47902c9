"""The decision log: every decision of every pass, with its full trace, in SQLite.

`explain(conn, order_id)` reads the latest decision of an order back as the same
text `explain_decision` gives. Override releases and re-blocks are also stored as
events with who, when and why, once per change (a pass that repeats the same
override outcome adds no event).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from json.encoder import encode_basestring
from pathlib import Path

from engine.model import RowRef
from engine.rules.recorded import inputs_json
from engine.state import ensure_schema

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY,
    order_id TEXT NOT NULL,
    as_of TEXT NOT NULL,
    decided_at TEXT NOT NULL,
    status TEXT NOT NULL,
    warning INTEGER NOT NULL,
    reason TEXT NOT NULL,
    rule TEXT NOT NULL,
    rule_where TEXT NOT NULL,
    inputs TEXT NOT NULL,
    trace TEXT NOT NULL,
    notify TEXT NOT NULL,
    ref TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS decisions_order ON decisions (order_id, id);
CREATE TABLE IF NOT EXISTS override_events (
    id INTEGER PRIMARY KEY,
    order_id TEXT NOT NULL,
    event TEXT NOT NULL,
    approver TEXT NOT NULL,
    reason TEXT NOT NULL,
    as_of TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS override_events_order ON override_events (order_id, id);
CREATE TABLE IF NOT EXISTS approvals (
    order_id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    amount TEXT NOT NULL,
    currency TEXT NOT NULL,
    as_of TEXT NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class Approval:
    """An order as the engine approved it: amount in the order's currency."""

    order_id: str
    customer_id: str
    amount: Decimal
    currency: str
    as_of: str


def record_decisions(
    conn: sqlite3.Connection,
    decisions: Iterable,
    as_of: dt.date,
    *,
    now: dt.datetime | None = None,
) -> int:
    """Store the decisions of one pass in one transaction; return how many events."""
    ensure_schema(conn, SCHEMA)
    stamp = (now or dt.datetime.now(dt.timezone.utc)).isoformat(timespec="seconds")
    rows = []
    events = 0
    day = as_of.isoformat()
    texts = _JsonTexts()
    with conn:
        # The state connection autocommits, so without BEGIN every insert would be
        # its own synchronous transaction (one fsync per decision).
        conn.execute("BEGIN")
        decisions_list = list(decisions)
        for decision in decisions_list:
            rows.append(
                (
                    decision.order_id, day, stamp, decision.status,
                    int(decision.warning), decision.reason, decision.rule,
                    decision.rule_where, inputs_json(decision.inputs),
                    trace_json(decision.trace), texts.notify(decision.notify),
                    texts.ref(decision.ref),
                )
            )  # fmt: skip
            if decision.override_event and _is_new_event(conn, decision):
                conn.execute(
                    "INSERT INTO override_events (order_id, event, approver, reason, "
                    "as_of, recorded_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        decision.order_id,
                        decision.override_event,
                        decision.override_by,
                        decision.override_reason,
                        day,
                        stamp,
                    ),
                )
                events += 1
        conn.executemany(
            "INSERT OR REPLACE INTO approvals (order_id, customer_id, amount, currency, "
            "as_of) VALUES (?, ?, ?, ?, ?)",
            [
                (d.order_id, d.customer_id, d.amount, d.currency, day)
                for d in decisions_list
                if d.status == "APPROVED" and d.amount
            ],
        )
        conn.executemany(
            "INSERT INTO decisions (order_id, as_of, decided_at, status, warning, reason, "
            "rule, rule_where, inputs, trace, notify, ref) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    return events


TEXT_ENCODER = json.JSONEncoder(ensure_ascii=False)


def trace_json(trace: list) -> str:
    """Return json.dumps(trace, ensure_ascii=False) without a new encoder per call.

    A trace is a list of texts, which the encoder writes as each text's JSON string
    joined by ", " in brackets.
    """
    try:
        return "[" + ", ".join(map(encode_basestring, trace)) + "]"
    except TypeError:  # an item that is not text
        return TEXT_ENCODER.encode(trace)


class _JsonTexts:
    """The JSON of decisions' notify lists and row references, as json.dumps writes them.

    A pass decides tens of thousands of orders in a few sheets with a few notify
    lists, so the texts are built once per list and per sheet.
    """

    def __init__(self) -> None:
        self.notifies: dict[tuple, str] = {}
        self.sheets: dict[tuple[str, str], str] = {}

    def notify(self, notify) -> str:
        key = tuple(notify)
        try:
            text = self.notifies.get(key)
        except TypeError:  # an unhashable item
            return json.dumps(list(notify))
        if text is None:
            text = self.notifies[key] = json.dumps(list(key))
        return text

    def ref(self, ref: RowRef) -> str:
        if type(ref.row) is not int:
            return json.dumps([ref.file, ref.sheet, ref.row])
        key = (ref.file, ref.sheet)
        start = self.sheets.get(key)
        if start is None:
            # '["file", "sheet"]' without its closing bracket
            start = self.sheets[key] = json.dumps(list(key))[:-1]
        return f"{start}, {ref.row}]"


def load_approvals(path: Path) -> dict[str, Approval]:
    """Return the logged approvals by order id, reading the state database read-only.

    A missing database or table (no pass has approved anything yet) gives no
    approvals, so a dry run never creates the database.
    """
    if not path.exists():
        return {}
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error as exc:
        log.warning("approvals not read from %s: %s", path, exc)
        return {}
    try:
        rows = conn.execute(
            "SELECT order_id, customer_id, amount, currency, as_of FROM approvals"
        ).fetchall()
    except sqlite3.Error as exc:  # no approvals table yet
        log.debug("approvals not read from %s: %s", path, exc)
        return {}
    finally:
        conn.close()
    approvals = {}
    for order_id, customer_id, amount, currency, as_of in rows:
        try:
            value = Decimal(amount)
        except InvalidOperation:
            continue
        approvals[order_id] = Approval(order_id, customer_id, value, currency, as_of)
    return approvals


def _is_new_event(conn: sqlite3.Connection, decision) -> bool:
    row = conn.execute(
        "SELECT event, approver FROM override_events WHERE order_id = ? "
        "ORDER BY id DESC LIMIT 1",
        (decision.order_id,),
    ).fetchone()
    return row is None or tuple(row) != (decision.override_event, decision.override_by)


def latest_decision(conn: sqlite3.Connection, order_id: str):
    """Return the latest logged Decision of an order, or None."""
    from engine.decide import Decision

    ensure_schema(conn, SCHEMA)
    row = conn.execute(
        "SELECT * FROM decisions WHERE order_id = ? ORDER BY id DESC LIMIT 1",
        (order_id,),
    ).fetchone()
    if row is None:
        return None
    file, sheet, number = json.loads(row["ref"])
    return Decision(
        order_id=row["order_id"], ref=RowRef(file, sheet, number), status=row["status"],
        warning=bool(row["warning"]), reason=row["reason"], rule=row["rule"],
        rule_where=row["rule_where"], inputs=json.loads(row["inputs"]),
        trace=tuple(json.loads(row["trace"])), notify=tuple(json.loads(row["notify"])),
        override_event=None,
    )  # fmt: skip


def override_events(conn: sqlite3.Connection, order_id: str) -> list[dict]:
    """Return the override events of an order, oldest first."""
    ensure_schema(conn, SCHEMA)
    rows = conn.execute(
        "SELECT event, approver, reason, as_of, recorded_at FROM override_events "
        "WHERE order_id = ? ORDER BY id",
        (order_id,),
    ).fetchall()
    return [dict(row) for row in rows]


def explain(conn: sqlite3.Connection, order_id: str, locale: str = "en_US") -> str:
    """Return the full trace of the order's latest decision and its override events."""
    from engine.decide import explain_decision

    decision = latest_decision(conn, order_id)
    if decision is None:
        return f"No decision recorded for order {order_id}."
    row = conn.execute(
        "SELECT as_of, decided_at FROM decisions WHERE order_id = ? "
        "ORDER BY id DESC LIMIT 1",
        (order_id,),
    ).fetchone()
    text = explain_decision(decision, locale)
    text += f"\nDecided: pass as of {row['as_of']} at {row['decided_at']}"
    for event in override_events(conn, order_id):
        text += (
            f"\nOverride {event['event']} by {event['approver']} "
            f"(as of {event['as_of']}): {event['reason']}"
        )
    return text
