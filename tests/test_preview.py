"""`preview` and `explain` on the demo workbooks, checked for the exact text users see."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from engine.findings import EngineError
from engine.preview import build_preview, explain_order, format_preview
from engine.project import Project

AS_OF = dt.date(2013, 6, 3)

EXPLAIN_TYPED_LIMIT = """\
Not written yet: decided now in a dry pass as of 2013-06-03.
Order ORD-8893171508 (orders.xlsx › Orders › row 1824): BLOCKED
Reason: Blocked: exposure would be 147.06 of a 120.00 limit (typed limit 120.00) — rule 'over-limit' credit.yaml:55
Decided by: over-limit (rules/credit.yaml:55:5)
Customer: 0379-NEVHP, rating A
Exposure:
  outstanding                 78.57
  less credit                  0.00
  pending                      0.00
  this order                  68.49
  exposure after             147.06
Limit: 120.00 (typed limit 120.00, customers.xlsx › Customers › row 3)
Overdue: 0.00, oldest 0 days
Salesperson BSO: exposure after 1,539.74 of a 1,500.00 limit
  warning_threshold = 0.8
Rules tried:
  1. long-overdue (rules/credit.yaml:49:5) block: days_overdue > 60 -> no match
  2. over-limit (rules/credit.yaml:55:5) block: exposure_after > customer_limit -> match
Notify: salesperson, finance"""


@pytest.fixture
def preview(demo_project):
    return build_preview(Project.at(demo_project), as_of=AS_OF)


def test_explain_blocked_order_exact(demo_project):
    text = explain_order(Project.at(demo_project), "ORD-8893171508", as_of=AS_OF)

    assert text == EXPLAIN_TYPED_LIMIT


def test_explain_ignores_id_case(demo_project):
    text = explain_order(Project.at(demo_project), "ord-8893171508", as_of=AS_OF)

    assert text.splitlines()[1].startswith("Order ORD-8893171508 ")


def test_explain_unknown_order_message(demo_project):
    with pytest.raises(EngineError) as raised:
        explain_order(Project.at(demo_project), "ORD-NOPE", as_of=AS_OF)

    assert str(raised.value) == (
        "ORD-NOPE: no order with this id in the orders sheet. "
        "Check the id in the Order ID column; ids match ignoring case."
    )


def test_explain_written_decision_from_log(demo_project):
    from engine.pipeline import run_pass

    project = Project.at(demo_project)
    run_pass(project, as_of=AS_OF, send_mail=False)

    text = explain_order(project, "ORD-8893171508", as_of=None)
    lines = text.splitlines()

    assert lines[0] == "Order ORD-8893171508 (orders.xlsx › Orders › row 1824): BLOCKED"
    assert lines[1:-1] == EXPLAIN_TYPED_LIMIT.splitlines()[2:]
    assert lines[-1].startswith("Decided: pass as of 2013-06-03 at ")


def test_explain_status_typed_by_person(demo_project):
    from engine.pipeline import run_pass

    project = Project.at(demo_project)
    run_pass(project, as_of=AS_OF, send_mail=False)
    (demo_project / "state" / "arrears-guard.sqlite").unlink()

    with pytest.raises(EngineError) as raised:
        explain_order(project, "ORD-0608187073", as_of=AS_OF)

    assert str(raised.value) == (
        "ORD-0608187073: has status APPROVED in the sheet, but arrears-guard has no "
        "decision on it in its log. The status was typed by a person or the state "
        "database was reset; clear the Status cell to have the order decided again."
    )


def test_preview_writes_and_sends_nothing(demo_project, preview):
    workbook = (demo_project / "workbooks" / "orders.xlsx").read_bytes()

    assert preview["cells"] > 0
    assert (demo_project / "workbooks" / "orders.xlsx").read_bytes() == workbook
    assert not (demo_project / "outbox").exists()
    assert not (demo_project / "state").exists()


def test_preview_counts_on_demo(preview):
    after = [change["status_after"] for change in preview["orders"]]

    assert len(preview["orders"]) == 45
    assert after.count("APPROVED") == 23
    assert after.count("BLOCKED") == 22
    assert sum(change["warning"] for change in preview["orders"]) == 5
    assert len(preview["letters"]) == 15


def test_preview_text_lines_exact(preview):
    lines = format_preview(preview).splitlines()

    assert lines[0] == "Preview as of 2013-06-03: nothing has been written or sent."
    assert lines[2] == "Orders whose status or reason would change: 45"
    assert (
        "  ORD-8893171508   (empty) -> BLOCKED   Blocked: exposure would be 147.06 of a "
        "120.00 limit (typed limit 120.00) — rule 'over-limit' credit.yaml:55"
    ) in lines
    assert "Letters that would go out: 15" in lines
    assert (
        "  1168-BEASA   level 1    to ap@agencia-viagens-belem.test: "
        "1241888754 (3 days, 49.96 USD)"
    ) in lines


def test_preview_json_round_trips(preview):
    data = json.loads(json.dumps(preview, ensure_ascii=False))
    letter = next(item for item in data["letters"] if item["recipient"] == "3448-OWJOT")

    assert letter["level"] == 3
    assert letter["template"] == "reminder_level3"
    assert letter["language"] == "de"
    assert [item["id"] for item in letter["items"]][:2] == ["3806835104", "7792341685"]


def test_preview_draft_rules_folder(demo_project):
    from engine.rules.check import check_project, load_rules

    draft = demo_project / "rules-draft"
    draft.mkdir()
    for name in ("credit.yaml", "dunning.yaml"):
        text = (demo_project / "rules" / name).read_text(encoding="utf-8")
        draft.joinpath(name).write_text(text.replace("  D: 150\n", "  D: 1500\n"))
    project = Project.at(demo_project)

    live = build_preview(project, as_of=AS_OF)
    drafted = build_preview(project, as_of=AS_OF, rules=load_rules(demo_project, draft))
    status = {c["order_id"]: c["status_after"] for c in drafted["orders"]}

    assert check_project(demo_project, draft) == []
    assert {c["order_id"]: c["status_after"] for c in live["orders"]}[
        "ORD-3347423476"
    ] == "BLOCKED"
    assert status["ORD-3347423476"] == "APPROVED"
    assert (demo_project / "rules" / "credit.yaml").read_text().count("  D: 150\n") == 1


def test_check_draft_rules_names_draft_file(demo_project):
    from engine.rules.check import check_project

    draft = demo_project / "rules-draft"
    draft.mkdir()
    for name in ("credit.yaml", "dunning.yaml"):
        draft.joinpath(name).write_text(
            (demo_project / "rules" / name).read_text(encoding="utf-8")
        )
    text = draft.joinpath("credit.yaml").read_text()
    draft.joinpath("credit.yaml").write_text(text.replace("  D: 150\n", "  D: lots\n"))

    findings = check_project(demo_project, draft)

    assert findings
    assert all(f.where.startswith("rules-draft/credit.yaml:20:") for f in findings)


def test_explain_invoiced_order_message(demo_project):
    with pytest.raises(EngineError) as raised:
        explain_order(Project.at(demo_project), "ORD-0000611365", as_of=AS_OF)

    assert str(raised.value) == (
        "ORD-0000611365: was invoiced on or before the pass date, so it is a "
        "receivable, not an order to decide. Only orders without an invoice date are "
        "decided; see its open amount in the customers sheet or the report workbook."
    )


def test_preview_skips_held_row_already_shown(demo_project):
    import openpyxl

    from engine.pipeline import run_pass

    path = demo_project / "workbooks" / "orders.xlsx"
    workbook = openpyxl.load_workbook(path)
    workbook["Orders"].append(
        ["ORD-HELD-1", dt.datetime(2013, 6, 3), "0187-ERLSR", "AKE", "1.234,50", "USD"]
    )
    workbook.save(path)
    project = Project.at(demo_project)
    run_pass(project, as_of=AS_OF, send_mail=False)

    data = build_preview(project, as_of=AS_OF)

    assert [change["order_id"] for change in data["orders"]] == []
