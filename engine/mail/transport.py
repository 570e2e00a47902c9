"""Hand messages to the outbox folder or to an SMTP server.

Each hand-over ends in one of five outcomes. "sent": the server accepted the message.
"uncertain": the server may have the message but did not confirm it. "deferred": not
handed over, try on a later run. "auth_failed": the login was rejected, so stop
sending. "rejected": the server rejected this message for good.

SMTP goes through smtplib directly, not yagmail: yagmail.SMTP.send builds its own
MIME message and raises the same SMTPServerDisconnected whether the connection broke
before the message was transmitted (safe to retry) or after it (delivery uncertain),
and the send ledger needs that difference. Messages are built with the stdlib
`email` package and sent as the exact bytes stored in the ledger.
"""

from __future__ import annotations

import logging
import os
import re
import smtplib
import ssl
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from email import policy
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr
from pathlib import Path
from typing import Protocol

from engine.mail.settings import SmtpSettings

log = logging.getLogger(__name__)

SENT = "sent"
UNCERTAIN = "uncertain"
DEFERRED = "deferred"
AUTH_FAILED = "auth_failed"
REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class SendResult:
    status: str
    detail: str = ""


class Transport(Protocol):
    def connect(self) -> SendResult | None:
        """Prepare to send; return None when ready, else the reason nothing can be sent."""

    def send(self, raw: bytes, name: str) -> SendResult:
        """Hand over one message; `name` is the outbox file stem."""

    def close(self) -> None: ...


def envelope_of(raw: bytes) -> tuple[str, list[str]]:
    """Return the envelope sender and recipients (To and Cc) of a serialized message."""
    headers = BytesParser(policy=policy.default).parsebytes(raw, headersonly=True)
    sender = parseaddr(str(headers.get("From", "")))[1]
    fields = [
        str(value) for value in headers.get_all("To", []) + headers.get_all("Cc", [])
    ]
    return sender, [address for _, address in getaddresses(fields) if address]


class OutboxTransport:
    """Write each message as a .eml file in the outbox folder, atomically."""

    def __init__(self, outbox: Path):
        self.outbox = Path(outbox)

    def connect(self) -> SendResult | None:
        self.outbox.mkdir(parents=True, exist_ok=True)
        return None

    def send(self, raw: bytes, name: str) -> SendResult:
        target = self.outbox / f"{name}.eml"
        descriptor, temporary = tempfile.mkstemp(
            dir=self.outbox, prefix=".", suffix=".tmp"
        )
        try:
            with os.fdopen(descriptor, "wb") as stream:
                stream.write(raw)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, target)
        except OSError as error:
            Path(temporary).unlink(missing_ok=True)
            return SendResult(DEFERRED, f"cannot write {target}: {error}")
        log.info("wrote %s", target)
        return SendResult(SENT, str(target))

    def close(self) -> None:
        return None


class _TrackingSMTP(smtplib.SMTP):
    """smtplib.SMTP that remembers the last reply code, to tell where a send broke."""

    last_code: int | None = None

    def getreply(self):
        code, message = super().getreply()
        self.last_code = code
        return code, message


class _TrackingSMTPSSL(smtplib.SMTP_SSL, _TrackingSMTP):
    pass


class SmtpTransport:
    """Send over one SMTP connection, reconnecting when the server hangs up."""

    def __init__(
        self, settings: SmtpSettings, sleep: Callable[[float], None] = time.sleep
    ):
        self.settings = settings
        self.sleep = sleep
        self._connection: _TrackingSMTP | None = None

    def _backoff(self, attempt: int) -> float:
        return min(self.settings.backoff * 2**attempt, self.settings.max_backoff)

    def _open(self) -> _TrackingSMTP:
        settings = self.settings
        context = ssl.create_default_context()
        if settings.ssl:
            connection = _TrackingSMTPSSL(
                settings.host, settings.port, timeout=settings.timeout, context=context
            )
        else:
            connection = _TrackingSMTP(
                settings.host, settings.port, timeout=settings.timeout
            )
        try:
            if settings.starttls and not settings.ssl:
                connection.starttls(context=context)
            if settings.user:
                connection.login(settings.user, settings.password or "")
        except BaseException:
            connection.close()
            raise
        return connection

    def connect(self) -> SendResult | None:
        """Connect and log in, retrying "try later" replies with a bounded back-off."""
        if self._connection is not None:
            return None
        server = f"{self.settings.host}:{self.settings.port}"
        for attempt in range(self.settings.retries):
            try:
                self._connection = self._open()
                return None
            except smtplib.SMTPAuthenticationError as error:
                # A rejected login is never retried: repeated attempts can lock the account.
                log.error("SMTP login rejected by %s: %s", server, error)
                return SendResult(
                    AUTH_FAILED,
                    f"SMTP login rejected for {self.settings.user} – check credentials",
                )
            except smtplib.SMTPNotSupportedError as error:
                return SendResult(AUTH_FAILED, f"{server} does not offer {error}")
            except (smtplib.SMTPException, OSError) as error:
                code = getattr(error, "smtp_code", None)
                if code is not None and code >= 500:
                    return SendResult(
                        AUTH_FAILED, f"{server} refused the connection: {error}"
                    )
                delay = self._backoff(attempt)
                log.warning(
                    "cannot connect to %s (attempt %d of %d): %s; retrying in %.1f s",
                    server,
                    attempt + 1,
                    self.settings.retries,
                    error,
                    delay,
                )
                if attempt + 1 < self.settings.retries:
                    self.sleep(delay)
        return SendResult(
            DEFERRED,
            f"cannot connect to {server} after {self.settings.retries} attempts",
        )

    def send(self, raw: bytes, name: str) -> SendResult:
        sender, recipients = envelope_of(raw)
        for attempt in range(self.settings.retries):
            failure = self.connect()
            if failure is not None:
                return failure
            result = self._send_once(raw, sender, recipients, name)
            if result.status != DEFERRED or attempt + 1 == self.settings.retries:
                return result
            self.sleep(self._backoff(attempt))
        return SendResult(DEFERRED, "no attempts configured")

    def _send_once(
        self, raw: bytes, sender: str, recipients: list[str], name: str
    ) -> SendResult:
        connection = self._connection
        assert connection is not None
        connection.last_code = None
        try:
            refused = connection.sendmail(sender, recipients, raw)
        except smtplib.SMTPRecipientsRefused as error:
            codes = [code for code, _ in error.recipients.values()]
            status = DEFERRED if all(400 <= code < 500 for code in codes) else REJECTED
            return SendResult(status, f"recipients refused: {error.recipients}")
        except smtplib.SMTPResponseException as error:
            status = DEFERRED if 400 <= error.smtp_code < 500 else REJECTED
            self._drop_connection()
            return SendResult(status, f"{error.smtp_code} {error.smtp_error!r}")
        except (smtplib.SMTPServerDisconnected, OSError) as error:
            # After the 354 reply the whole message may have reached the server.
            transmitted = connection.last_code == 354
            self._drop_connection()
            if transmitted:
                log.warning(
                    "%s: connection lost after the message data: %s", name, error
                )
                return SendResult(
                    UNCERTAIN, f"connection lost after the message data: {error}"
                )
            return SendResult(
                DEFERRED, f"connection lost before the message data: {error}"
            )
        detail = f"refused recipients: {refused}" if refused else ""
        log.info("sent %s to %s", name, ", ".join(recipients))
        return SendResult(SENT, detail)

    def _drop_connection(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def close(self) -> None:
        """Say QUIT; a server that hangs up instead has already accepted every message."""
        if self._connection is None:
            return
        try:
            self._connection.quit()
        except (smtplib.SMTPException, OSError) as error:
            log.info("SMTP QUIT got no response: %s", error)
        self._connection.close()
        self._connection = None


def make_transport(outbox: Path, settings: SmtpSettings | None) -> Transport:
    """Return the SMTP transport when settings are given, else the outbox transport."""
    if settings is None:
        return OutboxTransport(outbox)
    return SmtpTransport(settings)


def outbox_name(kind: str, level: int, recipient_id: str, as_of: str, key: str) -> str:
    """Return a file stem a person can find: 2013-03-15_reminder-L2_C001_1a2b3c4d."""
    label = {"reminder": f"reminder-L{level}", "thank_you": "thank-you"}.get(kind, kind)
    recipient = re.sub(r"[^A-Za-z0-9_-]+", "-", recipient_id).strip("-") or "x"
    return f"{as_of}_{label}_{recipient}_{key[:8]}"
