"""Reminder planning: levels, quiet days, repeat intervals, promises, thank-you notes."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from mail_factories import (
    AS_OF,
    customer,
    invoice,
    ledger_for,
    levels,
    make_rules,
    memory_send_ledger,
    payment,
)

from engine.mail import plan_reminders, plan_salesperson_notices, plan_thank_you_notes
from engine.mail.ledger import SENT
from engine.mail.plan import collect_promised_dates, level_for, today_in

C1 = customer("C001", 2)
CUSTOMERS = {"C001": C1}


def plan(
    orders, as_of, sent, rules=None, payments=(), promised=None, customers=CUSTOMERS
):
    ledger = ledger_for(customers.values(), orders, payments, as_of=as_of)
    return plan_reminders(
        rules or make_rules(), ledger, customers, as_of, sent, promised=promised
    )


def record(sent, letters):
    """Record letters as sent, as a delivery would."""
    for letter in letters:
        sent.begin(letter, letter.message_id("x@agency.test"), b"")
        sent.finish(letter.key, SENT)


def test_level_ranges():
    assert level_for(levels(), 6) is None
    assert level_for(levels(), 7).level == 1
    assert level_for(levels(), 21).level == 2
    assert level_for(levels(), 400).level == 3


def test_one_letter_per_customer_at_highest_level():
    orders = [
        invoice("O1", "C001", "100", AS_OF - dt.timedelta(days=10), 2),
        invoice("O2", "C001", "200", AS_OF - dt.timedelta(days=50), 3),
    ]
    letters, findings = plan(orders, AS_OF, memory_send_ledger())
    assert findings == []
    (letter,) = letters
    assert letter.level == 3
    assert letter.template == "reminder_level3"
    assert [(i.item_id, i.level) for i in letter.items] == [
        ("INV-O2", 3),
        ("INV-O1", 1),
    ]
    assert letter.cc == ("finance@agency.test",)


def test_same_level_not_repeated_without_interval():
    orders = [invoice("O1", "C001", "100", AS_OF - dt.timedelta(days=10), 2)]
    sent = memory_send_ledger()
    letters, _ = plan(orders, AS_OF, sent)
    record(sent, letters)
    for days in (0, 1, 8, 10, 11):
        later = AS_OF + dt.timedelta(days=days)
        again, _ = plan(orders, later, sent)
        # On day 11 the item reaches level 2 (21 days overdue), after the 7 quiet days.
        assert len(again) == (1 if days == 11 else 0), days


def test_repeat_interval_per_level():
    rules = make_rules(dunning_levels=levels(repeat=5), quiet_days=0)
    orders = [invoice("O1", "C001", "100", AS_OF - dt.timedelta(days=50), 2)]
    sent = memory_send_ledger()
    letters, _ = plan(orders, AS_OF, sent, rules)
    record(sent, letters)
    assert plan(orders, AS_OF + dt.timedelta(days=4), sent, rules)[0] == []
    assert len(plan(orders, AS_OF + dt.timedelta(days=5), sent, rules)[0]) == 1


def test_quiet_days_override_levels():
    rules = make_rules(quiet_days=14)
    orders = [invoice("O1", "C001", "100", AS_OF - dt.timedelta(days=7), 2)]
    sent = memory_send_ledger()
    letters, _ = plan(orders, AS_OF, sent, rules)
    record(sent, letters)
    # Day +14: the item reached level 2 on day +14 (21 days); quiet days end on day +14.
    new_order = invoice("O2", "C001", "50", AS_OF - dt.timedelta(days=60), 3)
    assert (
        plan(orders + [new_order], AS_OF + dt.timedelta(days=13), sent, rules)[0] == []
    )
    (letter,) = plan(orders + [new_order], AS_OF + dt.timedelta(days=14), sent, rules)[
        0
    ]
    assert letter.level == 3


def test_promise_pauses_until_grace_then_resumes():
    order = invoice(
        "O1",
        "C001",
        "100",
        AS_OF - dt.timedelta(days=10),
        2,
        promised_date=AS_OF + dt.timedelta(days=10),
    )
    sent = memory_send_ledger()
    # Paused through the promised date plus 3 grace days.
    for days in (0, 10, 13):
        assert plan([order], AS_OF + dt.timedelta(days=days), sent)[0] == [], days
    (letter,) = plan([order], AS_OF + dt.timedelta(days=14), sent)[0]
    # It resumes at the level reached meanwhile: 24 days overdue is level 2.
    assert letter.level == 2
    assert letter.items[0].days_overdue == 24


def test_promise_from_payments_sheet():
    order = invoice("O1", "C001", "100", AS_OF - dt.timedelta(days=10), 2)
    promise = payment(
        "P1",
        "C001",
        "0",
        AS_OF,
        "INV-O1",
        2,
        promised_date=AS_OF + dt.timedelta(days=2),
    )
    promised = collect_promised_dates([order], [promise])
    assert promised == {"INV-O1": AS_OF + dt.timedelta(days=2)}
    assert plan([order], AS_OF, memory_send_ledger(), promised=promised)[0] == []


def test_partial_payment_leaves_open_amount():
    order = invoice("O1", "C001", "2000", AS_OF - dt.timedelta(days=10), 2)
    paid = payment("P1", "C001", "500", AS_OF - dt.timedelta(days=5), "INV-O1", 2)
    (letter,) = plan([order], AS_OF, memory_send_ledger(), payments=[paid])[0]
    assert letter.items[0].open_amount == Decimal(1500)
    assert letter.items[0].amount == Decimal(2000)


def test_foreign_currency_item_in_its_currency():
    yen = customer("C002", 3, currency="JPY", language="ja")
    order = invoice(
        "O1", "C002", "250000", AS_OF - dt.timedelta(days=10), 2, currency="JPY"
    )
    (letter,) = plan([order], AS_OF, memory_send_ledger(), customers={"C002": yen})[0]
    assert (letter.items[0].open_amount, letter.items[0].currency) == (
        Decimal(250000),
        "JPY",
    )


def test_missing_email_reported():
    no_mail = customer("C009", 7, email=None)
    order = invoice("O1", "C009", "100", AS_OF - dt.timedelta(days=10), 2)
    letters, findings = plan(
        [order], AS_OF, memory_send_ledger(), customers={"C009": no_mail}
    )
    assert letters == []
    assert str(findings[0]) == (
        "customers.xlsx › Customers › row 7: customer C009 has no e-mail address, so the "
        "reminder cannot be sent to them. Enter the address in the Email column."
    )


def test_held_customer_not_reported_missing():
    order = invoice("O1", "C001", "100", AS_OF - dt.timedelta(days=10), 2)
    ledger = ledger_for([C1], [order], (), as_of=AS_OF)
    sent = memory_send_ledger()

    unknown = plan_reminders(make_rules(), ledger, {}, AS_OF, sent)
    held = plan_reminders(make_rules(), ledger, {}, AS_OF, sent, held={"C001"})

    assert unknown[0] == []
    assert [finding.code for finding in unknown[1]] == ["mail-unknown-customer"]
    assert held == ([], [])


def test_thank_you_after_everything_paid():
    rules = make_rules(send_thank_you=True)
    order = invoice("O1", "C001", "100", AS_OF - dt.timedelta(days=10), 2)
    sent = memory_send_ledger()
    letters, _ = plan([order], AS_OF, sent, rules)
    record(sent, letters)
    later = AS_OF + dt.timedelta(days=3)
    still_open = ledger_for([C1], [order], as_of=later)
    assert plan_thank_you_notes(rules, still_open, CUSTOMERS, later, sent) == []

    paid = payment("P1", "C001", "100", later, "INV-O1", 2)
    settled = ledger_for([C1], [order], [paid], as_of=later)
    (note,) = plan_thank_you_notes(rules, settled, CUSTOMERS, later, sent)
    assert note.template == "thank_you"
    record(sent, [note])
    assert (
        plan_thank_you_notes(
            rules, settled, CUSTOMERS, later + dt.timedelta(days=1), sent
        )
        == []
    )
    assert (
        plan_thank_you_notes(
            make_rules(), settled, CUSTOMERS, later, memory_send_ledger()
        )
        == []
    )


@dataclass
class Decision:
    order_id: str
    status: str
    warning: str | None
    reason: str
    customer_id: str
    salesperson: str | None


def test_salesperson_notice_once_per_outcome():
    rules = make_rules()
    decisions = [
        Decision(
            "ORD-1006",
            "BLOCKED",
            None,
            "limit 10,000 EUR exceeded by 2,000 EUR",
            "C001",
            "S01",
        ),
        Decision("ORD-1005", "APPROVED", "85 % of credit limit", "", "C001", "S01"),
        Decision("ORD-1007", "APPROVED", None, "", "C001", "S01"),
        Decision("ORD-2001", "BLOCKED", None, "overdue", "C001", "S09"),
    ]
    sent = memory_send_ledger()
    letters, findings = plan_salesperson_notices(
        rules, decisions, CUSTOMERS, AS_OF, sent
    )
    (notice,) = letters
    assert notice.to == ("s01@agency.test",)
    assert [d["order_id"] for d in notice.context["decisions"]] == [
        "ORD-1006",
        "ORD-1005",
    ]
    assert findings[0].code == "mail-no-salesperson-address"
    record(sent, letters)
    assert (
        plan_salesperson_notices(
            rules, decisions, CUSTOMERS, AS_OF + dt.timedelta(days=1), sent
        )[0]
        == []
    )


def test_today_in_agency_time_zone():
    rules = make_rules(timezone="Pacific/Auckland")
    late_utc = dt.datetime(2024, 6, 29, 20, 0, tzinfo=dt.UTC)
    assert today_in(rules, late_utc) == dt.date(2024, 6, 30)
    assert today_in(
        dataclasses.replace(rules, timezone="America/New_York"), late_utc
    ) == dt.date(2024, 6, 29)


def test_paid_top_item_lowers_level(tmp_path):
    from mail_factories import templates_dir

    from engine.mail import LetterRenderer, deliver
    from engine.mail.plan import replan_reminder
    from engine.mail.transport import OutboxTransport

    orders = [
        invoice("O1", "C001", "100", AS_OF - dt.timedelta(days=10), 2),
        invoice("O2", "C001", "200", AS_OF - dt.timedelta(days=50), 3),
    ]
    rules = make_rules()
    sent = memory_send_ledger()
    (planned,), _ = plan(orders, AS_OF, sent, rules=rules)
    assert (planned.level, planned.template) == (3, "reminder_level3")
    assert planned.cc == ("finance@agency.test",)
    renderer = LetterRenderer(templates_dir(), rules)

    def recheck(letter):
        # INV-O2 (level 3) was paid after planning.
        items = tuple(item for item in letter.items if item.item_id != "INV-O2")
        return replan_reminder(letter, items, rules)

    report = deliver(
        [(planned, renderer.render(planned))],
        OutboxTransport(tmp_path / "outbox"),
        sent,
        recheck=recheck,
        render=renderer.render,
    )
    (letter,) = report.sent
    assert letter.level == 1
    assert letter.template == "reminder_level1"
    assert letter.context["level_name"] == "friendly"
    assert letter.cc == ()
    assert [item.item_id for item in letter.items] == ["INV-O1"]
    assert sent.entry(letter.key).level == 1
    assert sent.entry(planned.key) is None
    raw = sent.message_bytes(letter.key).decode("ascii")
    assert "Subject: Payment reminder" in raw
    assert "finance@agency.test" not in raw


def test_replan_keeps_level_of_remaining_top():
    from engine.mail.plan import replan_reminder

    orders = [
        invoice("O1", "C001", "100", AS_OF - dt.timedelta(days=10), 2),
        invoice("O2", "C001", "200", AS_OF - dt.timedelta(days=50), 3),
        invoice("O3", "C001", "300", AS_OF - dt.timedelta(days=25), 4),
    ]
    rules = make_rules()
    (planned,), _ = plan(orders, AS_OF, memory_send_ledger(), rules=rules)
    items = tuple(item for item in planned.items if item.item_id != "INV-O2")
    letter = replan_reminder(planned, items, rules)
    assert (letter.level, letter.template) == (2, "reminder_level2")
    assert letter.cc == ("s01@agency.test",)
    assert letter.to == planned.to
