"""What a pass keeps in memory: released row values, the garbage collector state, and
the payments the watcher's passes reuse while their workbook stays the same."""

from __future__ import annotations

import datetime as dt
import gc
from decimal import Decimal

from engine.inputs import ReadMemo, read_inputs
from engine.pipeline import collector_paused, run_pass
from engine.project import Project
from engine.workbook_map import load_workbook_map
from engine.xlsx.patch import write_cells

AS_OF = dt.date(2013, 6, 3)


def demo_map(project_root):
    project = Project.at(project_root)
    return load_workbook_map(project.workbook_map_path, project.root)


def test_released_values_keep_owned_cells(demo_project):
    workbook_map = demo_map(demo_project)
    kept_inputs, kept, _ = read_inputs(workbook_map, as_of=AS_OF)
    inputs, released, _ = read_inputs(workbook_map, as_of=AS_OF, keep_values=False)

    assert inputs.orders == kept_inputs.orders
    assert inputs.payments == kept_inputs.payments
    assert released["payments"].rows == []
    assert kept["payments"].rows
    orders = released["orders"].rows
    assert [row.ref for row in orders] == [row.ref for row in kept["orders"].rows]
    assert [row.owned for row in orders] == [row.owned for row in kept["orders"].rows]
    assert all(not row.values for row in orders)


def test_payment_rows_share_empty_owned(demo_project):
    _, reads, _ = read_inputs(demo_map(demo_project), as_of=AS_OF)
    rows = reads["payments"].rows

    assert rows
    assert all(row.owned is rows[0].owned for row in rows)
    assert dict(rows[0].owned) == {}


def test_collector_paused_restores_state():
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.unfreeze()


def test_pass_leaves_nothing_frozen(demo_project):
    run_pass(Project.at(demo_project), as_of=AS_OF)

    assert gc.isenabled()
    assert gc.get_freeze_count() == 0


def test_unchanged_payments_reused(demo_project):
    workbook_map = demo_map(demo_project)
    memo = ReadMemo()
    first, first_reads, _ = read_inputs(workbook_map, as_of=AS_OF, keep_values=False,
                                        memo=memo)
    second, second_reads, _ = read_inputs(workbook_map, as_of=AS_OF, keep_values=False,
                                          memo=memo)

    assert second.payments == first.payments
    assert all(a is b for a, b in zip(second.payments, first.payments, strict=True))
    assert second_reads["payments"] is first_reads["payments"]
    # The memo keeps the customers sheet too. The orders sheet is read again each
    # time, and only the records of its unchanged rows are reused.
    assert second_reads["customers"] is first_reads["customers"]
    assert second_reads["orders"] is not first_reads["orders"]
    assert second.orders == first.orders


def test_saved_payments_read_again(demo_project):
    workbook_map = demo_map(demo_project)
    memo = ReadMemo()
    before, _, _ = read_inputs(workbook_map, as_of=AS_OF, keep_values=False, memo=memo)
    payments = demo_project / "workbooks" / "payments.xlsx"
    write_cells(payments, "Payments", {(2, 5): Decimal("12.34")})

    after, _, _ = read_inputs(workbook_map, as_of=AS_OF, keep_values=False, memo=memo)

    assert before.payments[0].amount == Decimal("75.21")
    assert after.payments[0].amount == Decimal("12.34")
    assert after.payments[1:] == before.payments[1:]


def test_customer_currency_change_rereads_payments(demo_project):
    workbook_map = demo_map(demo_project)
    memo = ReadMemo()
    inputs, _, _ = read_inputs(workbook_map, as_of=AS_OF, keep_values=False, memo=memo)
    kept_key = memo.kept["payments"].key
    # A customer's currency is the default of its payments, so it is part of the key.
    first = inputs.customers[0]
    customers = demo_project / "workbooks" / "customers.xlsx"
    other = "GBP" if first.currency == "CHF" else "CHF"
    write_cells(customers, "Customers", {(first.ref.row, currency_column(customers)): other})

    read_inputs(workbook_map, as_of=AS_OF, keep_values=False, memo=memo)

    assert memo.kept["payments"].key != kept_key


def currency_column(path) -> int:
    from python_calamine import CalamineWorkbook

    sheet = CalamineWorkbook.from_path(str(path)).get_sheet_by_name("Customers")
    return sheet.to_python()[0].index("Currency") + 1
