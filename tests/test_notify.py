"""Digest scheduling: when a daily or weekly digest is due."""

from __future__ import annotations

import datetime as dt

import pytest

from engine.notify import last_scheduled_day

MONDAY = dt.date(2013, 6, 3)


@pytest.mark.parametrize(
    ("schedule", "as_of", "now", "expected"),
    [
        ("daily 08:00", MONDAY, dt.datetime(2013, 6, 3, 9, 0), MONDAY),
        ("daily 08:00", MONDAY, dt.datetime(2013, 6, 3, 7, 59), dt.date(2013, 6, 2)),
        ("daily 08:00", MONDAY, dt.datetime(2026, 12, 4, 7, 0), MONDAY),
        ("weekly mon 08:00", MONDAY, dt.datetime(2013, 6, 3, 9, 0), MONDAY),
        ("weekly mon 08:00", MONDAY, dt.datetime(2013, 6, 3, 7, 0), dt.date(2013, 5, 27)),
        ("weekly fri 17:00", MONDAY, dt.datetime(2013, 6, 3, 9, 0), dt.date(2013, 5, 31)),
        ("every-pass", MONDAY, dt.datetime(2013, 6, 3, 9, 0), None),
    ],
)
def test_last_scheduled_day(schedule, as_of, now, expected):
    assert last_scheduled_day(schedule, as_of, now) == expected
