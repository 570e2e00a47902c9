"""A pass that stops part-way through a scheduled slot's digests.

The first pass stops after a few digest files are in the outbox, as a kill would stop
it. The next pass sends the slot's remaining digests, and no digest goes out twice.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections import Counter

import pytest
from conftest import copy_project

from engine.mail import transport as transport_module
from engine.mail.transport import OutboxTransport
from engine.pipeline import run_pass
from engine.project import Project

AS_OF = dt.date(2013, 6, 3)  # a past day, so the "daily 08:00" slot is AS_OF


class Killed(BaseException):
    """Stands for a kill: no handler in the engine catches a BaseException."""


class StoppingOutbox(OutboxTransport):
    """Outbox that stops the run after it wrote `digests` digest files.

    With `staging`, the run stops when it is about to publish the next digest, so
    that digest and the rest of its batch are staged and recorded "sending". Without
    it, delivery sends one letter at a time, as with SMTP, and the run stops before
    the next digest is written at all.
    """

    def __init__(self, outbox, digests: int, staging: bool = True):
        super().__init__(outbox)
        self.digests_left = digests
        self.stages_files = staging

    def send(self, raw, name):
        if not self.stages_files:
            self._count(name)
        return super().send(raw, name)

    def publish(self, name):
        if self.stages_files:
            self._count(name)
        return super().publish(name)

    def _count(self, name: str) -> None:
        if "_digest_" in name:
            if self.digests_left == 0:
                raise Killed(name)
            self.digests_left -= 1


def digest_files(outbox) -> Counter:
    """Count the digest files per recipient (the third part of the file name)."""
    return Counter(path.name.split("_")[2] for path in outbox.glob("*_digest_*.eml"))


def digest_entries(project) -> dict[str, list[str]]:
    """Return the send-ledger statuses of the digests, per recipient."""
    connection = sqlite3.connect(project / "state" / "arrears-guard.sqlite")
    try:
        rows = connection.execute(
            "SELECT recipient_id, status FROM mail_letters WHERE kind = 'digest'"
        ).fetchall()
    finally:
        connection.close()
    entries: dict[str, list[str]] = {}
    for recipient, status in rows:
        entries.setdefault(recipient, []).append(status)
    return entries


def crash_and_restart(tmp_path, monkeypatch, written: int, staging: bool):
    """Run a pass that stops after `written` digests, then the next pass."""
    project = copy_project(tmp_path / "project")
    outbox = project / "outbox"
    complete = copy_project(tmp_path / "complete")
    run_pass(Project.at(complete), as_of=AS_OF)
    expected = digest_files(complete / "outbox")
    assert len(expected) >= 4

    monkeypatch.setattr(
        transport_module,
        "make_transport",
        lambda folder, settings: StoppingOutbox(folder, written, staging),
    )
    with pytest.raises(Killed):
        run_pass(Project.at(project), as_of=AS_OF)
    assert sum(digest_files(outbox).values()) == written
    monkeypatch.undo()

    result = run_pass(Project.at(project), as_of=AS_OF)
    return project, expected, result


@pytest.mark.parametrize("written", [1, 3])
def test_remaining_digests_sent_after_crash(tmp_path, monkeypatch, written):
    project, expected, result = crash_and_restart(
        tmp_path, monkeypatch, written, staging=True
    )
    outbox = project / "outbox"

    # The digests staged but not published were never handed over, so the next
    # pass sends them, and no digest is uncertain.
    assert digest_files(outbox) == expected
    assert digest_entries(project) == {who: ["sent"] for who in expected}
    assert result.delivery.uncertain == []
    assert list(outbox.glob(".*")) == []

    run_pass(Project.at(project), as_of=AS_OF)
    assert digest_files(outbox) == expected


@pytest.mark.parametrize("written", [1, 3])
def test_digest_in_hand_uncertain_after_crash(tmp_path, monkeypatch, written):
    project, expected, result = crash_and_restart(
        tmp_path, monkeypatch, written, staging=False
    )
    outbox = project / "outbox"

    files = digest_files(outbox)
    assert max(files.values()) == 1
    entries = digest_entries(project)
    assert set(entries) == set(expected)
    assert all(len(statuses) == 1 for statuses in entries.values())
    # The digest in hand when the run stopped is reported as uncertain, not resent.
    uncertain = {who for who, [status] in entries.items() if status == "uncertain"}
    assert len(uncertain) == 1
    assert uncertain == {entry.recipient_id for entry in result.delivery.uncertain}
    assert set(files) == set(expected) - uncertain
    assert all(entries[who] == ["sent"] for who in files)

    run_pass(Project.at(project), as_of=AS_OF)
    assert digest_files(outbox) == files
