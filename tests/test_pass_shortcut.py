"""The no-op shortcut: a pass on unchanged input only logs that it was skipped."""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3

import pytest
from openpyxl import load_workbook

from engine.pipeline import run_pass
from engine.project import Project

AS_OF = dt.date(2013, 6, 3)
SKIPPED = "skipped: workbooks, rules, templates, as-of date and digest slot unchanged"


@pytest.fixture
def settled(demo_project):
    """The demo project after one completed pass and one no-op pass."""
    project = Project.at(demo_project)
    run_pass(project, as_of=AS_OF)
    second = run_pass(project, as_of=AS_OF)
    return project, second


def skipped_in(caplog) -> bool:
    return any(SKIPPED in record.getMessage() for record in caplog.records)


def test_unchanged_pass_takes_shortcut(settled, caplog):
    project, second = settled
    caplog.set_level(logging.INFO, logger="engine")

    third = run_pass(project, as_of=AS_OF)

    assert third.skipped
    assert skipped_in(caplog)
    assert third.cells_written == 0
    assert third.findings.items == second.findings.items
    assert third.counts == second.counts


def test_shortcut_keeps_workbooks_and_outbox(settled):
    project, _ = settled
    workbooks = project.root / "workbooks"
    before = {p.name: p.read_bytes() for p in workbooks.glob("*.xlsx")}
    letters = sorted(p.name for p in (project.root / "outbox").glob("*.eml"))

    run_pass(project, as_of=AS_OF)

    assert {p.name: p.read_bytes() for p in workbooks.glob("*.xlsx")} == before
    assert sorted(p.name for p in (project.root / "outbox").glob("*.eml")) == letters


def test_workbook_save_runs_full_pass(settled, caplog):
    project, _ = settled
    path = project.root / "workbooks" / "payments.xlsx"
    book = load_workbook(path)
    book.save(path)
    caplog.set_level(logging.INFO, logger="engine")

    result = run_pass(project, as_of=AS_OF)

    assert not result.skipped
    assert not skipped_in(caplog)
    assert run_pass(project, as_of=AS_OF).skipped


def test_rule_edit_runs_full_pass(settled):
    project, _ = settled
    credit = project.rules_dir / "credit.yaml"
    credit.write_text(credit.read_text(encoding="utf-8") + "\n# edited\n",
                      encoding="utf-8")

    assert not run_pass(project, as_of=AS_OF).skipped


def test_template_edit_runs_full_pass(settled):
    project, _ = settled
    template = min(project.templates_dir.rglob("*.j2"))
    template.write_text(template.read_text(encoding="utf-8") + "\n", encoding="utf-8")

    assert not run_pass(project, as_of=AS_OF).skipped


def test_other_as_of_runs_full_pass(settled):
    project, _ = settled

    assert not run_pass(project, as_of=AS_OF + dt.timedelta(days=1)).skipped


def test_dry_run_never_skips(settled):
    project, _ = settled

    result = run_pass(project, as_of=AS_OF, dry_run=True)

    assert not result.skipped
    assert result.counts["orders"] > 0


def test_given_rule_set_is_its_own_fingerprint(settled):
    from engine.pipeline import load_rules

    project, _ = settled
    rules = load_rules(project)

    assert not run_pass(project, as_of=AS_OF, rules=rules).skipped
    assert run_pass(project, as_of=AS_OF, rules=rules).skipped
    assert not run_pass(project, as_of=AS_OF).skipped


def test_pending_write_blocks_shortcut(settled):
    project, _ = settled
    state = project.root / "state" / "arrears-guard.sqlite"
    with sqlite3.connect(state) as connection:
        connection.execute(
            "INSERT INTO pending_writes VALUES ('x.xlsx', 'S', '{}', '{}', NULL, 'now')"
        )

    assert not run_pass(project, as_of=AS_OF).skipped


def test_pass_without_mail_records_nothing(demo_project):
    project = Project.at(demo_project)
    run_pass(project, as_of=AS_OF, send_mail=False)

    assert not run_pass(project, as_of=AS_OF, send_mail=False).skipped


def test_digest_slot_changes_fingerprint():
    from engine.pass_fingerprint import digest_slot

    zone = dt.UTC
    before = dt.datetime(2013, 6, 3, 6, 59, tzinfo=zone)
    after = dt.datetime(2013, 6, 3, 7, 0, tzinfo=zone)

    assert digest_slot("daily 07:00", AS_OF, before) == AS_OF - dt.timedelta(days=1)
    assert digest_slot("daily 07:00", AS_OF, after) == AS_OF
    assert digest_slot("every-pass", AS_OF, after) is None
