"""Hand messages to the outbox folder or to an SMTP server.

Each hand-over ends in one of five outcomes. "sent": the server accepted the message.
"uncertain": the server may have the message but did not confirm it. "deferred": not
handed over, try on a later run. "setup_failed": a settings change is needed
(login rejected, STARTTLS missing, TLS failed), so stop sending. "rejected": the
server rejected this message for good.

SMTP goes through yagmail 0.16: `yagmail.SMTP` opens the connection with our
timeout and TLS context, runs STARTTLS or implicit TLS and logs in. The message is
then sent with `sendmail` on yagmail's underlying smtplib connection (`yag.smtp`),
not with `yag.send`, for two reasons. `yag.send` builds its own MIME message, and the
send ledger stores and resends our exact bytes with their Message-ID. It also
retries any SMTPServerDisconnected itself, whether the connection broke before the
message data (safe to retry) or after it (delivery uncertain), and the send ledger
needs that difference. The connection class records the SMTP phase (MAIL, RCPT, DATA,
after the 354 reply) so that a broken connection can be classified.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import smtplib
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from email import policy
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from engine.mail.settings import SmtpSettings
from engine.mail.smtp_errors import explain_connect_error

if TYPE_CHECKING:
    import yagmail

log = logging.getLogger(__name__)

SENT = "sent"
UNCERTAIN = "uncertain"
DEFERRED = "deferred"
SETUP_FAILED = "setup_failed"
REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class SendResult:
    status: str
    detail: str = ""
    code: str = ""  # a reason that needs its own finding, such as SMTPUTF8_MISSING
    fix: str = ""  # what to change when the session could not be opened


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


def _write_synced(path: Path, raw: bytes) -> None:
    with open(path, "wb") as stream:
        stream.write(raw)
        stream.flush()
        os.fsync(stream.fileno())


class OutboxTransport:
    """Write each message as a .eml file in the outbox folder, atomically.

    A message is written in two steps. `stage` writes and syncs it under a hidden
    name (`.NAME.eml.tmp`) that nothing collects, and `publish` renames it to
    `NAME.eml`, which is the hand-over. A staged file that is still there after a
    crash was therefore never handed over.
    """

    # `stage` touches only its own file, so delivery may run it in a worker thread
    # while it prepares and records other letters.
    stages_files = True

    def __init__(self, outbox: Path):
        self.outbox = Path(outbox)
        self._folder_made = False

    def connect(self) -> SendResult | None:
        # Delivery connects before every letter, while worker threads stage earlier
        # ones, and a system call here then waits for the GIL behind them. Making
        # the folder on the first call only saved about 0.1 ms a letter in a
        # delivery of 441 letters on the bench VM. `stage` makes it again if it
        # was removed since.
        if not self._folder_made:
            self.outbox.mkdir(parents=True, exist_ok=True)
            self._folder_made = True
        return None

    def send(self, raw: bytes, name: str) -> SendResult:
        failure = self.stage(raw, name)
        return failure if failure is not None else self.publish(name)

    def stage(self, raw: bytes, name: str) -> SendResult | None:
        """Write and sync the message under its hidden name; None when written."""
        staged = self._staged_path(name)
        try:
            try:
                _write_synced(staged, raw)
            except FileNotFoundError:
                # The outbox folder was removed during the run.
                self.outbox.mkdir(parents=True, exist_ok=True)
                _write_synced(staged, raw)
        except OSError as error:
            staged.unlink(missing_ok=True)
            return SendResult(DEFERRED, f"cannot write {staged}: {error}")
        return None

    def publish(self, name: str) -> SendResult:
        """Rename the staged message into place, which hands it over."""
        target = self.outbox / f"{name}.eml"
        staged = self._staged_path(name)
        try:
            os.replace(staged, target)
        except OSError as error:
            staged.unlink(missing_ok=True)
            return SendResult(DEFERRED, f"cannot write {target}: {error}")
        log.info("wrote %s", target)
        return SendResult(SENT, str(target))

    def discard(self, name: str) -> None:
        """Delete the staged message `name`, which was not handed over."""
        self._staged_path(name).unlink(missing_ok=True)

    def staged_files(self) -> list[Path]:
        """Return every staged message file in the outbox."""
        if not self.outbox.is_dir():
            return []
        return sorted(self.outbox.glob(".*.eml.tmp"))

    def staged_file(self, name: str) -> Path | None:
        """Return the staged message `name` when it is still there, else None."""
        staged = self._staged_path(name)
        return staged if staged.is_file() else None

    def _staged_path(self, name: str) -> Path:
        return self.outbox / f".{name}.eml.tmp"

    def written_file(self, name: str) -> Path | None:
        """Return the message file `name` when the outbox contains it, else None.

        `send` renames a file into place only after writing and syncing all of its
        bytes, so an existing file is a complete message.
        """
        target = self.outbox / f"{name}.eml"
        return target if target.is_file() else None

    def close(self) -> None:
        return None


# SMTP phases a send can break in, in order.
CONNECT = "connect"
MAIL = "MAIL"
RCPT = "RCPT"
DATA = "DATA"
AFTER_DATA = "after DATA"  # the server replied 354 and the message data was sent

# SendResult codes of a rejected message: the phase the server refused, or a message
# that needs SMTPUTF8 on a server that does not offer it.
MAIL_REFUSED = "mail-refused"
RCPT_REFUSED = "rcpt-refused"
DATA_REFUSED = "data-refused"
SMTPUTF8_MISSING = "smtputf8-missing"
_REFUSED = {MAIL: MAIL_REFUSED, RCPT: RCPT_REFUSED, DATA: DATA_REFUSED}


class _TrackingSMTP(smtplib.SMTP):
    """smtplib.SMTP that records the SMTP phase, to tell where a send broke."""

    phase: str = CONNECT

    def mail(self, sender, options=()):
        self.phase = MAIL
        return super().mail(sender, options)

    def rcpt(self, recip, options=()):
        self.phase = RCPT
        return super().rcpt(recip, options)

    def data(self, msg):
        self.phase = DATA
        return super().data(msg)

    def getreply(self):
        code, message = super().getreply()
        if code == 354 and self.phase == DATA:
            self.phase = AFTER_DATA
        return code, message


class _TrackingSMTPSSL(smtplib.SMTP_SSL, _TrackingSMTP):
    pass


@functools.cache
def _client_class() -> type[yagmail.SMTP]:
    """Return yagmail.SMTP with connections that record the SMTP phase.

    yagmail and the keyring it loads are imported here, on the first SMTP
    connection, so a pass that writes only to the outbox does not import them.
    """
    import yagmail

    class _YagmailClient(yagmail.SMTP):
        @property
        def connection(self) -> type[_TrackingSMTP]:
            return _TrackingSMTPSSL if self.ssl else _TrackingSMTP

    return _YagmailClient


def _yagmail_client(settings: SmtpSettings) -> yagmail.SMTP:
    """Return a yagmail client for the settings. It connects on `login()`."""
    context = ssl.create_default_context()
    # yagmail passes these keyword arguments to smtplib.SMTP or SMTP_SSL.
    connection_options: dict[str, object] = {"timeout": settings.timeout}
    if settings.ssl:
        connection_options["context"] = context
    client = _client_class()(
        user=settings.user or "",
        # Never None: yagmail would then ask for the password on the terminal.
        password=settings.password or "",
        host=settings.host,
        port=settings.port,
        smtp_ssl=settings.ssl,
        # A dict is passed to smtplib's starttls() as keyword arguments.
        smtp_starttls={"context": context}
        if settings.starttls and not settings.ssl
        else False,
        smtp_skip_login=not settings.user,
        soft_email_validation=False,
        **connection_options,
    )
    # yagmail 0.16 appends "@gmail.com" to a user name without "@", so the login
    # name is set back to the configured one.
    client.user = settings.user or ""
    # yagmail.SMTP() attaches a stderr handler to its own "yagmail.log" logger. This
    # client logs through the engine's logging instead.
    client.log = logging.getLogger(f"{__name__}.yagmail")
    return client


def _close_client(client: yagmail.SMTP) -> None:
    if client.smtp is not None:
        client.smtp.close()
    # Stops yagmail's __del__ from sending QUIT on a connection that is already closed.
    client.is_closed = True


def _reply_text(error: smtplib.SMTPResponseException) -> str:
    reply = error.smtp_error
    if isinstance(reply, bytes):
        reply = reply.decode("utf-8", "replace")
    return f"{error.smtp_code} {reply}"


def _refusals_text(refused: dict[str, tuple[int, bytes]]) -> str:
    """Return `{address: (550, b"...")}` as "address: 550 ...; address: 550 ..."."""
    parts = []
    for address, (code, reply) in refused.items():
        text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
        parts.append(f"{address}: {code} {text}")
    return "; ".join(parts)


def _needs_smtputf8(raw: bytes, sender: str, recipients: list[str]) -> bool:
    return not raw.isascii() or not all(
        address.isascii() for address in [sender, *recipients]
    )


class SmtpTransport:
    """Send over one SMTP connection opened by yagmail, reconnecting when it drops."""

    def __init__(
        self, settings: SmtpSettings, sleep: Callable[[float], None] = time.sleep
    ):
        self.settings = settings
        self.sleep = sleep
        self._client: yagmail.SMTP | None = None

    @property
    def server(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    def _backoff(self, attempt: int) -> float:
        return min(self.settings.backoff * 2**attempt, self.settings.max_backoff)

    def _open(self) -> yagmail.SMTP:
        client = _yagmail_client(self.settings)
        try:
            client.login()
        except BaseException:
            _close_client(client)
            raise
        return client

    def connect(self) -> SendResult | None:
        """Connect and log in, retrying passing failures with a bounded back-off.

        A failure that only a settings change can cure (login rejected, STARTTLS or
        AUTH not offered, TLS failed, a 5xx greeting) returns SETUP_FAILED at once,
        because repeated logins can lock the account.
        """
        if self._client is not None:
            return None
        server = self.server
        failure = None
        for attempt in range(self.settings.retries):
            try:
                self._client = self._open()
                return None
            except (smtplib.SMTPException, OSError) as error:
                failure = explain_connect_error(error, self.settings)
                if not failure.retry:
                    log.error("cannot open an SMTP session with %s: %s", server, error)
                    return SendResult(
                        SETUP_FAILED, failure.detail, code=failure.code, fix=failure.fix
                    )
                log.warning(
                    "cannot connect to %s (attempt %d of %d): %s",
                    server,
                    attempt + 1,
                    self.settings.retries,
                    error,
                )
                if attempt + 1 < self.settings.retries:
                    self.sleep(self._backoff(attempt))
        if failure is None:
            return SendResult(DEFERRED, "no connection attempts are configured")
        return SendResult(
            DEFERRED,
            f"{failure.detail} (after {self.settings.retries} attempts)",
            code=failure.code,
            fix=failure.fix,
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
        assert self._client is not None
        connection: _TrackingSMTP = self._client.smtp
        connection.phase = CONNECT
        try:
            options = self._mail_options(connection, raw, sender, recipients)
            if isinstance(options, SendResult):
                return options
            refused = connection.sendmail(sender, recipients, raw, mail_options=options)
        except smtplib.SMTPRecipientsRefused as error:
            codes = [code for code, _ in error.recipients.values()]
            status = DEFERRED if all(400 <= code < 500 for code in codes) else REJECTED
            return SendResult(
                status,
                f"RCPT refused: {_refusals_text(error.recipients)}",
                code=RCPT_REFUSED,
            )
        except smtplib.SMTPResponseException as error:
            status = DEFERRED if 400 <= error.smtp_code < 500 else REJECTED
            phase = connection.phase
            self._drop_connection()
            return SendResult(
                status,
                f"{phase} refused: {_reply_text(error)}",
                code=_REFUSED.get(phase, DATA_REFUSED),
            )
        except (smtplib.SMTPServerDisconnected, OSError) as error:
            # After the 354 reply the whole message may have reached the server.
            phase = connection.phase
            self._drop_connection()
            if phase == AFTER_DATA:
                log.warning(
                    "%s: connection lost after the message data: %s", name, error
                )
                return SendResult(
                    UNCERTAIN, f"connection lost after the message data: {error}"
                )
            return SendResult(
                DEFERRED,
                f"connection lost during {phase}, before the message data: {error}",
            )
        log.info("sent %s to %s", name, ", ".join(recipients))
        if refused:
            return SendResult(
                SENT, f"RCPT refused: {_refusals_text(refused)}", code=RCPT_REFUSED
            )
        return SendResult(SENT)

    def _mail_options(
        self,
        connection: _TrackingSMTP,
        raw: bytes,
        sender: str,
        recipients: list[str],
    ) -> list[str] | SendResult:
        """Return the MAIL options, or a rejection when SMTPUTF8 is missing."""
        if not _needs_smtputf8(raw, sender, recipients):
            return []
        connection.ehlo_or_helo_if_needed()
        if not connection.has_extn("smtputf8"):
            addresses = [a for a in [sender, *recipients] if not a.isascii()]
            return SendResult(
                REJECTED,
                f"{self.server} does not offer SMTPUTF8, which the address "
                f"{', '.join(addresses) or 'in the headers'} needs",
                code=SMTPUTF8_MISSING,
            )
        options = ["SMTPUTF8"]
        if connection.has_extn("8bitmime"):
            options.append("BODY=8BITMIME")
        return options

    def _drop_connection(self) -> None:
        if self._client is not None:
            _close_client(self._client)
            self._client = None

    def close(self) -> None:
        """Say QUIT; a server that hangs up instead has already accepted every message."""
        if self._client is None:
            return
        try:
            self._client.smtp.quit()
        except (smtplib.SMTPException, OSError) as error:
            log.info("SMTP QUIT got no response: %s", error)
        _close_client(self._client)
        self._client = None


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
