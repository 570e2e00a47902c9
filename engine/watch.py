"""Turn file-system events in the watched folder into "these workbooks changed".

One save by Excel is a burst of 20-odd events, mostly on temporary and lock files,
and the workbook itself may only be deleted and then replaced by a rename. The watcher
therefore never reacts to a single event. Each event on a watched name (re)starts a
quiet period (`debounce`); after it, the file must have kept the same size and mtime
for `stable_for` seconds, counted from the last event, and open as a zip before
`on_change` sees it, once, with the final content. A file unchanged since its last
event has been stable for the whole quiet period and is read at once. Its content hash is compared with what was last delivered and with the hashes
the engine recorded for its own writes, so neither an unchanged save nor the engine's
own write-back starts another pass.

The native observer (inotify, FSEvents, ReadDirectoryChangesW) is used where it works.
A probe file shows whether it actually reports events; on network shares, WSL mounts
and Docker volumes it often does not, and the watcher switches to polling.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from watchdog.events import EventsLostEvent, FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from engine.filestamp import file_sha256
from engine.findings import Finding, Severity
from engine.watchnames import PROBE_NAME, NameKind, classify_name, conflict_message

log = logging.getLogger(__name__)

ChangeCallback = Callable[[set[str]], None]
NoticeCallback = Callable[[Finding], None]
UnlockCallback = Callable[[str], None]

# Maximum wait between two checks of a file that is still being written.
MAX_RECHECK_DELAY = 5.0


@dataclass(slots=True)
class _PendingCheck:
    """A watched name with events not yet turned into a callback."""

    due: float  # monotonic time of the next check
    changed_at: float  # monotonic time of the last event or size/mtime change
    last_stat: tuple[int, int] | None = None  # size and mtime at the last check
    stable_since: float = 0.0  # monotonic time from which last_stat has been unchanged
    attempts: int = 0


class _EventHandler(FileSystemEventHandler):
    def __init__(self, watcher: WorkbookWatcher):
        self.watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        self.watcher._on_event(event)


class WorkbookWatcher:
    """Watch a folder's workbooks (and rule/template folders) and report settled saves.

    `on_change` gets a set of names: workbook file names such as `orders.xlsx`, and for
    files under `extra_folders` the path relative to the folder's parent, such as
    `rules/credit.yaml`. It runs on the watcher's own thread, one call at a time.

    `polling`: None probes the native observer and falls back to polling when it is
    deaf; True always polls (the workbook map's `polling: true`); False always uses the
    native observer. `on_notice` receives the warnings staff should see (conflict
    copies, damaged or missing workbooks, "resolved"); `on_unlock` receives the workbook
    name whose lock file was deleted, which is not a workbook change.
    """

    def __init__(
        self,
        folder: Path,
        names: Iterable[str],
        on_change: ChangeCallback,
        *,
        debounce: float = 1.0,
        stable_for: float = 0.5,
        polling: bool | None = None,
        extra_folders: Iterable[Path] = (),
        probe_interval: float = 30.0,
        probe_timeout: float = 3.0,
        poll_interval: float = 1.0,
        give_up_after: float = 30.0,
        on_notice: NoticeCallback | None = None,
        on_unlock: UnlockCallback | None = None,
        observer_factory: Callable[[], BaseObserver] | None = None,
    ):
        self.folder = Path(folder)
        self._names = {name.casefold(): name for name in names}
        self._extra = [Path(extra) for extra in extra_folders]
        self._on_change = on_change
        self._on_notice = on_notice
        self._on_unlock = on_unlock
        self.debounce = debounce
        self.stable_for = stable_for
        self.polling = polling
        self.probe_interval = probe_interval
        self.probe_timeout = probe_timeout
        self.poll_interval = poll_interval
        self.give_up_after = give_up_after
        self._native_factory = observer_factory or Observer

        self._lock = threading.Condition()
        self._pending: dict[str, _PendingCheck] = {}
        self._unlocked: set[str] = set()
        self._conflicts_new: list[tuple[str, str]] = []
        self._conflicts_seen: set[str] = set()
        self._seen_hash: dict[str, str] = {}
        self._good_since: dict[str, float] = {}
        self._own_hashes: dict[str, set[str]] = {}
        self._reported: dict[str, str] = {}  # name -> "damaged" | "missing"
        self._probe_seen = threading.Event()
        self._probe_sent_at: float | None = None
        self._next_probe = 0.0
        self._stopping = False
        self._observer: BaseObserver | None = None
        self._thread: threading.Thread | None = None
        self._mode = "polling" if polling else "native"

    # -- public API ---------------------------------------------------------------

    @property
    def mode(self) -> str:
        """The observer in use: "native" or "polling"."""
        return self._mode

    def start(self) -> None:
        """Start observing; in automatic mode, wait up to `probe_timeout` for the probe."""
        self._record_baseline()
        self._scan_for_conflicts()
        self._observer = self._make_observer(self._mode)
        self._observer.start()
        if self._mode == "native" and self.polling is None:
            if not self._probe_and_wait():
                self._switch_to_polling()
        self._next_probe = time.monotonic() + self.probe_interval
        self._thread = threading.Thread(
            target=self._run, name="arrears-guard-watcher", daemon=True
        )
        self._thread.start()
        log.info(
            "watching %s (%s) with the %s observer",
            self.folder,
            ", ".join(sorted(self._names.values())),
            self._mode,
        )

    def stop(self) -> None:
        """Stop observing; a callback that is running finishes first."""
        with self._lock:
            self._stopping = True
            self._lock.notify_all()
        if self._thread is not None:
            self._thread.join()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join()
        self._remove_probe()

    def note_own_write(self, path: Path, sha256: str) -> None:
        """Record a write by the engine; the content with this hash starts no pass."""
        name = self._names.get(Path(path).name.casefold(), Path(path).name)
        with self._lock:
            self._own_hashes.setdefault(name, set()).add(sha256)

    # -- events (observer thread) -------------------------------------------------

    def _on_event(self, event: FileSystemEvent) -> None:
        if isinstance(event, EventsLostEvent):
            log.warning("the file-system event queue overflowed; rechecking every workbook")
            self._mark_all_pending()
            return
        if event.is_directory or event.event_type in ("opened", "closed_no_write"):
            return
        paths = [event.src_path]
        if event.event_type == "moved":
            paths.append(event.dest_path)
        for raw in paths:
            self._on_path(os.fsdecode(raw), event.event_type)

    def _on_path(self, path: str, event_type: str) -> None:
        directory, name = os.path.split(path)
        if directory != str(self.folder):
            extra = self._extra_name(path)
            if extra is not None:
                self._mark_pending(extra)
            return
        kind, target = classify_name(name, self._names)
        if kind is NameKind.WORKBOOK:
            self._mark_pending(target)
        elif kind is NameKind.PROBE:
            self._probe_seen.set()
        elif kind is NameKind.LOCK and event_type in ("deleted", "moved"):
            with self._lock:
                self._unlocked.add(target)
                self._lock.notify_all()
        elif kind is NameKind.CONFLICT:
            self._on_conflict_event(name, target, event_type)

    def _extra_name(self, path: str) -> str | None:
        for extra in self._extra:
            try:
                relative = Path(path).relative_to(extra)
            except ValueError:
                continue
            kind, _ = classify_name(relative.name, {})
            if kind is NameKind.JUNK or relative.name.endswith(("~", ".swp", ".swx")):
                return None
            return (Path(extra.name) / relative).as_posix()
        return None

    def _on_conflict_event(self, name: str, target: str, event_type: str) -> None:
        exists = (self.folder / name).exists()
        with self._lock:
            if not exists:
                self._conflicts_seen.discard(name)
            elif name not in self._conflicts_seen:
                self._conflicts_seen.add(name)
                self._conflicts_new.append((name, target))
                self._lock.notify_all()

    def _mark_pending(self, name: str) -> None:
        # The size and mtime at the event start the stability window, so a file
        # that stays the same through the quiet period needs no further wait.
        stat = self._stat_of(name)
        now = time.monotonic()
        with self._lock:
            check = self._pending.get(name)
            if check is None:
                self._pending[name] = _PendingCheck(now + self.debounce, now, stat, now)
            else:
                check.due = now + self.debounce
                check.changed_at = now
                check.last_stat = stat
                check.stable_since = now
            self._lock.notify_all()

    def _stat_of(self, name: str) -> tuple[int, int] | None:
        try:
            info = self._path_of(name).stat()
        except OSError:
            return None
        return info.st_size, info.st_mtime_ns

    def _mark_all_pending(self) -> None:
        for name in self._names.values():
            self._mark_pending(name)

    # -- worker thread ------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._lock:
                self._lock.wait(timeout=self._seconds_to_next_job())
                if self._stopping:
                    return
                due = [n for n, c in self._pending.items() if c.due <= time.monotonic()]
                unlocked, self._unlocked = self._unlocked, set()
                conflicts, self._conflicts_new = self._conflicts_new, []
            for name, target in conflicts:
                self._notify(name, conflict_message(name, target), "watch.conflict_copy")
            changed = {name for name in due if self._settled(name)}
            if changed:
                self._deliver(changed)
            for name in sorted(unlocked):
                self._call_safely(self._on_unlock, name, "lock released")
            self._probe_if_due()

    def _seconds_to_next_job(self) -> float:
        now = time.monotonic()
        if self._unlocked or self._conflicts_new:
            return 0.0
        deadlines = [check.due for check in self._pending.values()]
        deadlines.append(self._next_probe)
        return max(0.0, min(min(deadlines) - now, 1.0))

    def _deliver(self, changed: set[str]) -> None:
        log.info("changed: %s", ", ".join(sorted(changed)))
        self._call_safely(self._on_change, changed, "change")

    def _call_safely(self, callback, argument, what: str) -> None:
        if callback is None:
            return
        try:
            callback(argument)
        except Exception:
            # The watcher outlives a failing callback; the service logs its own errors.
            log.exception("the %s callback failed for %s", what, argument)

    # -- settling one name --------------------------------------------------------

    def _settled(self, name: str) -> bool:
        """Check a due name; return True when it changed and is complete."""
        path = self._path_of(name)
        try:
            info = path.stat()
        except FileNotFoundError:
            return self._on_missing(name)
        with self._lock:
            check = self._pending[name]
            stat = (info.st_size, info.st_mtime_ns)
            now = time.monotonic()
            if stat != check.last_stat:
                # Changed since the last look: measure stability from now on.
                check.last_stat = stat
                check.stable_since = now
                check.due = now + self.stable_for
                return False
            if now - check.stable_since < self.stable_for:
                check.due = check.stable_since + self.stable_for
                return False
        if name in self._names.values() and not is_complete_zip(path):
            return self._on_incomplete(name)
        return self._compare_content(name, path, stat)

    def _compare_content(self, name: str, path: Path, stat: tuple[int, int]) -> bool:
        try:
            digest = file_sha256(path)
            after = path.stat()
        except FileNotFoundError:
            return self._on_missing(name)
        with self._lock:
            check = self._pending[name]
            if (after.st_size, after.st_mtime_ns) != stat:
                check.last_stat = None
                check.due = time.monotonic()
                return False
            del self._pending[name]
            own = self._own_hashes.get(name, set())
            is_own = digest in own
            own.discard(digest)
            unchanged = digest == self._seen_hash.get(name)
            self._seen_hash[name] = digest
            self._good_since[name] = after.st_mtime
        self._resolve(name)
        if is_own:
            log.debug("%s holds the engine's own write; no pass", name)
        return not (is_own or unchanged)

    def _on_incomplete(self, name: str) -> bool:
        if self._retry_later(name):
            return False
        if self._reported.get(name) != "damaged":
            self._reported[name] = "damaged"
            since = self._last_good_text(name)
            self._notify(
                name,
                f"{name} is incomplete or damaged (not a valid zip) – "
                f"last good version from {since} still in use",
                "watch.damaged",
            )
        return False

    def _on_missing(self, name: str) -> bool:
        if name not in self._names.values():
            # A rule file or template that was deleted: the pass must know.
            with self._lock:
                self._pending.pop(name, None)
                self._seen_hash.pop(name, None)
            return True
        if self._retry_later(name):
            return False
        if self._reported.get(name) != "missing":
            self._reported[name] = "missing"
            since = self._last_good_text(name)
            self._notify(
                name,
                f"{name} is missing from {self.folder} – last good version from "
                f"{since} still in use; put the workbook back to resume checks",
                "watch.missing",
            )
        return False

    def _retry_later(self, name: str) -> bool:
        """Schedule a bounded re-check; return False once the file counts as broken."""
        with self._lock:
            check = self._pending[name]
            now = time.monotonic()
            if now - check.changed_at >= self.give_up_after:
                del self._pending[name]
                return False
            delay = min(self.stable_for * 2**check.attempts, MAX_RECHECK_DELAY)
            check.attempts += 1
            check.last_stat = None
            check.due = now + delay
            return True

    def _resolve(self, name: str) -> None:
        problem = self._reported.pop(name, None)
        if problem is not None:
            self._notify(
                name, f"{name} is readable again – checks resume", "watch.resolved", info=True
            )

    def _last_good_text(self, name: str) -> str:
        since = self._good_since.get(name)
        if since is None:
            return "before the service started (none read yet)"
        return datetime.fromtimestamp(since).strftime("%Y-%m-%d %H:%M:%S")

    def _notify(self, name: str, message: str, code: str, *, info: bool = False) -> None:
        severity = Severity.INFO if info else Severity.WARNING
        log.log(logging.INFO if info else logging.WARNING, "%s", message)
        finding = Finding(name, message, severity=severity, code=code)
        self._call_safely(self._on_notice, finding, "notice")

    def _path_of(self, name: str) -> Path:
        if name in self._names.values():
            return self.folder / name
        head, _, rest = name.partition("/")
        for extra in self._extra:
            if extra.name == head:
                return extra / rest
        return self.folder / name

    # -- start-up state -----------------------------------------------------------

    def _record_baseline(self) -> None:
        """Hash the workbooks as they are now, so only later changes start a pass."""
        for name in self._names.values():
            path = self.folder / name
            if path.is_file() and is_complete_zip(path):
                self._seen_hash[name] = file_sha256(path)
                self._good_since[name] = path.stat().st_mtime

    def _scan_for_conflicts(self) -> None:
        try:
            entries = sorted(os.listdir(self.folder))
        except FileNotFoundError:
            return
        for name in entries:
            kind, target = classify_name(name, self._names)
            if kind is NameKind.CONFLICT:
                self._on_conflict_event(name, target, "created")

    # -- observers and the deaf-observer probe ------------------------------------

    def _make_observer(self, mode: str) -> BaseObserver:
        if mode == "polling":
            observer = PollingObserver(timeout=self.poll_interval)
        else:
            observer = self._native_factory()
        handler = _EventHandler(self)
        observer.schedule(handler, str(self.folder), recursive=False)
        for extra in self._extra:
            if extra.is_dir():
                observer.schedule(handler, str(extra), recursive=True)
        return observer

    def _probe_and_wait(self) -> bool:
        self._write_probe()
        seen = self._probe_seen.wait(self.probe_timeout)
        self._remove_probe()
        self._probe_sent_at = None
        return seen

    def _probe_if_due(self) -> None:
        if self._mode != "native" or self.polling is not None:
            return
        now = time.monotonic()
        if self._probe_sent_at is not None:
            if self._probe_seen.is_set():
                self._remove_probe()
                self._probe_sent_at = None
            elif now - self._probe_sent_at >= self.probe_timeout:
                self._remove_probe()
                self._probe_sent_at = None
                self._switch_to_polling()
        elif now >= self._next_probe:
            self._write_probe()
            self._probe_sent_at = now
            self._next_probe = now + self.probe_interval

    def _write_probe(self) -> None:
        self._probe_seen.clear()
        try:
            (self.folder / PROBE_NAME).write_text(f"{time.time()}\n", encoding="ascii")
        except OSError as exc:
            log.warning("cannot write the probe file in %s: %s", self.folder, exc)

    def _remove_probe(self) -> None:
        try:
            (self.folder / PROBE_NAME).unlink()
        except OSError:
            pass

    def _switch_to_polling(self) -> None:
        log.warning(
            "the native file observer reported no event for a probe file in %s within "
            "%.1f s (network share, WSL or Docker volume?); switching to polling every "
            "%.1f s",
            self.folder,
            self.probe_timeout,
            self.poll_interval,
        )
        old = self._observer
        self._mode = "polling"
        self._observer = self._make_observer("polling")
        self._observer.start()
        if old is not None:
            old.stop()
            old.join()
        # A save between the deaf observer's start and now produced no event.
        self._mark_all_pending()


def is_complete_zip(path: Path) -> bool:
    """Return True when the file is a zip whose central directory and entries can be read.

    Every prefix of an .xlsx lacks the central directory at its end, so a file still
    being written fails here. Comparing each member's local header (name, CRC, sizes)
    with the central directory also catches most files being rewritten in place, whose
    old central directory is still at the end. Member data is not decompressed, so a
    rewrite that keeps every header identical still passes.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            if not infos:
                return False
            with open(path, "rb") as raw:
                for info in infos:
                    raw.seek(info.header_offset)
                    header = raw.read(30)
                    if len(header) < 30 or header[:4] != b"PK\x03\x04":
                        return False
                    name_length = int.from_bytes(header[26:28], "little")
                    encoding = "utf-8" if info.flag_bits & 0x800 else "cp437"
                    expected = info.orig_filename.encode(encoding, errors="replace")
                    if raw.read(name_length) != expected:
                        return False
                    if not _local_header_agrees(header, info):
                        return False
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        return False
    return True


def _local_header_agrees(header: bytes, info: zipfile.ZipInfo) -> bool:
    if info.flag_bits & 0x08:
        # CRC and sizes follow the data in a descriptor; the header contains zeros.
        return True
    crc = int.from_bytes(header[14:18], "little")
    compressed = int.from_bytes(header[18:22], "little")
    if compressed == 0xFFFFFFFF:
        return crc == info.CRC  # Zip64: the sizes are in the extra field
    return crc == info.CRC and compressed == info.compress_size
