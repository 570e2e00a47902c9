"""Outbox letters after a kill, with the next pass planning its letters afresh.

A pass settles the letters an interrupted pass left "sending" before it plans its
own, because planning skips letters recorded "sending". A letter that was staged
but never published is then planned and sent by that same pass.
"""

from __future__ import annotations

from collections import Counter

import pytest
from test_mail_outbox import Killed, KilledOutbox, planned, statuses

from engine.mail import deliver
from engine.mail.delivery import OUTBOX_BATCH, settle_interrupted
from engine.mail.ledger import SENDING, SENT
from engine.mail.transport import OutboxTransport
from mail_factories import send_ledger


def test_staged_letters_sent_by_next_pass(tmp_path):
    db, outbox = tmp_path / "state.sqlite", tmp_path / "outbox"
    messages = planned(db, count=OUTBOX_BATCH + 4)
    with pytest.raises(Killed):
        deliver(messages, KilledOutbox(outbox, published=5), send_ledger(db))
    assert statuses(db) == Counter({SENT: 5, SENDING: OUTBOX_BATCH - 5})

    uncertain = settle_interrupted(send_ledger(db), OutboxTransport(outbox))
    replanned = planned(db, count=OUTBOX_BATCH + 4)
    deliver(replanned, OutboxTransport(outbox), send_ledger(db))

    assert uncertain == []
    assert statuses(db) == Counter({SENT: len(messages)})
    assert len(list(outbox.glob("*.eml"))) == len(messages)
    assert list(outbox.glob(".*")) == []
