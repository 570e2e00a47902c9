"""A letter: the content and recipients of one e-mail, before templates are rendered.

The letter's key (kind, recipient, level, items and date) identifies it in the send
ledger, and its Message-ID is derived from that key. A letter planned twice for the
same day therefore gets the same Message-ID, and the server and the ledger both see
it as the same letter.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from dataclasses import dataclass, field
from decimal import Decimal
from email.utils import parseaddr
from typing import Any

from engine.model import Customer, RowRef

REMINDER = "reminder"
THANK_YOU = "thank_you"
NOTICE = "notice"
DIGEST = "digest"


@dataclass(frozen=True, slots=True)
class LetterItem:
    """One open item named in a letter, with the amount still open after payments."""

    item_id: str  # the invoice id, or the order id when the order has no invoice yet
    order_id: str
    due_date: dt.date | None
    amount: Decimal  # invoiced amount, in `currency`
    open_amount: Decimal  # still open after partial payments, in `currency`
    currency: str
    days_overdue: int
    level: int  # the dunning level this item has reached, 0 for none
    ref: RowRef | None = None


@dataclass(frozen=True, slots=True)
class Letter:
    """One e-mail to plan, render and deliver.

    `recipient_id` is the customer id for customer letters, the salesperson code for
    notices and salesperson digests, and "managers" for the manager digest.
    """

    kind: str
    template: str  # template base name in templates/<language>/
    as_of: dt.date
    recipient_id: str
    to: tuple[str, ...]
    language: str
    level: int = 0
    customer: Customer | None = None
    items: tuple[LetterItem, ...] = ()
    cc: tuple[str, ...] = ()
    # Extra template variables, such as the decisions in a salesperson notice.
    context: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    # The key, computed on first use: delivery reads it several times per letter.
    # `dataclasses.replace` leaves it unset in the copy, so a changed letter gets
    # its own key.
    _key: str | None = field(
        default=None, init=False, repr=False, compare=False, hash=False
    )

    @property
    def key(self) -> str:
        """Return the send-ledger key: a SHA-256 over kind, recipient, level, items, date."""
        key = self._key
        if key is None:
            key = self._compute_key()
            object.__setattr__(self, "_key", key)
        return key

    def _compute_key(self) -> str:
        item_ids = ",".join(sorted(item.item_id for item in self.items))
        if self.kind == DIGEST:
            item_ids = str(self.context.get("content_key", ""))
        text = "|".join(
            [
                self.kind,
                self.recipient_id,
                str(self.level),
                item_ids,
                self.as_of.isoformat(),
            ]
        )
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def message_id(self, sender: str) -> str:
        """Return the Message-ID for this letter, on the sender's mail domain."""
        # Take the domain from the address of "Name <address>", without the ">".
        domain = parseaddr(sender)[1].rpartition("@")[2] or "arrears-guard.invalid"
        return f"<ag-{self.key[:32]}@{domain}>"

    @property
    def where(self) -> str:
        """Return the row the letter is about, for findings."""
        if self.customer is not None:
            return f"customer {self.customer.customer_id} ({self.customer.ref})"
        return f"{self.kind} for {self.recipient_id}"

    def with_items(self, items: tuple[LetterItem, ...]) -> Letter:
        """Return a copy that names only `items`, keeping level and template.

        A reminder whose top item was paid should go through
        `engine.mail.plan.replan_reminder`, which also lowers level and template.
        """
        return dataclasses.replace(self, items=items)
