"""Preview and explanation of a pass, computed without writing or sending anything."""

from __future__ import annotations

import datetime as dt

from dataclasses import dataclass
from pathlib import Path

from engine.findings import EngineError, Finding
from engine.project import Project


@dataclass(frozen=True, slots=True)
class DraftProject(Project):
    """A project read through a draft folder's workbook map instead of rules/'s."""

    draft_map: Path | None = None

    @property
    def workbook_map_path(self) -> Path:
        return self.draft_map or self.rules_dir / "workbooks.yaml"


def with_draft_map(project: Project, rules_dir: Path | None) -> Project:
    """Return `project` using `rules_dir`'s workbooks.yaml when the draft folder has one.

    Paths in the draft map still start at the project folder.
    """
    if rules_dir is None:
        return project
    draft_map = Path(rules_dir).resolve() / "workbooks.yaml"
    if not draft_map.is_file():
        return project
    return DraftProject(project.root, draft_map)


def build_preview(project: Project, *, as_of: dt.date | None, rules=None) -> dict:
    """Run a dry pass and return the status changes and letters it would make.

    `rules` replaces the project's rule set, to preview a draft.
    """
    from engine.pipeline import run_pass

    result = run_pass(project, as_of=as_of, dry_run=True, rules=rules)
    changes = []
    for decision in result.decisions:
        before = result.previous.get(decision.order_id, (None, None))
        if before == (decision.status, decision.reason):
            continue
        changes.append(
            {
                "order_id": decision.order_id,
                "row": str(decision.ref),
                "status_before": before[0] or "",
                "status_after": decision.status,
                "warning": decision.warning,
                "reason": decision.reason,
                "rule": decision.rule,
                "rule_where": decision.rule_where,
            }
        )
    letters = [letter_summary(letter) for letter in result.letters]
    return {
        "as_of": result.as_of.isoformat(),
        "orders": changes,
        "letters": letters,
        "cells": sum(len(write.cells) for write in result.planned_writes),
        "findings": [str(finding) for finding in result.findings],
    }


def letter_summary(letter) -> dict:
    return {
        "kind": letter.kind,
        "recipient": letter.recipient_id,
        "level": letter.level or None,
        "template": letter.template,
        "language": letter.language,
        "to": list(letter.to),
        "cc": list(letter.cc),
        "items": [
            {
                "id": item.item_id,
                "days_overdue": item.days_overdue,
                "open_amount": str(item.open_amount),
                "currency": item.currency,
            }
            for item in letter.items
        ],
    }


def format_preview(data: dict) -> str:
    """Format a preview as plain-text tables, one line per order and per letter."""
    lines = [f"Preview as of {data['as_of']}: nothing has been written or sent."]
    lines.append("")
    lines.append(f"Orders whose status or reason would change: {len(data['orders'])}")
    if data["orders"]:
        width = max(len(change["order_id"]) for change in data["orders"])
        for change in data["orders"]:
            before = change["status_before"] or "(empty)"
            lines.append(
                f"  {change['order_id']:<{width}}  {before:>8} -> {change['status_after']:<8}"
                f"  {change['reason']}"
            )
    lines.append("")
    lines.append(f"Letters that would go out: {len(data['letters'])}")
    for letter in data["letters"]:
        kind = f"level {letter['level']}" if letter["level"] else letter["kind"]
        to = ", ".join(letter["to"])
        items = ", ".join(
            f"{item['id']} ({item['days_overdue']} days, {item['open_amount']} "
            f"{item['currency']})" if item["days_overdue"] else item["id"]
            for item in letter["items"]
        )
        line = f"  {letter['recipient']:<12} {kind:<10} to {to}"
        lines.append(f"{line}: {items}" if items else line)
    if data["findings"]:
        lines.append("")
        lines.append(f"Findings: {len(data['findings'])}")
        lines.extend(f"  {finding}" for finding in data["findings"])
    return "\n".join(lines)


def explain_order(
    project: Project, order_id: str, *, as_of: dt.date | None, fresh: bool = False
) -> str:
    """Return the full trace of the decision on one order.

    The decision written into the sheet is explained from the decision log, with the
    date of the pass that made it. An order with no logged decision, or any order
    when `fresh` is set, is decided again in a dry pass as of `as_of`.
    """
    if not fresh:
        logged = logged_explanation(project, order_id)
        if logged is not None:
            return logged

    from engine.decide import explain_decision
    from engine.pipeline import run_pass

    requested = order_id.strip().casefold()
    result = run_pass(project, as_of=as_of, dry_run=True, send_mail=False)
    for decision in result.decisions:
        if decision.order_id.casefold() == requested:
            heading = (
                f"Not written yet: decided now in a dry pass as of {result.as_of}.\n"
            )
            return heading + explain_decision(decision)
    for known, (status, _reason) in result.previous.items():
        if known.casefold() == requested and not status:
            raise EngineError(
                Finding(
                    known,
                    "was invoiced on or before the pass date, so it is a receivable, "
                    "not an order to decide.",
                    "Only orders without an invoice date are decided; see its open "
                    "amount in the customers sheet or the report workbook.",
                )
            )
        if known.casefold() == requested:
            raise EngineError(
                Finding(
                    known,
                    f"has status {status or '(empty)'} in the sheet, but arrears-guard "
                    "has no decision on it in its log.",
                    "The status was typed by a person or the state database was "
                    "reset; clear the Status cell to have the order decided again.",
                )
            )
    raise EngineError(
        Finding(
            order_id,
            "no order with this id in the orders sheet.",
            "Check the id in the Order ID column; ids match ignoring case.",
        )
    )


def logged_explanation(project: Project, order_id: str) -> str | None:
    """Return the decision log's explanation of an order, or None when none is logged."""
    import sqlite3

    from engine.decision_log import explain
    from engine.workbook_map import load_workbook_map

    workbook_map = load_workbook_map(project.workbook_map_path, project.root)
    if not workbook_map.state.exists():
        return None
    connection = sqlite3.connect(f"file:{workbook_map.state}?mode=ro", uri=True)
    connection.row_factory = sqlite3.Row
    try:
        row = connection.execute(
            "SELECT order_id FROM decisions WHERE order_id = ? COLLATE NOCASE "
            "ORDER BY id DESC LIMIT 1",
            (order_id.strip(),),
        ).fetchone()
        if row is None:
            return None
        return explain(connection, row["order_id"])
    except sqlite3.OperationalError:
        # A state database from before the decision log existed has no such table.
        return None
    finally:
        connection.close()
