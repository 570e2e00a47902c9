"""Aging buckets: where an open item falls by how many days it is overdue."""

from __future__ import annotations

import datetime as dt

BUCKETS = (
    "not_due",
    "overdue_1_30",
    "overdue_31_60",
    "overdue_61_90",
    "overdue_over_90",
)

# Upper bound in days overdue (inclusive) of each bucket but the last.
_CEILINGS = (
    (0, "not_due"),
    (30, "overdue_1_30"),
    (60, "overdue_31_60"),
    (90, "overdue_61_90"),
)


def days_overdue(due_date: dt.date, as_of: dt.date) -> int:
    """Return the days past the due date on `as_of`, 0 when not yet overdue."""
    return max(0, (as_of - due_date).days)


def bucket_for(days: int) -> str:
    """Return the aging bucket for a number of days overdue (0 or less: not due)."""
    for ceiling, bucket in _CEILINGS:
        if days <= ceiling:
            return bucket
    return "overdue_over_90"
