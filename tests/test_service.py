"""The watch service with a stub pipeline, real files, real observers and real SQLite."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from save_replay import make_workbook, read_marker, save_as_person, wait_for

from engine.filestamp import FileStamp, stamp_of
from engine.findings import EngineError, Finding, FindingLog
from engine.service import ServiceSettings, read_status, run_service

DATA = Path(__file__).parent / "data" / "watch"
NAMES = ("customers.xlsx", "orders.xlsx", "payments.xlsx")


@dataclass
class StubResult:
    written: dict[Path, FileStamp] = field(default_factory=dict)
    locked: dict[Path, str | None] = field(default_factory=dict)
    changed_during_pass: set[Path] = field(default_factory=set)
    planned_writes: list = field(default_factory=list)
    findings: FindingLog = field(default_factory=FindingLog)
    counts: dict = field(default_factory=dict)
    duration: float = 0.0


class StubPipeline:
    """Write a "flagged" orders.xlsx unless it is locked; keep the write pending then."""

    def __init__(self, folder: Path):
        self.path = folder / "orders.xlsx"
        self.passes = 0
        self.flushes = 0
        self.writes = 0
        self.pending = False
        self.fail_first = False
        self.changed_once = False
        self.lock = threading.Lock()

    def run_pass(self, project, *, as_of, dry_run=False):
        with self.lock:
            self.passes += 1
            if self.fail_first and self.passes == 1:
                raise EngineError(Finding("orders.xlsx", "cannot be read (stub failure)."))
            result = StubResult()
            if self.changed_once:
                self.changed_once = False
                result.changed_during_pass.add(self.path)
                return result
            if read_marker(self.path) != "flagged":
                self._write(result)
            return result

    def flush_pending(self, project):
        with self.lock:
            self.flushes += 1
            result = StubResult()
            if self.pending:
                self._write(result)
            return result

    def _write(self, result: StubResult) -> None:
        from engine.xlsx.lockfile import lock_owner

        locked, owner = lock_owner(self.path)
        result.planned_writes.append(type("Write", (), {"path": self.path})())
        if locked:
            self.pending = True
            result.locked[self.path] = owner
            return
        temporary = self.path.with_name(".~arrears-guard-orders.xlsx")
        temporary.write_bytes(make_workbook("flagged"))
        os.replace(temporary, self.path)
        self.pending = False
        self.writes += 1
        result.written[self.path] = stamp_of(self.path)


@pytest.fixture
def project(tmp_path: Path) -> ServiceSettings:
    folder = tmp_path / "workbooks"
    folder.mkdir()
    for name in NAMES:
        (folder / name).write_bytes(make_workbook(f"{name} v0"))
    return ServiceSettings(
        root=tmp_path, folder=folder, names=NAMES, state=tmp_path / "state" / "s.sqlite",
        debounce=0.2, stable_for=0.15, poll_interval=0.1, first_retry=0.3, max_retry=1.0,
    )


class RunningService:
    def __init__(self, settings: ServiceSettings, pipeline: StubPipeline):
        self.notices: list[Finding] = []
        self.stop = threading.Event()
        self.exit_code: int | None = None
        self.thread = threading.Thread(
            target=self._run, args=(settings, pipeline), daemon=True
        )
        self.thread.start()

    def _run(self, settings, pipeline) -> None:
        self.exit_code = run_service(
            None, as_of=None, run_pass=pipeline.run_pass,
            flush_pending=pipeline.flush_pending, stop_event=self.stop,
            settings=settings, on_notice=self.notices.append,
        )

    def close(self) -> int | None:
        self.stop.set()
        self.thread.join(timeout=10)
        return self.exit_code


def test_locked_workbook_written_once_free(project):
    lock = project.folder / "~$orders.xlsx"
    shutil.copy(DATA / "case11_watched_folder" / "~$orders.xlsx", lock)
    pipeline = StubPipeline(project.folder)
    service = RunningService(project, pipeline)
    try:
        assert wait_for(lambda: pipeline.pending)
        # Several back-off retries while the workbook stays open.
        time.sleep(1.5)
        assert pipeline.writes == 0
        lock.unlink()
        assert wait_for(lambda: pipeline.writes == 1)
        passes = pipeline.passes
        time.sleep(1.0)
        assert pipeline.passes == passes  # the service's own write started no pass
    finally:
        assert service.close() == 0
    assert read_marker(project.folder / "orders.xlsx") == "flagged"
    assert [n.message for n in service.notices] == [
        "orders.xlsx is open by Mia Svensen; flags will be written when it is closed"
    ]
    status = read_status(project.state)
    assert status["state"] == "stopped"
    assert status["observer_mode"] == "native"
    assert status["waiting_for"] == {}
    assert status["last_pass"]["ok"] is True


def test_user_save_runs_one_pass(project):
    pipeline = StubPipeline(project.folder)
    service = RunningService(project, pipeline)
    try:
        assert wait_for(lambda: pipeline.writes == 1)
        time.sleep(0.8)
        assert pipeline.passes == 1
        save_as_person(project.folder / "orders.xlsx", make_workbook("user"), "excel_rf_tmp")
        assert wait_for(lambda: pipeline.writes == 2)
        time.sleep(0.8)
    finally:
        assert service.close() == 0
    assert pipeline.passes == 2
    assert read_marker(project.folder / "orders.xlsx") == "flagged"


def test_change_during_pass_runs_again(project):
    pipeline = StubPipeline(project.folder)
    pipeline.changed_once = True
    service = RunningService(project, pipeline)
    try:
        assert wait_for(lambda: pipeline.writes == 1)
    finally:
        service.close()
    assert pipeline.passes == 2


def test_failed_pass_retried_with_back_off(project, caplog):
    caplog.set_level("INFO", logger="engine.service")
    pipeline = StubPipeline(project.folder)
    pipeline.fail_first = True
    service = RunningService(project, pipeline)
    try:
        assert wait_for(lambda: pipeline.writes == 1)
    finally:
        service.close()
    assert pipeline.passes == 2
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert errors == [
        "pass 1 failed: orders.xlsx: cannot be read (stub failure). (retry in 0.3 s)"
    ]


def test_missing_folder_is_an_engine_error(project, tmp_path):
    settings = ServiceSettings(
        root=tmp_path, folder=tmp_path / "nowhere", names=NAMES, state=project.state
    )
    with pytest.raises(EngineError) as caught:
        run_service(None, as_of=None, run_pass=None, flush_pending=None, settings=settings)
    assert str(caught.value) == (
        f"{tmp_path / 'nowhere'}: the watched folder was not found. "
        "Create it or fix 'folder' in rules/workbooks.yaml."
    )


SERVICE_SCRIPT = """
import logging, sys, time
from pathlib import Path
from engine.service import ServiceSettings, run_service

logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
root = Path(sys.argv[1])

def run_pass(project, *, as_of, dry_run=False):
    print("pass running", flush=True)
    time.sleep(1.0)
    return type("R", (), {"written": {}, "locked": {}, "changed_during_pass": set(),
                          "findings": [], "counts": {}})()

def flush_pending(project):
    return run_pass(project, as_of=None)

settings = ServiceSettings(root=root, folder=root / "workbooks",
                           names=("orders.xlsx",), state=root / "state.sqlite",
                           debounce=0.2, stable_for=0.1)
sys.exit(run_service(None, as_of=None, run_pass=run_pass, flush_pending=flush_pending,
                     settings=settings))
"""


def test_sigterm_finishes_pass_and_exits_zero(project, tmp_path):
    script = tmp_path / "service.py"
    script.write_text(SERVICE_SCRIPT)
    process = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=Path(__file__).parent.parent,
    )
    try:
        # With nothing pending there is no start-up flush; the line is the first pass.
        assert process.stdout.readline().strip() == "pass running"
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
    log_text = process.stderr.read()
    assert code == 0, log_text
    assert "received SIGTERM; stopping after the current pass" in log_text
    assert "pass 1 done in" in log_text
    assert log_text.rstrip().splitlines()[-1].startswith("arrears-guard service stopped")
