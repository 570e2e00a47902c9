"""Delivery to the outbox folder: files staged in worker threads, then published.

A batch of letters is staged (written under a hidden name and synced), recorded
"sending" in one transaction and published (renamed into place). After a crash, a
letter whose staged file is still there was never handed over and is sent again.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from pathlib import Path

import pytest
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
from engine.mail.delivery import OUTBOX_BATCH, file_stem
from engine.mail.ledger import SENDING, SENT, UNCERTAIN, SendLedger
from engine.mail.letter import Letter
from engine.mail.transport import DEFERRED, OutboxTransport, SendResult
from engine.state import open_state


def customers_and_orders(count: int):
    customers = [
        customer(f"C{n:03d}", n + 2, email=f"c{n}@example.test")
        for n in range(1, count + 1)
    ]
    orders = [
        invoice(
            f"ORD-{n}",
            f"C{n:03d}",
            "100",
            AS_OF - dt.timedelta(days=20 * (1 + n % 4)),
            n + 2,
        )
        for n in range(1, count + 1)
    ]
    return customers, orders


class CheckingLedger(SendLedger):
    """Send ledger that checks each "sent" outcome against the outbox on disk."""

    def __init__(self, conn, outbox: Path):
        super().__init__(conn)
        self.outbox = outbox
        self.sent_recorded: list[str] = []
        self.batches: list[int] = []

    def begin_many(self, letters, outcomes=()):
        self._check(outcomes)
        self.batches.append(len(letters))
        super().begin_many(letters, outcomes)

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
    """Outbox whose staged write of one letter fails as a full disk would."""

    def __init__(self, outbox: Path, fail: Letter | None = None):
        super().__init__(outbox)
        self.fail = file_stem(fail) if fail is not None else None
        self.calls = 0
        self.threads: set[str] = set()
        self.lock = threading.Lock()

    def stage(self, raw: bytes, name: str) -> SendResult | None:
        with self.lock:
            self.calls += 1
            self.threads.add(threading.current_thread().name)
        if name == self.fail:
            return SendResult(DEFERRED, "cannot write: No space left on device")
        return super().stage(raw, name)


class Killed(BaseException):
    """Stands for a kill: no handler in the engine catches a BaseException."""


class KilledOutbox(OutboxTransport):
    """Outbox killed when it is about to publish letter number `published + 1`.

    The first `collected` of those published are taken away at once, as a program
    that collects the outbox would take them.
    """

    def __init__(self, outbox: Path, published: int, collected: int = 0):
        super().__init__(outbox)
        self.published_left = published
        self.collected_left = collected

    def publish(self, name: str) -> SendResult:
        if self.published_left == 0:
            raise Killed(name)
        self.published_left -= 1
        result = super().publish(name)
        if self.collected_left:
            self.collected_left -= 1
            Path(result.detail).unlink()
        return result


def planned(db: Path, count: int = 4):
    rules = make_rules()
    customer_rows, orders = customers_and_orders(count)
    ledger = ledger_for(customer_rows, orders)
    sent = send_ledger(db)
    customers = {c.customer_id: c for c in customer_rows}
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
    transport = FailingOutbox(outbox)
    deliver(planned(db), transport, send_ledger(db))
    assert transport.calls == 4
    assert threading.current_thread().name not in transport.threads


def test_outbox_failure_queues_the_rest(tmp_path):
    db, outbox = tmp_path / "state.sqlite", tmp_path / "outbox"
    messages = planned(db)
    ledger = CheckingLedger(open_state(db), outbox)
    report = deliver(messages, FailingOutbox(outbox, messages[1][0]), ledger)
    assert report.sent == [messages[0][0]]
    assert report.deferred == [letter for letter, _ in messages[1:]]
    assert [f.code for f in report.findings] == ["smtp-unreachable"]
    # Only the letter staged before the failed write was recorded. The others have
    # no entry, so the next run plans and sends them as new letters.
    assert statuses(db) == Counter({SENT: 1})
    assert len(list(outbox.glob("*.eml"))) == 1
    assert list(outbox.glob(".*")) == []


def test_outbox_next_run_sends_queued_once(tmp_path):
    db, outbox = tmp_path / "state.sqlite", tmp_path / "outbox"
    messages = planned(db)
    deliver(messages, FailingOutbox(outbox, messages[1][0]), send_ledger(db))
    report = deliver(planned(db), OutboxTransport(outbox), send_ledger(db))
    assert len(report.sent) == 3
    assert statuses(db) == Counter({SENT: 4})
    assert len(list(outbox.glob("*.eml"))) == 4


def test_outbox_same_letter_twice_written_once(tmp_path):
    db, outbox = tmp_path / "state.sqlite", tmp_path / "outbox"
    messages = planned(db)
    transport = FailingOutbox(outbox)
    report = deliver(messages + messages[:1], transport, send_ledger(db))
    assert transport.calls == 4
    assert report.already_sent == [messages[0][0]]


def test_outbox_records_letters_in_batches(tmp_path):
    db, outbox = tmp_path / "state.sqlite", tmp_path / "outbox"
    messages = planned(db, count=OUTBOX_BATCH * 2 + 3)
    ledger = CheckingLedger(open_state(db), outbox)
    report = deliver(messages, OutboxTransport(outbox), ledger)
    assert len(report.sent) == len(messages)
    assert ledger.batches == [OUTBOX_BATCH, OUTBOX_BATCH, 3]
    assert statuses(db) == Counter({SENT: len(messages)})
    assert len(list(outbox.glob("*.eml"))) == len(messages)
    assert list(outbox.glob(".*")) == []


def test_outbox_crash_before_publish_sends_once(tmp_path):
    """Letters staged but not published when the run is killed go out on restart."""
    db, outbox = tmp_path / "state.sqlite", tmp_path / "outbox"
    messages = planned(db, count=OUTBOX_BATCH + 4)
    with pytest.raises(Killed):
        deliver(messages, KilledOutbox(outbox, published=5), send_ledger(db))
    assert len(list(outbox.glob("*.eml"))) == 5
    assert statuses(db) == Counter({SENT: 5, SENDING: OUTBOX_BATCH - 5})

    report = deliver(messages, OutboxTransport(outbox), send_ledger(db))

    assert report.uncertain == []
    assert len(report.sent) == len(messages) - 5
    assert len(report.already_sent) == 5
    assert statuses(db) == Counter({SENT: len(messages)})
    names = sorted(path.name for path in outbox.glob("*.eml"))
    assert len(names) == len(messages)
    assert list(outbox.glob(".*")) == []


def test_outbox_collected_file_uncertain_after_crash(tmp_path):
    """A published file taken away before the run recorded it is not sent again."""
    db, outbox = tmp_path / "state.sqlite", tmp_path / "outbox"
    messages = planned(db, count=6)
    transport = KilledOutbox(outbox, published=3, collected=3)
    with pytest.raises(Killed):
        deliver(messages, transport, UnrecordedLedger(open_state(db)))
    assert list(outbox.glob("*.eml")) == []

    report = deliver(messages, OutboxTransport(outbox), send_ledger(db))

    assert len(report.uncertain) == 3
    assert len(report.sent) == 3
    assert statuses(db) == Counter({UNCERTAIN: 3, SENT: 3})
    assert len(list(outbox.glob("*.eml"))) == 3


class UnrecordedLedger(SendLedger):
    """Send ledger of a run killed at once: no "sent" outcome reaches the database."""

    def finish(self, key, status, detail=""):
        if status != SENT:
            super().finish(key, status, detail)
