"""Random values into random cells of real workbooks must read back unchanged."""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from engine.xlsx.patch import plan_check, write_cells
from engine.xlsx.patch_cells import excel_unescape
from patch_helpers import (
    first_worksheet,
    raw_members,
    read_calamine,
    read_openpyxl,
    sheet_part_name,
    sheet_xml,
    used_extent,
)

CORPUS = Path(__file__).parent / "data" / "corpus"
WORKBOOKS = [
    CORPUS / "07_simple-monthly-budget.xlsx",
    CORPUS / "17_rich_text_stress.xlsx",
    CORPUS / "19_named_ranges_2011.xlsx",
    CORPUS / "21_pictures_in_cell_and_over_cell.xlsx",
]
EXTENTS = {path: used_extent(sheet_xml(path, first_worksheet(path))) for path in WORKBOOKS}

texts = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)), min_size=0, max_size=40
) | st.from_regex(r"_x[0-9A-Fa-f]{4}_", fullmatch=True)
numbers = st.decimals(min_value=0, max_value=1_000_000, places=2, allow_nan=False)
integers = st.integers(min_value=0, max_value=1_000_000)
dates = st.dates(min_value=dt.date(1900, 3, 1), max_value=dt.date(9999, 12, 31))
values = texts | numbers | integers | dates


@st.composite
def write_plans(draw):
    path = draw(st.sampled_from(WORKBOOKS))
    last_row, last_column = EXTENTS[path]
    targets = st.tuples(
        st.integers(1, last_row + 20), st.integers(1, last_column + 5)
    )
    cells = draw(st.dictionaries(targets, values, min_size=1, max_size=6))
    return path, cells


def as_number(found) -> Decimal | None:
    """Return a read-back value as Excel's underlying number, whatever format it has."""
    if isinstance(found, bool) or found is None or isinstance(found, str):
        return None
    if isinstance(found, (int, float)):
        return Decimal(repr(found))
    if isinstance(found, dt.datetime):
        delta = found - dt.datetime(1899, 12, 30)
        return Decimal(delta.days) + Decimal(delta.seconds) / 86400
    if isinstance(found, dt.date):
        return Decimal((found - dt.date(1899, 12, 30)).days)
    if isinstance(found, dt.time):
        return Decimal(found.hour * 3600 + found.minute * 60 + found.second) / 86400
    if isinstance(found, dt.timedelta):
        return Decimal(found.days) + Decimal(found.seconds) / 86400
    return None


def expected_number(value) -> Decimal:
    if isinstance(value, dt.date):
        return Decimal((value - dt.date(1899, 12, 30)).days)
    return Decimal(value)


def assert_reads_back(found, value, reader: str) -> None:
    if isinstance(value, str):
        shown = excel_unescape(found) if reader == "openpyxl" and found else found
        # Both readers return an empty cell for empty text.
        assert shown in ((value,) if value else ("", None)), (reader, found, value)
        return
    number = as_number(found)
    assert number is not None, (reader, found, value)
    assert abs(number - expected_number(value)) <= Decimal("0.000001"), (reader, found, value)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(write_plans())
def test_random_writes_read_back(plan):
    source, cells = plan
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / source.name
        shutil.copy(source, path)
        sheet = first_worksheet(path)
        assume(plan_check(path, sheet, cells) == [])
        before = raw_members(path)
        part = sheet_part_name(path, sheet)

        write_cells(path, sheet, cells, fsync=False)

        after = raw_members(path)
        # workbook.xml gains fullCalcOnLoad, styles.xml date formats and a table a
        # column written next to it; the corpus and table tests check those changes.
        def kept(name: str) -> bool:
            return name in (part, "xl/workbook.xml", "xl/styles.xml") or "/tables/" in name

        assert [m for m in after if not kept(m[0])] == [m for m in before if not kept(m[0])]
        by_calamine = read_calamine(path, sheet, cells)
        by_openpyxl = read_openpyxl(path, sheet, cells)
        for target, value in cells.items():
            assert_reads_back(by_calamine[target], value, "calamine")
            assert_reads_back(by_openpyxl[target], value, "openpyxl")
