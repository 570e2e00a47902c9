"""The mail stage of a pass: plan letters, render them, deliver them exactly once.

Reminders, salesperson notices and thank-you notes come from the pass's ledger and
decisions; digests follow, and only when the pass has news for them (a status change,
a letter handed over, a delivery problem, or findings the last digest did not list),
so a pass on unchanged input sends nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import sqlite3
from zoneinfo import ZoneInfo

from engine.findings import EngineError, Finding, Severity

log = logging.getLogger(__name__)

# Folder beside the state file for compiled templates and the last aging chart.
CACHE = "cache"

DIGEST_STATE = """
CREATE TABLE IF NOT EXISTS digest_state (
    recipient TEXT PRIMARY KEY,
    findings_sha256 TEXT NOT NULL
);
"""


def send_mail_for_pass(project, workbook_map, rules, inputs, ledger, customers, limits,
                       result, state, incomplete=None, no_reminders=None) -> None:
    """Plan, render and deliver this pass's letters; `state` None means a dry run.

    `incomplete` maps customer ids whose ledger is partial to why; they get no
    thank-you letter. `no_reminders` (default: all of `incomplete`) are those whose
    items may be paid by a row that could not be read, so they get no reminder.
    """
    if no_reminders is None:
        no_reminders = incomplete
    from engine.mail import notices_due
    from engine.mail.delivery import uncertain_findings
    from engine.mail.ledger import SendLedger
    from engine.mail.plan import (
        collect_promised_dates,
        plan_reminders,
        plan_salesperson_notices,
        plan_thank_you_notes,
    )
    from engine.mail.render import LetterRenderer

    connection = state if state is not None else snapshot_state(workbook_map.state)
    sent = SendLedger(connection)
    # A writing pass keeps compiled templates beside the state, so the next pass
    # skips compiling them; a new project also finds the shipped templates in the
    # per-user cache. A dry run writes nothing in the project.
    cache_dir = None
    if state is not None:
        cache_dir = workbook_map.state.parent / CACHE / "templates"
    renderer = LetterRenderer(project.templates_dir, rules, cache_dir=cache_dir)
    result.findings.extend(renderer.check())

    settled = []
    if state is not None:
        settings = smtp_settings(project)
        settled = settle_interrupted_letters(workbook_map, settings, sent)

    promised = collect_promised_dates(inputs.orders, inputs.payments)
    held = {row.key for row in inputs.held if row.kind == "customers"}
    reminders, findings = plan_reminders(
        rules, ledger, customers, result.as_of, sent, promised=promised, held=held
    )
    result.findings.extend(findings)
    # Decisions of earlier passes whose notice did not go out are stored, because an
    # order approved with a warning is not decided again.
    due = notices_due.load(connection)
    notices, findings = plan_salesperson_notices(
        rules, notices_due.with_earlier(result.decisions, due), customers,
        result.as_of, sent,
    )
    result.findings.extend(findings)
    thanks = plan_thank_you_notes(rules, ledger, customers, result.as_of, sent)
    reminders = withhold_incomplete(reminders, customers, no_reminders, result.findings)
    thanks = withhold_incomplete(thanks, customers, incomplete, result.findings)
    result.letters = reminders + notices + thanks
    result.findings.extend(renderer.check_languages(result.letters))
    if state is None:
        return

    from engine.pipeline import collector_paused

    if result.changed_during_pass:
        # A person saved a workbook during the pass, so this pass's write was dropped.
        # The next pass decides again on the new content and sends the mail.
        names = ", ".join(sorted(path.name for path in result.changed_during_pass))
        log.info("mail left to the next pass: %s changed during this pass", names)
        return

    # Each rendered message is a few hundred objects that live until delivery.
    with collector_paused():
        messages, findings = renderer.render_letters(result.letters)
    result.findings.extend(findings)

    # Delivery mostly waits for files and commits, so the chart's work fits there.
    ahead = start_aging_chart(workbook_map, rules, ledger, customers, incomplete)
    resend = bool(getattr(settings, "resend_uncertain", False))
    recheck = PaymentRecheck(workbook_map, rules, result.as_of, ledger=ledger,
                             result=result)
    report = deliver_with(workbook_map, settings, messages, sent,
                          recheck=recheck, render=renderer.render, resend_uncertain=resend)
    report.uncertain[:0] = settled
    result.delivery = report
    result.findings.extend(report.findings)
    log.info(
        "mail: %d letters sent, %d already sent, %d dropped as paid, %d uncertain",
        len(report.sent), len(report.already_sent), len(report.dropped),
        len(report.uncertain),
    )
    forget_notified_notices(state, customers, sent)
    send_digests(workbook_map, settings, rules, ledger, customers, limits, result,
                 report, sent, renderer, state, incomplete or {}, ahead=ahead)
    # Listed on every pass, so an uncertain letter stays in view until it is resolved.
    result.findings.extend(uncertain_findings(sent))


def forget_notified_notices(state, customers, sent) -> None:
    """Delete the stored due notices that a notice in the send ledger names."""
    from engine.mail import notices_due
    from engine.mail.ledger_lookup import LedgerLookup
    from engine.mail.letter import NOTICE
    from engine.mail.plan import notice_item_id

    lookup = LedgerLookup(sent)
    lookup.load_item_dates(
        NOTICE, (notice_item_id(notice) for notice in notices_due.load(state))
    )
    notices_due.forget_notified(
        state, lambda notice: notified(notice, customers, lookup)
    )


def start_aging_chart(workbook_map, rules, ledger, customers, incomplete):
    """Start the manager digest's aging chart in a thread; None without managers.

    The digest may turn out to have no news, and then the chart goes unused.
    """
    if not (rules.contacts.managers or rules.contacts.finance):
        return None
    from engine.mail.aging_ahead import AgingAhead

    return AgingAhead(ledger, customers, rules.base_currency, incomplete or {},
                      workbook_map.state.parent / CACHE)


def notified(notice, customers, sent) -> bool:
    """Return True when the send ledger records a notice naming `notice`."""
    from engine.mail.letter import NOTICE
    from engine.mail.plan import notice_item_id, notice_salesperson

    code = notice_salesperson(notice, customers)
    if not code:
        return False
    return sent.last_item_date(code, NOTICE, notice_item_id(notice)) is not None


def withhold_incomplete(letters, customers, incomplete, findings) -> list:
    """Drop the letters to customers whose ledger is partial, one finding per letter.

    Their open items were planned from rows that may be missing a payment, so a
    reminder may claim a paid invoice, and a thank-you may thank for a debt that
    only looks paid.
    """
    if not incomplete:
        return letters
    kept = []
    for letter in letters:
        reason = incomplete.get(letter.recipient_id)
        if reason is None:
            kept.append(letter)
            continue
        customer = customers.get(letter.recipient_id)
        name = letter.kind.replace("_", "-")
        findings.add(
            Finding(
                str(customer.ref) if customer else letter.recipient_id,
                f"the {name} letter to customer {letter.recipient_id} is not sent "
                f"this pass: {reason}",
                "The letter follows on the first pass after that is fixed.",
                Severity.WARNING,
                code="mail-incomplete",
            )
        )
    return kept


def smtp_settings(project):
    from engine.mail.settings import load_smtp_settings

    return load_smtp_settings(os.environ, project.root / "smtp.toml")


def settle_interrupted_letters(workbook_map, settings, sent) -> list:
    """Settle the letters an interrupted pass left "sending"; return the uncertain ones.

    Planning skips letters recorded "sending", so this runs first: a letter that
    was staged but never handed over is queued again and goes out in this pass.
    """
    from engine.mail.delivery import settle_interrupted
    from engine.mail.transport import make_transport

    transport = make_transport(workbook_map.outbox, settings)
    try:
        uncertain = settle_interrupted(sent, transport)
        # No letter is "sending" now, so a staged file left is an orphan: its
        # letter was never recorded, or its bytes are kept in the send ledger.
        for path in getattr(transport, "staged_files", list)():
            path.unlink(missing_ok=True)
            log.info("removed %s, left in the outbox by an interrupted pass", path.name)
        return uncertain
    finally:
        transport.close()


def deliver_with(workbook_map, settings, messages, sent, **options):
    from engine.mail.delivery import deliver
    from engine.mail.transport import make_transport

    transport = make_transport(workbook_map.outbox, settings)
    return deliver(messages, transport, sent, **options)


def send_digests(workbook_map, settings, rules, ledger, customers, limits, result,
                 report, sent, renderer, state, incomplete, ahead=None) -> None:
    """Send the manager and salesperson digests when this pass has news for them.

    A scheduled slot counts as done per recipient: each digest of the slot that has
    no send-ledger entry yet goes out on the next pass, also after a crash part-way
    through the slot's digests.
    """
    from engine.mail.digest import (
        DigestData,
        build_manager_digest,
        build_salesperson_digests,
        digest_recipients,
    )

    data = DigestData(
        as_of=result.as_of,
        base_currency=rules.base_currency,
        decisions=list(result.decisions),
        ledger=ledger,
        customers=customers,
        limits=dict(limits),
        letters_sent=list(report.sent),
        failures=list(report.findings),
        uncertain=list(report.uncertain),
        findings=list(result.findings),
        held_customers=dict(incomplete),
    )
    findings_sha = hashlib.sha256(
        "\n".join(sorted(str(f) for f in result.findings)).encode("utf-8")
    ).hexdigest()
    if rules.digest_schedule == "every-pass":
        status_changes = any(
            result.previous.get(d.order_id, (None, None)) != (d.status, d.reason)
            for d in result.decisions
        )
        news = status_changes or report.sent or report.uncertain or report.findings
        if not news and not findings_changed(state, "managers", findings_sha):
            log.info("no news since the last digest; none sent")
            return
        recipients = digest_recipients(data, rules)
    else:
        now = dt.datetime.now(ZoneInfo(rules.timezone))
        data.slot = last_scheduled_day(rules.digest_schedule, result.as_of, now)
        recipients = due_recipients(sent, digest_recipients(data, rules), data.slot)
        if not recipients:
            log.info("digest schedule '%s': next digest not due yet", rules.digest_schedule)
            return

    digests = build_salesperson_digests(data, rules, renderer, only=recipients)
    if "managers" in recipients:
        chart_cache = workbook_map.state.parent / CACHE
        manager = build_manager_digest(data, rules, renderer, chart_cache, ahead=ahead)
        if manager is not None:
            digests.insert(0, manager)
    digest_report = deliver_with(workbook_map, settings, digests, sent)
    result.findings.extend(digest_report.findings)
    remember_findings(state, "managers", findings_sha)
    log.info("digests: %d sent", len(digest_report.sent))


def due_recipients(sent, recipients: list[str], slot: dt.date | None) -> list[str]:
    """Return the recipients with no digest handed over on or after the slot's day."""
    from engine.mail.letter import DIGEST

    if slot is None:
        return []
    due = []
    for recipient in recipients:
        last = sent.last_letter_date(recipient, DIGEST)
        if last is None or last < slot:
            due.append(recipient)
    return due


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def last_scheduled_day(schedule: str, as_of: dt.date, now: dt.datetime) -> dt.date | None:
    """Return the day of the latest scheduled digest at or before the pass.

    `schedule` is `daily HH:MM` or `weekly DAY HH:MM`. On the current day the time of
    day counts; a pass pinned to an earlier day (`--as-of`) sees that day as over.
    """
    parts = schedule.split()
    if parts[0] not in ("daily", "weekly"):
        return None
    hour, minute = (int(part) for part in parts[-1].split(":"))
    time_passed = as_of < now.date() or now.time() >= dt.time(hour, minute)
    if parts[0] == "daily":
        return as_of if time_passed else as_of - dt.timedelta(days=1)
    if parts[0] == "weekly":
        weekday = WEEKDAYS.index(parts[1])
        back = (as_of.weekday() - weekday) % 7
        day = as_of - dt.timedelta(days=back)
        if back == 0 and not time_passed:
            day -= dt.timedelta(days=7)
        return day
    return None


def findings_changed(state: sqlite3.Connection, recipient: str, sha256: str) -> bool:
    state.executescript(DIGEST_STATE)
    row = state.execute(
        "SELECT findings_sha256 FROM digest_state WHERE recipient = ?", (recipient,)
    ).fetchone()
    return row is None or row[0] != sha256


def remember_findings(state: sqlite3.Connection, recipient: str, sha256: str) -> None:
    state.executescript(DIGEST_STATE)
    state.execute("INSERT OR REPLACE INTO digest_state VALUES (?, ?)", (recipient, sha256))


def snapshot_state(path) -> sqlite3.Connection:
    """Return an in-memory copy of the state, so a dry run plans without recording."""
    memory = sqlite3.connect(":memory:")
    memory.row_factory = sqlite3.Row
    if path.exists():
        source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            source.backup(memory)
        finally:
            source.close()
    return memory


class PaymentRecheck:
    """Re-read the workbooks once, just before sending, and drop items paid meanwhile."""

    def __init__(self, workbook_map, rules, as_of, *, ledger=None, result=None):
        self.workbook_map = workbook_map
        self.rules = rules
        self.as_of = as_of
        self._open = None
        self._pass_ledger = ledger
        self._result = result

    def files_unchanged(self) -> bool:
        """Return True when no one saved a workbook since the pass read it.

        The pass's own writes change owned columns only (status, reason, customer
        figures), which do not change open items, so they count as unchanged.
        """
        result = self._result
        if self._pass_ledger is None or result is None or not result.read_stamps:
            return False
        for path, stamp in result.read_stamps.items():
            written = result.written.get(path)
            if not (stamp.matches(path) or (written is not None and written.matches(path))):
                return False
        return True

    def open_items(self) -> dict[str, object]:
        if self._open is None:
            from engine.inputs import read_inputs
            from engine.pipeline import build_ledger_for

            if self.files_unchanged():
                ledger = self._pass_ledger
            else:
                inputs, _reads, _findings = read_inputs(self.workbook_map)
                ledger = build_ledger_for(self.rules, inputs, self.as_of)
            self._open = {
                item.invoice_id or item.order.order_id: item
                for account in ledger.accounts.values()
                for item in account.open_items
                if item.open_amount > 0
            }
        return self._open

    def __call__(self, letter):
        from engine.mail.letter import REMINDER
        from engine.mail.plan import letter_item, replan_reminder

        if letter.kind != REMINDER or not letter.items:
            return letter
        try:
            current = self.open_items()
        except EngineError as exc:
            # A save in progress must not stop the letters: keep them as planned.
            log.warning("payments not re-read before sending: %s", exc)
            return letter
        items = []
        for item in letter.items:
            now = current.get(item.item_id)
            if now is None:
                log.info("%s was paid since the pass began; dropped from the letter to %s",
                         item.item_id, letter.recipient_id)
                continue
            items.append(letter_item(now, item.level, self.rules))
        if not items:
            return None
        # The level, template and copies follow the highest level still open.
        return replan_reminder(letter, tuple(items), self.rules)
