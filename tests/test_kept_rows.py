"""The compact rows a pass keeps for its write-back, and amounts the ledger shares."""

from __future__ import annotations

import copy
import datetime as dt
import pickle
from decimal import Decimal

import pytest

from engine.inputs import read_inputs
from engine.ledger import build_ledger
from engine.model import Inputs, Order, RowRef
from engine.project import Project
from engine.workbook_map import load_workbook_map
from engine.xlsx.read import KeptRows

AS_OF = dt.date(2013, 6, 3)


def demo_reads(project_root, *, keep_values: bool):
    project = Project.at(project_root)
    workbook_map = load_workbook_map(project.workbook_map_path, project.root)
    return read_inputs(workbook_map, as_of=AS_OF, keep_values=keep_values)[1]


def test_kept_rows_match_full_rows(demo_project):
    full = demo_reads(demo_project, keep_values=True)["orders"]
    kept = demo_reads(demo_project, keep_values=False)["orders"]

    assert isinstance(kept.rows, KeptRows)
    assert len(kept.rows) == len(full.rows)
    assert [row.ref for row in kept.rows] == [row.ref for row in full.rows]
    assert kept.rows[0].ref == full.rows[0].ref
    for row in full.rows:
        assert dict(kept.owned_at(row.ref.row)) == dict(row.owned)
        assert dict(full.owned_at(row.ref.row)) == dict(row.owned)


def test_kept_rows_store_only_shown_owned_values(demo_project):
    rows = demo_reads(demo_project, keep_values=False)["orders"].rows

    assert all(any(value is not None for value in owned)
               for owned in rows.owned.values())
    assert len(rows.owned) < len(rows)


def test_owned_at_unknown_row_is_empty(demo_project):
    reads = demo_reads(demo_project, keep_values=False)
    full = demo_reads(demo_project, keep_values=True)

    assert set(reads["orders"].owned_at(10**6).values()) == {None}
    assert dict(full["orders"].owned_at(10**6)) == {}


def order(number: int, amount: str) -> Order:
    invoiced = dt.date(2013, 5, 1)
    return Order(f"O{number}", "C1", invoiced, Decimal(amount), "USD",
                 RowRef("orders.xlsx", "Orders", number + 1), invoice_id=f"I{number}",
                 invoice_date=invoiced, due_date=invoiced + dt.timedelta(days=60))


def test_ledger_shares_equal_booked_amounts():
    orders = [order(1, "12.5"), order(2, "12.50"), order(3, "7.25")]
    ledger = build_ledger(Inputs(orders=orders), AS_OF, lambda amount, *_: amount)
    items = ledger.account("C1").open_items

    assert [str(item.amount) for item in items] == ["12.50", "12.50", "7.25"]
    assert items[0].amount is items[1].amount


def test_row_ref_equality_covers_file_sheet_row():
    ref = RowRef("orders.xlsx", "Orders", 5)

    assert ref == RowRef("orders.xlsx", "Orders", 5)
    assert hash(ref) == hash(RowRef("orders.xlsx", "Orders", 5))
    assert ref != RowRef("payments.xlsx", "Orders", 5)
    assert ref != RowRef("orders.xlsx", "Other", 5)
    assert ref != RowRef("orders.xlsx", "Orders", 6)
    assert ref != 5
    assert 5 != ref


def test_row_ref_text_and_copies():
    ref = RowRef("orders.xlsx", "Orders", 12)

    assert (ref.file, ref.sheet, ref.row) == ("orders.xlsx", "Orders", 12)
    assert type(ref.row) is int
    assert str(ref) == "orders.xlsx › Orders › row 12"
    assert ref.cell(28) == "orders.xlsx › Orders › AB12"
    assert repr(ref) == "RowRef(file='orders.xlsx', sheet='Orders', row=12)"
    assert pickle.loads(pickle.dumps(ref)) == ref
    assert copy.deepcopy(ref) == ref


def test_row_ref_is_immutable():
    ref = RowRef("orders.xlsx", "Orders", 12)

    with pytest.raises(AttributeError):
        ref.row = 13
    with pytest.raises(AttributeError):
        ref.extra = 1
