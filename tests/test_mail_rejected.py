"""Letters rejected with 5xx: recorded failed, retried only after a change."""

from __future__ import annotations

import dataclasses
import datetime as dt

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
from smtp_servers import SmtpServer
from test_mail_smtp import settings

from engine.mail import LetterRenderer, SmtpTransport, deliver, plan_reminders
from engine.mail.digest import DigestData, build_manager_digest

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

BAD = customer("C001", 2, email="no-such-user@example.test")
ORDERS = [
    invoice(
        "ORD-1001", "C001", "4000", dt.date(2024, 6, 10), 2, invoice_id="INV-2024-017"
    )
]


def one_pass(db, server, customer_row=BAD, as_of=AS_OF):
    rules = make_rules()
    sent = send_ledger(db)
    ledger = ledger_for([customer_row], ORDERS, as_of=as_of)
    letters, findings = plan_reminders(
        rules, ledger, {customer_row.customer_id: customer_row}, as_of, sent
    )
    assert findings == []
    renderer = LetterRenderer(templates_dir(), rules)
    messages = [(letter, renderer.render(letter)) for letter in letters]
    report = deliver(messages, SmtpTransport(settings(server)), sent)
    sent.conn.close()
    return report


def test_refused_address_not_already_sent(tmp_path):
    db = tmp_path / "state.sqlite"
    with SmtpServer("reject_rcpt", reject=(BAD.email,)) as server:
        first = one_pass(db, server)
        again = one_pass(db, server)
        assert server.received == []
    assert [letter.recipient_id for letter in first.failed] == ["C001"]
    assert [finding.code for finding in first.findings] == ["smtp-rejected"]
    assert "550" in first.findings[0].message
    assert again.already_sent == []
    assert again.sent == []
    assert len(again.not_retried) == 1
    [finding] = again.findings
    assert finding.code == "mail-rejected-not-retried"
    assert finding.where.startswith("customer C001 (customers.xlsx")
    assert "rejected it on 2024-06-30" in finding.message
    assert "Correct the e-mail address" in finding.fix


def test_refused_address_not_retried_next_day(tmp_path):
    db = tmp_path / "state.sqlite"
    with SmtpServer("reject_rcpt", reject=(BAD.email,)) as server:
        one_pass(db, server)
        later = one_pass(db, server, as_of=AS_OF + dt.timedelta(days=1))
        rcpt_attempts = len(server.handler.mail_options)
    assert later.sent == []
    assert len(later.not_retried) == 1
    assert rcpt_attempts == 1


def test_corrected_address_sent_same_day(tmp_path):
    db = tmp_path / "state.sqlite"
    fixed = dataclasses.replace(BAD, email="c001@example.test")
    with SmtpServer("reject_rcpt", reject=(BAD.email,)) as server:
        one_pass(db, server)
        report = one_pass(db, server, customer_row=fixed)
        recipients = [item.recipients for item in server.received]
    assert len(report.sent) == 1
    assert report.not_retried == []
    assert recipients == [["c001@example.test"]]


def test_refused_message_retried_next_day(tmp_path):
    db = tmp_path / "state.sqlite"
    with SmtpServer("reject_data") as server:
        first = one_pass(db, server)
        same_day = one_pass(db, server)
        next_day = one_pass(db, server, as_of=AS_OF + dt.timedelta(days=1))
        attempts = len(server.handler.mail_options)
    assert "554" in first.findings[0].message
    assert "DATA refused" in first.findings[0].message
    assert len(same_day.not_retried) == 1
    assert "a letter planned on a later day is tried again" in same_day.findings[0].fix
    assert [letter.recipient_id for letter in next_day.failed] == ["C001"]
    assert attempts == 2


def test_rejection_listed_in_digest(tmp_path):
    rules = make_rules()
    with SmtpServer("reject_rcpt") as server:
        report = one_pass(tmp_path / "state.sqlite", server)
    data = DigestData(
        as_of=AS_OF,
        base_currency="EUR",
        decisions=[],
        ledger=ledger_for([BAD], ORDERS),
        customers={"C001": BAD},
        failures=list(report.findings),
    )
    _, message = build_manager_digest(
        data, rules, LetterRenderer(templates_dir(), rules)
    )
    text = message.get_body(("plain",)).get_content()
    failures = text[text.index("Failures (1)") :]
    assert "customer C001" in failures
    assert "550 5.1.1 mailbox unavailable" in failures


def test_partly_refused_recipients_warned(tmp_path):
    with SmtpServer("reject_rcpt", reject=(BAD.email,)) as server:
        report = one_pass(
            tmp_path / "state.sqlite", server, as_of=AS_OF + dt.timedelta(days=1)
        )
        recipients = [item.recipients for item in server.received]
    assert recipients == [["s01@agency.test"]]
    assert len(report.sent) == 1
    [finding] = report.findings
    assert finding.code == "smtp-recipient-refused"
    assert f"{BAD.email}: 550 5.1.1 mailbox unavailable" in finding.message
