"""Reminder letters, salesperson notices and digests: plan, render, deliver.

Planning is pure (`plan`), rendering turns a `Letter` into an `EmailMessage`
(`render`), and delivery hands messages to the outbox or SMTP through a send ledger
in SQLite that keeps every letter to exactly one delivery (`deliver`, `ledger`).
"""

from engine.mail.deliver import DeliveryReport, deliver
from engine.mail.digest import (
    DigestData,
    build_manager_digest,
    build_salesperson_digests,
)
from engine.mail.ledger import SendLedger
from engine.mail.letter import Letter, LetterItem
from engine.mail.plan import (
    collect_promised_dates,
    plan_reminders,
    plan_salesperson_notices,
    plan_thank_you_notes,
)
from engine.mail.render import LetterRenderer
from engine.mail.settings import SmtpSettings, load_smtp_settings
from engine.mail.transport import OutboxTransport, SmtpTransport, make_transport

__all__ = [
    "DeliveryReport",
    "DigestData",
    "Letter",
    "LetterItem",
    "LetterRenderer",
    "OutboxTransport",
    "SendLedger",
    "SmtpSettings",
    "SmtpTransport",
    "build_manager_digest",
    "build_salesperson_digests",
    "collect_promised_dates",
    "deliver",
    "load_smtp_settings",
    "make_transport",
    "plan_reminders",
    "plan_salesperson_notices",
    "plan_thank_you_notes",
]
