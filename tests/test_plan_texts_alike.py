"""The shortcuts of the planned cells and the decision log give the plain results.

`add_changed_cells` compares the common cases itself, and the decision log builds its
JSON texts without json.dumps per decision. Both must equal what `same_value` and
json.dumps give.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

from engine.decision_log import _JsonTexts, trace_json
from engine.model import RowRef
from engine.writeback import add_changed_cells, same_value

VALUES = [
    None, "", "APPROVED", "BLOCKED", " ", 0, 1, 0.0, -0.0, 12.5, 12.50001, 1250.0,
    True, False, Decimal("12.50"), Decimal("12.5"), Decimal("0.00"), Decimal("-0.00"),
    Decimal("1E+2"), dt.date(2013, 6, 3), dt.datetime(2013, 6, 3), 41428, 41428.0,
    "12.5", "2013-06-03",
]


def test_changed_cells_match_same_value():
    columns = {"figure": 3, "unmapped": None}
    for current in VALUES:
        for new in VALUES:
            for date1904 in (False, True):
                cells: dict = {}
                add_changed_cells(cells, 7, {"figure": 3}, {"figure": current},
                                  {"figure": new}, date1904=date1904)
                expected = {} if same_value(current, new, date1904=date1904) \
                    else {(7, 3): new}
                assert cells == expected, (current, new, date1904)
    cells = {}
    add_changed_cells(cells, 2, columns, {}, {"unmapped": 1, "other": 2})
    assert cells == {}


def test_trace_json_matches_dumps():
    for trace in ([], ["a"], ["ü €", 'quote " and \\', "line\nbreak", "\x00"],
                  ("tuple", "trace"), ["text", 3, None]):
        assert trace_json(trace) == json.dumps(list(trace), ensure_ascii=False)


def test_notify_and_ref_json_match_dumps():
    texts = _JsonTexts()
    for notify in ((), ("sales",), ("sales", "ü"), ("sales",), [["nested"]]):
        assert texts.notify(notify) == json.dumps(list(notify))
    for ref in (RowRef("orders.xlsx", "Orders", 5), RowRef("orders.xlsx", "Orders", 6),
                RowRef('a "b".xlsx', "Zahlungen ü", 1_048_576)):
        assert texts.ref(ref) == json.dumps([ref.file, ref.sheet, ref.row])
