"""SMTP session failures: each message names the cause and the setting that fixes it."""

from __future__ import annotations

import dataclasses
import smtplib
import socket
import ssl

import pytest
from smtp_servers import SmtpServer, free_port
from test_mail_smtp import run_pass, settings

from engine.mail import SmtpSettings, SmtpTransport
from engine.mail.smtp_errors import explain_connect_error

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

STARTTLS_FIX = (
    "Set ARREARS_SMTP_STARTTLS=false (or starttls = false in smtp.toml) for a "
    "server without TLS, or ARREARS_SMTP_SSL=true for a server with implicit TLS "
    "(usually port 465)."
)


def only_finding(report) -> str:
    assert len(report.findings) == 1, report.findings
    return str(report.findings[0])


def test_starttls_missing_names_setting(tmp_path):
    with SmtpServer("ok") as server:
        transport = SmtpTransport(settings(server, user=None, starttls=True))
        _, report = run_pass(tmp_path / "state.sqlite", transport)
        assert server.handler.connections == 1
        assert server.received == []
    assert only_finding(report) == (
        f"SMTP: 127.0.0.1:{server.port} does not offer STARTTLS, and STARTTLS is on "
        "(the default unless ssl is set). No letter was sent, and all stay queued. "
        + STARTTLS_FIX
    )
    assert report.findings[0].code == "smtp-starttls-missing"
    assert "password" not in only_finding(report)
    assert len(report.deferred) == 3


def test_starttls_off_sends(tmp_path):
    with SmtpServer("ok") as server:
        transport = SmtpTransport(settings(server, user=None, starttls=False))
        _, report = run_pass(tmp_path / "state.sqlite", transport)
        assert len(server.received) == 3
    assert report.findings == []


def test_auth_missing_names_user_setting(tmp_path):
    with SmtpServer("ok", auth=False) as server:
        transport = SmtpTransport(settings(server))
        _, report = run_pass(tmp_path / "state.sqlite", transport)
        assert server.received == []
    assert only_finding(report) == (
        f"SMTP: 127.0.0.1:{server.port} offers no login method that this client "
        "supports (CRAM-MD5, PLAIN or LOGIN). No letter was sent, and all stay "
        "queued. For a server without login, remove ARREARS_SMTP_USER (or user in "
        "smtp.toml). Many servers offer login only over TLS: then set "
        "ARREARS_SMTP_STARTTLS=true."
    )
    assert report.findings[0].code == "smtp-auth-missing"


def test_implicit_tls_on_plain_port(tmp_path):
    with SmtpServer("ok") as server:
        transport = SmtpTransport(settings(server, ssl=True))
        _, report = run_pass(tmp_path / "state.sqlite", transport)
        assert server.received == []
    text = only_finding(report)
    assert text.startswith(
        f"SMTP: the implicit TLS handshake with 127.0.0.1:{server.port} failed: "
    )
    assert text.endswith(
        f"No letter was sent, and all stay queued. Port {server.port} may not use "
        "implicit TLS. Set ARREARS_SMTP_SSL=false (or ssl = false in smtp.toml) to "
        "use STARTTLS, or set the server's TLS port (usually 465)."
    )
    assert report.findings[0].code == "smtp-tls-failed"


def test_connection_refused_names_host_and_port(tmp_path):
    port = free_port()
    pauses: list[float] = []
    dead = SmtpSettings(
        host="127.0.0.1", port=port, starttls=False, timeout=0.5, backoff=0.01
    )
    _, report = run_pass(
        tmp_path / "state.sqlite", SmtpTransport(dead, sleep=pauses.append)
    )
    assert only_finding(report) == (
        f"SMTP: 127.0.0.1:{port} refused the connection: nothing listens on that "
        "port (after 3 attempts). The letters stay queued for the next run. Check "
        "ARREARS_SMTP_HOST (or host in smtp.toml) and ARREARS_SMTP_PORT (or port in "
        "smtp.toml), and that the mail server runs and a firewall lets the "
        "connection through."
    )
    assert report.findings[0].code == "smtp-unreachable"
    assert pauses == [0.01, 0.02]


def test_silent_server_times_out(tmp_path):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)  # accepted by the kernel, never greeted
        port = listener.getsockname()[1]
        silent = SmtpSettings(
            host="127.0.0.1", port=port, starttls=False, timeout=0.2, retries=1
        )
        _, report = run_pass(tmp_path / "state.sqlite", SmtpTransport(silent))
    assert only_finding(report) == (
        f"SMTP: 127.0.0.1:{port} did not reply within 0.2 s (after 1 attempts). The "
        "letters stay queued for the next run. Check ARREARS_SMTP_HOST (or host in "
        "smtp.toml) and ARREARS_SMTP_PORT (or port in smtp.toml), and that the mail "
        "server runs and a firewall lets the connection through. For a slow server, "
        "raise ARREARS_SMTP_TIMEOUT (or timeout in smtp.toml)."
    )


BASE = SmtpSettings(host="mail.example.test", port=587, user="ap@example.test")


def test_timeout_on_465_suggests_ssl():
    failure = explain_connect_error(
        TimeoutError("timed out"), dataclasses.replace(BASE, port=465)
    )
    assert failure.retry
    assert (
        "Port 465 usually expects implicit TLS: set ARREARS_SMTP_SSL=true."
        in failure.fix
    )


def test_certificate_failure_names_host():
    error = ssl.SSLCertVerificationError(1, "certificate verify failed")
    error.verify_message = "Hostname mismatch, certificate is not valid for 'x'."
    failure = explain_connect_error(error, BASE)
    assert failure.detail == (
        "the TLS certificate of mail.example.test:587 failed verification: "
        "Hostname mismatch, certificate is not valid for 'x'."
    )
    assert failure.fix == (
        "Set ARREARS_SMTP_HOST (or host in smtp.toml) to the name the certificate "
        "is issued for, or install the issuing CA certificate in the system trust "
        "store."
    )
    assert not failure.retry


def test_unknown_host_names_host_setting():
    error = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    failure = explain_connect_error(error, BASE)
    assert failure.detail.startswith("the host name mail.example.test was not found")
    assert failure.fix == "Correct ARREARS_SMTP_HOST (or host in smtp.toml)."


def test_auth_extension_missing():
    error = smtplib.SMTPNotSupportedError(
        "SMTP AUTH extension not supported by server."
    )
    failure = explain_connect_error(error, BASE)
    assert failure.detail == (
        "mail.example.test:587 does not offer SMTP login (AUTH), but the user "
        "ap@example.test is set"
    )
    assert failure.fix == (
        "For a server without login, remove ARREARS_SMTP_USER (or user in smtp.toml)."
    )
    assert failure.code == "smtp-auth-missing"


def test_greeting_5xx_not_retried():
    error = smtplib.SMTPConnectError(554, b"5.7.1 client host rejected")
    failure = explain_connect_error(error, BASE)
    assert failure.detail == (
        "mail.example.test:587 refused the session: 554 5.7.1 client host rejected"
    )
    assert not failure.retry
