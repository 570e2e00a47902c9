"""The no-op shortcut: skip a writing pass when nothing its outcome depends on changed.

A pass's outcome depends on the three workbooks' bytes, the rule files and templates
(which include the workbook map), the as-of date, the engine version and, for
scheduled digests, the latest digest slot. A writing pass that completes cleanly (no
errors, no pending or dropped writes, no queued, uncertain or rejected letters)
stores those inputs as one fingerprint in the state database, with the sha256 of
each workbook as the pass left it. The next pass that finds the same fingerprint
does nothing more.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import sqlite3
from dataclasses import asdict, dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from engine import __version__
from engine.filestamp import file_sha256
from engine.findings import Finding, Severity
from engine.state import ensure_schema, has_table

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS pass_fingerprint (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    fingerprint TEXT NOT NULL,
    rules_sha256 TEXT NOT NULL,
    rules_identity TEXT NOT NULL,
    timezone TEXT NOT NULL,
    digest_schedule TEXT NOT NULL,
    workbooks TEXT NOT NULL,
    findings TEXT NOT NULL,
    counts TEXT NOT NULL,
    completed_at TEXT NOT NULL
);
"""

# The rules identity of a pass that loaded the rule files itself. A pass given a rule
# set (the service's last valid one) records a hash of that rule set instead, because
# it may differ from the files on disk.
FROM_FILES = "files"


@dataclass(frozen=True, slots=True)
class RecordedPass:
    """The fingerprint and results of the last writing pass that completed cleanly."""

    fingerprint: str
    rules_sha256: str
    rules_identity: str
    timezone: str
    digest_schedule: str
    workbooks: dict[str, str]  # path -> sha256 of the bytes the pass left
    findings: list[Finding]
    counts: dict[str, int]


def tree_sha256(*folders: Path) -> str:
    """Return the sha256 over the relative path and bytes of each file in `folders`."""
    digest = hashlib.sha256()
    for folder in folders:
        digest.update(f"\0{folder.name}\0".encode())
        if not folder.is_dir():
            continue
        files = sorted(p for p in folder.rglob("*") if p.is_file()
                       and "__pycache__" not in p.parts)
        for path in files:
            digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
            digest.update(file_sha256(path).encode())
    return digest.hexdigest()


def rules_identity(rules) -> str:
    """Return FROM_FILES when `rules` is None, else a sha256 of the given rule set."""
    if rules is None:
        return FROM_FILES
    return hashlib.sha256(repr(rules).encode()).hexdigest()


def fingerprint(*, rules_sha256: str, identity: str, as_of: dt.date,
                digest_slot: dt.date | None, workbooks: dict[str, str]) -> str:
    parts = {
        "engine": __version__,
        "rules": rules_sha256,
        "identity": identity,
        "as_of": as_of.isoformat(),
        "digest_slot": digest_slot.isoformat() if digest_slot else None,
        "workbooks": sorted(workbooks.items()),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def load_recorded(state: sqlite3.Connection) -> RecordedPass | None:
    ensure_schema(state, SCHEMA)
    row = state.execute("SELECT * FROM pass_fingerprint WHERE id = 1").fetchone()
    if row is None:
        return None
    findings = [
        Finding(f["where"], f["message"], f["fix"], Severity(f["severity"]), f["code"])
        for f in json.loads(row["findings"])
    ]
    return RecordedPass(
        row["fingerprint"], row["rules_sha256"], row["rules_identity"], row["timezone"],
        row["digest_schedule"], json.loads(row["workbooks"]), findings,
        json.loads(row["counts"]),
    )


def forget(state: sqlite3.Connection) -> None:
    """Drop the stored fingerprint, so a pass that does not complete leaves none."""
    ensure_schema(state, SCHEMA)
    state.execute("DELETE FROM pass_fingerprint")


def record(state: sqlite3.Connection, recorded: RecordedPass) -> None:
    ensure_schema(state, SCHEMA)
    findings = [{**asdict(f), "severity": str(f.severity)} for f in recorded.findings]
    state.execute(
        "INSERT OR REPLACE INTO pass_fingerprint VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            recorded.fingerprint, recorded.rules_sha256, recorded.rules_identity,
            recorded.timezone, recorded.digest_schedule,
            json.dumps(recorded.workbooks, sort_keys=True), json.dumps(findings),
            json.dumps(recorded.counts, sort_keys=True),
            dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        ),
    )


def workbook_sha256s(paths: list[Path]) -> dict[str, str] | None:
    """Return the sha256 of each workbook now, or None when one is missing."""
    shas = {}
    for path in paths:
        try:
            shas[str(path)] = file_sha256(path)
        except FileNotFoundError:
            return None
    return shas


def open_mail_left(state: sqlite3.Connection) -> bool:
    """Return True when the send ledger has letters queued, sending or uncertain.

    NOTE: an uncertain letter that is never resent keeps every later pass from
    taking the shortcut until the send ledger entry changes.
    """
    from engine.mail.ledger import QUEUED, SENDING, UNCERTAIN

    if not has_table(state, "mail_letters"):
        return False
    row = state.execute(
        "SELECT 1 FROM mail_letters WHERE status IN (?, ?, ?) LIMIT 1",
        (QUEUED, SENDING, UNCERTAIN),
    ).fetchone()
    return row is not None


def pending_writes_left(state: sqlite3.Connection) -> bool:
    if not has_table(state, "pending_writes"):
        return False
    return state.execute("SELECT 1 FROM pending_writes LIMIT 1").fetchone() is not None


def digest_slot(schedule: str, as_of: dt.date, now: dt.datetime) -> dt.date | None:
    """Return the latest scheduled digest day, or None for digests sent every pass."""
    from engine.notify import last_scheduled_day

    if schedule == "every-pass":
        return None
    return last_scheduled_day(schedule, as_of, now)


def agency_now(timezone: str) -> dt.datetime:
    from zoneinfo import ZoneInfo

    return dt.datetime.now(ZoneInfo(timezone))


def mapped_workbooks(workbook_map) -> list[Path]:
    return [workbook_map.source_path(kind) for kind in sorted(workbook_map.sources)]


def match_recorded(
    state: sqlite3.Connection, workbook_map, rules, as_of: dt.date | None,
    rules_sha256: str,
) -> tuple[RecordedPass, dt.date] | None:
    """Return the recorded pass and the as-of date when the fingerprint is unchanged.

    `rules` is the rule set given to the pass, or None when it loads the rule files.
    """
    recorded = load_recorded(state)
    if recorded is None:
        return None
    if recorded.rules_identity != rules_identity(rules):
        return None
    if recorded.rules_sha256 != rules_sha256:
        return None
    timezone = rules.timezone if rules is not None else recorded.timezone
    schedule = rules.digest_schedule if rules is not None else recorded.digest_schedule
    now = agency_now(timezone)
    as_of = as_of or now.date()
    if not workbook_map.report.exists():
        return None
    if pending_writes_left(state) or open_mail_left(state):
        return None
    workbooks = workbook_sha256s(mapped_workbooks(workbook_map))
    if workbooks is None or workbooks != recorded.workbooks:
        return None
    current = fingerprint(rules_sha256=rules_sha256, identity=recorded.rules_identity,
                          as_of=as_of, digest_slot=digest_slot(schedule, as_of, now),
                          workbooks=workbooks)
    if current != recorded.fingerprint:
        return None
    return recorded, as_of


class UnchangedCheck:
    """The shortcut around one writing pass: skip it, or record it once it completed."""

    def __init__(self, project, rules_sha256: str, now: dt.datetime):
        self.project = project
        self.rules_sha256 = rules_sha256
        self.started_at = now

    @classmethod
    def start(cls, project) -> UnchangedCheck:
        # Hashed before the rules are loaded: an edit during the pass then leaves a
        # recorded hash that no longer matches, never a match for rules not applied.
        rules_sha256 = tree_sha256(project.rules_dir, project.templates_dir)
        return cls(project, rules_sha256, dt.datetime.now(dt.UTC))

    def skip_if_unchanged(self, rules, as_of: dt.date | None, started: float):
        """Return a skipped PassResult when nothing changed, else forget the record."""
        import time

        from engine.findings import EngineError
        from engine.pipeline import PassResult
        from engine.state import open_state
        from engine.workbook_map import load_workbook_map

        try:
            workbook_map = load_workbook_map(self.project.workbook_map_path,
                                             self.project.root)
        except EngineError:
            return None  # the full pass reports it
        state = open_state(workbook_map.state)
        try:
            match = match_recorded(state, workbook_map, rules, as_of, self.rules_sha256)
            if match is None:
                forget(state)
                return None
        finally:
            state.close()
        recorded, as_of = match
        result = PassResult(as_of=as_of, dry_run=False, skipped=True)
        result.findings.extend(recorded.findings)
        result.counts.update(recorded.counts)
        result.duration = time.perf_counter() - started
        log.info(
            "pass as of %s skipped: workbooks, rules, templates, as-of date and digest "
            "slot unchanged since the last completed pass; its %d findings are "
            "repeated; %.2f s",
            as_of, len(result.findings), result.duration,
        )
        return result

    def remember_if_clean(self, state, workbook_map, rules, given_rules,
                          result) -> None:
        """Store the fingerprint when the pass left nothing for a later pass to do."""
        reason = unclean_reason(state, result)
        if reason is not None:
            log.debug("pass fingerprint not stored: %s", reason)
            return
        workbooks = {}
        for path in mapped_workbooks(workbook_map):
            stamp = result.written.get(path) or result.read_stamps.get(path)
            if stamp is None:
                return
            workbooks[str(path)] = stamp.sha256
        now = self.started_at.astimezone(ZoneInfo(rules.timezone))
        slot = digest_slot(rules.digest_schedule, result.as_of, now)
        identity = rules_identity(given_rules)
        record(state, RecordedPass(
            fingerprint(rules_sha256=self.rules_sha256, identity=identity,
                        as_of=result.as_of, digest_slot=slot, workbooks=workbooks),
            self.rules_sha256, identity, rules.timezone, rules.digest_schedule,
            workbooks, list(result.findings), dict(result.counts),
        ))


def unclean_reason(state: sqlite3.Connection, result) -> str | None:
    """Return why a later pass on the same input could still do something, or None."""
    delivery = result.delivery
    if result.dry_run:
        return "dry run"
    if any(f.severity is Severity.ERROR for f in result.findings):
        return "errors"
    if result.locked or result.changed_during_pass:
        return "writes left"
    if delivery is None:
        return "no mail stage"
    if delivery.deferred or delivery.uncertain or delivery.failed:
        return "letters left"
    if pending_writes_left(state) or open_mail_left(state):
        return "pending writes or letters in the state database"
    return None
