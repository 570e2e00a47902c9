"""Deliver rendered letters at most once each, through the send ledger.

For each letter: skip it when the ledger already has it, let the pipeline re-read
payments (`recheck`), connect, record "sending" with the message bytes, hand it
over, record the outcome. A crash between the two records leaves "sending", which
the next run reports as uncertain instead of sending the letter again. The one
exception is the optional single resend of an uncertain letter, with the same
Message-ID.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage

from engine.findings import EngineError, Finding, Severity
from engine.mail import ledger as status
from engine.mail import transport as outcome
from engine.mail.ledger import LedgerEntry, SendLedger
from engine.mail.letter import Letter
from engine.mail.transport import SendResult, Transport, outbox_name

log = logging.getLogger(__name__)

Recheck = Callable[[Letter], Letter | None]
Render = Callable[[Letter], EmailMessage]


@dataclass(slots=True)
class DeliveryReport:
    """Outcome of each letter in one delivery run."""

    sent: list[Letter] = field(default_factory=list)
    already_sent: list[Letter] = field(default_factory=list)
    dropped: list[Letter] = field(default_factory=list)  # nothing left open at recheck
    deferred: list[Letter] = field(default_factory=list)  # still queued for a later run
    uncertain: list[LedgerEntry] = field(default_factory=list)
    resent: list[LedgerEntry] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


def _finding(letter_where: str, message: str, fix: str, code: str) -> Finding:
    return Finding(where=letter_where, message=message, fix=fix, code=code)


def _serialize(message: EmailMessage) -> bytes:
    try:
        return message.as_bytes(policy=policy.SMTP)
    except (UnicodeEncodeError, ValueError):
        # A non-ASCII address local part needs SMTPUTF8 instead of encoded words.
        return message.as_bytes(policy=policy.SMTPUTF8)


class _Run:
    def __init__(
        self, transport: Transport, ledger: SendLedger, report: DeliveryReport
    ):
        self.transport = transport
        self.ledger = ledger
        self.report = report
        self.stopped = False

    def stop(self, where: str, result: SendResult) -> None:
        """Stop the run after a rejected login with one alert. Later letters stay queued."""
        self.stopped = True
        self.report.findings.append(
            Finding(
                where=where,
                message=f"{result.detail}. No letter was sent, and all stay queued.",
                fix="Correct the SMTP user or password; the next run sends the queued letters.",
                code="smtp-login-rejected",
            )
        )

    def hand_over(self, letter: Letter, message: EmailMessage) -> None:
        failure = self.transport.connect()
        if failure is not None:
            self._not_handed_over(letter, failure)
            return
        raw = _serialize(message)
        self.ledger.begin(letter, str(message["Message-ID"]), raw)
        name = outbox_name(
            letter.kind,
            letter.level,
            letter.recipient_id,
            letter.as_of.isoformat(),
            letter.key,
        )
        result = self.transport.send(raw, name)
        self._record(letter, result)

    def _not_handed_over(self, letter: Letter, result: SendResult) -> None:
        self.report.deferred.append(letter)
        if result.status == outcome.AUTH_FAILED:
            self.stop("SMTP", result)
        elif result.status == outcome.DEFERRED:
            # The server cannot be reached, so the remaining letters would fail the same way.
            self.stopped = True
            self.report.findings.append(
                Finding(
                    where="SMTP",
                    message=f"{result.detail}. The letters stay queued for the next run.",
                    fix="Check that the mail server is reachable.",
                    severity=Severity.WARNING,
                    code="smtp-unreachable",
                )
            )

    def _record(self, letter: Letter, result: SendResult) -> None:
        key = letter.key
        if result.status == outcome.SENT:
            self.ledger.finish(key, status.SENT, result.detail)
            self.report.sent.append(letter)
        elif result.status == outcome.UNCERTAIN:
            self.ledger.finish(key, status.UNCERTAIN, result.detail)
            self.report.uncertain.append(self.ledger.entry(key))
        elif result.status == outcome.REJECTED:
            self.ledger.finish(key, status.FAILED, result.detail)
            self.report.findings.append(
                _finding(
                    letter.where,
                    f"the mail server rejected the {letter.kind} letter: {result.detail}.",
                    "Check the recipient address in the sheet.",
                    "smtp-rejected",
                )
            )
        else:
            self.ledger.finish(key, status.QUEUED, result.detail)
            self._not_handed_over(letter, result)

    def resend(self, entry: LedgerEntry) -> None:
        """Send an uncertain letter once more with the same bytes and Message-ID."""
        raw = self.ledger.message_bytes(entry.key)
        if raw is None or self.transport.connect() is not None:
            return
        self.ledger.begin_resend(entry.key)
        name = outbox_name(
            entry.kind,
            entry.level,
            entry.recipient_id,
            entry.as_of.isoformat(),
            entry.key,
        )
        result = self.transport.send(raw, name)
        final = status.SENT if result.status == outcome.SENT else status.UNCERTAIN
        self.ledger.finish(
            entry.key, final, f"resent once: {result.status} {result.detail}"
        )
        self.report.resent.append(entry)
        log.info("resent uncertain letter %s: %s", entry.message_id, result.status)


def _recheck(
    letter: Letter,
    message: EmailMessage,
    recheck: Recheck | None,
    render: Render | None,
) -> tuple[Letter | None, EmailMessage]:
    """Return the letter with only the items still open, re-rendered if some were paid."""
    if recheck is None:
        return letter, message
    current = recheck(letter)
    if current is None or not current.items and letter.items:
        return None, message
    if current.items == letter.items:
        return letter, message
    if render is None:
        raise ValueError("deliver() needs render= when recheck can change a letter")
    return current, render(current)


def deliver(
    messages: list[tuple[Letter, EmailMessage]],
    transport: Transport,
    ledger: SendLedger,
    *,
    recheck: Recheck | None = None,
    render: Render | None = None,
    resend_uncertain: bool = False,
) -> DeliveryReport:
    """Hand each letter over at most once, in the steps the module docstring lists.

    `recheck` returns the letter with only the items still open (None when nothing
    is); `render` (usually `LetterRenderer.render`) re-renders such a letter. With
    `resend_uncertain`, each uncertain letter is sent at most once more, as the same
    bytes with the same Message-ID.
    """
    report = DeliveryReport()
    run = _Run(transport, ledger, report)
    for entry in ledger.mark_interrupted():
        log.warning(
            "letter %s was interrupted while sending; delivery uncertain",
            entry.message_id,
        )
        report.uncertain.append(ledger.entry(entry.key))
    try:
        for letter, message in messages:
            if run.stopped:
                report.deferred.append(letter)
                continue
            _deliver_one(run, letter, message, recheck, render)
        if resend_uncertain and not run.stopped:
            for entry in ledger.uncertain():
                if entry.attempts < 2:
                    run.resend(entry)
    finally:
        transport.close()
    return report


def _deliver_one(
    run: _Run,
    letter: Letter,
    message: EmailMessage,
    recheck: Recheck | None,
    render: Render | None,
) -> None:
    if _already_handed_over(run, letter):
        return
    try:
        current, message = _recheck(letter, message, recheck, render)
    except EngineError as error:
        run.report.findings.extend(error.findings)
        return
    if current is None:
        log.info(
            "%s: every item was paid since the pass began; letter dropped", letter.where
        )
        run.report.dropped.append(letter)
        return
    if current is not letter and _already_handed_over(run, current):
        return
    run.hand_over(current, message)


def _already_handed_over(run: _Run, letter: Letter) -> bool:
    entry = run.ledger.entry(letter.key)
    if entry is None or entry.status == status.QUEUED:
        return False
    run.report.already_sent.append(letter)
    return True
