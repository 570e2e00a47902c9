"""The read memo keeps the customers sheet across the engine's own writes of it."""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal

from python_calamine import CalamineWorkbook

from engine.filestamp import stamp_of
from engine.inputs import ReadMemo, read_inputs
from engine.pipeline import run_pass
from engine.project import Project
from engine.workbook_map import load_workbook_map
from engine.writeback import same_value
from engine.xlsx.patch import write_cells
from tests.conftest import copy_project

AS_OF = dt.date(2013, 6, 3)


def demo_map(root):
    project = Project.at(root)
    return load_workbook_map(project.workbook_map_path, project.root)


def column_of(path, sheet: str, header: str) -> int:
    grid = CalamineWorkbook.from_path(str(path)).get_sheet_by_name(sheet).to_python()
    return grid[0].index(header) + 1


def test_unchanged_customers_reused(demo_project):
    workbook_map = demo_map(demo_project)
    memo = ReadMemo()
    first, first_reads, _ = read_inputs(workbook_map, as_of=AS_OF, keep_values=False,
                                        memo=memo)
    second, second_reads, _ = read_inputs(workbook_map, as_of=AS_OF, keep_values=False,
                                          memo=memo)

    assert second_reads["customers"] is first_reads["customers"]
    assert second.customers == first.customers
    # Customers' currencies are the default of orders and payments.
    assert second.orders == first.orders
    assert second.payments == first.payments


def test_values_read_again_not_kept(demo_project):
    memo = ReadMemo()
    read_inputs(demo_map(demo_project), as_of=AS_OF, keep_values=True, memo=memo)

    assert "customers" not in memo.kept


def test_pass_write_moves_kept_customers(demo_project):
    project = Project.at(demo_project)
    customers = demo_project / "workbooks" / "customers.xlsx"
    memo = ReadMemo()
    result = run_pass(project, as_of=AS_OF, memo=memo, send_mail=False)
    assert customers in result.written

    kept = memo.kept["customers"]
    assert kept.key[1] == stamp_of(customers).sha256
    _, reads, _ = read_inputs(demo_map(demo_project), as_of=AS_OF, keep_values=False,
                              memo=memo)
    assert reads["customers"] is kept.read
    _, fresh, _ = read_inputs(demo_map(demo_project), as_of=AS_OF, keep_values=False)
    fresh_rows = list(fresh["customers"].rows)
    assert [row.ref.row for row in kept.read.rows] == [row.ref.row for row in fresh_rows]
    for row in fresh_rows:
        kept_owned = kept.read.owned_at(row.ref.row)
        for name, value in row.owned.items():
            assert same_value(value, kept_owned[name]), (row.ref, name)


def test_saved_customers_read_again(demo_project):
    project = Project.at(demo_project)
    customers = demo_project / "workbooks" / "customers.xlsx"
    memo = ReadMemo()
    run_pass(project, as_of=AS_OF, memo=memo, send_mail=False)
    write_cells(customers, "Customers", {(2, column_of(customers, "Customers", "Name")):
                                         "Renamed Travel"})

    inputs, _, _ = read_inputs(demo_map(demo_project), as_of=AS_OF, keep_values=False,
                               memo=memo)

    assert inputs.customers[0].name == "Renamed Travel"


def test_header_write_drops_kept_sheet(demo_project):
    workbook_map = demo_map(demo_project)
    customers = demo_project / "workbooks" / "customers.xlsx"
    memo = ReadMemo()
    read_inputs(workbook_map, as_of=AS_OF, keep_values=False, memo=memo)
    column = column_of(customers, "Customers", "Outstanding")
    stamp = write_cells(customers, "Customers", {(1, column): "Outstanding"})

    memo.wrote(customers, "Customers", {(1, column): "Outstanding"}, stamp)

    assert "customers" not in memo.kept


def test_memo_passes_write_as_fresh_passes(tmp_path, caplog):
    """A series of watcher passes with the memo writes the bytes passes without it do."""
    caplog.set_level(logging.DEBUG, logger="engine.inputs")
    with_memo = copy_project(tmp_path / "memo")
    without = copy_project(tmp_path / "fresh")
    memo = ReadMemo()
    amount = column_of(with_memo / "workbooks" / "orders.xlsx", "Orders", "Amount")
    saves = [None, {(3, amount): Decimal("99999.00")}, {(5, amount): Decimal("12.00")},
             {(3, amount): Decimal("50.39")}]
    for cells in saves:
        for root in (with_memo, without):
            if cells is not None:
                write_cells(root / "workbooks" / "orders.xlsx", "Orders", cells)
        run_pass(Project.at(with_memo), as_of=AS_OF, memo=memo, send_mail=False)
        run_pass(Project.at(without), as_of=AS_OF, send_mail=False)
        for name in ("orders.xlsx", "customers.xlsx"):
            written = (with_memo / "workbooks" / name).read_bytes()
            assert written == (without / "workbooks" / name).read_bytes(), (cells, name)
    reused = [r for r in caplog.records
              if r.getMessage().startswith("customers.xlsx unchanged since the last pass")]
    assert len(reused) == len(saves) - 1


def test_unchanged_orders_keep_records(demo_project):
    workbook_map = demo_map(demo_project)
    orders = demo_project / "workbooks" / "orders.xlsx"
    memo = ReadMemo()
    first, _, _ = read_inputs(workbook_map, as_of=AS_OF, keep_values=False, memo=memo)
    write_cells(orders, "Orders", {(3, column_of(orders, "Orders", "Amount")):
                                   Decimal("99999.00")})

    second, _, _ = read_inputs(workbook_map, as_of=AS_OF, keep_values=False, memo=memo)
    fresh, _, _ = read_inputs(workbook_map, as_of=AS_OF, keep_values=False)

    assert second.orders == fresh.orders
    assert second.orders[1].amount == Decimal("99999.00")
    assert second.orders[1] is not first.orders[1]
    assert second.orders[0] is first.orders[0]
    assert all(a is b for a, b in zip(second.orders[2:], first.orders[2:], strict=True))


def fake_row(number: int, values: dict, owned: dict | None = None):
    from types import SimpleNamespace

    from engine.model import RowRef
    from engine.xlsx.read import SheetRow

    row = SheetRow(RowRef("orders.xlsx", "Orders", number), values, owned or {})
    return SimpleNamespace(row=row, problems=[])


def test_typed_rows_compare_types_and_zero_sign():
    from engine.inputs import TypedRows

    typed = TypedRows(("key",))
    built = []

    def build(values):
        built.append(values.row.values["amount"])
        return object()

    cases = [{"amount": 1.0}, {"amount": True}, {"amount": -0.0}, {"amount": 0.0}]
    for values in cases:
        typed.builder(build)(fake_row(2, values))
        typed.finish()
        typed.builder(build)(fake_row(2, values))
        typed.finish()
    # True equals 1.0 but is another type, so it is typed, then reused. Float zeros
    # are typed every time, because 0.0 == -0.0.
    assert built == [1.0, True, -0.0, -0.0, 0.0, 0.0]


def test_typed_rows_compare_owned_values():
    from engine.inputs import TypedRows

    typed = TypedRows(("key",))
    records = []
    for owned in ({"status": None}, {"status": None}, {"status": "BLOCKED"}):
        records.append(typed.builder(lambda values: object())(
            fake_row(2, {"amount": 5.0}, owned)))
        typed.finish()

    assert records[1] is records[0]
    assert records[2] is not records[1]
