"""aiosmtpd servers on 127.0.0.1 with the failure modes seen in production.

Modes:
- ok: stores each message and replies 250.
- drop_after_data: stores the message, then hangs up instead of replying to the
  final "." (so the client cannot tell whether the message arrived).
- timeout_after_data: stores the message, then sends no reply for `hold` seconds.
- drop_on_quit: replies 250 to DATA, then hangs up instead of replying to QUIT.
- auth_fail: replies 535 to every AUTH.
- tempfail_first: greets the first connection with 421 and hangs up.
- drop_on_rcpt: hangs up when the client sends RCPT, before any message data.
- reject_rcpt: replies 550 to RCPT for addresses in `reject` (every address when
  `reject` is empty).
- reject_data: replies 554 after the message data and stores nothing.

`smtputf8=True` makes the server offer SMTPUTF8 (aiosmtpd does not by default).
`auth=False` makes the server offer no AUTH (no login). No server offers STARTTLS.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult

MODES = (
    "ok",
    "drop_after_data",
    "timeout_after_data",
    "drop_on_quit",
    "auth_fail",
    "tempfail_first",
    "drop_on_rcpt",
    "reject_rcpt",
    "reject_data",
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Received:
    raw: bytes
    mail_from: str
    recipients: list[str]

    @property
    def message(self):
        return BytesParser(policy=policy.default).parsebytes(self.raw)

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])


@dataclass
class Handler:
    mode: str
    hold: float = 3.0
    received: list[Received] = field(default_factory=list)
    connections: int = 0
    login_attempts: int = 0
    reject: tuple[str, ...] = ()
    mail_options: list[list[str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        with self.lock:
            self.mail_options.append(list(mail_options))
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.mode == "drop_on_rcpt":
            server.transport.close()
            return "250 OK"
        if self.mode == "reject_rcpt" and (not self.reject or address in self.reject):
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.mode == "reject_data":
            return "554 5.7.1 message refused as spam"
        with self.lock:
            self.received.append(
                Received(
                    bytes(envelope.original_content or envelope.content),
                    envelope.mail_from,
                    list(envelope.rcpt_tos),
                )
            )
        if self.mode == "drop_after_data":
            server.transport.close()
            return "250 OK"
        if self.mode == "timeout_after_data":
            await asyncio.sleep(self.hold)
        return "250 2.0.0 queued"

    async def handle_QUIT(self, server, session, envelope):
        if self.mode == "drop_on_quit":
            server.transport.close()
        return "221 bye"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        with self.lock:
            self.login_attempts += 1
        return AuthResult(success=self.mode != "auth_fail", handled=False)

    def message_ids(self) -> list[str]:
        with self.lock:
            return [item.message_id for item in self.received]


class _FaultySMTP(SMTP):
    async def _handle_client(self):
        handler = self.event_handler
        with handler.lock:
            handler.connections += 1
            first = handler.connections == 1
        if handler.mode == "tempfail_first" and first:
            await self.push("421 4.3.2 service not available, try later")
            self.transport.close()
            return
        await super()._handle_client()


class FaultyController(Controller):
    smtputf8 = False
    auth = True

    def factory(self):
        return _FaultySMTP(
            self.handler,
            authenticator=self.handler.authenticate,
            # With every mechanism excluded the EHLO reply has no AUTH line.
            auth_exclude_mechanism=[] if self.auth else ["LOGIN", "PLAIN"],
            auth_require_tls=False,
            **{**self.SMTP_kwargs, "enable_SMTPUTF8": self.smtputf8},
        )


class SmtpServer:
    """A started server: `with SmtpServer("ok") as server: server.port`."""

    def __init__(
        self,
        mode: str = "ok",
        hold: float = 3.0,
        *,
        smtputf8: bool = False,
        reject: tuple[str, ...] = (),
        auth: bool = True,
    ):
        assert mode in MODES, mode
        self.handler = Handler(mode, hold, reject=reject)
        self.port = free_port()
        self.controller = FaultyController(
            self.handler, hostname="127.0.0.1", port=self.port
        )
        self.controller.smtputf8 = smtputf8
        self.controller.auth = auth

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        # Controller.start() opens one connection itself to check that the server is up.
        with self.handler.lock:
            self.handler.connections = 0
        return self

    def __exit__(self, *exc_info) -> None:
        self.controller.stop()

    @property
    def received(self) -> list[Received]:
        return self.handler.received
