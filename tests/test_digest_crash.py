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
    """Outbox that stops the run after it wrote `digests` digest files."""

    def __init__(self, outbox, digests: int):
        super().__init__(outbox)
        self.digests_left = digests

    def send(self, raw, name):
        if "_digest_" in name:
            if self.digests_left == 0:
                raise Killed(name)
            self.digests_left -= 1
        return super().send(raw, name)


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


@pytest.mark.parametrize("written", [1, 3])
def test_remaining_digests_sent_after_crash(tmp_path, monkeypatch, written):
    project = copy_project(tmp_path / "project")
    outbox = project / "outbox"
    complete = copy_project(tmp_path / "complete")
    run_pass(Project.at(complete), as_of=AS_OF)
    expected = digest_files(complete / "outbox")
    assert len(expected) >= 4

    monkeypatch.setattr(
        transport_module,
        "make_transport",
        lambda folder, settings: StoppingOutbox(folder, written),
    )
    with pytest.raises(Killed):
        run_pass(Project.at(project), as_of=AS_OF)
    assert sum(digest_files(outbox).values()) == written
    monkeypatch.undo()

    result = run_pass(Project.at(project), as_of=AS_OF)

    files = digest_files(outbox)
    assert max(files.values()) == 1
    entries = digest_entries(project)
    assert set(entries) == set(expected)
    assert all(len(statuses) == 1 for statuses in entries.values())
    # The digests in hand when the run stopped are reported as uncertain, not resent.
    uncertain = {who for who, [status] in entries.items() if status == "uncertain"}
    assert uncertain
    assert uncertain == {entry.recipient_id for entry in result.delivery.uncertain}
    assert set(files) == set(expected) - uncertain
    assert all(entries[who] == ["sent"] for who in files)

    run_pass(Project.at(project), as_of=AS_OF)
    assert digest_files(outbox) == files
