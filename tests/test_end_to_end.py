"""The whole pass on the demo workbooks, through the command line as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from python_calamine import CalamineWorkbook

from tests.conftest import DEMO_AS_OF, ROOT


def run_cli(project: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "run.py"), "--project", str(project), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def sheet_rows(path: Path, sheet: str) -> list[list]:
    return CalamineWorkbook.from_path(str(path)).get_sheet_by_name(sheet).to_python()


def by_header(rows: list[list]) -> list[dict]:
    header = rows[0]
    return [dict(zip(header, row)) for row in rows[1:]]


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


@pytest.fixture(scope="module")
def first_pass(tmp_path_factory):
    from tests.conftest import copy_project

    project = copy_project(tmp_path_factory.mktemp("e2e") / "project")
    before = {
        name: members(project / "workbooks" / name)
        for name in ("orders.xlsx", "payments.xlsx", "customers.xlsx")
    }
    completed = run_cli(project, "--as-of", DEMO_AS_OF, "once")
    return project, before, completed


def test_once_runs_without_traceback(first_pass):
    _, _, completed = first_pass

    assert "Traceback" not in completed.stderr
    assert completed.returncode in (0, 1), completed.stderr
    assert f"Pass as of {DEMO_AS_OF}" in completed.stdout


def test_once_writes_every_status(first_pass):
    project, _, _ = first_pass
    orders = by_header(sheet_rows(project / "workbooks" / "orders.xlsx", "Orders"))
    new_orders = [row for row in orders if row["Invoice No"] == ""]
    statuses = {row["Status"] for row in new_orders}

    assert new_orders
    assert statuses <= {"APPROVED", "BLOCKED", "HELD"}
    assert "APPROVED" in statuses
    assert "BLOCKED" in statuses
    assert all(row["Reason"] for row in new_orders)
    assert any(row["Reason"].startswith("Blocked") for row in new_orders)


def test_once_writes_customer_figures(first_pass):
    project, _, _ = first_pass
    customers = by_header(sheet_rows(project / "workbooks" / "customers.xlsx", "Customers"))

    assert all(row["Checked On"] != "" for row in customers)
    assert all(row["Outstanding"] != "" for row in customers)


def test_once_leaves_payments_untouched(first_pass):
    project, before, _ = first_pass

    assert members(project / "workbooks" / "payments.xlsx") == before["payments.xlsx"]


def test_once_changes_only_orders_sheet(first_pass):
    project, before, _ = first_pass
    after = members(project / "workbooks" / "orders.xlsx")
    changed = {name for name in after if after[name] != before["orders.xlsx"].get(name)}

    assert list(after) == list(before["orders.xlsx"])
    assert changed == {"xl/worksheets/sheet1.xml"}


def test_once_writes_report_and_outbox(first_pass):
    project, _, _ = first_pass
    outbox = sorted((project / "outbox").glob("*.eml"))

    assert (project / "report" / "arrears-report.xlsx").exists()
    assert any("reminder" in path.name for path in outbox)
    assert any("digest" in path.name for path in outbox)


def test_second_once_writes_and_sends_nothing(first_pass):
    project, _, _ = first_pass
    workbooks = {
        name: (project / "workbooks" / name).read_bytes()
        for name in ("orders.xlsx", "customers.xlsx")
    }
    outbox_before = sorted(path.name for path in (project / "outbox").glob("*.eml"))
    report_before = (project / "report" / "arrears-report.xlsx").read_bytes()

    completed = run_cli(project, "--as-of", DEMO_AS_OF, "once")

    assert "Traceback" not in completed.stderr
    assert "0 cells written" in completed.stdout
    for name, data in workbooks.items():
        assert (project / "workbooks" / name).read_bytes() == data, name
    assert sorted(path.name for path in (project / "outbox").glob("*.eml")) == outbox_before
    assert (project / "report" / "arrears-report.xlsx").read_bytes() == report_before


def test_preview_json_lists_changes(demo_project):
    completed = run_cli(demo_project, "--as-of", DEMO_AS_OF, "preview", "--json")
    data = json.loads(completed.stdout)

    assert completed.returncode == 0, completed.stderr
    assert data["as_of"] == DEMO_AS_OF
    assert data["orders"]
    assert data["letters"]
    assert not (demo_project / "outbox").exists()


@pytest.mark.parametrize(
    "command", ["once", "watch", "check", "preview", "explain", "status"]
)
def test_every_command_has_help(command):
    completed = run_cli(ROOT, command, "--help")

    assert completed.returncode == 0
    assert "Example" in completed.stdout


def test_once_waits_for_running_pass(demo_project):
    from filelock import FileLock

    lock = FileLock(str(demo_project / "state" / "arrears-guard.sqlite") + ".lock")
    (demo_project / "state").mkdir()
    with lock:
        child = subprocess.Popen(
            [sys.executable, str(ROOT / "run.py"), "--project", str(demo_project),
             "--as-of", DEMO_AS_OF, "once"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            child.wait(timeout=3)
        except subprocess.TimeoutExpired:
            pass
        else:
            pytest.fail("once finished while another pass held the lock")
    stdout, stderr = child.communicate(timeout=120)

    assert "another pass is running" in stderr
    assert f"Pass as of {DEMO_AS_OF}" in stdout


def test_no_mail_when_save_during_pass(demo_project, monkeypatch):
    import datetime as dt

    from engine.findings import Finding
    from engine.pipeline import run_pass
    from engine.project import Project
    from engine.xlsx import patch

    def saved_meanwhile(path, sheet, cells, **options):
        raise patch.FileChanged(Finding(path.name, "changed since it was read."))

    monkeypatch.setattr(patch, "write_cells", saved_meanwhile)
    result = run_pass(Project.at(demo_project), as_of=dt.date(2013, 6, 3))

    assert result.changed_during_pass
    assert result.letters
    assert not list((demo_project / "outbox").glob("*.eml"))


def test_check_reports_a_misspelt_smtp_setting(demo_project):
    (demo_project / "smtp.toml").write_text(
        'hostname = "127.0.0.1"\nport = 2525\n', encoding="utf-8"
    )

    completed = run_cli(demo_project, "check")

    assert completed.returncode == 1
    assert "'hostname', which is not a setting. Rename it to host." in completed.stdout
