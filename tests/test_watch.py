"""WorkbookWatcher on real files with real watchdog observers (inotify and polling)."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest
from save_replay import MODES, make_workbook, read_marker, save_as_person, wait_for

from engine.filestamp import file_sha256
from engine.watch import WorkbookWatcher, is_complete_zip

DATA = Path(__file__).parent / "data" / "watch"
NAMES = ("orders.xlsx", "payments.xlsx", "customers.xlsx")
OBSERVERS = ("native", "polling")
DEBOUNCE = 0.25
STABLE_FOR = 0.2
# Longer than one debounce, stability check and polling lag together.
QUIET = 0.8


class Recorder:
    """Collect callbacks; read orders.xlsx's marker inside the callback, as a pass would."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.changes: list[set[str]] = []
        self.markers: list[str] = []
        self.notices = []
        self.unlocked: list[str] = []
        self.lock = threading.Lock()

    def on_change(self, names: set[str]) -> None:
        marker = read_marker(self.folder / "orders.xlsx") if "orders.xlsx" in names else ""
        with self.lock:
            self.changes.append(set(names))
            self.markers.append(marker)

    def on_notice(self, finding) -> None:
        with self.lock:
            self.notices.append(finding)

    def on_unlock(self, name: str) -> None:
        with self.lock:
            self.unlocked.append(name)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    workbooks = tmp_path / "workbooks"
    workbooks.mkdir()
    for name in NAMES:
        (workbooks / name).write_bytes(make_workbook(f"{name} v0"))
    return workbooks


def start(folder: Path, observer: str, recorder: Recorder, **options) -> WorkbookWatcher:
    settings = {
        "debounce": DEBOUNCE,
        "stable_for": STABLE_FOR,
        "polling": True if observer == "polling" else None,
        "poll_interval": 0.1,
        "give_up_after": 1.5,
        "on_notice": recorder.on_notice,
        "on_unlock": recorder.on_unlock,
    }
    settings.update(options)
    watcher = WorkbookWatcher(folder, NAMES, recorder.on_change, **settings)
    watcher.start()
    assert watcher.mode == observer
    return watcher


@pytest.mark.parametrize("observer", OBSERVERS)
@pytest.mark.parametrize("mode", MODES)
def test_save_sequence_gives_one_callback(folder, observer, mode):
    recorder = Recorder(folder)
    watcher = start(folder, observer, recorder)
    try:
        save_as_person(folder / "orders.xlsx", make_workbook(f"saved by {mode}"), mode)
        assert wait_for(lambda: recorder.changes)
        time.sleep(QUIET)
    finally:
        watcher.stop()
    assert recorder.changes == [{"orders.xlsx"}]
    assert recorder.markers == [f"saved by {mode}"]
    assert recorder.notices == []


@pytest.mark.parametrize("observer", OBSERVERS)
def test_rapid_saves_give_last_content(folder, observer):
    recorder = Recorder(folder)
    # Built first, so the saves follow each other within the quiet period even on a
    # busy machine.
    contents = [make_workbook(f"save {number}") for number in range(1, 6)]
    watcher = start(folder, observer, recorder)
    try:
        for number, content in enumerate(contents, start=1):
            save_as_person(
                folder / "orders.xlsx", content, "excel_kb814068",
                lock_hold=0.05, seed=number,
            )
        assert wait_for(lambda: recorder.changes)
        time.sleep(QUIET)
    finally:
        watcher.stop()
    assert recorder.changes == [{"orders.xlsx"}]
    assert recorder.markers == ["save 5"]


@pytest.mark.parametrize("observer", OBSERVERS)
def test_junk_and_lock_files_give_no_callback(folder, observer):
    recorder = Recorder(folder)
    watcher = start(folder, observer, recorder)
    try:
        for source in (DATA / "case11_watched_folder").iterdir():
            if source.name not in NAMES and "Kopie" not in source.name:
                if "DESKTOP" not in source.name:
                    shutil.copy(source, folder / source.name)
        (folder / ".DS_Store").write_bytes(b"\0" * 64)
        (folder / ".~arrears-guard-1234.xlsx").write_bytes(b"PK")
        (folder / "UJZDE8GX").write_bytes(make_workbook("temp"))
        time.sleep(0.2)
        (folder / "~$orders.xlsx").unlink()
        (folder / ".~lock.customers.xlsx#").unlink()
        time.sleep(DEBOUNCE + STABLE_FOR + QUIET)
    finally:
        watcher.stop()
    assert recorder.changes == []
    assert recorder.notices == []
    assert sorted(recorder.unlocked) == ["customers.xlsx", "orders.xlsx"]


@pytest.mark.parametrize("observer", OBSERVERS)
def test_conflict_copies_warned_once(folder, observer):
    recorder = Recorder(folder)
    shutil.copy(DATA / "case11_watched_folder" / "orders - Kopie.xlsx", folder)
    watcher = start(folder, observer, recorder)
    try:
        conflict = DATA / "case11_watched_folder" / "orders-DESKTOP-7K2L9Q.xlsx"
        save_as_person(folder / conflict.name, conflict.read_bytes(), "copy_in")
        (folder / "orders (1).xlsx").write_bytes(make_workbook("copy"))
        (folder / "orders (1).xlsx").write_bytes(make_workbook("copy again"))
        assert wait_for(lambda: len(recorder.notices) >= 3)
        time.sleep(QUIET)
    finally:
        watcher.stop()
    assert recorder.changes == []
    messages = sorted(finding.message for finding in recorder.notices)
    assert messages == [
        "orders (1).xlsx looks like a conflict copy of orders.xlsx – not processed; "
        "please merge and delete it",
        "orders - Kopie.xlsx looks like a conflict copy of orders.xlsx – not processed; "
        "please merge and delete it",
        "orders-DESKTOP-7K2L9Q.xlsx looks like a OneDrive conflict copy of orders.xlsx "
        "– not processed; please merge and delete it",
    ]


@pytest.mark.slow
@pytest.mark.parametrize("observer", OBSERVERS)
@pytest.mark.parametrize(("mode", "delay"), [("copy_in", 0.3), ("inplace", 0.12),
                                             ("onedrive", 0.12)])
def test_slow_copy_read_once_complete(folder, observer, mode, delay):
    recorder = Recorder(folder)
    watcher = start(folder, observer, recorder)
    content = make_workbook("slow copy", rows=400)
    try:
        # Eight chunks: 2.4 s of partial states for copy_in, with pauses longer than
        # the stability check; about 1 s for the others.
        chunk = len(content) // 8 + 1
        save_as_person(folder / "orders.xlsx", content, mode, chunk=chunk, delay=delay)
        assert wait_for(lambda: recorder.changes)
        time.sleep(QUIET)
    finally:
        watcher.stop()
    assert recorder.markers == ["slow copy"]
    assert recorder.notices == []


def test_settled_save_read_after_quiet_period_alone(folder):
    """A file unchanged since its last event has been stable for the quiet period."""
    recorder = Recorder(folder)
    # A stability wait far longer than the quiet period would show in the timing.
    watcher = start(folder, "native", recorder, debounce=0.5, stable_for=0.5)
    delivered = []
    try:
        save_as_person(folder / "orders.xlsx", make_workbook("quick"), "excel_rf_tmp")
        saved = time.monotonic()
        assert wait_for(lambda: recorder.changes)
        delivered.append(time.monotonic() - saved)
    finally:
        watcher.stop()
    assert recorder.markers == ["quick"]
    # The quiet period (0.5 s) and scheduling lag, without a second 0.5 s wait on top.
    assert delivered[0] < 0.95, delivered


@pytest.mark.slow
@pytest.mark.parametrize("observer", OBSERVERS)
def test_truncated_file_reported_once(folder, observer):
    recorder = Recorder(folder)
    watcher = start(folder, observer, recorder)
    try:
        truncated = DATA / "case14" / "orders_truncated_60pct.xlsx"
        shutil.copy(truncated, folder / "orders.xlsx")
        assert wait_for(lambda: recorder.notices)
        time.sleep(QUIET)
        assert len(recorder.notices) == 1
        save_as_person(folder / "orders.xlsx", make_workbook("repaired"), "excel_kb814068")
        assert wait_for(lambda: recorder.changes)
        time.sleep(QUIET)
    finally:
        watcher.stop()
    damaged, resolved = recorder.notices
    assert damaged.message.startswith(
        "orders.xlsx is incomplete or damaged (not a valid zip) – last good version from "
    )
    assert damaged.message.endswith(" still in use")
    assert resolved.message == "orders.xlsx is readable again – checks resume"
    assert recorder.markers == ["repaired"]


@pytest.mark.parametrize("observer", OBSERVERS)
def test_zero_byte_phase_is_being_written(folder, observer):
    recorder = Recorder(folder)
    watcher = start(folder, observer, recorder)
    try:
        shutil.copy(DATA / "case14" / "orders_zero.xlsx", folder / "orders.xlsx")
        time.sleep(0.8)
        (folder / "orders.xlsx").write_bytes(make_workbook("after zero"))
        assert wait_for(lambda: recorder.changes)
        time.sleep(QUIET)
    finally:
        watcher.stop()
    assert recorder.markers == ["after zero"]
    assert recorder.notices == []


@pytest.mark.parametrize("observer", OBSERVERS)
def test_own_write_gives_no_callback(folder, observer):
    recorder = Recorder(folder)
    watcher = start(folder, observer, recorder)
    path = folder / "orders.xlsx"
    try:
        temporary = folder / ".~arrears-guard-orders.xlsx"
        temporary.write_bytes(make_workbook("engine wrote this"))
        watcher.note_own_write(path, file_sha256(temporary))
        temporary.replace(path)
        time.sleep(DEBOUNCE + STABLE_FOR + QUIET)
        assert recorder.changes == []
        save_as_person(path, make_workbook("user edit"), "excel_rf_tmp")
        assert wait_for(lambda: recorder.changes)
        time.sleep(QUIET)
    finally:
        watcher.stop()
    assert recorder.markers == ["user edit"]


def test_delete_step_not_reported_missing(folder):
    recorder = Recorder(folder)
    watcher = start(folder, "native", recorder)
    path = folder / "orders.xlsx"
    try:
        path.unlink()
        time.sleep(0.6)
        path.write_bytes(make_workbook("back"))
        assert wait_for(lambda: recorder.changes)
        time.sleep(QUIET)
    finally:
        watcher.stop()
    assert recorder.notices == []
    assert recorder.markers == ["back"]


def test_rule_file_change_named_relative(folder, tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "credit.yaml").write_text("version: 1\n")
    recorder = Recorder(folder)
    watcher = start(folder, "native", recorder, extra_folders=[rules])
    try:
        (rules / ".credit.yaml.swp").write_bytes(b"vim")
        (rules / "credit.yaml").write_text("version: 1\nlimits: {}\n")
        assert wait_for(lambda: recorder.changes)
        time.sleep(QUIET)
    finally:
        watcher.stop()
    assert recorder.changes == [{"rules/credit.yaml"}]


class DeafObserver:
    """A native observer that never reports anything, like inotify on an SMB mount."""

    def __init__(self):
        from watchdog.observers.api import BaseObserver, EventEmitter

        class SilentEmitter(EventEmitter):
            def queue_events(self, timeout):
                time.sleep(timeout)

        self.observer = BaseObserver(SilentEmitter, timeout=0.1)

    def __call__(self):
        return self.observer


def test_deaf_observer_switches_to_polling(folder, caplog):
    recorder = Recorder(folder)
    caplog.set_level("WARNING", logger="engine.watch")
    watcher = WorkbookWatcher(
        folder, NAMES, recorder.on_change, debounce=DEBOUNCE, stable_for=STABLE_FOR,
        poll_interval=0.1, probe_timeout=0.5, observer_factory=DeafObserver(),
    )
    watcher.start()
    try:
        assert watcher.mode == "polling"
        save_as_person(folder / "payments.xlsx", make_workbook("paid"), "excel_kb814068")
        assert wait_for(lambda: recorder.changes)
    finally:
        watcher.stop()
    assert recorder.changes == [{"payments.xlsx"}]
    switches = [r for r in caplog.records if "switching to polling" in r.getMessage()]
    assert len(switches) == 1
    assert not (folder / ".arrears-guard-probe").exists()


def test_truncated_prefixes_are_incomplete():
    for name in ("orders_truncated_10pct.xlsx", "orders_truncated_60pct.xlsx",
                 "orders_truncated_99pct.xlsx", "orders_zero.xlsx"):
        assert not is_complete_zip(DATA / "case14" / name), name
    assert is_complete_zip(DATA / "case11_watched_folder" / "orders.xlsx")


def test_inplace_mix_of_old_and_new_is_incomplete(tmp_path):
    old = make_workbook("old", rows=200)
    new = make_workbook("a longer new marker", rows=220)
    path = tmp_path / "orders.xlsx"
    # New bytes written over the start of the old file, old central directory at the end.
    path.write_bytes(new[: len(old) // 2] + old[len(old) // 2 :])
    assert not is_complete_zip(path)
