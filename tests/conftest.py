"""Shared fixtures: a copy of the demo project in a temporary folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEMO_AS_OF = "2013-06-03"


def copy_project(target: Path) -> Path:
    """Copy rules/, templates/ and the demo workbooks into `target`; return it."""
    for folder in ("rules", "templates", "workbooks"):
        shutil.copytree(
            ROOT / folder,
            target / folder,
            ignore=shutil.ignore_patterns("*.py", "__pycache__", "~$*", ".~*"),
        )
    return target


@pytest.fixture
def demo_project(tmp_path) -> Path:
    return copy_project(tmp_path / "project")
