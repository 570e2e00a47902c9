"""SIGKILL during workbook writes: the workbook is always the old or the new version.

A child process rewrites the demo orders workbook in a loop, toggling one Status cell
with the engine's writer, and is killed at a random (seeded) moment. Afterwards the
workbook must open with zipfile, openpyxl and python-calamine and equal one of the two
versions byte for byte. A temporary the kill left behind is ignored by the watcher
and deleted when the service starts.
"""

from __future__ import annotations

import dataclasses
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest
from openpyxl import load_workbook
from python_calamine import CalamineWorkbook

from engine.project import Project
from engine.service import remove_stale_temporaries, run_service, service_settings
from engine.watchnames import NameKind, classify_name
from engine.xlsx.patch import TEMP_PREFIX, write_cells
from tests.conftest import ROOT, copy_project

TRIALS = 50
STATUS_CELL = (5, 15)  # O5, the Status column of an invoiced order

WRITER_SCRIPT = """
import sys
from pathlib import Path
from engine.xlsx.patch import write_cells

path = Path(sys.argv[1])
row, column = int(sys.argv[2]), int(sys.argv[3])
print("ready", flush=True)
while True:
    write_cells(path, "Orders", {(row, column): "BLOCKED"})
    write_cells(path, "Orders", {(row, column): None})
"""


@pytest.fixture(scope="module")
def versions(tmp_path_factory) -> tuple[bytes, bytes]:
    """The workbook with the Status cell empty (old) and set (new)."""
    folder = tmp_path_factory.mktemp("versions")
    path = folder / "orders.xlsx"
    shutil.copy(ROOT / "workbooks" / "orders.xlsx", path)
    write_cells(path, "Orders", {STATUS_CELL: "BLOCKED"})
    write_cells(path, "Orders", {STATUS_CELL: None})
    old = path.read_bytes()
    write_cells(path, "Orders", {STATUS_CELL: "BLOCKED"})
    new = path.read_bytes()
    assert old != new
    for data in (old, new):
        check_opens(path, data)
    return old, new


def check_opens(path: Path, data: bytes) -> None:
    """Open the workbook with zipfile, openpyxl and python-calamine."""
    path.write_bytes(data)
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
    workbook = load_workbook(path, read_only=True)
    assert workbook.sheetnames == ["Orders"]
    workbook.close()
    rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_name("Orders").to_python()
    assert rows[0][0] == "Order ID"


def start_writer(path: Path) -> subprocess.Popen:
    row, column = STATUS_CELL
    process = subprocess.Popen(
        [sys.executable, "-c", WRITER_SCRIPT, str(path), str(row), str(column)],
        stdout=subprocess.PIPE,
        cwd=ROOT,
        text=True,
    )
    assert process.stdout.readline().strip() == "ready"
    return process


@pytest.mark.slow
def test_kill_during_write_leaves_old_or_new(versions, tmp_path):
    old, new = versions
    folder = tmp_path / "workbooks"
    folder.mkdir()
    path = folder / "orders.xlsx"
    path.write_bytes(old)
    rng = random.Random(814068)
    left_behind = 0
    seen = {"old": 0, "new": 0}

    for trial in range(TRIALS):
        process = start_writer(path)
        # One write of this workbook takes about 0.1 s; the delay spans several.
        time.sleep(rng.uniform(0.0, 0.4))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        process.stdout.close()

        data = path.read_bytes()
        assert data in (old, new), f"trial {trial}: the workbook is neither version"
        seen["old" if data == old else "new"] += 1
        temporaries = [p for p in folder.iterdir() if p.name.startswith(TEMP_PREFIX)]
        for temporary in temporaries:
            kind, _ = classify_name(temporary.name, {"orders.xlsx": "orders.xlsx"})
            assert kind is NameKind.JUNK, temporary.name
        left_behind += bool(temporaries)
        assert remove_stale_temporaries(folder, older_than=0.0) == temporaries
        assert sorted(p.name for p in folder.iterdir()) == ["orders.xlsx"]

    print(f"after {TRIALS} kills: {seen}, a temporary left {left_behind} times")
    check_opens(tmp_path / "check.xlsx", old)
    check_opens(tmp_path / "check.xlsx", new)
    # Some kills must land inside a write, or the test proves nothing.
    assert left_behind > 0
    assert seen["old"] > 0
    assert seen["new"] > 0


def test_service_start_deletes_stale_temporaries(tmp_path):
    root = copy_project(tmp_path / "project")
    folder = root / "workbooks"
    stale = folder / f"{TEMP_PREFIX}orders-k1ll3d.tmp"
    stale.write_bytes(b"PK\x03\x04 half of a workbook")
    old = time.time() - 600
    os.utime(stale, (old, old))
    fresh = folder / f"{TEMP_PREFIX}customers-w0rk1ng.tmp"
    fresh.write_bytes(b"PK\x03\x04 a write in progress")
    project = Project.at(root)
    settings = dataclasses.replace(
        service_settings(project), polling=False, debounce=0.2, stable_for=0.1
    )
    stop = threading.Event()
    passes = []

    def run_pass(project, *, as_of, rules=None):
        passes.append(rules)
        stop.set()

    service = threading.Thread(
        target=run_service,
        args=(project,),
        kwargs={
            "as_of": None,
            "run_pass": run_pass,
            "flush_pending": lambda project: None,
            "stop_event": stop,
            "settings": settings,
        },
        daemon=True,
    )
    service.start()
    service.join(timeout=20)

    assert not service.is_alive()
    assert not stale.exists()
    assert fresh.exists()
    assert len(passes) == 1
