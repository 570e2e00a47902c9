"""The long-running `watch` service: a pass after every settled save, until SIGTERM.

The service never fights the staff for a workbook. When a workbook is locked (a lock
file exists, or the replace fails), the pipeline keeps the results in SQLite; the
service tells the staff once per lock episode, retries with back-off (5 s doubling to
5 min) and writes as soon as the lock file goes away. The engine's own writes start no
pass, and a save made while a pass ran starts a new one on the new content.

Status (last pass, observer mode, lock episodes) is kept in the SQLite table
`service_status`, so `arrears-guard status` can read it from another process.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import signal
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import psutil

from engine.findings import EngineError, Finding, Severity
from engine.mail.environment import check_environment
from engine.state import ensure_schema, open_state
from engine.watch import WorkbookWatcher

log = logging.getLogger(__name__)

STATUS_SCHEMA = """
CREATE TABLE IF NOT EXISTS service_status (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated TEXT NOT NULL
);
"""

NoticeCallback = Callable[[Finding], None]


@dataclass(frozen=True, slots=True)
class ServiceSettings:
    """Service settings: watched folder and names, state database, timings."""

    root: Path
    folder: Path
    names: tuple[str, ...]
    state: Path
    polling: bool | None = None
    extra_folders: tuple[Path, ...] = ()
    debounce: float = 1.0
    stable_for: float = 0.5
    poll_interval: float = 1.0
    probe_interval: float = 30.0
    first_retry: float = 5.0  # seconds before the first retry of a locked write
    max_retry: float = 300.0
    # Engine temporaries older than this (seconds) are deleted at start; younger ones
    # may belong to a `once` run writing right now.
    stale_temp_age: float = 60.0


def service_settings(project) -> ServiceSettings:
    """Build the settings from the project's workbook map (raises EngineError if invalid)."""
    from engine.workbook_map import load_workbook_map

    workbook_map = load_workbook_map(project.workbook_map_path, project.root)
    names = tuple(sorted({source.file for source in workbook_map.sources.values()}))
    extra = tuple(p for p in (project.rules_dir, project.templates_dir) if p.is_dir())
    return ServiceSettings(
        root=project.root,
        folder=workbook_map.folder,
        names=names,
        state=workbook_map.state,
        polling=workbook_map.polling,
        extra_folders=extra,
    )


@dataclass(slots=True)
class _LockEpisode:
    """A workbook the service could not write, from the first refusal until written."""

    owner: str | None
    since: float
    delay: float
    next_try: float
    retries: int = 0


@dataclass(slots=True)
class _Triggers:
    """Change and unlock events passed from the watcher thread to the service loop."""

    changed: set[str] = field(default_factory=set)
    unlocked: set[str] = field(default_factory=set)
    wake: threading.Condition = field(default_factory=threading.Condition)


def run_service(
    project,
    *,
    as_of: dt.date | None,
    run_pass,
    flush_pending,
    stop_event: threading.Event | None = None,
    settings: ServiceSettings | None = None,
    on_notice: NoticeCallback | None = None,
) -> int:
    """Run passes on every settled change until `stop_event` is set or SIGTERM arrives.

    Returns the exit code: 0 after a clean stop. A pass that fails is logged and
    retried; it does not stop the service. With a project, the service loads the rules
    itself and passes the last valid rule set to `run_pass(rules=...)`, so a broken
    rule file saved while watching is reported once and the previous rules stay in force.
    """
    settings = settings or service_settings(project)
    if not settings.folder.is_dir():
        raise EngineError(
            Finding(
                str(settings.folder),
                "the watched folder was not found.",
                "Create it or fix 'folder' in rules/workbooks.yaml.",
            )
        )
    # Non-ASCII attachment names must work before the first letter is planned.
    check_environment()
    stop_event = stop_event or threading.Event()
    service = _Service(project, settings, as_of, run_pass, flush_pending, on_notice)
    restore = _install_signal_handlers(stop_event)
    try:
        service.run(stop_event)
    finally:
        restore()
    return 0


def _install_signal_handlers(stop_event: threading.Event) -> Callable[[], None]:
    """Make SIGTERM and SIGINT set `stop_event`; the running pass or write finishes."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def request_stop(signum, _frame) -> None:
        log.info(
            "received %s; stopping after the current pass", signal.Signals(signum).name
        )
        stop_event.set()

    previous = {
        sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)
    }

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore


class _Service:
    def __init__(self, project, settings, as_of, run_pass, flush_pending, on_notice):
        self.project = project
        self.settings = settings
        self.as_of = as_of
        self.run_pass = run_pass
        self.flush_pending = flush_pending
        self.on_notice = on_notice
        self.triggers = _Triggers()
        self.locks: dict[Path, _LockEpisode] = {}
        self.pass_number = 0
        self.retry_pass_at: float | None = None
        self.pass_failures = 0
        self.state = open_state(settings.state)
        ensure_schema(self.state, STATUS_SCHEMA)
        self.rules = _RuleKeeper(project, self._notice) if project is not None else None
        self.watcher = self._new_watcher()

    def _new_watcher(self) -> WorkbookWatcher:
        settings = self.settings
        return WorkbookWatcher(
            settings.folder,
            settings.names,
            self._on_change,
            debounce=settings.debounce,
            stable_for=settings.stable_for,
            polling=settings.polling,
            extra_folders=settings.extra_folders,
            probe_interval=settings.probe_interval,
            poll_interval=settings.poll_interval,
            on_notice=self._notice,
            on_unlock=self._on_unlock,
        )

    # -- watcher callbacks (watcher thread) -----------------------------------------

    def _on_change(self, names: set[str]) -> None:
        with self.triggers.wake:
            self.triggers.changed |= names
            self.triggers.wake.notify_all()

    def _on_unlock(self, name: str) -> None:
        with self.triggers.wake:
            self.triggers.unlocked.add(name)
            self.triggers.wake.notify_all()

    def _notice(self, finding: Finding) -> None:
        if self.on_notice is not None:
            self.on_notice(finding)

    # -- main loop ----------------------------------------------------------------

    def run(self, stop_event: threading.Event) -> None:
        remove_stale_temporaries(self.settings.folder, self.settings.stale_temp_age)
        self.watcher.start()
        self._record_start()
        try:
            if self.rules is not None:
                self.rules.reload()
            self._flush("kept from an earlier run")
            self._pass({"start"})
            while not stop_event.is_set():
                changed, unlocked = self._wait_for_work(stop_event)
                if stop_event.is_set():
                    break
                changed = self._apply_rule_changes(changed)
                if changed or self._pass_retry_due():
                    self._pass(changed or {"retry"})
                if unlocked or self._lock_retry_due():
                    self._retry_locked(unlocked)
        finally:
            self.watcher.stop()
            self._record("state", "stopped")
            self._record("stopped_at", _now_text())
            self.state.close()
            log.info("arrears-guard service stopped (pid %d)", os.getpid())

    def _wait_for_work(self, stop_event: threading.Event) -> tuple[set[str], set[str]]:
        wake = self.triggers.wake
        with wake:
            if not (self.triggers.changed or self.triggers.unlocked):
                # Short waits so a stop request set from a signal handler is seen soon.
                wake.wait(timeout=min(0.2, self._seconds_to_deadline()))
            changed, self.triggers.changed = self.triggers.changed, set()
            unlocked, self.triggers.unlocked = self.triggers.unlocked, set()
        return changed, unlocked

    def _seconds_to_deadline(self) -> float:
        deadlines = [episode.next_try for episode in self.locks.values()]
        if self.retry_pass_at is not None:
            deadlines.append(self.retry_pass_at)
        if not deadlines:
            return 0.2
        return max(0.0, min(deadlines) - time.monotonic())

    def _apply_rule_changes(self, changed: set[str]) -> set[str]:
        """Reload the rules when a rule file or template changed; return the pass reasons.

        A broken rule file starts no pass, because the last valid rules still apply and
        the workbooks did not change. A valid change starts one.
        """
        rule_names = {name for name in changed if _is_rule_name(name)}
        if not rule_names or self.rules is None:
            return changed
        if not self.rules.reload():
            return changed - rule_names
        self._follow_map()
        return changed

    def _follow_map(self) -> None:
        """Watch the folder and files that the workbook map names after an edit of it.

        The state database stays the one opened at start, so a new `state` path in the
        map is logged as needing a restart.
        """
        try:
            mapped = service_settings(self.project)
        except EngineError as exc:
            log.error("failed to read the edited workbook map; still watching %s: %s",
                      self.settings.folder, exc)
            return
        if mapped.state != self.settings.state:
            log.warning(
                "the workbook map names a new state database %s; restart the service "
                "to use it (it still records its status in %s)",
                mapped.state,
                self.settings.state,
            )
        if (mapped.folder, mapped.names) == (self.settings.folder, self.settings.names):
            return
        if not mapped.folder.is_dir():
            message = (
                f"the workbook map names the folder {mapped.folder}, which was not found; "
                f"still watching {self.settings.folder}"
            )
            log.error("%s", message)
            self._notice(
                Finding(
                    str(mapped.folder),
                    message,
                    "Create the folder or fix 'folder' in rules/workbooks.yaml.",
                    code="service.folder_missing",
                )
            )
            return
        previous_folder = self.settings.folder
        self.watcher.stop()
        self.settings = replace(
            self.settings, folder=mapped.folder, names=mapped.names
        )
        remove_stale_temporaries(mapped.folder, self.settings.stale_temp_age)
        self.watcher = self._new_watcher()
        self.watcher.start()
        log.info(
            "now watching %s in %s (was %s)",
            ", ".join(mapped.names),
            mapped.folder,
            previous_folder,
        )
        self._record("folder", str(mapped.folder))

    def _pass_retry_due(self) -> bool:
        return self.retry_pass_at is not None and time.monotonic() >= self.retry_pass_at

    def _lock_retry_due(self) -> bool:
        now = time.monotonic()
        return any(episode.next_try <= now for episode in self.locks.values())

    # -- passes -------------------------------------------------------------------

    def _pass(self, reasons: set[str]) -> None:
        if self.rules is not None and self.rules.current is None:
            log.warning(
                "no pass (%s): no valid rules yet; fix the rule files",
                ", ".join(sorted(reasons)),
            )
            return
        self.pass_number += 1
        number = self.pass_number
        self.retry_pass_at = None
        log.info("pass %d started (%s)", number, ", ".join(sorted(reasons)))
        saved = self._save_times(reasons)
        started = time.perf_counter()
        try:
            if self.rules is None:
                result = self.run_pass(self.project, as_of=self.as_of)
            else:
                result = self.run_pass(
                    self.project, as_of=self.as_of, rules=self.rules.current
                )
        except (EngineError, OSError) as exc:
            self._pass_failed(number, started, exc)
            return
        except Exception as exc:
            log.exception("pass %d failed with an unexpected error", number)
            self._pass_failed(number, started, exc)
            return
        self.pass_failures = 0
        self._handle_result(result, f"pass {number}")
        self._log_latency(number, saved, result)
        self._record_pass(number, result, time.perf_counter() - started, None)

    def _save_times(self, reasons: set[str]) -> dict[str, float]:
        """Return the mtime of each workbook that triggered the pass, by name."""
        times = {}
        for name in reasons & set(self.settings.names):
            try:
                times[name] = (self.settings.folder / name).stat().st_mtime
            except OSError:
                continue
        return times

    def _log_latency(self, number: int, saved: dict[str, float], result) -> None:
        """Log the time from the triggering save (file mtime) to each file written.

        The line has a fixed form for benchmarks to parse:
        `pass 3 latency: orders.xlsx saved -> orders.xlsx written in 1.234 s`.
        NOTE: a sync client that sets the cloud copy's older mtime inflates this figure.
        """
        written = dict(getattr(result, "written", {}) or {})
        if not saved or not written:
            return
        trigger, saved_at = max(saved.items(), key=lambda item: item[1])
        for path, stamp in sorted(written.items()):
            seconds = stamp.mtime_ns / 1e9 - saved_at
            log.info(
                "pass %d latency: %s saved -> %s written in %.3f s",
                number,
                trigger,
                Path(path).name,
                seconds,
            )

    def _pass_failed(self, number: int, started: float, exc: Exception) -> None:
        delay = min(
            self.settings.first_retry * 2**self.pass_failures, self.settings.max_retry
        )
        self.pass_failures += 1
        self.retry_pass_at = time.monotonic() + delay
        log.error("pass %d failed: %s (retry in %.1f s)", number, exc, delay)
        self._record_pass(number, None, time.perf_counter() - started, str(exc))

    def _flush(self, reason: str) -> None:
        # TODO: writes made here, after a lock went away, log no latency line.
        if not self._has_pending():
            log.debug("no pending results to write (%s)", reason)
            return
        log.info("writing pending results (%s)", reason)
        try:
            result = self.flush_pending(self.project)
        except (EngineError, OSError) as exc:
            log.error("writing pending results failed: %s", exc)
            for episode in self.locks.values():
                self._back_off(episode)
            return
        self._handle_result(result, "pending write")

    def _retry_locked(self, unlocked: set[str]) -> None:
        """Flush when a lock file went away or a back-off expired and the file is free."""
        now = time.monotonic()
        for path, episode in list(self.locks.items()):
            if path.name not in unlocked and episode.next_try > now:
                continue
            locked, owner = _lock_owner(path)
            if locked:
                episode.owner = owner or episode.owner
                self._back_off(episode)
                log.info(
                    "%s is still open; retry %d in %.0f s",
                    path.name,
                    episode.retries,
                    episode.delay,
                )
                continue
            self._flush(f"{path.name} is free")
            return

    # -- results --------------------------------------------------------------------

    def _handle_result(self, result, what: str) -> None:
        written = dict(getattr(result, "written", {}) or {})
        locked = dict(getattr(result, "locked", {}) or {})
        changed = set(getattr(result, "changed_during_pass", set()) or set())
        for path, stamp in written.items():
            self.watcher.note_own_write(path, stamp.sha256)
            log.info("%s wrote %s (sha256 %s)", what, path.name, stamp.sha256[:12])
            self._end_episode(path, "written")
        for path, owner in locked.items():
            self._locked(Path(path), owner)
        planned = {Path(w.path) for w in getattr(result, "planned_writes", []) or []}
        for path in list(self.locks):
            if path in planned and path not in locked and path not in written:
                self._end_episode(path, "no longer pending")
        if changed:
            names = ", ".join(sorted(Path(p).name for p in changed))
            log.info("%s: %s changed during the pass; running a new pass", what, names)
            with self.triggers.wake:
                self.triggers.changed |= {Path(p).name for p in changed}
        self._drop_own_changes(written)

    def _drop_own_changes(self, written: dict) -> None:
        """Forget change events whose file still contains exactly the bytes the engine wrote."""
        with self.triggers.wake:
            for path, stamp in written.items():
                name = Path(path).name
                if name in self.triggers.changed and stamp.matches(Path(path)):
                    self.triggers.changed.discard(name)

    def _locked(self, path: Path, owner: str | None) -> None:
        episode = self.locks.get(path)
        if episode is not None:
            episode.owner = owner or episode.owner
            self._back_off(episode)
            return
        now = time.monotonic()
        first = self.settings.first_retry
        self.locks[path] = _LockEpisode(owner, now, first, now + first)
        message = (
            f"{path.name} is open by {owner or 'another user'}; "
            "flags will be written when it is closed"
        )
        log.warning("%s", message)
        self._notice(
            Finding(path.name, message, severity=Severity.INFO, code="service.locked")
        )
        self._record_locks()

    def _back_off(self, episode: _LockEpisode) -> None:
        episode.retries += 1
        episode.delay = min(episode.delay * 2, self.settings.max_retry)
        episode.next_try = time.monotonic() + episode.delay

    def _end_episode(self, path: Path, how: str) -> None:
        episode = self.locks.pop(Path(path), None)
        if episode is not None:
            waited = time.monotonic() - episode.since
            log.info(
                "%s %s after %.0f s and %d retries",
                Path(path).name,
                how,
                waited,
                episode.retries,
            )
            self._record_locks()

    def _has_pending(self) -> bool:
        if self.locks:
            return True
        if not self.settings.state.exists():
            return False
        connection = open_state(self.settings.state)
        try:
            return bool(_pending_writes(connection))
        finally:
            connection.close()

    # -- status ---------------------------------------------------------------------

    def _record_start(self) -> None:
        rule_files = sorted(
            p.name for p in (self.settings.root / "rules").glob("*.yaml")
        )
        log.info(
            "arrears-guard service started (pid %d): watching %s with the %s observer; "
            "rules: %s",
            os.getpid(),
            self.settings.folder,
            self.watcher.mode,
            ", ".join(rule_files) or "none",
        )
        self._record("state", "running")
        self._record("pid", os.getpid())
        self._record("started_at", _now_text())
        self._record("folder", str(self.settings.folder))
        self._record("observer_mode", self.watcher.mode)

    def _record_pass(
        self, number: int, result, seconds: float, error: str | None
    ) -> None:
        summary = {
            "number": number,
            "at": _now_text(),
            "seconds": round(seconds, 3),
            "ok": error is None,
        }
        if error is not None:
            summary["error"] = error
        if result is not None:
            summary["written"] = sorted(Path(p).name for p in result.written)
            summary["locked"] = sorted(Path(p).name for p in result.locked)
            summary["findings"] = len(result.findings)
            summary["counts"] = dict(getattr(result, "counts", {}) or {})
            log.info(
                "pass %d done in %.2f s: %d written, %d locked, %d findings",
                number,
                seconds,
                len(summary["written"]),
                len(summary["locked"]),
                summary["findings"],
            )
        self._record("last_pass", summary)
        self._record("observer_mode", self.watcher.mode)

    def _record_locks(self) -> None:
        waiting = {path.name: episode.owner for path, episode in self.locks.items()}
        self._record("waiting_for", waiting)

    def _record(self, key: str, value) -> None:
        try:
            self.state.execute(
                "INSERT OR REPLACE INTO service_status VALUES (?, ?, ?)",
                (key, json.dumps(value, default=str), _now_text()),
            )
        except sqlite3.Error as exc:
            log.error("cannot record service status %s: %s", key, exc)


class _RuleKeeper:
    """The last valid rule set, reloaded when a rule file or template changes.

    A reload that fails keeps the previous rule set. Its errors are reported once per
    distinct set of findings, and the first valid reload afterwards reports "resolved".
    """

    def __init__(self, project, notice: NoticeCallback):
        self.project = project
        self.notice = notice
        self.current = None
        self.reported: str | None = None

    def reload(self) -> bool:
        """Load the rules; return True when they are valid and now in force.

        The rules must pass what `arrears-guard check` checks of them, including the
        cross-checks against the workbooks (a currency in use with no FX rate) and
        the templates, so the service never applies rules that `check` rejects. Errors
        located in a workbook alone (a staff edit) do not reject the rules; the pass
        reports those.
        """
        from engine.rules.check import check_project, format_findings, load_rules

        try:
            rules = load_rules(self.project.root)
        except EngineError as exc:
            self._report(format_findings(list(exc.findings)))
            return False
        rejected = [
            finding
            for finding in check_project(self.project.root)
            if finding.severity is Severity.ERROR
            and finding.where.startswith(("rules/", "templates/"))
        ]
        if rejected:
            self._report(format_findings(rejected))
            return False
        if self.current is not None and self.current.sources == rules.sources:
            log.debug("rule files saved without a change to their content")
        elif self.current is not None:
            log.info("rules reloaded: %s", _sources_text(rules.sources))
        self.current = rules
        if self.reported is not None:
            self.reported = None
            message = "the rule files are valid again; the new rules are in force"
            log.info("%s", message)
            self.notice(
                Finding(
                    "rules",
                    message,
                    severity=Severity.INFO,
                    code="service.rules_resolved",
                )
            )
        return True

    def _report(self, text: str) -> None:
        if text == self.reported:
            log.debug("rule files still invalid; already reported")
            return
        self.reported = text
        keeping = (
            "the previous rules stay in force"
            if self.current is not None
            else "no pass runs until they are fixed"
        )
        log.error("invalid rule files; %s:\n%s", keeping, text)
        message = f"the rule files are invalid, so {keeping}:\n{text}"
        self.notice(
            Finding(
                "rules",
                message,
                "Fix the rule files listed above.",
                code="service.rules_invalid",
            )
        )


def _is_rule_name(name: str) -> bool:
    return name.startswith(("rules/", "templates/"))


def _sources_text(sources: dict) -> str:
    return ", ".join(
        f"{name} ({digest[:12]})" for name, digest in sorted(sources.items())
    )


def remove_stale_temporaries(folder: Path, older_than: float = 60.0) -> list[Path]:
    """Delete engine temporaries (`.~arrears-guard-*`) a killed write left in `folder`.

    Only files whose mtime is at least `older_than` seconds old are deleted, so the
    temporary of a write running in another process right now is kept. Returns the
    deleted paths.
    """
    from engine.xlsx.patch import TEMP_PREFIX

    removed = []
    now = time.time()
    for path in sorted(folder.glob(TEMP_PREFIX + "*")):
        try:
            if now - path.stat().st_mtime < older_than:
                continue
            path.unlink()
        except OSError as exc:
            log.warning("cannot delete the stale temporary file %s: %s", path, exc)
            continue
        removed.append(path)
        log.info("deleted %s, left by a write that was interrupted", path.name)
    return removed


def service_status(project) -> dict:
    """Return the last pass, pending writes and observer mode recorded in SQLite."""
    from engine.workbook_map import load_workbook_map

    workbook_map = load_workbook_map(project.workbook_map_path, project.root)
    return read_status(workbook_map.state)


def read_status(state_path: Path) -> dict:
    """Read the status a service recorded in the state database at `state_path`."""
    status: dict = {"state": "never started", "observer_mode": None, "last_pass": None}
    if not state_path.exists():
        status["pending_writes"] = []
        return status
    connection = open_state(state_path)
    try:
        ensure_schema(connection, STATUS_SCHEMA)
        for row in connection.execute("SELECT key, value FROM service_status"):
            status[row["key"]] = json.loads(row["value"])
        status["pending_writes"] = _pending_writes(connection)
    finally:
        connection.close()
    pid = status.get("pid")
    if status["state"] == "running" and pid and not psutil.pid_exists(pid):
        # A service killed without a chance to record its stop (kill -9, power loss).
        status["state"] = f"not running: process {pid} ended without stopping cleanly"
    return status


def _pending_writes(connection: sqlite3.Connection) -> list[dict]:
    try:
        rows = connection.execute(
            "SELECT path, sheet, owner, since FROM pending_writes ORDER BY path, sheet"
        ).fetchall()
    except sqlite3.OperationalError:
        return []  # no write was ever kept pending
    return [
        {
            "file": Path(row["path"]).name,
            "sheet": row["sheet"],
            "owner": row["owner"],
            "since": row["since"],
        }
        for row in rows
    ]


def _lock_owner(path: Path) -> tuple[bool, str | None]:
    try:
        from engine.xlsx.lockfile import lock_owner
    except ImportError:
        excel = path.with_name("~$" + path.name)
        libreoffice = path.with_name(".~lock." + path.name + "#")
        return excel.exists() or libreoffice.exists(), None
    return lock_owner(path)


def _now_text() -> str:
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")
