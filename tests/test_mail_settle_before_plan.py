"""A pass after a kill sends the letters that were staged but never published."""

from __future__ import annotations

import datetime as dt
import sqlite3

from engine.pipeline import run_pass
from engine.project import Project
from tests.conftest import copy_project

AS_OF = dt.date(2013, 6, 3)


def leave_staged(root, count: int) -> list[str]:
    """Put the state of a pass killed before publishing `count` of its reminders.

    Their files go back to their staged names and their records to "sending", and
    the fingerprint of the last completed pass is dropped, as a kill leaves it.
    """
    outbox = root / "outbox"
    names = sorted(path.stem for path in outbox.glob("*_reminder-*.eml"))[:count]
    state = sqlite3.connect(root / "state" / "arrears-guard.sqlite")
    with state:
        for name in names:
            (outbox / f"{name}.eml").rename(outbox / f".{name}.eml.tmp")
            key_prefix = name.rsplit("_", 1)[1]
            state.execute(
                "UPDATE mail_letters SET status = 'sending', attempts = 1 "
                "WHERE key LIKE ? || '%'",
                (key_prefix,),
            )
        state.execute("DELETE FROM pass_fingerprint")
    state.close()
    return names


def test_staged_letters_sent_same_pass(tmp_path):
    root = copy_project(tmp_path / "project")
    first = run_pass(Project.at(root), as_of=AS_OF)
    assert len(first.delivery.sent) >= 3
    names = leave_staged(root, 3)

    second = run_pass(Project.at(root), as_of=AS_OF)

    outbox = root / "outbox"
    assert all((outbox / f"{name}.eml").is_file() for name in names)
    assert list(outbox.glob(".*")) == []
    assert len(second.delivery.sent) == 3
    assert second.delivery.uncertain == []


def test_orphan_staged_file_removed(tmp_path):
    root = copy_project(tmp_path / "project")
    run_pass(Project.at(root), as_of=AS_OF)
    orphan = root / "outbox" / ".2013-06-03_notice_S9_0123abcd.eml.tmp"
    orphan.write_bytes(b"a letter a killed pass staged but never recorded")
    state = sqlite3.connect(root / "state" / "arrears-guard.sqlite")
    with state:
        state.execute("DELETE FROM pass_fingerprint")
    state.close()

    run_pass(Project.at(root), as_of=AS_OF)

    assert not orphan.exists()
