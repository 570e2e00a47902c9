"""The customers plan's shortcuts give the cells the plain comparison gives."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from types import MappingProxyType

import pytest

from engine.writeback import CENT, TENTH, add_changed_cells, quantized, same_value

D = Decimal
DAY = dt.date(2013, 6, 3)
COLUMNS = {"outstanding": 12, "limit": 13, "note": 14, "checked_on": 15, "blank": 16}
NEW = {
    "outstanding": D("12.50"),
    "limit": None,
    "note": "",
    "checked_on": DAY,
    "blank": D("0.00"),
    "unmapped": D("1"),
}


def plain(current, new) -> dict:
    """Return the changed cells by `same_value` alone, as the plan once did."""
    return {
        (7, COLUMNS[name]): value
        for name, value in new.items()
        if name in COLUMNS and not same_value(current.get(name), value)
    }


@pytest.mark.parametrize(
    "current",
    [
        {},
        MappingProxyType({}),
        {"outstanding": 12.5, "note": "x", "checked_on": DAY, "blank": 0.0},
        {"outstanding": 12.4, "limit": 300.0, "checked_on": 41428.0, "blank": ""},
        {"outstanding": "12.50", "note": "", "checked_on": dt.datetime(2013, 6, 3)},
    ],
    ids=["empty", "empty-proxy", "same", "changed", "texts"],
)
def test_changed_cells_match_same_value(current):
    cells: dict = {}
    add_changed_cells(cells, 7, COLUMNS, current, NEW)
    assert cells == plain(current, NEW)


@pytest.mark.parametrize(
    ("amount", "step", "text"),
    [
        (D("0"), CENT, "0.00"),
        (D("-0"), CENT, "-0.00"),
        (D("0E+3"), TENTH, "0.0"),
        (D("-0.000"), TENTH, "-0.0"),
        (D("0"), D("0.001"), "0.000"),
        (D("12.345"), CENT, "12.34"),
        (D("12.50"), CENT, "12.50"),
    ],
)
def test_quantized_keeps_sign_and_step(amount, step, text):
    assert str(quantized(amount, step)) == text
