"""The outcome of deciding one order, as written to the sheet and the decision log."""

from __future__ import annotations

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
    inputs: dict[str, str]
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
