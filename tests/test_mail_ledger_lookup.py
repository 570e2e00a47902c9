"""The bulk send-ledger lookup returns the send ledger's own results."""

from __future__ import annotations

import datetime as dt
import itertools
import random
from decimal import Decimal

from engine.mail.ledger import FAILED, QUEUED, SENDING, SENT, UNCERTAIN
from engine.mail.ledger_lookup import LedgerLookup
from engine.mail.letter import NOTICE, REMINDER, THANK_YOU, Letter, LetterItem
from mail_factories import AS_OF, memory_send_ledger

STATUSES = (SENDING, SENT, UNCERTAIN, QUEUED, FAILED)
KINDS = (REMINDER, THANK_YOU, NOTICE)
RECIPIENTS = [f"C{n}" for n in range(8)]
ITEMS = [f"INV-{n}" for n in range(10)]


def item(item_id: str, level: int) -> LetterItem:
    return LetterItem(
        item_id=item_id,
        order_id=item_id,
        due_date=None,
        amount=Decimal(1),
        open_amount=Decimal(1),
        currency="EUR",
        days_overdue=30,
        level=level,
    )


def filled_ledger():
    """Return a send ledger with 120 letters of random kind, status, day and items."""
    rng = random.Random(20240630)
    sent = memory_send_ledger()
    for number in range(120):
        level = rng.randint(1, 3)
        letter = Letter(
            kind=rng.choice(KINDS),
            template="reminder_level1",
            as_of=AS_OF - dt.timedelta(days=rng.randint(0, 90)),
            recipient_id=rng.choice(RECIPIENTS),
            to=("x@example.test",),
            language="en",
            level=level,
            items=tuple(
                item(item_id, rng.randint(1, 3))
                for item_id in rng.sample(ITEMS, rng.randint(0, 3))
            ),
            context={"number": number},
        )
        sent.begin(letter, letter.message_id("ar@agency.test"), b"")
        sent.finish(letter.key, rng.choice(STATUSES))
    return sent


def test_lookup_matches_ledger_when_loaded():
    sent = filled_ledger()
    lookup = LedgerLookup(sent)
    for kind in KINDS:
        lookup.load_letter_dates(kind, RECIPIENTS + ["unknown"])
        lookup.load_item_dates(kind, ITEMS + ["unknown"])
        lookup.load_sent_counts(kind, RECIPIENTS + ["unknown"], AS_OF)
    for recipient, kind in itertools.product(RECIPIENTS + ["unknown"], KINDS):
        assert lookup.last_letter_date(recipient, kind) == sent.last_letter_date(
            recipient, kind
        ), (recipient, kind)
        assert lookup.count_sent(recipient, kind, AS_OF) == sent.count_sent(
            recipient, kind, AS_OF
        ), (recipient, kind)
        for item_id, level in itertools.product(ITEMS, (None, 1, 2, 3, 4)):
            assert lookup.last_item_date(
                recipient, kind, item_id, level
            ) == sent.last_item_date(recipient, kind, item_id, level), (
                recipient,
                kind,
                item_id,
                level,
            )


def test_lookup_asks_ledger_when_not_loaded():
    sent = filled_ledger()
    lookup = LedgerLookup(sent)
    lookup.load_letter_dates(REMINDER, RECIPIENTS[:2])
    lookup.load_item_dates(REMINDER, ITEMS[:2])
    lookup.load_sent_counts(REMINDER, RECIPIENTS[:2], AS_OF)
    day = AS_OF - dt.timedelta(days=30)
    for recipient, kind in itertools.product(RECIPIENTS, KINDS):
        assert lookup.last_letter_date(recipient, kind) == sent.last_letter_date(
            recipient, kind
        )
        # Counts were read for AS_OF only, so another day queries the ledger.
        assert lookup.count_sent(recipient, kind, day) == sent.count_sent(
            recipient, kind, day
        )
        for item_id in ITEMS:
            assert lookup.last_item_date(recipient, kind, item_id) == (
                sent.last_item_date(recipient, kind, item_id)
            )


def test_lookup_reads_in_chunks():
    """More ids than one query takes are read in several queries."""
    sent = filled_ledger()
    lookup = LedgerLookup(sent)
    many = [f"X{n}" for n in range(1200)] + RECIPIENTS
    lookup.load_letter_dates(REMINDER, many)
    for recipient in RECIPIENTS:
        assert lookup.last_letter_date(recipient, REMINDER) == sent.last_letter_date(
            recipient, REMINDER
        )
    assert lookup.last_letter_date("X1199", REMINDER) is None
