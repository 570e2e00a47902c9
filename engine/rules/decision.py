"""The outcome of deciding one order, as written to the sheet and the decision log."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from engine.model import RowRef

APPROVED, BLOCKED, HELD = "APPROVED", "BLOCKED", "HELD"


@dataclass(frozen=True)
class Decision:
    order_id: str
    ref: RowRef
    status: str  # APPROVED, BLOCKED or HELD
    warning: bool
    reason: str  # the sentence for the Reason cell
    rule: str  # the deciding rule's name, "default" or "" for HELD
    rule_where: str
    # The values the rules read and the figures shown, as text (a dict, or the
    # shared-text mapping of engine.rules.recorded).
    inputs: Mapping[str, str]
    trace: tuple[str, ...]
    notify: tuple[str, ...]
    override_event: str | None  # "released", "re-blocked" or "rejected-approver"
    customer_id: str = ""
    salesperson: str = ""
    override_by: str = ""
    override_reason: str = ""
    # The order's amount (as text) and currency as decided; the decision log keeps
    # them for approvals, so a later change of the order is decided again.
    amount: str = ""
    currency: str = ""
