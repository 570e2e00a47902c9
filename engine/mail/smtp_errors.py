"""Explain why opening an SMTP session failed, with the setting that fixes it.

Each failure gets its cause in the usual words (login rejected, STARTTLS not offered,
TLS handshake failed, connection refused, timed out, host name not found) and the
environment variable or smtp.toml key to change. Failures that a retry cannot cure,
such as a rejected login or a missing STARTTLS, are not retried.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from dataclasses import dataclass

from engine.mail.settings import SmtpSettings

IMPLICIT_TLS_PORT = 465


@dataclass(frozen=True, slots=True)
class ConnectFailure:
    """Why an SMTP session could not be opened, and whether a retry can help."""

    detail: str  # a sentence without the final period
    fix: str  # one or more full sentences
    code: str  # the finding code
    retry: bool  # True for causes that may pass, such as a timeout


def _setting(name: str) -> str:
    return f"ARREARS_SMTP_{name.upper()} (or {name} in smtp.toml)"


def _reply(error: smtplib.SMTPResponseException) -> str:
    reply = error.smtp_error
    if isinstance(reply, bytes):
        reply = reply.decode("utf-8", "replace")
    return f"{error.smtp_code} {reply}".strip()


def _login_rejected(error: smtplib.SMTPResponseException, settings: SmtpSettings):
    return ConnectFailure(
        detail=f"the mail server {settings.host}:{settings.port} rejected the login "
        f"of user {settings.user}: {_reply(error)}",
        fix=f"Correct {_setting('user')} or the password in ARREARS_SMTP_PASSWORD "
        "or the keyring. The next run sends the queued letters.",
        code="smtp-login-rejected",
        retry=False,
    )


def _not_supported(error: smtplib.SMTPNotSupportedError, settings: SmtpSettings):
    server = f"{settings.host}:{settings.port}"
    if "STARTTLS" in str(error).upper():
        return ConnectFailure(
            detail=f"{server} does not offer STARTTLS, and STARTTLS is on (the "
            "default unless ssl is set)",
            fix="Set ARREARS_SMTP_STARTTLS=false (or starttls = false in smtp.toml) "
            "for a server without TLS, or ARREARS_SMTP_SSL=true for a server with "
            f"implicit TLS (usually port {IMPLICIT_TLS_PORT}).",
            code="smtp-starttls-missing",
            retry=False,
        )
    return _login_unavailable(
        f"{server} does not offer SMTP login (AUTH), but the user {settings.user} "
        "is set",
        settings,
    )


def _login_unavailable(detail: str, settings: SmtpSettings) -> ConnectFailure:
    fix = f"For a server without login, remove {_setting('user')}."
    if not settings.starttls and not settings.ssl:
        fix += (
            " Many servers offer login only over TLS: then set "
            "ARREARS_SMTP_STARTTLS=true."
        )
    return ConnectFailure(detail=detail, fix=fix, code="smtp-auth-missing", retry=False)


def _tls_failed(error: ssl.SSLError, settings: SmtpSettings) -> ConnectFailure:
    server = f"{settings.host}:{settings.port}"
    if isinstance(error, ssl.SSLCertVerificationError):
        return ConnectFailure(
            detail=f"the TLS certificate of {server} failed verification: "
            f"{error.verify_message or error.reason}",
            fix=f"Set {_setting('host')} to the name the certificate is issued "
            "for, or install the issuing CA certificate in the system trust store.",
            code="smtp-tls-failed",
            retry=False,
        )
    reason = error.reason or str(error)
    if settings.ssl:
        return ConnectFailure(
            detail=f"the implicit TLS handshake with {server} failed: {reason}",
            fix=f"Port {settings.port} may not use implicit TLS. Set "
            "ARREARS_SMTP_SSL=false (or ssl = false in smtp.toml) to use STARTTLS, "
            f"or set the server's TLS port (usually {IMPLICIT_TLS_PORT}).",
            code="smtp-tls-failed",
            retry=False,
        )
    return ConnectFailure(
        detail=f"the TLS handshake after STARTTLS with {server} failed: {reason}",
        fix="Ask the mail administrator to check the server's TLS setup, or set "
        "ARREARS_SMTP_STARTTLS=false (or starttls = false in smtp.toml) for a "
        "server without TLS.",
        code="smtp-tls-failed",
        retry=False,
    )


def _check_address_fix(settings: SmtpSettings) -> str:
    fix = (
        f"Check {_setting('host')} and {_setting('port')}, and that the mail server "
        "runs and a firewall lets the connection through."
    )
    if settings.port == IMPLICIT_TLS_PORT and not settings.ssl:
        fix += (
            f" Port {IMPLICIT_TLS_PORT} usually expects implicit TLS: set "
            "ARREARS_SMTP_SSL=true."
        )
    return fix


def _network_failure(error: OSError, settings: SmtpSettings) -> ConnectFailure:
    server = f"{settings.host}:{settings.port}"
    if isinstance(error, socket.gaierror):
        return ConnectFailure(
            detail=f"the host name {settings.host} was not found: {error}",
            fix=f"Correct {_setting('host')}.",
            code="smtp-unreachable",
            retry=True,
        )
    if isinstance(error, ConnectionRefusedError):
        detail = f"{server} refused the connection: nothing listens on that port"
    elif isinstance(error, TimeoutError) or isinstance(error.__context__, TimeoutError):
        # smtplib turns a timeout while reading a reply into SMTPServerDisconnected.
        detail = f"{server} did not reply within {settings.timeout:g} s"
        return ConnectFailure(
            detail=detail,
            fix=_check_address_fix(settings)
            + f" For a slow server, raise {_setting('timeout')}.",
            code="smtp-unreachable",
            retry=True,
        )
    elif isinstance(error, smtplib.SMTPServerDisconnected):
        detail = f"{server} closed the connection before the session began: {error}"
    else:
        detail = f"cannot connect to {server}: {error}"
    return ConnectFailure(
        detail=detail,
        fix=_check_address_fix(settings),
        code="smtp-unreachable",
        retry=True,
    )


def explain_connect_error(error: OSError, settings: SmtpSettings) -> ConnectFailure:
    """Return the cause, fix and retry decision for an error while opening a session."""
    if isinstance(error, smtplib.SMTPAuthenticationError):
        return _login_rejected(error, settings)
    if isinstance(error, smtplib.SMTPNotSupportedError):
        return _not_supported(error, settings)
    if isinstance(error, ssl.SSLError):
        return _tls_failed(error, settings)
    if type(error) is smtplib.SMTPException and "authentication method" in str(error):
        # smtplib.login() found none of CRAM-MD5, PLAIN and LOGIN in the AUTH line.
        return _login_unavailable(
            f"{settings.host}:{settings.port} offers no login method that this client "
            "supports (CRAM-MD5, PLAIN or LOGIN)",
            settings,
        )
    if isinstance(error, smtplib.SMTPResponseException):
        server = f"{settings.host}:{settings.port}"
        if error.smtp_code >= 500:
            return ConnectFailure(
                detail=f"{server} refused the session: {_reply(error)}",
                fix="Ask the mail administrator why the server refuses this client.",
                code="smtp-session-refused",
                retry=False,
            )
        return ConnectFailure(
            detail=f"{server} asked to try later: {_reply(error)}",
            fix="No action is needed unless this repeats. The next run tries again.",
            code="smtp-unreachable",
            retry=True,
        )
    return _network_failure(error, settings)
