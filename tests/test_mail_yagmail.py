"""SMTP through yagmail: login, password sources, SMTPUTF8 for non-ASCII addresses."""

from __future__ import annotations

import dataclasses
import datetime as dt

import keyring
import pytest
import yagmail.sender
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
from test_mail_smtp import _MemoryKeyring, restore_keyring, settings  # noqa: F401

from engine.mail import (
    LetterRenderer,
    SmtpSettings,
    SmtpTransport,
    deliver,
    load_smtp_settings,
    plan_reminders,
)
from engine.mail.ledger import FAILED, SENT
from engine.mail.transport import _yagmail_client

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

ZOE = customer(
    "C001",
    2,
    name="Nordlicht Reisen GmbH",
    contact="Zoë Ångström-Müller",
    salutation="Sehr geehrte Frau",
    language="de",
    email="zoë@example.test",
)
ORDERS = [
    invoice(
        "ORD-1001", "C001", "4000", dt.date(2024, 6, 1), 2, invoice_id="INV-2024-017"
    )
]


def deliver_to(server: SmtpServer, db, customers=(ZOE,), orders=ORDERS, **changes):
    rules = make_rules()
    sent = send_ledger(db)
    letters, findings = plan_reminders(
        rules,
        ledger_for(customers, orders),
        {c.customer_id: c for c in customers},
        AS_OF,
        sent,
    )
    assert findings == []
    renderer = LetterRenderer(templates_dir(), rules)
    messages = [(letter, renderer.render(letter)) for letter in letters]
    report = deliver(messages, SmtpTransport(settings(server, **changes)), sent)
    statuses = [row[0] for row in sent.conn.execute("SELECT status FROM mail_letters")]
    sent.conn.close()
    return report, statuses


def test_login_goes_through_yagmail(tmp_path, monkeypatch):
    logins = []
    original = yagmail.sender.Client.login

    def spy(client):
        logins.append((client.host, client.port, client.user, client.credentials))
        original(client)
        logins.append(type(client.smtp).__mro__[1].__name__)

    monkeypatch.setattr(yagmail.sender.Client, "login", spy)
    with SmtpServer("ok") as server:
        report, _ = deliver_to(
            server,
            tmp_path / "state.sqlite",
            customers=[dataclasses.replace(ZOE, email="zoe@example.test")],
        )
        assert server.handler.login_attempts == 1
        assert len(server.received) == 1
    assert len(report.sent) == 1
    assert logins[0] == (
        "127.0.0.1",
        str(server.port),
        "buchhaltung@example.test",
        "secret",
    )
    assert logins[1] == "SMTP"


def test_user_without_at_sign_kept():
    # yagmail 0.16 itself would log in as "buchhaltung@gmail.com".
    plain = SmtpSettings(host="127.0.0.1", user="buchhaltung", password="pw")
    client = _yagmail_client(plain)
    assert client.user == "buchhaltung"
    assert client.credentials == "pw"
    assert client.kwargs == {"timeout": 30.0}
    client.is_closed = True


def test_password_from_yagmail_keyring(restore_keyring):  # noqa: F811
    keyring.set_keyring(_MemoryKeyring({("yagmail", "u@example.test"): "registered"}))
    loaded = load_smtp_settings(
        {"ARREARS_SMTP_HOST": "h", "ARREARS_SMTP_USER": "u@example.test"}, None
    )
    assert loaded.password == "registered"


def test_own_keyring_entry_wins(restore_keyring):  # noqa: F811
    keyring.set_keyring(
        _MemoryKeyring(
            {
                ("yagmail", "u@example.test"): "registered",
                ("arrears-guard", "u@example.test"): "own",
            }
        )
    )
    loaded = load_smtp_settings(
        {"ARREARS_SMTP_HOST": "h", "ARREARS_SMTP_USER": "u@example.test"}, None
    )
    assert loaded.password == "own"


def test_non_ascii_address_uses_smtputf8(tmp_path):
    with SmtpServer("ok", smtputf8=True) as server:
        report, statuses = deliver_to(server, tmp_path / "state.sqlite")
        assert len(server.received) == 1
        received = server.received[0]
        options = server.handler.mail_options
    assert len(report.sent) == 1
    assert statuses == [SENT]
    assert received.recipients[0] == "zoë@example.test"
    assert "SMTPUTF8" in options[0]
    assert str(received.message["To"]) == "Zoë Ångström-Müller <zoë@example.test>"


def test_non_ascii_address_without_smtputf8(tmp_path):
    db = tmp_path / "state.sqlite"
    with SmtpServer("ok") as server:
        report, statuses = deliver_to(server, db)
        assert server.received == []
        # The next pass the same day does not show the letter as already sent.
        again, _ = deliver_to(server, db)
    assert statuses == [FAILED]
    assert report.sent == []
    assert [letter.recipient_id for letter in report.failed] == ["C001"]
    [finding] = report.findings
    assert finding.code == "smtp-smtputf8-missing"
    assert finding.where == "customer C001 (customers.xlsx › Customers › row 2)"
    assert f"127.0.0.1:{server.port} does not offer SMTPUTF8" in finding.message
    assert "zoë@example.test" in finding.message
    assert "ASCII e-mail address" in finding.fix
    assert again.already_sent == []
    assert [entry.detail[:16] for _, entry in again.not_retried] == ["smtputf8-missing"]


def test_tls_options_passed_to_smtplib():
    starttls = _yagmail_client(SmtpSettings(host="127.0.0.1", starttls=True))
    implicit = _yagmail_client(
        SmtpSettings(host="127.0.0.1", port=465, ssl=True, starttls=False)
    )
    assert set(starttls.smtp_starttls) == {"context"}
    assert starttls.ssl is False
    assert implicit.smtp_starttls is False
    assert implicit.ssl is True
    assert set(implicit.kwargs) == {"timeout", "context"}
    starttls.is_closed = implicit.is_closed = True
