"""What a pass lets go of once a later stage no longer needs it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from python_calamine import CalamineWorkbook

from engine.inputs import read_inputs
from engine.pipeline import return_large_blocks, run_pass
from engine.project import Project
from engine.report import _cents
from engine.workbook_map import load_workbook_map
from engine.writeback import CENT, TENTH, quantized
from engine.xlsx.patch import write_cells

AS_OF = dt.date(2013, 6, 3)


def test_written_sheets_keep_no_cells(demo_project):
    result = run_pass(Project.at(demo_project), as_of=AS_OF, send_mail=False)

    assert result.cells_written > 0
    assert {write.path for write in result.planned_writes} == set(result.written)
    assert all(write.cells == {} for write in result.planned_writes)


def test_dry_run_keeps_planned_cells(demo_project):
    result = run_pass(Project.at(demo_project), as_of=AS_OF, dry_run=True,
                      send_mail=False)

    assert sum(len(write.cells) for write in result.planned_writes) > 0


def test_quantized_equals_quantize():
    for text in ("0", "-0", "0.000", "-0.0001", "0E+3", "1.005", "-2.55", "12",
                 "4.10", "-7.25", "0.5"):
        for step in (CENT, TENTH):
            expected = Decimal(text).quantize(step)
            found = quantized(Decimal(text), step)
            assert (str(found), found) == (str(expected), expected)


def test_quantized_zeros_are_shared():
    assert quantized(Decimal("0.000"), CENT) is quantized(Decimal(0), CENT)
    assert str(quantized(Decimal("-0"), CENT)) == "-0.00"
    assert str(quantized(Decimal("0"), TENTH)) == "0.0"


def reminded_items(result) -> set[str]:
    return {item.item_id for letter in result.letters if letter.kind == "reminder"
            for item in letter.items}


def test_promised_date_pauses_reminder(demo_project):
    project = Project.at(demo_project)
    before = run_pass(project, as_of=AS_OF, dry_run=True, send_mail=True)
    orders = demo_project / "workbooks" / "orders.xlsx"
    rows = CalamineWorkbook.from_path(str(orders)).get_sheet_by_index(0).to_python()
    header = rows[0]
    invoice_column = header.index("Invoice No")
    invoice_id = sorted(reminded_items(before))[0]
    row = next(number for number, cells in enumerate(rows, start=1)
               if str(cells[invoice_column]) == invoice_id)
    write_cells(orders, "Orders", {(row, header.index("Promised Date") + 1):
                                   AS_OF + dt.timedelta(days=10)})

    after = run_pass(project, as_of=AS_OF, dry_run=True, send_mail=True)

    assert invoice_id in reminded_items(before)
    assert invoice_id not in reminded_items(after)


def test_payment_reference_shares_invoice_id(demo_project):
    project = Project.at(demo_project)
    workbook_map = load_workbook_map(project.workbook_map_path, project.root)
    inputs, _, _ = read_inputs(workbook_map, as_of=AS_OF, keep_values=False)
    invoice_ids = {order.invoice_id: order.invoice_id for order in inputs.orders}
    matched = [payment for payment in inputs.payments
               if payment.reference in invoice_ids]

    assert matched
    assert all(payment.reference is invoice_ids[payment.reference]
               for payment in matched)


def test_quantized_keeps_amount_at_step():
    amount = Decimal("12.30")

    assert quantized(amount, CENT) is amount
    assert str(quantized(Decimal("12.3"), CENT)) == "12.30"


def test_return_large_blocks_runs_twice():
    return_large_blocks()
    return_large_blocks()

    assert return_large_blocks.cache_info().currsize == 1


def test_writing_pass_keeps_decided_previous(demo_project):
    project = Project.at(demo_project)
    preview = run_pass(project, as_of=AS_OF, dry_run=True, send_mail=False)
    result = run_pass(project, as_of=AS_OF, send_mail=False)

    assert set(result.previous) == {decision.order_id for decision in result.decisions}
    assert len(preview.previous) > len(result.previous)


def test_report_cents_share_decimals():
    amount = Decimal("12.30")

    assert _cents(amount) is amount
    assert _cents(Decimal(0)) is _cents(Decimal("0.000"))
    assert str(_cents(Decimal("-0"))) == "-0.00"
    assert str(_cents(Decimal("2.345"))) == "2.35"
