"""Service status after an unclean stop, and rules the service must not apply."""

from __future__ import annotations

import json
import subprocess
import sys

from engine.findings import Finding
from engine.project import Project
from engine.service import STATUS_SCHEMA, _RuleKeeper, read_status
from engine.state import ensure_schema, open_state


def test_status_of_killed_service(tmp_path):
    finished = subprocess.run([sys.executable, "-c", "pass"], check=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    state = tmp_path / "state.sqlite"
    connection = open_state(state)
    ensure_schema(connection, STATUS_SCHEMA)
    for key, value in (("state", "running"), ("pid", dead.pid)):
        connection.execute(
            "INSERT INTO service_status VALUES (?, ?, '2013-06-03T08:00:00')",
            (key, json.dumps(value)),
        )
    connection.close()

    status = read_status(state)

    assert finished.returncode == 0
    assert status["state"] == (
        f"not running: process {dead.pid} ended without stopping cleanly"
    )


def test_rules_rejected_like_check(demo_project):
    credit = demo_project / "rules" / "credit.yaml"
    credit.write_text(credit.read_text().replace("  EUR: 1.08\n", "  GBP: 1.25\n"))
    notices: list[Finding] = []
    keeper = _RuleKeeper(Project.at(demo_project), notices.append)

    accepted = keeper.reload()

    assert accepted is False
    assert keeper.current is None
    assert len(notices) == 1
    assert "currency EUR has no rate in rules/credit.yaml fx" in notices[0].message
    assert notices[0].code == "service.rules_invalid"
