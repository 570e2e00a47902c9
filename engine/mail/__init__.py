"""Reminder letters, salesperson notices and digests: plan, render, deliver.

Planning is pure (`plan`), rendering turns a `Letter` into an `EmailMessage`
(`render`), and delivery hands messages to the outbox or SMTP through a send ledger
in SQLite that keeps every letter to exactly one delivery (`delivery`, `ledger`).

The names below are imported on first use (PEP 562), so a module that needs only
the send ledger's statuses does not load Jinja, Babel and yagmail with them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.mail.delivery import DeliveryReport, deliver
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

# Exported name -> the submodule that defines it.
_EXPORTS = {
    "DeliveryReport": "delivery",
    "deliver": "delivery",
    "DigestData": "digest",
    "build_manager_digest": "digest",
    "build_salesperson_digests": "digest",
    "SendLedger": "ledger",
    "Letter": "letter",
    "LetterItem": "letter",
    "collect_promised_dates": "plan",
    "plan_reminders": "plan",
    "plan_salesperson_notices": "plan",
    "plan_thank_you_notes": "plan",
    "LetterRenderer": "render",
    "SmtpSettings": "settings",
    "load_smtp_settings": "settings",
    "OutboxTransport": "transport",
    "SmtpTransport": "transport",
    "make_transport": "transport",
}

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


def __getattr__(name: str):
    """Import an exported name from its submodule on first access."""
    submodule = _EXPORTS.get(name)
    if submodule is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{submodule}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
