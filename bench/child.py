"""Timed steps that run in their own process, so their peak RSS is their own.

Usage: python -m bench.child read|write|openpyxl ARGS... ; prints one JSON line
with the seconds the step took (interpreter start and imports excluded).
`python -m bench.child imports` prints nothing: its whole process is the measure.
"""

from __future__ import annotations

import json
import pickle
import sys
import time
from pathlib import Path

SHEETS = {"orders.xlsx": "Orders", "payments.xlsx": "Payments",
          "customers.xlsx": "Customers"}


def read_floor(folder: Path) -> float:
    """Read every mapped sheet into Python values with calamine, nothing more."""
    from python_calamine import CalamineWorkbook

    started = time.perf_counter()
    for name, sheet in SHEETS.items():
        rows = CalamineWorkbook.from_path(str(folder / name)).get_sheet_by_name(sheet)
        for _row in rows.iter_rows():
            pass
    return time.perf_counter() - started


def write_floor(folder: Path, cells_file: Path) -> float:
    """Write the given owned cells with the engine's writer and nothing else."""
    from engine.xlsx.patch import write_cells

    writes = pickle.loads(cells_file.read_bytes())
    started = time.perf_counter()
    for name, cells in writes.items():
        write_cells(folder / name, SHEETS[name], cells)
    return time.perf_counter() - started


def openpyxl_round_trip(folder: Path) -> float:
    """Load and save every workbook with openpyxl, as a generic library would."""
    import openpyxl

    started = time.perf_counter()
    for name in SHEETS:
        workbook = openpyxl.load_workbook(folder / name)
        workbook.save(folder / name)
        workbook.close()
        del workbook
    return time.perf_counter() - started


# The libraries a pass imports besides the engine (rule-engine comes through the
# engine).
LIBRARIES = (
    "decimal", "email.message", "email.policy", "smtplib", "sqlite3", "zipfile",
    "zoneinfo", "babel.dates", "babel.numbers", "click", "jinja2", "openpyxl",
    "python_calamine", "ruamel.yaml", "PIL.Image", "PIL.ImageDraw", "PIL.ImageFont",
)


def import_floor() -> None:
    """Import the libraries a pass imports besides the engine, and nothing else.

    The interpreter's start and these imports are a fixed cost of every `once` pass,
    whatever the size of the workbooks.
    """
    import importlib

    for name in LIBRARIES:
        importlib.import_module(name)
    # rule-engine is imported as the engine imports it, with the shipped parser tables.
    from engine.rules.parser_tables import import_rule_engine

    import_rule_engine()


def main(argv: list[str]) -> None:
    step, *args = argv
    if step == "imports":
        import_floor()
        return
    if step == "read":
        seconds = read_floor(Path(args[0]))
    elif step == "write":
        seconds = write_floor(Path(args[0]), Path(args[1]))
    elif step == "openpyxl":
        seconds = openpyxl_round_trip(Path(args[0]))
    else:
        raise SystemExit(f"unknown step {step!r}; expected read, write, openpyxl "
                         "or imports")
    print(json.dumps({"seconds": seconds}))


if __name__ == "__main__":
    main(sys.argv[1:])
