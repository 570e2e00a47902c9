"""The benchmark suite: floors, full passes, openpyxl, save-to-flag latency, decisions."""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import pickle
import platform
import re
import shutil
from decimal import Decimal
from pathlib import Path

from bench.generate import AS_OF, ROOT, generate, source_headers
from bench.measure import Measured, add_salespeople, isolated, make_project, stamps

log = logging.getLogger(__name__)
SIZES = (10_000, 100_000)
FULL_SIZE = 1_048_575  # Excel's last row minus the header row
FILES = {"orders": "orders.xlsx", "customers": "customers.xlsx"}


def measure_size(out: Path, rows: int, *, openpyxl: bool, latency: bool,
                 saves: int) -> dict:
    files = generate(out, rows)
    log.info("measuring %d rows (%s)", rows, files.folder)
    work = out / "work" / str(rows)
    results: dict = {"rows": rows, "customers": files.customers, "steps": {}}
    steps = results["steps"]

    project = make_project(files.folder, work / "project")
    add_salespeople(project, salesperson_codes(), files.customers)
    steps["import floor"] = isolated("import floor", ["-m", "bench.child", "imports"])
    steps["read floor"] = isolated("read floor", ["-m", "bench.child", "read",
                                                  str(project / "workbooks")])
    once = ["run.py", "--project", str(project), "--as-of", str(AS_OF), "once"]
    steps["pass 1"] = isolated("pass 1", once)
    before = stamps(project / "workbooks")
    steps["pass 2"] = isolated("pass 2", once)
    middle = stamps(project / "workbooks")
    results["pass 2 rewrote"] = sorted(n for n in before if before[n] != middle[n])
    results["pass 3 rewrote"] = []
    if results["pass 2 rewrote"]:  # the unchanged-input pass is the first no-op one
        steps["pass 3"] = isolated("pass 3", once)
        results["pass 3 rewrote"] = sorted(
            n for n in middle if middle[n] != stamps(project / "workbooks")[n])
    results["letters"] = len(list((project / "outbox").glob("*.eml")))
    results["pass 2 skipped"] = "skipped: workbooks, rules" in steps["pass 2"].output
    # The same unchanged input once more with the stored fingerprint dropped, so the
    # full read, ledger and decisions are measured too.
    forget_fingerprint(project)
    steps["pass 2 without shortcut"] = isolated("pass 2 without shortcut", once)

    cells_file = work / "cells.pickle"
    cells_file.write_bytes(pickle.dumps(owned_cells(project / "workbooks")))
    floor_copy = make_project(files.folder, work / "write-floor")
    steps["write floor"] = isolated("write floor", [
        "-m", "bench.child", "write", str(floor_copy / "workbooks"), str(cells_file)])
    if openpyxl:
        copy = make_project(files.folder, work / "openpyxl")
        steps["openpyxl load+save"] = isolated(
            "openpyxl", ["-m", "bench.child", "openpyxl", str(copy / "workbooks")])
        shutil.rmtree(copy)
    if latency:
        from bench.latency import save_to_flag

        results["latency"] = save_to_flag(files.folder, work / "latency", saves,
                                          salesperson_codes(), files.customers)
    add_ratios(results)
    return results


def forget_fingerprint(project: Path) -> None:
    """Drop the pass fingerprint, so the next pass cannot take the no-op shortcut."""
    import sqlite3

    from engine.pass_fingerprint import forget

    connection = sqlite3.connect(project / "state" / "arrears-guard.sqlite")
    try:
        forget(connection)
        connection.commit()
    finally:
        connection.close()


def salesperson_codes() -> list[str]:
    from bench.generate import SALESPEOPLE

    return [f"S{n:02d}" for n in range(SALESPEOPLE)]


def owned_cells(folder: Path) -> dict[str, dict]:
    """Return the owned cells a pass left in the files, as the write floor's input."""
    from python_calamine import CalamineWorkbook

    headers = source_headers(ROOT / "rules" / "workbooks.yaml")
    owned_names = {"orders": ["Status", "Reason"],
                   "customers": list(headers["customers"].values())[11:]}
    writes = {}
    for kind, name in FILES.items():
        sheet = "Orders" if kind == "orders" else "Customers"
        grid = CalamineWorkbook.from_path(str(folder / name)).get_sheet_by_name(
            sheet).to_python()
        columns = [grid[0].index(text) for text in owned_names[kind]]
        cells = {}
        for index, row in enumerate(grid[1:], start=2):
            for column in columns:
                value = row[column] if column < len(row) else ""
                if value != "":
                    cells[(index, column + 1)] = cell_value(value)
        writes[name] = cells
    return writes


def cell_value(value):
    if isinstance(value, float):
        return Decimal(repr(value))
    return value


def add_ratios(results: dict) -> None:
    steps = results["steps"]
    floors = steps["read floor"].seconds + steps["write floor"].seconds
    results["pass 1 / (read + write floor)"] = steps["pass 1"].seconds / floors
    results["pass 2 / read floor"] = steps["pass 2"].seconds / steps["read floor"].seconds
    results["pass 2 without shortcut / read floor"] = (
        steps["pass 2 without shortcut"].seconds / steps["read floor"].seconds)
    if "pass 3" in steps:
        results["pass 3 / read floor"] = (steps["pass 3"].seconds
                                          / steps["read floor"].seconds)
    if "openpyxl load+save" in steps:
        results["pass 1 / openpyxl"] = (steps["pass 1"].seconds
                                        / steps["openpyxl load+save"].seconds)


def decision_rate() -> dict:
    measured = isolated("decisions", ["bench/bench_decisions.py"])
    match = re.search(r"decisions per minute \(CPU\):\s+([\d,]+)", measured.output)
    rate = int(match.group(1).replace(",", "")) if match else None
    return {"output": measured.output.strip(), "decisions per minute": rate}


def render(all_results: list[dict], decisions: dict | None) -> str:
    lines = ["| rows | step | seconds | peak RSS MiB | cells written |",
             "|---:|---|---:|---:|---:|"]
    for results in all_results:
        for name, step in results["steps"].items():
            cells = "" if step.cells_written is None else f"{step.cells_written:,}"
            lines.append(f"| {results['rows']:,} | {name} | {step.seconds:.2f} | "
                         f"{step.peak_rss_mib:.0f} | {cells} |")
    lines += ["", "| rows | customers | letters | ratio | value |", "|---:|---:|---:|---|---:|"]
    for results in all_results:
        for key, value in results.items():
            if " / " in key:
                lines.append(f"| {results['rows']:,} | {results['customers']:,} | "
                             f"{results['letters']:,} | {key} | {value:.2f} |")
    lines.append("")
    for results in all_results:
        shortcut = "took" if results.get("pass 2 skipped") else "did not take"
        lines.append(f"- {results['rows']:,} rows: pass 2 {shortcut} the no-op "
                     f"shortcut and rewrote {results['pass 2 rewrote'] or 'nothing'}"
                     + (f", pass 3 rewrote {results['pass 3 rewrote'] or 'nothing'}"
                        if "pass 3" in results["steps"] else "") + ".")
    lines += linearity(all_results)
    for results in all_results:
        if "latency" in results:
            latency = results["latency"]
            lines.append(f"- save-to-flag at {results['rows']:,} rows: median "
                         f"{latency['median']:.2f} s (min {latency['min']:.2f}, max "
                         f"{latency['max']:.2f}, {latency['saves']} saves, debounce "
                         f"{latency['debounce']} s, stable_for {latency['stable_for']} s "
                         "counted from the last event)")
    if decisions:
        lines.append(f"- decision rate: {decisions['decisions per minute']} per minute")
    return "\n".join(lines)


def linearity(all_results: list[dict]) -> list[str]:
    lines = []
    by_rows = sorted(all_results, key=lambda r: r["rows"])
    for small, large in itertools.pairwise(by_rows):
        row_ratio = large["rows"] / small["rows"]
        time_ratio = large["steps"]["pass 1"].seconds / small["steps"]["pass 1"].seconds
        lines.append(f"- pass 1 time {large['rows']:,}/{small['rows']:,}: "
                     f"{time_ratio:.2f} for a row ratio of {row_ratio:.2f} "
                     f"({time_ratio / row_ratio - 1:+.0%})")
        if "import floor" in small["steps"] and "import floor" in large["steps"]:
            # The interpreter's start and the libraries' imports cost the same at
            # every size; the ratio without them shows how the engine's own work grows.
            import_seconds = (small["steps"]["import floor"].seconds
                     + large["steps"]["import floor"].seconds) / 2
            engine_ratio = ((large["steps"]["pass 1"].seconds - import_seconds)
                            / (small["steps"]["pass 1"].seconds - import_seconds))
            lines.append(f"  without the import floor ({import_seconds:.2f} s): "
                         f"{engine_ratio:.2f} ({engine_ratio / row_ratio - 1:+.0%})")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out",
                        help="folder for generated workbooks and results "
                        "(default bench/out)")
    parser.add_argument("--full", action="store_true",
                        help=f"also measure {FULL_SIZE:,} rows (several minutes)")
    parser.add_argument("--rows", type=int, action="append",
                        help="measure this row count instead of the defaults "
                        "(repeatable)")
    parser.add_argument("--openpyxl-1m", action="store_true",
                        help="also load and save the 1M-row files with openpyxl "
                        "(many minutes)")
    parser.add_argument("--saves", type=int, default=20,
                        help="saves timed for the save-to-flag latency (default 20)")
    parser.add_argument("--no-latency", action="store_true",
                        help="skip the save-to-flag latency")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    sizes = args.rows or list(SIZES) + ([FULL_SIZE] if args.full else [])
    compile_engine()
    all_results = []
    for rows in sizes:
        big = rows > 200_000
        all_results.append(measure_size(
            args.out, rows, openpyxl=not big or args.openpyxl_1m,
            latency=not big and not args.no_latency, saves=args.saves))
    decisions = decision_rate()
    table = render(all_results, decisions)
    print(table)
    (args.out / "results.md").write_text(machine_text() + "\n\n" + table + "\n")
    (args.out / "results.json").write_text(json.dumps(
        all_results, default=lambda o: o.__dict__ if isinstance(o, Measured) else str(o),
        indent=1))


def compile_engine() -> None:
    """Write the engine's bytecode, as installing a package does.

    Python writes it on the first import, unless PYTHONDONTWRITEBYTECODE is set or the
    folder is read-only. Without it every step compiles the engine's sources again
    (about 0.13 s here), a cost no installed engine pays.
    """
    import compileall

    compileall.compile_dir(ROOT / "engine", quiet=1)


def machine_text() -> str:
    import subprocess

    cpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    model = next((line.split(":", 1)[1].strip() for line in cpu.splitlines()
                  if line.startswith("Model name")), "unknown")
    memory = subprocess.run(["free", "-g"], capture_output=True, text=True,
                            check=False).stdout
    total = memory.splitlines()[1].split()[1] if memory else "?"
    from importlib.metadata import version

    return (f"CPU {model}, {os.cpu_count()} cores, {total} GiB memory; "
            f"Python {platform.python_version()}, python-calamine "
            f"{version('python-calamine')}, openpyxl {version('openpyxl')}")


if __name__ == "__main__":
    main()

