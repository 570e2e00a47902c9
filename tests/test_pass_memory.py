"""What a pass keeps in memory: released row values and the garbage collector state."""

from __future__ import annotations

import datetime as dt
import gc

from engine.inputs import read_inputs
from engine.pipeline import collector_paused, run_pass
from engine.project import Project
from engine.workbook_map import load_workbook_map

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
