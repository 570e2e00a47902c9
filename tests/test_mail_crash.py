"""Kill the sender at random steps, restart, and count what the server received.

Each trial forks a child that plans, renders and delivers a few letters over SMTP and
dies at a chosen step (os._exit from a hook around the send ledger and transport), or
is killed with SIGKILL after a random delay. The parent then runs the same pass again
as a restarted service would. No letter may reach the server twice, and every letter
the server does not have must be reported as uncertain or delivered by the restart.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import signal
import time
from collections import Counter

import pytest
from mail_factories import (
    AS_OF,
    customer,
    invoice,
    ledger_for,
    make_rules,
    templates_dir,
)
from smtp_servers import SmtpServer

from engine.mail import (
    LetterRenderer,
    SendLedger,
    SmtpSettings,
    SmtpTransport,
    deliver,
    plan_reminders,
)
from engine.mail.ledger import SENT, UNCERTAIN
from engine.state import open_state

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork"),
]

TRIALS = 100
RULES = make_rules()
# One renderer for every trial: forked children inherit its compiled templates.
RENDERER = LetterRenderer(templates_dir(), RULES)


class Crash:
    """Count steps of a delivery and end the process at step `at`."""

    def __init__(self, at: int):
        self.at = at
        self.step = 0

    def __call__(self) -> None:
        self.step += 1
        if self.step == self.at:
            os._exit(137)


class CrashingLedger(SendLedger):
    def __init__(self, conn, crash: Crash):
        super().__init__(conn)
        self.crash = crash

    def begin_many(self, *args, **kwargs):
        self.crash()
        super().begin_many(*args, **kwargs)
        self.crash()

    def finish(self, *args, **kwargs):
        super().finish(*args, **kwargs)
        self.crash()


class CrashingTransport(SmtpTransport):
    def __init__(self, settings, crash: Crash):
        super().__init__(settings)
        self.crash = crash

    def send(self, raw, name):
        result = super().send(raw, name)
        self.crash()
        return result


def trial_data(trial: int, count: int):
    customers = [
        customer(f"T{trial}C{n}", n + 2, email=f"t{trial}c{n}@example.test")
        for n in range(count)
    ]
    orders = [
        invoice(
            f"T{trial}O{n}",
            f"T{trial}C{n}",
            "100",
            AS_OF - dt.timedelta(days=10 + 20 * n),
            n + 2,
        )
        for n in range(count)
    ]
    return {c.customer_id: c for c in customers}, ledger_for(customers, orders)


def run_pass(db, port, customers, ledger, crash: Crash | None):
    rules = RULES
    conn = open_state(db)
    sent = CrashingLedger(conn, crash) if crash else SendLedger(conn)
    settings = SmtpSettings(
        host="127.0.0.1", port=port, user=None, starttls=False, timeout=2
    )
    transport = CrashingTransport(settings, crash) if crash else SmtpTransport(settings)
    letters, _ = plan_reminders(rules, ledger, customers, AS_OF, sent)
    report = deliver([(l, RENDERER.render(l)) for l in letters], transport, sent)
    return letters, report, sent


def run_child(db, port, customers, ledger, crash: Crash | None) -> int:
    pid = os.fork()
    if pid == 0:
        try:
            run_pass(db, port, customers, ledger, crash)
        finally:
            os._exit(0)
    return pid


def test_killed_sender_never_duplicates(tmp_path):
    rng = random.Random(20240630)
    outcomes = Counter()
    started = time.monotonic()
    with SmtpServer("ok") as server:
        for trial in range(TRIALS):
            db = tmp_path / f"trial{trial}.sqlite"
            count = rng.randint(1, 4)
            customers, ledger = trial_data(trial, count)
            if trial % 5 == 0:
                pid = run_child(db, server.port, customers, ledger, None)
                time.sleep(rng.uniform(0, 0.15))
                os.kill(pid, signal.SIGKILL)
            else:
                # 4 steps per letter: before and after "sending", after the send, after "sent".
                pid = run_child(
                    db, server.port, customers, ledger, Crash(rng.randint(1, 4 * count))
                )
            os.waitpid(pid, 0)

            letters, report, sent = run_pass(db, server.port, customers, ledger, None)
            prefix = f"t{trial}c"
            received = Counter(
                r.message_id
                for r in list(server.received)
                if r.recipients[0].startswith(prefix)
            )
            assert all(copies == 1 for copies in received.values()), (trial, received)

            rows = sent.conn.execute(
                "SELECT message_id, status FROM mail_letters"
            ).fetchall()
            status_by_id = {row[0]: row[1] for row in rows}
            assert len(status_by_id) == count, (trial, status_by_id)
            reported = {entry.message_id for entry in report.uncertain}
            for message_id, status in status_by_id.items():
                outcomes[status] += 1
                if status == SENT:
                    assert received[message_id] == 1, (trial, message_id)
                else:
                    assert status == UNCERTAIN, (trial, status)
                    if received[message_id] == 0:
                        outcomes["uncertain, not received"] += 1
            # Letters left "sending" by the crash are reported by the restart.
            assert reported <= {m for m, s in status_by_id.items() if s == UNCERTAIN}
            sent.conn.close()
    assert outcomes[SENT] > 0
    assert outcomes[UNCERTAIN] > 0
    assert time.monotonic() - started < 60
