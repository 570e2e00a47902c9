"""Non-ASCII names, subjects and attachment names under UTF-8 and ASCII locales.

The sender runs in a child process, because the process locale and the file system
encoding are fixed when Python starts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from smtp_servers import SmtpServer

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

TESTS = Path(__file__).resolve().parent
CASE19 = TESTS / "data" / "mail" / "case19"

CHILD = r"""
import datetime as dt, sys
from pathlib import Path
from engine.mail import LetterRenderer, SmtpSettings, SmtpTransport, deliver, plan_reminders
from engine.mail.transport import OutboxTransport
from mail_factories import (AS_OF, customer, invoice, ledger_for, make_rules,
    record_sent_reminder, send_ledger, templates_dir)

port, attachments, outbox = int(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
customers = [
    customer("C001", 2, name="Nordlicht Reisen GmbH", contact="Zoë Ångström-Müller",
             salutation="Sehr geehrte Frau", language="de", email="zoe.mueller@example.test"),
    customer("C002", 3, name="Sakura Tours K.K.", contact="山田 太郎", salutation="Dear",
             language="ja", currency="JPY", email="yamada@example.test"),
    customer("C003", 4, name="Smith & Sons <Travel>", contact="Ólafur Þór Smith",
             email="olafur@example.test"),
]
orders = [
    invoice("ORD-1001", "C001", "4000", dt.date(2024, 6, 1), 2, invoice_id="INV-2024-017"),
    invoice("ORD-1007", "C002", "250000", dt.date(2024, 6, 15), 3, currency="JPY",
            invoice_id="INV-2024-020"),
    invoice("ORD-1003", "C003", "1500", dt.date(2024, 6, 20), 4, invoice_id="INV-2024-018"),
]
rules = make_rules()
renderer = LetterRenderer(templates_dir(), rules, attachments_dir=attachments)
for transport, db in (
    (SmtpTransport(SmtpSettings(host="127.0.0.1", port=port, starttls=False, timeout=5)), "smtp"),
    (OutboxTransport(outbox), "outbox"),
):
    sent = send_ledger(outbox.parent / f"{db}.sqlite")
    # C001 had a first reminder, so the level-2 letter is its second one.
    record_sent_reminder(sent, "C001", AS_OF - dt.timedelta(days=14))
    letters, findings = plan_reminders(
        rules, ledger_for(customers, orders), {c.customer_id: c for c in customers}, AS_OF, sent
    )
    report = deliver([(l, renderer.render(l)) for l in letters], transport, sent)
    print(db, len(report.sent), findings, report.findings)
print("fs-encoding", sys.getfilesystemencoding())
"""
# Under LC_ALL=C the command line itself must be ASCII, so names go in as \u escapes.
CHILD = CHILD.encode("ascii", "backslashreplace").decode("ascii")

UTF8_ENV = {"LC_ALL": "C.UTF-8", "PYTHONUTF8": "1"}
ASCII_ENV = {"LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}


def run_child(tmp_path: Path, port: int, locale_env: dict[str, str]) -> str:
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(TESTS), **locale_env}
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(port), str(CASE19), str(tmp_path / "outbox")],
        env=env,
        capture_output=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr.decode("utf-8", "replace")
    return result.stdout.decode("ascii", "replace")


def check_message(message, expected: dict) -> None:
    plain = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert str(message["Subject"]) == expected["subject"]
    assert message["To"].addresses[0].addr_spec == expected["to_addr"]
    assert [part.get_filename() for part in message.iter_attachments()] == expected[
        "attachment_names"
    ]
    for text in expected["body_contains"]:
        assert text in plain
        assert text in html


@pytest.mark.parametrize("locale_env", [UTF8_ENV, ASCII_ENV], ids=["utf8", "ascii"])
def test_non_ascii_survives_locale(tmp_path, locale_env):
    expected = json.loads((CASE19 / "expected_C001.json").read_text(encoding="utf-8"))
    with SmtpServer("ok") as server:
        output = run_child(tmp_path, server.port, locale_env)
        received = {r.recipients[0]: r.message for r in server.received}
    if locale_env is ASCII_ENV:
        assert "fs-encoding ascii" in output
    assert "smtp 3 [] []" in output

    check_message(received["zoe.mueller@example.test"], expected)
    yamada = received["yamada@example.test"]
    assert yamada["To"].addresses[0].display_name == "山田 太郎"
    assert "山田 太郎" in yamada.get_body(("plain",)).get_content()
    assert yamada.get_body(("plain",)).get_content_charset() == "utf-8"
    olafur = received["olafur@example.test"]
    assert olafur["To"].addresses[0].display_name == "Ólafur Þór Smith"
    assert (
        str(olafur["From"])
        == "Buchhaltung Nordlicht Reisebüro <buchhaltung@example.test>"
    )

    from email import policy
    from email.parser import BytesParser

    (outbox_file,) = (tmp_path / "outbox").glob("2024-06-30_reminder-L2_C001_*.eml")
    check_message(
        BytesParser(policy=policy.default).parsebytes(outbox_file.read_bytes()),
        expected,
    )


def test_raw_headers_are_ascii(tmp_path):
    with SmtpServer("ok") as server:
        run_child(tmp_path, server.port, ASCII_ENV)
        raws = [r.raw for r in server.received]
    for raw in raws:
        headers = raw.split(b"\r\n\r\n", 1)[0]
        headers.decode("ascii")  # RFC 2047 / RFC 2231 encoded, no raw 8-bit bytes
    assert any(
        b"filename*=utf-8''Rechnung_INV-2024-017_M%C3%BCller_M%C3%A4rz.pdf" in raw
        for raw in raws
    )
