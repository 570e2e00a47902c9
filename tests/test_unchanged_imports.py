"""`run.py once` on unchanged input imports only what the fingerprint check needs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import DEMO_AS_OF, ROOT

# Modules a pass needs only once it has work to do: the readers, the write-back,
# the report, letters and the rule file parser.
HEAVY = (
    "openpyxl",
    "jinja2",
    "babel",
    "python_calamine",
    "matplotlib",
    "lxml",
    "ruamel",
    "yagmail",
    "rich",
    "engine.mail.delivery",
    "engine.mail.render",
    "engine.xlsx",
    "engine.writeback",
    "engine.inputs",
    "engine.rules",
)
UNCHANGED = "nothing changed since the last completed pass"


def run_once(project: Path) -> tuple[subprocess.CompletedProcess, set[str]]:
    """Run `run.py once` in a fresh interpreter; return it and the modules it imported."""
    completed = subprocess.run(
        [sys.executable, "-X", "importtime", str(ROOT / "run.py"),
         "--project", str(project), "--as-of", DEMO_AS_OF, "once"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    modules = set()
    for line in completed.stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            modules.add(line.rsplit("|", 1)[1].strip())
    return completed, modules


def heavy_in(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.startswith(HEAVY))


@pytest.fixture
def settled(demo_project) -> Path:
    """The demo project after one completed pass run from the command line."""
    first, _ = run_once(demo_project)
    assert first.returncode in (0, 1), first.stderr[-2000:]
    assert UNCHANGED not in first.stdout
    return demo_project


@pytest.mark.slow
def test_unchanged_pass_skips_heavy_imports(settled):
    completed, modules = run_once(settled)

    assert completed.returncode == 0, completed.stderr[-2000:]
    assert UNCHANGED in completed.stdout
    assert "engine.pass_fingerprint" in modules
    assert heavy_in(modules) == []


@pytest.mark.slow
def test_changed_map_runs_full_pass(settled):
    map_path = settled / "rules" / "workbooks.yaml"
    map_path.write_text(map_path.read_text(encoding="utf-8") + "# edited\n",
                        encoding="utf-8")

    completed, modules = run_once(settled)

    assert completed.returncode in (0, 1), completed.stderr[-2000:]
    assert UNCHANGED not in completed.stdout
    assert "ruamel.yaml" in modules
    assert "engine.inputs" in modules
