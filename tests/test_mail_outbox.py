"""Delivery to the outbox folder, where a letter's file is written in a worker thread."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from pathlib import Path

from mail_factories import (
    AS_OF,
    customer,
    invoice,
    ledger_for,
    make_rules,
    send_ledger,
    templates_dir,
)

from engine.mail import LetterRenderer, deliver, plan_reminders
from engine.mail.ledger import QUEUED, SENT, SendLedger
from engine.mail.transport import DEFERRED, OutboxTransport, SendResult
from engine.state import open_state

CUSTOMERS = [
    customer(f"C{n:03d}", n + 2, email=f"c{n}@example.test") for n in range(1, 5)
]
ORDERS = [
    invoice(f"ORD-{n}", f"C{n:03d}", "100", AS_OF - dt.timedelta(days=20 * n), n + 2)
    for n in range(1, 5)
]


class CheckingLedger(SendLedger):
    """Send ledger that checks each "sent" outcome against the outbox on disk."""

    def __init__(self, conn, outbox: Path):
        super().__init__(conn)
        self.outbox = outbox
        self.sent_recorded: list[str] = []

    def begin(self, letter, message_id, message, outcomes=()):
        self._check(outcomes)
        super().begin(letter, message_id, message, outcomes)

    def finish(self, key, status, detail=""):
        if status == SENT:
            self._check([_Sent(key, detail)])
        super().finish(key, status, detail)

    def _check(self, outcomes) -> None:
        for outcome in outcomes:
            # The transport's detail is the path of the written file.
            assert Path(outcome.detail).is_file(), outcome
            self.sent_recorded.append(outcome.key)


class _Sent:
    def __init__(self, key: str, detail: str):
        self.key = key
        self.detail = detail


class FailingOutbox(OutboxTransport):
    """Outbox whose `fail_at`-th write fails as a full disk would."""

    def __init__(self, outbox: Path, fail_at: int):
        super().__init__(outbox)
        self.fail_at = fail_at
        self.calls = 0
        self.threads: set[str] = set()

    def send(self, raw: bytes, name: str) -> SendResult:
        self.calls += 1
        self.threads.add(threading.current_thread().name)
        if self.calls == self.fail_at:
            return SendResult(DEFERRED, "cannot write: No space left on device")
        return super().send(raw, name)


def planned(db: Path):
    rules = make_rules()
    ledger = ledger_for(CUSTOMERS, ORDERS)
    sent = send_ledger(db)
    customers = {c.customer_id: c for c in CUSTOMERS}
    letters, findings = plan_reminders(rules, ledger, customers, AS_OF, sent)
    assert findings == []
    renderer = LetterRenderer(templates_dir(), rules)
    sent.conn.close()
    return [(letter, renderer.render(letter)) for letter in letters]


def statuses(db: Path) -> Counter:
    rows = open_state(db).execute("SELECT status FROM mail_letters").fetchall()
    return Counter(row[0] for row in rows)


def test_outbox_records_every_letter_sent(tmp_path):
    db, outbox = tmp_path / "state.sqlite", tmp_path / "outbox"
    messages = planned(db)
    ledger = CheckingLedger(open_state(db), outbox)
    report = deliver(messages, OutboxTransport(outbox), ledger)
    assert len(messages) == 4
    assert report.sent == [letter for letter, _ in messages]
    assert sorted(ledger.sent_recorded) == sorted(l.key for l, _ in messages)
    assert statuses(db) == Counter({SENT: 4})
    assert len(list(outbox.glob("*.eml"))) == 4


def test_outbox_writes_in_worker_thread(tmp_path):
    db, outbox = tmp_path / "state.sqlite", tmp_path / "outbox"
    transport = FailingOutbox(outbox, fail_at=0)
    deliver(planned(db), transport, send_ledger(db))
    assert transport.calls == 4
    assert threading.current_thread().name not in transport.threads


def test_outbox_failure_queues_the_rest(tmp_path):
    db, outbox = tmp_path / "state.sqlite", tmp_path / "outbox"
    messages = planned(db)
    ledger = CheckingLedger(open_state(db), outbox)
    report = deliver(messages, FailingOutbox(outbox, fail_at=2), ledger)
    assert report.sent == [messages[0][0]]
    assert report.deferred == [letter for letter, _ in messages[1:]]
    assert [f.code for f in report.findings] == ["smtp-unreachable"]
    # The letter recorded "sending" while the failing write was in flight is queued.
    assert statuses(db) == Counter({SENT: 1, QUEUED: 2})
    assert len(list(outbox.glob("*.eml"))) == 1


def test_outbox_next_run_sends_queued_once(tmp_path):
    db, outbox = tmp_path / "state.sqlite", tmp_path / "outbox"
    deliver(planned(db), FailingOutbox(outbox, fail_at=2), send_ledger(db))
    report = deliver(planned(db), OutboxTransport(outbox), send_ledger(db))
    assert len(report.sent) == 3
    assert statuses(db) == Counter({SENT: 4})
    assert len(list(outbox.glob("*.eml"))) == 4


def test_outbox_same_letter_twice_written_once(tmp_path):
    db, outbox = tmp_path / "state.sqlite", tmp_path / "outbox"
    messages = planned(db)
    transport = FailingOutbox(outbox, fail_at=0)
    report = deliver(messages + messages[:1], transport, send_ledger(db))
    assert transport.calls == 4
    assert report.already_sent == [messages[0][0]]
