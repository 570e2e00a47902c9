"""Performance smoke test: one column written into every row of a 100,000-row sheet.

The time is printed, not asserted, because it depends on the machine.
"""

from __future__ import annotations

import time
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest

from engine.xlsx.patch import write_cells
from patch_builder import build_workbook, sheet
from patch_helpers import read_calamine


def generate_rows(count: int, columns: int = 10) -> str:
    """Return row XML with numbers, shared-looking text and dates in `columns` columns."""
    letters = "ABCDEFGHIJ"[:columns]
    rows = []
    for number in range(1, count + 1):
        cells = "".join(
            f'<c r="{letter}{number}" t="inlineStr"><is><t>ORD-{number}</t></is></c>'
            if letter == "A"
            else f'<c r="{letter}{number}"><v>{number * 7 % 1000}.{number % 100:02d}</v></c>'
            for letter in letters
        )
        rows.append(f'<row r="{number}" spans="1:{columns}">{cells}</row>')
    return "".join(rows)


@pytest.mark.slow
def test_one_column_into_100k_rows(tmp_path):
    count = 100_000
    path = build_workbook(
        tmp_path / "big.xlsx",
        sheet(generate_rows(count), head=f'<dimension ref="A1:J{count}"/>'),
    )
    cells = {(row, 11): "APPROVED" if row % 3 else Decimal("125.50") for row in range(1, count + 1)}

    started = time.perf_counter()
    write_cells(path, "Orders", cells, fsync=False)
    elapsed = time.perf_counter() - started

    print(f"\nwrote 1 column into {count:,} rows in {elapsed:.2f} s")
    values = read_calamine(path, "Orders", [(1, 11), (3, 11), (count, 11)])
    assert values == {(1, 11): "APPROVED", (3, 11): 125.5, (count, 11): "APPROVED"}
    with zipfile.ZipFile(path) as archive:
        head = archive.open("xl/worksheets/sheet1.xml").read(400)
    assert f'<dimension ref="A1:K{count}"/>'.encode() in head
