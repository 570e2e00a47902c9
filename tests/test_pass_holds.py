"""Passes on edited demo workbooks: orders that must be held, not guessed or crashed on.

Each test edits a fresh copy of the demo with openpyxl, runs a real pass (real
workbooks, real SQLite), and reads the written Status and Reason cells back.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from python_calamine import CalamineWorkbook

from engine.findings import Severity
from engine.pipeline import run_pass
from engine.project import Project
from engine.rules.check import check_project
from tests.conftest import copy_project

AS_OF = dt.date(2013, 6, 3)
# Demo orders (rows of orders.xlsx) that are new on the demo date, all of
# salesperson BSO: the first is approved, the second blocked by BSO's limit, the
# third is in EUR.
SMALL = ("ORD-3112379825", 1800)
OVER_SALES_LIMIT = ("ORD-9344726527", 1816)
EURO_ORDER = ("ORD-0086171934", 1818)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_project(tmp_path / "project")


def set_cells(project: Path, file: str, sheet: str, cells: dict[str, object]) -> None:
    path = project / "workbooks" / file
    workbook = openpyxl.load_workbook(path)
    for address, value in cells.items():
        workbook[sheet][address] = value
    workbook.save(path)


def edit_text(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1))


def run(project: Path, *, dry_run: bool = False):
    return run_pass(Project.at(project), as_of=AS_OF, dry_run=dry_run, send_mail=False)


def order_cells(project: Path) -> dict[str, tuple[str, str]]:
    """Return order id -> (Status, Reason) as the orders sheet now shows them."""
    rows = (
        CalamineWorkbook.from_path(str(project / "workbooks" / "orders.xlsx"))
        .get_sheet_by_name("Orders")
        .to_python()
    )
    header = rows[0]
    at = {name: header.index(name) for name in ("Order ID", "Status", "Reason")}
    return {
        row[at["Order ID"]]: (row[at["Status"]], row[at["Reason"]]) for row in rows[1:]
    }


def customer_cells(project: Path, customer_id: str) -> dict[str, object]:
    rows = (
        CalamineWorkbook.from_path(str(project / "workbooks" / "customers.xlsx"))
        .get_sheet_by_name("Customers")
        .to_python()
    )
    header = rows[0]
    for row in rows[1:]:
        if row[0] == customer_id:
            return dict(zip(header, row))
    raise AssertionError(f"{customer_id} not in customers.xlsx")


def messages(result) -> list[str]:
    return [str(finding) for finding in result.findings]


# Amounts no booking can have.


@pytest.mark.parametrize(
    ("value", "shown"),
    [(1e300, "1e+300"), ("1e400", "'1e400'")],
)
def test_huge_amount_held_not_crashed(project, value, shown):
    order_id, row = SMALL
    set_cells(project, "orders.xlsx", "Orders", {f"E{row}": value})

    result = run(project)

    expected = (
        f"Held: E{row} ({order_id}): {shown} is too large for an amount (the limit "
        "is 10,000,000,000,000). Type the real amount."
    )
    assert order_cells(project)[order_id] == ("HELD", expected)
    assert result.counts["decided"] == 45


def test_arithmetic_error_holds_one_order(project):
    from engine.decide import decide_orders
    from engine.inputs import read_inputs
    from engine.pipeline import build_ledger_for, load_rules
    from engine.workbook_map import load_workbook_map

    rules = load_rules(Project.at(project))
    workbook_map = load_workbook_map(project / "rules" / "workbooks.yaml", project)
    inputs, _, _ = read_inputs(workbook_map, as_of=AS_OF)
    ledger = build_ledger_for(rules, inputs, AS_OF)
    # An amount past the reader's bound, as a caller other than the reader could
    # pass: Decimal's quantize to the cent fails on it.
    inputs.orders = [
        order.__class__(**{**_fields(order), "amount": Decimal("1e300")})
        if order.order_id == EURO_ORDER[0]
        else order
        for order in inputs.orders
    ]
    findings = []

    decisions = decide_orders(rules, ledger, inputs, AS_OF, findings=findings)

    by_id = {decision.order_id: decision for decision in decisions}
    assert by_id[EURO_ORDER[0]].status == "HELD"
    assert by_id[EURO_ORDER[0]].reason == (
        "Held: the order could not be computed with amount 1E+300. Check the amount."
    )
    assert [f.code for f in findings] == ["decide-arithmetic"]
    assert len(decisions) == 45


def _fields(order) -> dict:
    return {name: getattr(order, name) for name in order.__dataclass_fields__}


def test_negative_new_order_held(project):
    order_id, row = SMALL
    set_cells(project, "orders.xlsx", "Orders", {f"E{row}": -500})

    run(project)

    assert order_cells(project)[order_id] == (
        "HELD",
        "Held: amount -500.00 is not a positive order amount. Enter a credit note "
        "as a negative amount with its Invoice No and Invoice Date.",
    )


# Approvals whose order changed afterwards.


def test_raised_amount_after_approval_decided_again(project):
    order_id, row = SMALL
    run(project)
    assert order_cells(project)[order_id][0] == "APPROVED"
    set_cells(project, "orders.xlsx", "Orders", {f"E{row}": 5000})

    preview = run(project, dry_run=True)
    second = run(project)
    third = run(project)

    status, reason = order_cells(project)[order_id]
    assert status == "BLOCKED"
    assert reason.endswith("; amount changed from 51.60 to 5,000.00 after approval")
    assert "5,0" in reason.split(";")[0]
    previewed = {d.order_id: d for d in preview.decisions}[order_id]
    assert previewed.reason == reason
    assert order_id in {d.order_id for d in second.decisions}
    assert third.cells_written == 0


def test_hand_typed_approval_kept(project):
    order_id, row = SMALL
    set_cells(
        project, "orders.xlsx", "Orders",
        {f"E{row}": 5000, f"O{row}": "APPROVED", f"P{row}": "typed by staff"},
    )  # fmt: skip

    result = run(project)

    assert order_id not in {d.order_id for d in result.decisions}
    assert order_cells(project)[order_id] == ("APPROVED", "typed by staff")


def test_approval_kept_when_order_unchanged(project):
    order_id, _ = SMALL
    run(project)
    before = order_cells(project)[order_id]

    result = run(project)

    assert before[0] == "APPROVED"
    assert order_id not in {d.order_id for d in result.decisions}
    assert order_cells(project)[order_id] == before


# Repeated order ids.


def test_duplicate_order_id_held_with_finding(project):
    order_id, row = SMALL
    _, other_row = OVER_SALES_LIMIT
    set_cells(project, "orders.xlsx", "Orders", {f"A{other_row}": order_id})

    result = run(project)

    assert (
        f"orders.xlsx › Orders › row {other_row}: order id {order_id} is also in row "
        f"{row}; undecided rows with this id are held. Give each order its own id."
    ) in messages(result)
    statuses = [d for d in result.decisions if d.order_id == order_id]
    assert [(d.ref.row, d.status) for d in statuses] == [(row, "HELD"), (other_row, "HELD")]
    assert statuses[0].reason == (
        f"Held: order id {order_id} is also in row {other_row}. "
        "Give each order its own id."
    )


# Currencies without a rate.


def test_missing_fx_rate_one_finding_and_holds(project):
    edit_text(project / "rules" / "credit.yaml", "EUR: 1.08", "GBP: 1.25")

    result = run(project)

    currency = [f for f in result.findings if f.code == "currency"]
    assert len(currency) == 1
    assert str(currency[0]).startswith(
        "rules/credit.yaml: currency EUR has no rate in rules/credit.yaml fx: "
    )
    assert str(currency[0]).endswith(
        "The exposure of these customers is unknown, so their orders and their "
        "salespeople's orders are held. Add EUR: <rate> (USD per unit) under fx in "
        "rules/credit.yaml."
    )
    assert not [f for f in result.findings if "has no rate." in f.message]
    cells = order_cells(project)
    assert cells[EURO_ORDER[0]] == (
        "HELD",
        "Held: the exposure of customer 7946-HJDUR is unknown because its rows in EUR "
        "cannot be converted to USD. Add EUR: <rate> under fx in rules/credit.yaml.",
    )
    # Another customer of the same salesperson: its total includes the EUR rows.
    assert cells[OVER_SALES_LIMIT[0]][0] == "HELD"
    assert cells[OVER_SALES_LIMIT[0]][1].startswith(
        "Held: the total exposure of salesperson BSO is unknown: the exposure of "
        "customer "
    )
    # The figures of a customer with EUR rows are left as they were (empty).
    assert customer_cells(project, "7946-HJDUR")["Exposure"] == ""


def test_unknown_currency_code_reported(project):
    order_id, row = SMALL
    set_cells(project, "orders.xlsx", "Orders", {f"F{row}": "XYZ"})

    result = run(project)

    assert (
        f"orders.xlsx › Orders › row {row}: currency 'XYZ' is not an ISO 4217 "
        f"currency code: 1 row in orders.xlsx, first at orders.xlsx › Orders › row "
        f"{row}. The exposure of these customers is unknown, so their orders and "
        "their salespeople's orders are held. Correct the Currency cells with XYZ "
        "to a code such as USD or EUR."
    ) in messages(result)
    assert any(f.severity is Severity.ERROR for f in result.findings)
    assert order_cells(project)[order_id][0] == "HELD"


# A held customer row still counts for its salesperson.


def test_unreadable_limit_keeps_salesperson_total(tmp_path):
    baseline = copy_project(tmp_path / "baseline")
    edited = copy_project(tmp_path / "edited")
    workbook = openpyxl.load_workbook(edited / "workbooks" / "customers.xlsx")
    sheet = workbook["Customers"]
    header = [cell.value for cell in sheet[1]]
    limit_column = header.index("Credit Limit") + 1
    row = next(r for r in range(2, sheet.max_row + 1) if sheet.cell(r, 1).value == "0379-NEVHP")
    sheet.cell(row, limit_column).value = "lots"
    workbook.save(edited / "workbooks" / "customers.xlsx")

    before = {d.order_id: d.status for d in run(baseline).decisions}
    after = {d.order_id: d for d in run(edited).decisions}

    assert before[EURO_ORDER[0]] == "BLOCKED"
    assert after[EURO_ORDER[0]].status == "BLOCKED"
    held = [d for d in after.values() if d.customer_id == "0379-NEVHP"]
    assert held
    assert all(d.status == "HELD" for d in held)


# Reason cells carry the fix.


def test_held_reason_includes_fix(project):
    order_id, row = SMALL
    set_cells(project, "orders.xlsx", "Orders", {f"E{row}": "fifty"})

    run(project)

    assert order_cells(project)[order_id] == (
        "HELD",
        f"Held: E{row} ({order_id}): 'fifty' is not a number in locale en_US. Enter it "
        "as a number, or as text such as 1,234.50 for locale en_US.",
    )


def test_held_reason_kept_short():
    from engine.findings import Finding
    from engine.inputs import held_reason

    problems = [
        Finding(f"orders.xlsx › Orders › {column}2", "x" * 60 + ".", "Fix " + "y" * 50)
        for column in "ABCDE"
    ]

    reason = held_reason(problems)

    assert len(reason) == 240
    assert reason.endswith("…")
    assert "Fix" not in reason


# Plausible dates count from the pass date.


def test_date_window_counts_from_as_of(project):
    order_id, row = SMALL
    set_cells(project, "orders.xlsx", "Orders", {f"B{row}": dt.datetime(2040, 1, 2)})

    run(project)

    assert order_cells(project)[order_id] == (
        "HELD",
        f"Held: B{row} ({order_id}): date 2040-01-02 is outside the plausible range "
        "2000-01-01 to 2033-06-03. Check the year.",
    )


# check reads the workbooks and the templates.


def check_messages(project: Path) -> list[str]:
    return [str(finding) for finding in check_project(project)]


def map_position(project: Path, text: str, value: str) -> str:
    lines = (project / "rules" / "workbooks.yaml").read_text().splitlines()
    number = next(i for i, line in enumerate(lines, 1) if line == text)
    return f"rules/workbooks.yaml:{number}:{text.index(value) + 1}"


def test_check_passes_on_demo(project):
    assert check_messages(project) == []


def test_check_reports_wrong_sheet_with_map_line(project):
    where = map_position(project, "    sheet: Orders", "Orders")
    edit_text(project / "rules" / "workbooks.yaml", "sheet: Orders", "sheet: Order")

    found = check_messages(project)

    assert found == [
        "orders.xlsx: sheet Order not found; sheets: Orders. Did you mean 'Orders'? "
        f"Fix 'sheet:' in {where} or rename the sheet."
    ]


def test_check_reports_missing_header(project):
    where = map_position(project, "      amount: Amount", "Amount")
    edit_text(project / "rules" / "workbooks.yaml", "amount: Amount", "amount: Amout")

    found = check_messages(project)

    assert len(found) == 1
    assert where in found[0]
    assert "Amout" in found[0]


def test_check_reports_missing_workbook(project):
    edit_text(project / "rules" / "workbooks.yaml", "file: payments.xlsx",
              "file: payment.xlsx")

    found = check_messages(project)

    assert len(found) == 1
    assert found[0].startswith("payment.xlsx: file not found in ")
    assert found[0].endswith(
        f"Put the workbook there or fix 'file:' in "
        f"{map_position(project, '    file: payment.xlsx', 'payment.xlsx')}."
    )


def test_check_compiles_every_language(project):
    path = project / "templates" / "fr" / "reminder_level1.txt.j2"
    text = path.read_text()
    assert "}}" in text
    path.write_text(text.replace("}}", "}", 1))

    found = check_messages(project)

    assert len(found) == 1
    assert found[0].startswith("templates/fr/reminder_level1.txt.j2:")


def test_check_reports_owned_header_read_as_input(project):
    where = map_position(project, "      status: Status", "Status")
    edit_text(project / "rules" / "workbooks.yaml", "status: Status", "status: Amount")

    found = check_messages(project)

    amount_at = map_position(project, "      amount: Amount", "Amount")
    assert found == [
        f"{where}: owned column 'status' has the header 'Amount', which the field "
        f"'amount' is read from ({amount_at}); the engine would overwrite that "
        "input. Give 'status' a header of its own, such as Status."
    ]


def test_check_reports_currency_without_rate(project):
    edit_text(project / "rules" / "credit.yaml", "EUR: 1.08", "GBP: 1.25")

    found = check_messages(project)

    assert len(found) == 1
    assert found[0].startswith("rules/credit.yaml: currency EUR has no rate in ")


def test_yaml_error_at_line_of_fault(project):
    path = project / "rules" / "credit.yaml"
    lines = path.read_text().splitlines()
    number = next(i for i, line in enumerate(lines, 1) if line == "  EUR: 1.08")
    edit_text(path, "EUR: 1.08", "EUR: [1.08")

    found = check_messages(project)

    assert found[0].startswith(f"rules/credit.yaml:{number}:8: YAML syntax error: ")
    assert "while parsing a flow sequence started here" in found[0]


def test_preview_opens_no_state(project):
    run(project, dry_run=True)

    assert not (project / "state").exists()
