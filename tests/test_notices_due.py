"""Stored decisions that call for a salesperson notice until a notice names them."""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass

from engine.mail import notices_due
from engine.pipeline import run_pass
from engine.project import Project
from tests.conftest import copy_project

AS_OF = dt.date(2013, 6, 3)


@dataclass
class Decided:
    order_id: str
    status: str
    warning: bool = False
    reason: str = "a reason"
    customer_id: str = "C1"
    salesperson: str = "S1"


def stored(conn) -> dict[str, str]:
    return {notice.order_id: notice.status for notice in notices_due.load(conn)}


def test_due_keeps_blocked_and_warned_only():
    conn = sqlite3.connect(":memory:")
    notices_due.remember(
        conn,
        [
            Decided("O1", "BLOCKED"),
            Decided("O2", "APPROVED", warning=True),
            Decided("O3", "APPROVED"),
        ],
        "2013-06-03",
    )

    assert stored(conn) == {"O1": "BLOCKED", "O2": "APPROVED"}


def test_due_replaced_when_decided_again():
    conn = sqlite3.connect(":memory:")
    notices_due.remember(conn, [Decided("O1", "BLOCKED")], "2013-06-03")

    notices_due.remember(conn, [Decided("O1", "APPROVED")], "2013-06-04")

    assert stored(conn) == {}


def test_due_adds_undecided_orders_only():
    decisions = [Decided("O1", "APPROVED", warning=True)]
    due = [
        notices_due.DueNotice("O1", "BLOCKED", False, "old", "C1", "S1"),
        notices_due.DueNotice("O2", "APPROVED", True, "warned", "C1", "S1"),
    ]

    merged = notices_due.with_earlier(decisions, due)

    assert [item.order_id for item in merged] == ["O1", "O2"]
    assert merged[0] is decisions[0]


def test_due_empty_after_pass_notifies(tmp_path):
    root = copy_project(tmp_path / "project")
    result = run_pass(Project.at(root), as_of=AS_OF)

    conn = sqlite3.connect(root / "state" / "arrears-guard.sqlite")
    try:
        assert any(d.warning for d in result.decisions)
        assert stored(conn) == {}
    finally:
        conn.close()


def test_load_without_table_is_empty():
    assert notices_due.load(sqlite3.connect(":memory:")) == []
