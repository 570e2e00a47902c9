"""Customers whose exposure is unknown: no decision, figure or letter on partial data.

Each test edits a fresh copy of the demo with openpyxl and runs a real pass (real
workbooks, real SQLite, letters to the outbox folder), then reads what was written.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import openpyxl
import pytest

from engine.decide import decide_orders
from engine.findings import Severity
from engine.inputs import read_inputs
from engine.mail.letter import THANK_YOU
from engine.model import HeldRow
from engine.pipeline import build_ledger_for, load_rules, run_pass
from engine.project import Project
from engine.rules.check import check_project
from engine.rules.check import load_rules as load_checked_rules
from engine.rules.incomplete import find_incomplete
from engine.workbook_map import load_workbook_map
from tests.conftest import copy_project
from tests.test_pass_holds import customer_cells, edit_text, order_cells, set_cells

AS_OF = dt.date(2013, 6, 3)
# Invoice 1241888754 of customer 1168-BEASA (salesperson BSO), 49.96 open.
INVOICE_ROW = 1708
INVOICE_ORDER = "ORD-1241888754"
# A new BSO order of another customer, blocked by BSO's limit in the demo.
BSO_ORDER = "ORD-9344726527"
# PAY-7005945991 pays invoice 7005945991 (32.75) of 9883-SDWFS.
PAYMENT_ROW = 1691
# A new order of 9174-IYKOC, blocked by salesperson CMA's limit in the demo.
CMA_ORDER = "ORD-9418503093"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_project(tmp_path / "project")


def run(project: Path, *, send_mail: bool = False):
    return run_pass(Project.at(project), as_of=AS_OF, send_mail=send_mail)


def codes(result, code: str) -> list[str]:
    return [str(f) for f in result.findings if f.code == code]


def letters_to(result, customer_id: str) -> list[str]:
    return [
        letter.kind for letter in result.letters if letter.recipient_id == customer_id
    ]


def decide_with_held_row(project: Path, kind: str, row_number: int, reason: str):
    """Decide the demo as the reader would after failing to read one row.

    The row leaves `inputs` and comes back as a HeldRow with its customer id.
    """
    rules = load_rules(Project.at(project))
    workbook_map = load_workbook_map(project / "rules" / "workbooks.yaml", project)
    inputs, _, _ = read_inputs(workbook_map, as_of=AS_OF)
    rows = inputs.orders if kind == "orders" else inputs.payments
    row = next(r for r in rows if r.ref.row == row_number)
    rows.remove(row)
    key = row.order_id if kind == "orders" else row.payment_id
    inputs.held.append(HeldRow(kind, key, row.ref, reason, customer_id=row.customer_id))
    incomplete = find_incomplete(rules, inputs)
    ledger = build_ledger_for(rules, inputs, AS_OF)
    findings = []
    decisions = decide_orders(
        rules, ledger, inputs, AS_OF, findings=findings, incomplete=incomplete
    )
    return {d.order_id: d for d in decisions}, incomplete, findings


# A held orders or payments row makes its customer incomplete.


def test_held_invoice_row_holds_customer_and_salesperson(project):
    reason = "E1708 (ORD-1241888754): 'fifty' is not a number. Type the amount"

    decisions, incomplete, findings = decide_with_held_row(
        project, "orders", INVOICE_ROW, reason
    )

    expected = (
        "the exposure of customer 1168-BEASA is unknown because orders.xlsx › Orders "
        "› row 1708 could not be read: E1708 (ORD-1241888754): 'fifty' is not a "
        "number. Type the amount."
    )
    assert incomplete.customer_reason("1168-BEASA") == expected
    assert decisions[BSO_ORDER].status == "HELD"
    assert decisions[BSO_ORDER].reason == (
        "Held: the total exposure of salesperson BSO is unknown: "
        + expected.removesuffix(".")
        + "."
    )
    held = [f for f in findings if f.code == "order-held"]
    assert f"order {BSO_ORDER} is held: the total exposure of salesperson BSO" in str(
        held
    )
    assert all(f.severity is Severity.WARNING for f in held)


def test_held_payment_row_holds_customer(project):
    decisions, incomplete, _ = decide_with_held_row(
        project,
        "payments",
        PAYMENT_ROW,
        "E1691 (PAY-7005945991): 'abc' is not a number",
    )

    assert incomplete.customer_reason("9883-SDWFS") == (
        "the exposure of customer 9883-SDWFS is unknown because payments.xlsx › "
        "Payments › row 1691 could not be read: E1691 (PAY-7005945991): 'abc' is not "
        "a number."
    )
    # 9883-SDWFS belongs to CMA, so CMA's new orders wait too.
    assert decisions[CMA_ORDER].status == "HELD"
    assert "salesperson CMA is unknown" in decisions[CMA_ORDER].reason


def test_held_row_without_customer_is_an_error_and_holds_nothing(project):
    rules = load_rules(Project.at(project))
    workbook_map = load_workbook_map(project / "rules" / "workbooks.yaml", project)
    inputs, _, _ = read_inputs(workbook_map, as_of=AS_OF)
    payment = next(p for p in inputs.payments if p.ref.row == PAYMENT_ROW)
    inputs.payments.remove(payment)
    inputs.held.append(HeldRow("payments", "PAY-7005945991", payment.ref, "C1691: bad"))

    incomplete = find_incomplete(rules, inputs)

    assert len(incomplete) == 0
    [finding] = [f for f in incomplete.findings if f.code == "exposure-unattributed"]
    assert str(finding) == (
        "payments.xlsx › Payments › row 1691: this payment row (PAY-7005945991) could "
        "not be read and its customer id is unreadable, so its amount could not be "
        "attributed to any customer's exposure; the figures and decisions of its "
        "customer may be wrong. Correct the row so its customer id and amount can be "
        "read."
    )
    assert finding.severity is Severity.ERROR


# The same on real edited workbooks: the reader gives each held row its customer id.


def test_unreadable_invoice_amount_end_to_end(project):
    set_cells(project, "orders.xlsx", "Orders", {f"E{INVOICE_ROW}": "fifty"})

    result = run(project, send_mail=True)

    cells = order_cells(project)
    assert cells[BSO_ORDER][0] == "HELD"
    assert customer_cells(project, "1168-BEASA")["Exposure"] == ""
    assert letters_to(result, "1168-BEASA") == []


def test_unreadable_payment_amount_sends_no_reminder(project):
    set_cells(project, "payments.xlsx", "Payments", {f"E{PAYMENT_ROW}": "abc"})

    result = run(project, send_mail=True)

    assert letters_to(result, "9883-SDWFS") == []
    assert customer_cells(project, "9883-SDWFS")["Outstanding"] == ""
    assert order_cells(project)[CMA_ORDER][0] == "HELD"


# Letters on partial data.


def test_missing_fx_rate_sends_no_thank_you(project):
    first = run(project, send_mail=True)
    assert "reminder" in letters_to(first, "3448-OWJOT")
    edit_text(project / "rules" / "credit.yaml", "EUR: 1.08", "GBP: 1.25")

    result = run(project, send_mail=True)

    assert letters_to(result, "3448-OWJOT") == []
    assert not [letter for letter in result.letters if letter.kind == THANK_YOU]
    [finding] = [
        f for f in result.findings
        if f.code == "mail-incomplete" and "3448-OWJOT" in f.message
    ]  # fmt: skip
    assert finding.message == (
        "the thank-you letter to customer 3448-OWJOT is not sent this pass: the "
        "exposure of customer 3448-OWJOT is unknown because its rows in EUR cannot "
        "be converted to USD. Add EUR: <rate> under fx in rules/credit.yaml."
    )
    assert finding.severity is Severity.WARNING


# One customer's credit never makes room for another's orders.


def test_prepayment_does_not_lower_salesperson_exposure(project):
    workbook = openpyxl.load_workbook(project / "workbooks" / "payments.xlsx")
    sheet = workbook["Payments"]
    sheet.append(
        [
            "PAY-7777777777",
            dt.datetime(2013, 6, 1),
            "9883-SDWFS",
            "ADVANCE",
            10000,
            "USD",
        ]
    )
    workbook.save(project / "workbooks" / "payments.xlsx")

    result = run(project)

    decisions = {d.order_id: d for d in result.decisions}
    # CMA's total was 1,559.06 with this order. The advance pays 9883-SDWFS's own
    # 64.44, so that customer now counts 0, not -9,935.56 (which had made
    # the total -3,440.94).
    assert decisions[CMA_ORDER].inputs["salesperson_exposure_after"] == "1494.62"
    assert customer_cells(project, "9883-SDWFS")["Utilisation %"] == 0


# Every order the decision step holds is a finding.


def test_negative_amount_hold_is_a_finding(project):
    set_cells(project, "orders.xlsx", "Orders", {"E1800": -500})

    result = run(project)

    expected = (
        "orders.xlsx › Orders › row 1800: order ORD-3112379825 is held: amount "
        "-500.00 is not a positive order amount. Enter a credit note as a negative "
        "amount with its Invoice No and Invoice Date. Once that is fixed, the next "
        "pass decides the order."
    )
    assert codes(result, "order-held") == [expected]


def test_payment_of_unknown_customer_is_an_error(project):
    set_cells(project, "payments.xlsx", "Payments", {f"C{PAYMENT_ROW}": "0000-NOPE"})

    result = run(project)

    [finding] = [f for f in result.findings if f.code == "payment-customer"]
    assert str(finding) == (
        "payments.xlsx › Payments › row 1691: customer 0000-NOPE of payment row 1691 "
        "(PAY-7005945991) is not in the customers sheet, so this payment counts for "
        "no known customer. Correct the customer id of the payment, or add the "
        "customer to the customers sheet."
    )
    assert finding.severity is Severity.ERROR


# `check` rejects rules whose FX table lacks a currency the workbooks use.


def test_check_rejects_missing_rate_as_error(project):
    edit_text(project / "rules" / "credit.yaml", "EUR: 1.08", "GBP: 1.25")

    findings = [f for f in check_project(project) if f.code == "currency"]

    assert findings
    assert all(f.severity is Severity.ERROR for f in findings)


def test_load_rules_reads_no_workbook(project):
    edit_text(project / "rules" / "credit.yaml", "EUR: 1.08", "GBP: 1.25")
    shutil.rmtree(project / "workbooks")

    rules = load_checked_rules(project)

    assert "GBP" in rules.fx_rates


def test_unknown_customer_outranks_unknown_salesperson_total(project):
    import dataclasses

    rules = load_rules(Project.at(project))
    workbook_map = load_workbook_map(project / "rules" / "workbooks.yaml", project)
    inputs, _, _ = read_inputs(workbook_map, as_of=AS_OF)
    invoice = next(r for r in inputs.orders if r.ref.row == INVOICE_ROW)
    inputs.orders.remove(invoice)
    inputs.held.append(HeldRow("orders", invoice.order_id, invoice.ref, "bad amount",
                               customer_id=invoice.customer_id))
    index, order = next((i, o) for i, o in enumerate(inputs.orders)
                        if o.order_id == BSO_ORDER)
    inputs.orders[index] = dataclasses.replace(order, customer_id="NO-SUCH",
                                               salesperson="BSO")
    incomplete = find_incomplete(rules, inputs)
    ledger = build_ledger_for(rules, inputs, AS_OF)

    decisions = decide_orders(rules, ledger, inputs, AS_OF, findings=[],
                              incomplete=incomplete)

    [decision] = [d for d in decisions if d.order_id == BSO_ORDER]
    assert decision.reason == (
        "Held: customer 'NO-SUCH' is not in the customers sheet."
    )
