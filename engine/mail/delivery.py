"""Deliver rendered letters at most once each, through the send ledger.

For each letter: skip it when the ledger already has it, let the pipeline re-read
payments (`recheck`), connect, record "sending" with the message bytes, hand it
over, record the outcome. A "sent" outcome is recorded in the same transaction as
later letters' "sending", which saves one synchronous commit per letter. A crash
between the two records leaves "sending", which the next run reports as uncertain
instead of sending the letter again. The one exception is the optional single resend
of an uncertain letter, with the same Message-ID.

The outbox takes letters in batches (see `_Run`): their files are staged first, the
batch is recorded "sending" in one transaction, then the files are published. After
a crash, a first attempt whose staged file is still there was never handed over, so
the next run sends it instead of reporting it uncertain.

A letter the server rejected with a 5xx reply is recorded "failed", reported as a
finding (so the digest lists it under failures) and never counted as sent. No rule
setting turns on retries, because the same request to the same server gets the same
5xx reply. Later passes therefore try it again only when something that caused the
rejection has changed:

- a refused recipient address (RCPT 5xx, or a non-ASCII address on a server without
  SMTPUTF8) is not retried while the letter still goes to every refused address.
  Once finance corrects the address in the sheet, the next pass sends the letter.
- a refused sender or message (MAIL or DATA 5xx) is not retried for the same letter
  (same day, level and items). A letter planned on a later day is tried again.

Each pass that skips a rejected letter adds a finding that says what to fix.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from email.message import EmailMessage

from engine.findings import EngineError, Finding, Severity
from engine.mail import ledger as status
from engine.mail import transport as outcome
from engine.mail.ledger import LedgerEntry, SendLedger
from engine.mail.letter import Letter
from engine.mail.message import serialize
from engine.mail.transport import SendResult, Transport, envelope_of, outbox_name

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
    failed: list[Letter] = field(default_factory=list)  # rejected by the server now
    # Letters rejected on an earlier pass and not tried again, with that rejection.
    not_retried: list[tuple[Letter, LedgerEntry]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


def _finding(letter_where: str, message: str, fix: str, code: str) -> Finding:
    return Finding(where=letter_where, message=message, fix=fix, code=code)


# Letters staged and recorded "sending" together when the transport stages files
# in the outbox. One synchronous commit per letter took about 2 ms on the bench VM,
# close to the cost of rendering the letter.
OUTBOX_BATCH = 16
# Threads that stage one batch's files. The file system can sync the files of
# concurrent fsync calls in one journal commit. On the bench VM (ext4, under load),
# 16 files took 0.2 to 0.5 ms each with 4 to 16 threads, and 3 to 6 ms each one
# after another.
STAGING_THREADS = 8

# A letter ready to hand over: the letter, its Message-ID and its bytes.
Prepared = tuple[Letter, str, bytes]


class _Run:
    """One delivery run: hands letters over one at a time, or in staged batches.

    With a transport that sends (SMTP), each letter is recorded "sending", sent and
    recorded with its outcome. With a transport that stages files (the outbox),
    worker threads stage a batch of letters while the next batch is serialized.
    Then the letters staged before the first failure are recorded "sending" in one
    transaction and their files are published. A crash leaves each of them with its
    published file (sent) or its staged file (never handed over, so queued again).
    """

    def __init__(
        self, transport: Transport, ledger: SendLedger, report: DeliveryReport
    ):
        self.transport = transport
        self.ledger = ledger
        self.report = report
        self.stopped = False
        # A letter handed over successfully is recorded "sent" in the transaction
        # that records later letters "sending", or by `record_sent` at the end.
        # A crash before then leaves it "sending", which the next run settles by
        # its file, or reports as uncertain, as after a crash during the hand-over.
        self.unrecorded: list[status.Outcome] = []
        # Letters serialized but not yet recorded "sending".
        self.pending: list[Prepared] = []
        self.batch_size = 1
        self.executor: ThreadPoolExecutor | None = None
        if getattr(transport, "stages_files", False):
            self.executor = ThreadPoolExecutor(
                STAGING_THREADS, thread_name_prefix="outbox"
            )
            self.batch_size = OUTBOX_BATCH
        # The batch being staged and the future of each letter's staging.
        self.in_flight: tuple[list[Prepared], list[Future[SendResult | None]]] | None
        self.in_flight = None
        # Ledger facts read in bulk by `look_up`, so that a letter without an entry
        # costs no query of its own. A key this run records is looked up again.
        self.looked_up: set[str] = set()
        self.present: set[str] = set()
        self.failed_pairs: set[tuple[str, str]] | None = None

    def look_up(self, letters: list[Letter]) -> None:
        """Read which letters have a ledger entry, and who has a rejected letter."""
        keys = [letter.key for letter in letters]
        self.present = self.ledger.keys_present(keys)
        self.looked_up = set(keys)
        self.failed_pairs = self.ledger.failed_recipients()

    def entry(self, key: str) -> LedgerEntry | None:
        """Return the ledger entry of `key`, without a query when `look_up` found none."""
        if key in self.looked_up and key not in self.present:
            return None
        return self.ledger.entry(key)

    def may_be_rejected(self, letter: Letter) -> bool:
        """Return False when the recipient has no letter of this kind recorded "failed"."""
        if self.failed_pairs is None:
            return True
        return (letter.recipient_id, letter.kind) in self.failed_pairs

    def _recording(self, batch: list[Prepared]) -> None:
        self.looked_up.difference_update(letter.key for letter, _, _ in batch)

    def stop(self, where: str, result: SendResult) -> None:
        """Stop the run with one alert when only a settings change helps."""
        self.stopped = True
        self.report.findings.append(
            Finding(
                where=where,
                message=f"{result.detail}. No letter was sent, and all stay queued.",
                fix=result.fix
                or "Correct the SMTP settings. The next run sends the queued letters.",
                code=result.code or "smtp-setup-failed",
            )
        )

    def hand_over(self, letter: Letter, message: EmailMessage) -> None:
        """Serialize a letter for the next batch; a full batch is handed over."""
        failure = self.transport.connect()
        if failure is not None:
            self.flush()
            self.settle_in_flight()
            self._not_handed_over(letter, failure)
            return
        self.pending.append((letter, str(message["Message-ID"]), serialize(message)))
        if len(self.pending) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        """Hand over the pending letters, or start staging them."""
        if not self.pending:
            return
        batch, self.pending = self.pending, []
        if self.executor is None:
            self._send_now(batch)
            return
        self.settle_in_flight()
        if self.stopped:
            self.report.deferred.extend(letter for letter, _, _ in batch)
            return
        stage = self.transport.stage
        futures = [
            self.executor.submit(stage, raw, file_stem(letter))
            for letter, _, raw in batch
        ]
        self.in_flight = (batch, futures)

    def _send_now(self, batch: list[Prepared]) -> None:
        self._recording(batch)
        self.ledger.begin_many(batch, self.unrecorded)
        self.unrecorded = []
        for index, (letter, _, raw) in enumerate(batch):
            self._record(letter, self.transport.send(raw, file_stem(letter)))
            if self.stopped:
                self._withdraw(batch[index + 1 :])
                return

    def settle_in_flight(self) -> None:
        """Wait for the batch being staged, record it "sending" and publish it.

        Only the letters before the first failed staging are handed over. The rest
        are not recorded and stay queued, and their staged files are deleted.
        """
        if self.in_flight is None:
            return
        batch, futures = self.in_flight
        self.in_flight = None
        results = [future.result() for future in futures]
        failed = next(
            (index for index, result in enumerate(results) if result is not None),
            len(batch),
        )
        staged = batch[:failed]
        if staged:
            self._recording(staged)
            self.ledger.begin_many(staged, self.unrecorded)
            self.unrecorded = []
        for index, (letter, _, _) in enumerate(staged):
            self._record(letter, self.transport.publish(file_stem(letter)))
            if self.stopped:
                self._withdraw(staged[index + 1 :])
                break
        if failed == len(batch):
            return
        if self.stopped:
            self.report.deferred.append(batch[failed][0])
        else:
            self._not_handed_over(batch[failed][0], results[failed])
        for (letter, _, _), result in zip(batch[failed + 1 :], results[failed + 1 :]):
            if result is None:
                self.transport.discard(file_stem(letter))
            self.report.deferred.append(letter)

    def _withdraw(self, batch: list[Prepared]) -> None:
        """Record letters "sending" but not handed over as queued again."""
        discard = getattr(self.transport, "discard", None)
        for letter, _, _ in batch:
            self.ledger.finish(letter.key, status.QUEUED, "not handed over")
            if discard is not None:
                discard(file_stem(letter))
            self.report.deferred.append(letter)

    def close(self) -> None:
        """Settle the batch being staged and record every outcome not yet recorded.

        Letters still pending (after an error stopped the run) were never recorded,
        so they stay queued for the next run.
        """
        try:
            self.settle_in_flight()
        finally:
            self.record_sent()
            if self.executor is not None:
                self.executor.shutdown()

    def handing_over(self, key: str) -> bool:
        """Return True when the letter is pending, in flight or not yet recorded sent."""
        batches = [self.pending]
        if self.in_flight is not None:
            batches.append(self.in_flight[0])
        if any(letter.key == key for batch in batches for letter, _, _ in batch):
            return True
        return any(sent.key == key for sent in self.unrecorded)

    def _not_handed_over(self, letter: Letter, result: SendResult) -> None:
        self.report.deferred.append(letter)
        if result.status == outcome.SETUP_FAILED:
            self.stop("SMTP", result)
        elif result.status == outcome.DEFERRED:
            # The server cannot be reached, so the remaining letters would fail the same way.
            self.stopped = True
            self.report.findings.append(
                Finding(
                    where="SMTP",
                    message=f"{result.detail}. The letters stay queued for the next run.",
                    fix=result.fix or "Check that the mail server is reachable.",
                    severity=Severity.WARNING,
                    code="smtp-unreachable",
                )
            )

    def record_sent(self) -> None:
        """Record the letters handed over since the last "sending" record as sent.

        The records share one transaction, so a crash leaves all of them "sending",
        as a crash before `record_sent` does.
        """
        if not self.unrecorded:
            return
        with self.ledger.transaction():
            for sent in self.unrecorded:
                self.ledger.finish(sent.key, sent.status, sent.detail)
        self.unrecorded = []

    def _record(self, letter: Letter, result: SendResult) -> None:
        key = letter.key
        if result.status != outcome.SENT:
            self.record_sent()
        if result.status == outcome.SENT:
            self.unrecorded.append(status.Outcome(key, status.SENT, result.detail))
            self.report.sent.append(letter)
            if result.code == outcome.RCPT_REFUSED:
                self.report.findings.append(
                    Finding(
                        where=letter.where,
                        message=f"the {letter.kind} letter was sent, but the mail "
                        f"server refused some recipients: {result.detail}.",
                        fix="Correct the refused e-mail address in the sheet or rules.",
                        severity=Severity.WARNING,
                        code="smtp-recipient-refused",
                    )
                )
        elif result.status == outcome.UNCERTAIN:
            self.ledger.finish(key, status.UNCERTAIN, result.detail)
            self.report.uncertain.append(self.ledger.entry(key))
        elif result.status == outcome.REJECTED:
            detail = f"{result.code}: {result.detail}" if result.code else result.detail
            self.ledger.finish(key, status.FAILED, detail)
            if self.failed_pairs is not None:
                self.failed_pairs.add((letter.recipient_id, letter.kind))
            self.report.failed.append(letter)
            self.report.findings.append(_rejection_finding(letter, result))
        else:
            self.ledger.finish(key, status.QUEUED, result.detail)
            self._not_handed_over(letter, result)

    def resend(self, entry: LedgerEntry) -> None:
        """Send an uncertain letter once more with the same bytes and Message-ID."""
        raw = self.ledger.message_bytes(entry.key)
        self.flush()
        self.settle_in_flight()
        if raw is None or self.transport.connect() is not None:
            return
        self.record_sent()
        self.looked_up.discard(entry.key)
        self.ledger.begin_resend(entry.key)
        name = file_stem(entry)
        result = self.transport.send(raw, name)
        final = status.SENT if result.status == outcome.SENT else status.UNCERTAIN
        self.ledger.finish(
            entry.key, final, f"resent once: {result.status} {result.detail}"
        )
        self.report.resent.append(entry)
        log.info("resent uncertain letter %s: %s", entry.message_id, result.status)


def _rejection_finding(letter: Letter, result: SendResult) -> Finding:
    if result.code == outcome.SMTPUTF8_MISSING:
        return _finding(
            letter.where,
            f"the {letter.kind} letter was not sent: {result.detail}.",
            "Enter an ASCII e-mail address in the sheet, or ask the mail provider "
            "to enable SMTPUTF8.",
            "smtp-smtputf8-missing",
        )
    if result.code == outcome.RCPT_REFUSED:
        return _finding(
            letter.where,
            f"the mail server rejected the recipient of the {letter.kind} letter: "
            f"{result.detail}.",
            "Correct the e-mail address in the sheet. The letter is not sent again "
            "until the address changes.",
            "smtp-rejected",
        )
    return _finding(
        letter.where,
        f"the mail server rejected the {letter.kind} letter: {result.detail}.",
        "Ask the mail administrator why the server refused it. This letter is not "
        "sent again, and a letter planned on a later day is tried again.",
        "smtp-rejected",
    )


def _recipients_of(raw: bytes | None) -> set[str]:
    if raw is None:
        return set()
    return {address.lower() for address in envelope_of(raw)[1]}


def _blocking_rejection(run: _Run, letter: Letter) -> LedgerEntry | None:
    """Return the earlier rejection that stops this letter (see the module docs)."""
    if not run.may_be_rejected(letter):
        return None
    ledger = run.ledger
    addresses = {address.lower() for address in letter.to + letter.cc}
    for entry in ledger.failed_for(letter.recipient_id, letter.kind):
        code = entry.detail.partition(":")[0]
        if code in (outcome.RCPT_REFUSED, outcome.SMTPUTF8_MISSING):
            refused = _recipients_of(ledger.message_bytes(entry.key))
            if refused and refused <= addresses:
                return entry
        elif entry.key == letter.key:
            return entry
    return None


def _skip_rejected(run: _Run, letter: Letter, entry: LedgerEntry) -> None:
    log.info(
        "%s: %s letter not sent again after the rejection of %s",
        letter.where,
        letter.kind,
        entry.as_of,
    )
    run.report.not_retried.append((letter, entry))
    code, _, detail = entry.detail.partition(": ")
    if code in (outcome.RCPT_REFUSED, outcome.SMTPUTF8_MISSING):
        fix = (
            "Correct the e-mail address in the sheet; the next pass sends the letter "
            "to the new address."
        )
    else:
        fix = (
            "Ask the mail administrator why the server refused it; a letter planned "
            "on a later day is tried again."
        )
    run.report.findings.append(
        _finding(
            letter.where,
            f"the {letter.kind} letter was not sent because the mail server rejected "
            f"it on {entry.as_of.isoformat()}: {detail or entry.detail}.",
            fix,
            "mail-rejected-not-retried",
        )
    )


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
    report.uncertain.extend(settle_interrupted(ledger, transport))
    run.look_up([letter for letter, _ in messages])
    try:
        for letter, message in messages:
            if run.stopped:
                report.deferred.append(letter)
                continue
            _deliver_one(run, letter, message, recheck, render)
        run.flush()
        if resend_uncertain and not run.stopped:
            for entry in ledger.uncertain():
                if entry.attempts < 2:
                    run.resend(entry)
    finally:
        try:
            run.close()
        finally:
            transport.close()
    return report


def settle_interrupted(ledger: SendLedger, transport: Transport) -> list[LedgerEntry]:
    """Settle the letters an interrupted run left "sending"; return the uncertain ones.

    A pass calls this before it plans its letters, so that a letter queued again
    here is planned and sent by that pass. `deliver` calls it again and then finds
    nothing left.

    With the outbox, a letter whose file is in the outbox was written in full, so it
    is recorded "sent". A first attempt whose staged file is still there was never
    handed over, so it is queued again and this run sends it. A letter with neither
    file still counts as uncertain, because whatever collects the outbox may have
    taken the file away already.
    """
    written_file = getattr(transport, "written_file", None)
    staged_file = getattr(transport, "staged_file", None)
    uncertain = []
    for entry in ledger.mark_interrupted():
        name = file_stem(entry)
        path = written_file(name) if written_file is not None else None
        if path is not None:
            ledger.finish(entry.key, status.SENT, str(path))
            log.info("letter %s was interrupted but is in %s", entry.message_id, path)
            continue
        staged = staged_file(name) if staged_file is not None else None
        if staged is not None and entry.attempts == 1:
            # Staged but never published, so nothing can have collected it. A later
            # attempt (such as the resend of an uncertain letter) stays uncertain,
            # because an earlier attempt may have been handed over.
            staged.unlink()
            ledger.finish(entry.key, status.QUEUED, "interrupted before the hand-over")
            log.info(
                "letter %s was interrupted before the hand-over; queued again",
                entry.message_id,
            )
            continue
        log.warning(
            "letter %s was interrupted while sending; delivery uncertain",
            entry.message_id,
        )
        uncertain.append(ledger.entry(entry.key))
    return uncertain


def uncertain_findings(ledger: SendLedger) -> list[Finding]:
    """Return one finding per letter whose delivery is uncertain, until it is resolved."""
    findings = []
    for entry in ledger.uncertain():
        # Without its angle brackets, the Message-ID needs no quotes in a shell.
        bare_id = entry.message_id.strip("<>")
        findings.append(
            Finding(
                where=f"{entry.kind} letter to {entry.recipient_id} of "
                f"{entry.as_of.isoformat()}",
                message=f"delivery of letter {entry.message_id} is uncertain: "
                f"{entry.detail}. It is not sent again by itself.",
                fix="Ask the recipient or the mail server whether it arrived, then run "
                f"`arrears-guard resolve-letter {bare_id} --arrived`, or with "
                "`--not-arrived` to let the next pass send it again.",
                severity=Severity.WARNING,
                code="mail-uncertain",
            )
        )
    return findings


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
    rejection = _blocking_rejection(run, current)
    if rejection is not None:
        _skip_rejected(run, current, rejection)
        return
    run.hand_over(current, message)


def _already_handed_over(run: _Run, letter: Letter) -> bool:
    if run.handing_over(letter.key):
        run.report.already_sent.append(letter)
        return True
    entry = run.entry(letter.key)
    if entry is None or entry.status in (status.QUEUED, status.FAILED):
        return False
    run.report.already_sent.append(letter)
    return True


def file_stem(letter: Letter | LedgerEntry) -> str:
    """Return the outbox file stem of a planned letter or of its send-ledger entry."""
    as_of = letter.as_of.isoformat()
    return outbox_name(
        letter.kind, letter.level, letter.recipient_id, as_of, letter.key
    )
