"""Delivery over SMTP against a local aiosmtpd server in each failure mode."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections import Counter
from pathlib import Path

import keyring
import keyring.backend
import keyring.backends.fail
import pytest
from mail_factories import (
    AS_OF,
    customer,
    invoice,
    ledger_for,
    make_rules,
    payment,
    send_ledger,
    templates_dir,
)
from smtp_servers import SmtpServer

from engine.findings import EngineError
from engine.mail import (
    LetterRenderer,
    SmtpSettings,
    SmtpTransport,
    deliver,
    load_smtp_settings,
    make_transport,
    plan_reminders,
)
from engine.mail.ledger import SENT, UNCERTAIN
from engine.mail.transport import OutboxTransport

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

CUSTOMERS = [
    customer(
        "C001",
        2,
        name="Nordlicht Reisen GmbH",
        contact="Zoë Ångström-Müller",
        salutation="Sehr geehrte Frau",
        language="de",
    ),
    customer("C003", 3, name="Smith & Sons <Travel>", contact="Ólafur Þór Smith"),
    customer(
        "C004", 4, name="Blue Lagoon Trips", contact="Ana O'Neil", salesperson="S02"
    ),
]
ORDERS = [
    invoice(
        "ORD-1001", "C001", "4000", dt.date(2024, 6, 1), 2, invoice_id="INV-2024-017"
    ),
    invoice(
        "ORD-1003", "C003", "2000", dt.date(2024, 6, 20), 3, invoice_id="INV-2024-018"
    ),
    invoice(
        "ORD-1004", "C004", "1000", dt.date(2024, 5, 1), 4, invoice_id="INV-2024-019"
    ),
]
PAYMENTS = [payment("P1", "C003", "500", dt.date(2024, 6, 25), "INV-2024-018", 2)]


def settings(server: SmtpServer, **changes) -> SmtpSettings:
    base = SmtpSettings(
        host="127.0.0.1",
        port=server.port,
        user="buchhaltung@example.test",
        password="secret",
        starttls=False,
        timeout=0.5,
        backoff=0.01,
    )
    return dataclasses.replace(base, **changes)


def run_pass(db: Path, transport, *, payments=PAYMENTS, **options):
    """Plan, render and deliver one pass as the pipeline does; return the report."""
    rules = make_rules()
    ledger = ledger_for(CUSTOMERS, ORDERS, payments)
    sent = send_ledger(db)
    letters, findings = plan_reminders(
        rules, ledger, {c.customer_id: c for c in CUSTOMERS}, AS_OF, sent
    )
    assert findings == []
    renderer = LetterRenderer(templates_dir(), rules)
    messages = [(letter, renderer.render(letter)) for letter in letters]
    report = deliver(messages, transport, sent, render=renderer.render, **options)
    sent.conn.close()
    return letters, report


def statuses(db: Path) -> Counter:
    sent = send_ledger(db)
    return Counter(
        row[0] for row in sent.conn.execute("SELECT status FROM mail_letters")
    )


def test_ok_sends_each_once(tmp_path):
    db = tmp_path / "state.sqlite"
    with SmtpServer("ok") as server:
        letters, report = run_pass(db, SmtpTransport(settings(server)))
        assert len(letters) == 3
        assert len(report.sent) == 3
        assert sorted(server.handler.message_ids()) == sorted(
            letter.message_id("buchhaltung@example.test") for letter in letters
        )
        again, report = run_pass(db, SmtpTransport(settings(server)))
        assert again == []
        assert len(server.received) == 3
    assert statuses(db) == Counter({SENT: 3})


def test_open_amount_after_partial_payment(tmp_path):
    with SmtpServer("ok") as server:
        run_pass(tmp_path / "state.sqlite", SmtpTransport(settings(server)))
        by_customer = {r.recipients[0]: r.message for r in server.received}
    text = by_customer["c003@example.test"].get_body(("plain",)).get_content()
    assert "open €1,500.00" in text


def test_same_letters_delivered_twice_send_once(tmp_path):
    db = tmp_path / "state.sqlite"
    rules = make_rules()
    renderer = LetterRenderer(templates_dir(), rules)
    sent = send_ledger(db)
    letters, _ = plan_reminders(
        rules,
        ledger_for(CUSTOMERS, ORDERS, PAYMENTS),
        {c.customer_id: c for c in CUSTOMERS},
        AS_OF,
        sent,
    )
    messages = [(letter, renderer.render(letter)) for letter in letters]
    with SmtpServer("ok") as server:
        deliver(messages, SmtpTransport(settings(server)), sent)
        report = deliver(messages, SmtpTransport(settings(server)), sent)
        assert len(report.already_sent) == 3
        assert len(server.received) == 3


@pytest.mark.parametrize("mode", ["drop_after_data", "timeout_after_data"])
def test_lost_reply_marks_uncertain(tmp_path, mode):
    db = tmp_path / "state.sqlite"
    with SmtpServer(mode, hold=2.0) as server:
        started = time.monotonic()
        letters, report = run_pass(db, SmtpTransport(settings(server)))
        assert time.monotonic() - started < 10
        assert len(report.uncertain) == 3
        assert report.sent == []
        # A restart (new connection to the same state) sends nothing again.
        again, report = run_pass(db, SmtpTransport(settings(server)))
        assert again == []
        ids = Counter(server.handler.message_ids())
    assert len(ids) == 3
    assert set(ids.values()) == {1}
    assert statuses(db) == Counter({UNCERTAIN: 3})


def test_uncertain_resent_once_when_configured(tmp_path):
    db = tmp_path / "state.sqlite"
    with SmtpServer("drop_after_data") as server:
        transport = SmtpTransport(settings(server, resend_uncertain=True))
        letters, report = run_pass(db, transport, resend_uncertain=True)
        assert len(report.resent) == 3
        run_pass(db, SmtpTransport(settings(server)), resend_uncertain=True)
        ids = Counter(server.handler.message_ids())
    assert len(ids) == 3
    assert set(ids.values()) == {2}


def test_drop_on_quit_counts_as_sent(tmp_path):
    db = tmp_path / "state.sqlite"
    with SmtpServer("drop_on_quit") as server:
        letters, report = run_pass(db, SmtpTransport(settings(server)))
        assert len(report.sent) == 3
        run_pass(db, SmtpTransport(settings(server)))
        assert len(server.received) == 3
    assert statuses(db) == Counter({SENT: 3})


def test_auth_failure_one_alert_letters_queued(tmp_path):
    db = tmp_path / "state.sqlite"
    with SmtpServer("auth_fail") as server:
        letters, report = run_pass(db, SmtpTransport(settings(server)))
        assert server.handler.connections == 1
        assert [str(f) for f in report.findings] == [
            f"SMTP: the mail server 127.0.0.1:{server.port} rejected the login of "
            "user buchhaltung@example.test: 535 5.7.8 Authentication credentials "
            "invalid. No letter was sent, and all stay queued. Correct "
            "ARREARS_SMTP_USER (or user in smtp.toml) or the password in "
            "ARREARS_SMTP_PASSWORD or the keyring. The next run sends the queued "
            "letters."
        ]
        assert len(report.deferred) == 3
        assert server.received == []
    assert SENT not in statuses(db)
    # With the credentials fixed, the next run sends all three.
    with SmtpServer("ok") as server:
        letters, report = run_pass(db, SmtpTransport(settings(server)))
        assert len(report.sent) == 3


def test_tempfail_retried_with_backoff(tmp_path):
    pauses = []
    with SmtpServer("tempfail_first") as server:
        transport = SmtpTransport(settings(server), sleep=pauses.append)
        letters, report = run_pass(tmp_path / "state.sqlite", transport)
        assert len(report.sent) == 3
        assert Counter(server.handler.message_ids()).most_common(1)[0][1] == 1
        assert server.handler.connections == 2
    assert pauses == [0.01]


def test_unreachable_server_defers_in_finite_time(tmp_path):
    with SmtpServer("ok") as server:
        port = server.port
    started = time.monotonic()
    dead = SmtpSettings(
        host="127.0.0.1", port=port, starttls=False, timeout=0.5, backoff=0.01
    )
    letters, report = run_pass(tmp_path / "state.sqlite", SmtpTransport(dead))
    assert time.monotonic() - started < 5
    assert len(report.deferred) == 3
    assert report.findings[0].code == "smtp-unreachable"


def test_paid_since_pass_began_dropped(tmp_path):
    db = tmp_path / "state.sqlite"
    paid = {"INV-2024-017"}

    def recheck(letter):
        items = tuple(item for item in letter.items if item.item_id not in paid)
        return letter.with_items(items) if items else None

    with SmtpServer("ok") as server:
        letters, report = run_pass(db, SmtpTransport(settings(server)), recheck=recheck)
        assert [letter.recipient_id for letter in report.dropped] == ["C001"]
        assert len(report.sent) == 2
        assert {r.recipients[0] for r in server.received} == {
            "c003@example.test",
            "c004@example.test",
        }


def test_partly_paid_letter_rerendered(tmp_path):
    orders = ORDERS + [
        invoice(
            "ORD-1009", "C004", "300", dt.date(2024, 5, 2), 9, invoice_id="INV-2024-099"
        )
    ]
    rules = make_rules()
    sent = send_ledger(tmp_path / "state.sqlite")
    letters, _ = plan_reminders(
        rules,
        ledger_for(CUSTOMERS, orders),
        {c.customer_id: c for c in CUSTOMERS},
        AS_OF,
        sent,
    )
    renderer = LetterRenderer(templates_dir(), rules)
    messages = [(l, renderer.render(l)) for l in letters if l.recipient_id == "C004"]
    assert len(messages[0][0].items) == 2

    def recheck(letter):
        return letter.with_items(
            tuple(i for i in letter.items if i.item_id != "INV-2024-099")
        )

    with SmtpServer("ok") as server:
        report = deliver(
            messages,
            SmtpTransport(settings(server)),
            sent,
            recheck=recheck,
            render=renderer.render,
        )
        text = server.received[0].message.get_body(("plain",)).get_content()
    assert len(report.sent) == 1
    assert "INV-2024-019" in text
    assert "INV-2024-099" not in text


def test_outbox_file_names(tmp_path):
    letters, report = run_pass(
        tmp_path / "state.sqlite", OutboxTransport(tmp_path / "outbox")
    )
    names = sorted(path.name for path in (tmp_path / "outbox").iterdir())
    keys = {letter.recipient_id: letter.key[:8] for letter in letters}
    assert names == sorted(
        [
            f"2024-06-30_reminder-L2_C001_{keys['C001']}.eml",
            f"2024-06-30_reminder-L1_C003_{keys['C003']}.eml",
            f"2024-06-30_reminder-L3_C004_{keys['C004']}.eml",
        ]
    )


# Settings


def test_not_configured_uses_outbox(tmp_path):
    assert load_smtp_settings({}, tmp_path / "smtp.toml") is None
    assert isinstance(make_transport(tmp_path / "outbox", None), OutboxTransport)


def test_settings_from_env():
    loaded = load_smtp_settings(
        {
            "ARREARS_SMTP_HOST": "127.0.0.1",
            "ARREARS_SMTP_PORT": "2525",
            "ARREARS_SMTP_USER": "u@example.test",
            "ARREARS_SMTP_PASSWORD": "pw",
            "ARREARS_SMTP_STARTTLS": "no",
        },
        None,
    )
    assert (
        loaded.host,
        loaded.port,
        loaded.user,
        loaded.password,
        loaded.starttls,
    ) == ("127.0.0.1", 2525, "u@example.test", "pw", False)
    assert "pw" not in repr(loaded)


def test_settings_from_toml(tmp_path):
    config = tmp_path / "smtp.toml"
    config.write_text(
        '[smtp]\nhost = "127.0.0.1"\nport = 465\nssl = true\n', encoding="utf-8"
    )
    loaded = load_smtp_settings({}, config)
    assert (loaded.port, loaded.ssl, loaded.starttls, loaded.user) == (
        465,
        True,
        False,
        None,
    )


def test_invalid_port_reported(tmp_path):
    with pytest.raises(EngineError) as caught:
        load_smtp_settings({"ARREARS_SMTP_HOST": "h", "ARREARS_SMTP_PORT": "abc"}, None)
    assert str(caught.value) == (
        "environment ARREARS_SMTP_*: the SMTP setting port is 'abc', which is not a "
        "positive whole number. Set port to a positive whole number."
    )


def test_misspelt_key_reported(tmp_path):
    config = tmp_path / "smtp.toml"
    config.write_text('hostname = "127.0.0.1"\nport = 2525\n', encoding="utf-8")
    with pytest.raises(EngineError) as caught:
        load_smtp_settings({}, config)
    finding = caught.value.findings[0]
    assert finding.where == str(config)
    assert "'hostname', which is not a setting" in finding.message
    assert finding.fix == "Rename it to host."


def test_password_key_rejected(tmp_path):
    config = tmp_path / "smtp.toml"
    config.write_text('host = "127.0.0.1"\npassword = "pw"\n', encoding="utf-8")
    with pytest.raises(EngineError) as caught:
        load_smtp_settings({}, config)
    assert "ARREARS_SMTP_PASSWORD" in caught.value.findings[0].fix


@pytest.mark.parametrize("port", ["99999", "0", "true"])
def test_port_out_of_range_reported(tmp_path, port):
    config = tmp_path / "smtp.toml"
    config.write_text(f'host = "127.0.0.1"\nport = {port}\n', encoding="utf-8")
    with pytest.raises(EngineError) as caught:
        load_smtp_settings({}, config)
    assert "the SMTP setting port is" in caught.value.findings[0].message


class _MemoryKeyring(keyring.backend.KeyringBackend):
    priority = 1

    def __init__(self, passwords):
        super().__init__()
        self.passwords = passwords

    def get_password(self, service, username):
        return self.passwords.get((service, username))

    def set_password(self, service, username, password):
        self.passwords[(service, username)] = password

    def delete_password(self, service, username):
        self.passwords.pop((service, username), None)


@pytest.fixture
def restore_keyring():
    previous = keyring.get_keyring()
    yield
    keyring.set_keyring(previous)


def test_password_from_keyring(restore_keyring):
    keyring.set_keyring(
        _MemoryKeyring({("arrears-guard", "u@example.test"): "from-keyring"})
    )
    loaded = load_smtp_settings(
        {"ARREARS_SMTP_HOST": "h", "ARREARS_SMTP_USER": "u@example.test"}, None
    )
    assert loaded.password == "from-keyring"


def test_missing_password_fails_fast(restore_keyring):
    keyring.set_keyring(keyring.backends.fail.Keyring())
    with pytest.raises(EngineError) as caught:
        load_smtp_settings(
            {"ARREARS_SMTP_HOST": "h", "ARREARS_SMTP_USER": "u@example.test"}, None
        )
    assert str(caught.value) == (
        "environment ARREARS_SMTP_*: SMTP is configured for user 'u@example.test' but no "
        "password was found. Set ARREARS_SMTP_PASSWORD, or store the password with "
        "`keyring set arrears-guard u@example.test`."
    )


def test_drop_before_data_stays_queued(tmp_path):
    db = tmp_path / "state.sqlite"
    with SmtpServer("drop_on_rcpt") as server:
        letters, report = run_pass(db, SmtpTransport(settings(server, retries=1)))
        assert server.received == []
    assert report.uncertain == []
    assert report.sent == []
    assert len(report.deferred) == 3
    assert "connection lost during RCPT, before the message data" in str(
        report.findings[0]
    )
    assert statuses(db) == Counter({"queued": 1})
    with SmtpServer("ok") as server:
        letters, report = run_pass(db, SmtpTransport(settings(server)))
        assert len(report.sent) == 3
        assert len(server.received) == 3
