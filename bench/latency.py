"""Save-to-flag latency: a watcher runs, a script saves one changed order like Excel.

Each save copies orders.xlsx to an Excel-style temporary name (8 letters, no
extension), changes one decided order there (new amount, Status and Reason
cleared), and renames it over orders.xlsx. The latency is the time from that rename
until the watcher's pass has replaced orders.xlsx with the order's new flag in it.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import statistics
import subprocess
import time
from decimal import Decimal
from pathlib import Path

from bench.generate import AS_OF, ROOT
from bench.measure import PYTHON, add_salespeople, isolated, make_project
from engine.service import ServiceSettings

TIMEOUT = 120.0  # seconds to wait for one flag before giving up


def save_to_flag(files_folder: Path, work: Path, saves: int,
                 salespeople: list[str], customers: int) -> dict:
    """Return the median, minimum and maximum save-to-flag seconds of `saves` saves."""
    from python_calamine import CalamineWorkbook

    project = make_project(files_folder, work)
    add_salespeople(project, salespeople, customers)
    once = ["run.py", "--project", str(project), "--as-of", str(AS_OF), "once"]
    for _ in range(3):  # settle the workbooks so the watcher's first pass is a no-op
        isolated("settle", once)
    orders = project / "workbooks" / "orders.xlsx"
    grid = CalamineWorkbook.from_path(str(orders)).get_sheet_by_name("Orders").to_python()
    header = grid[0]
    status, reason, amount = (header.index(name) + 1 for name in
                              ("Status", "Reason", "Amount"))
    decided = [number for number, row in enumerate(grid[1:], start=2)
               if row[status - 1] != ""][:saves]
    del grid
    log_path = work / "watch.log"
    with log_path.open("w") as log_file:
        watcher = subprocess.Popen(
            [PYTHON, "run.py", "-v", "--project", str(project), "--as-of", str(AS_OF),
             "watch"], cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        wait_for_passes(log_path, 1)
        seconds = []
        for count, row in enumerate(decided, start=2):
            seconds.append(one_save(orders, row, {(row, amount): Decimal("99999.00"),
                                                  (row, status): None,
                                                  (row, reason): None}))
            wait_for_passes(log_path, count)
            flag = read_cell(orders, row, status)
            if flag != "BLOCKED":
                raise RuntimeError(f"row {row} shows {flag!r} after the save, "
                                   "expected BLOCKED")
    finally:
        watcher.terminate()
        watcher.wait(timeout=30)
    defaults = ServiceSettings(root=project, folder=project, names=(), state=project)
    return {"saves": len(seconds), "median": statistics.median(seconds),
            "min": min(seconds), "max": max(seconds), "all": seconds,
            "debounce": defaults.debounce, "stable_for": defaults.stable_for,
            "stages": stage_medians(log_path.read_text(errors="replace"))}


# Log lines that end a stage of a watcher pass, by stage name, in pass order.
STAGE_ENDS = {
    "read": re.compile(r"engine\.inputs: read \d+ customers"),
    "ledger": re.compile(rf"engine\.ledger: ledger on {AS_OF}:"),
    "decide and orders write": re.compile(r"engine\.pipeline: wrote \d+ cells to orders"),
}
PASS_START = re.compile(r"engine\.service: pass (\d+) started")
LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) ")


def stage_medians(log_text: str) -> dict[str, float]:
    """Return the median seconds of each stage up to the orders write, over the saves.

    Read from the times of the watcher's log lines. The first pass (on settled files)
    is left out, and so is any pass that wrote no orders.
    """
    timings: dict[str, list[float]] = {name: [] for name in STAGE_ENDS}
    passes: list[list[tuple[str, dt.datetime]]] = []
    for line in log_text.splitlines():
        stamp = LOG_TIME.match(line)
        if stamp is None:
            continue
        at = dt.datetime.strptime(stamp.group(1), "%Y-%m-%d %H:%M:%S.%f")
        started = PASS_START.search(line)
        if started is not None:
            passes.append([("start", at)] if started.group(1) != "1" else [])
            continue
        if passes and passes[-1]:
            for name, pattern in STAGE_ENDS.items():
                if pattern.search(line) and name not in dict(passes[-1]):
                    passes[-1].append((name, at))
    for marks in passes:
        ends = dict(marks)
        if len(ends) != len(STAGE_ENDS) + 1:
            continue
        previous = ends["start"]
        for name in STAGE_ENDS:
            timings[name].append((ends[name] - previous).total_seconds())
            previous = ends[name]
    return {name: statistics.median(values) for name, values in timings.items() if values}


def one_save(orders: Path, row: int, cells: dict) -> float:
    from engine.xlsx.patch import write_cells

    temporary = orders.with_name("B3F1A9C2")
    shutil.copy2(orders, temporary)
    write_cells(temporary, "Orders", cells)
    started = time.perf_counter()
    os.replace(temporary, orders)
    saved = os.stat(orders).st_ino
    while time.perf_counter() - started < TIMEOUT:
        try:
            if os.stat(orders).st_ino != saved:
                return time.perf_counter() - started
        except FileNotFoundError:
            pass
        time.sleep(0.005)
    raise RuntimeError(f"no flag in {orders} {TIMEOUT:.0f} s after the save")


def wait_for_passes(log_path: Path, count: int) -> None:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if log_path.read_text(errors="replace").count("pass as of") >= count:
            return
        time.sleep(0.05)
    raise RuntimeError(f"the watcher logged fewer than {count} passes; see {log_path}")


def read_cell(path: Path, row: int, column: int):
    from python_calamine import CalamineWorkbook

    grid = CalamineWorkbook.from_path(str(path)).get_sheet_by_name("Orders").to_python()
    return grid[row - 1][column - 1]
