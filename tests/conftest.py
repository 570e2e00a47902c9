"""Shared fixtures: a copy of the demo project in a temporary folder."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEMO_AS_OF = "2013-06-03"
# Public workbooks whose notes ask to keep them out of this repository are read from a
# folder of reference cases beside the checkout, or from ARREARS_GUARD_CASES; tests that
# need them skip when neither is present.
REFERENCE_CASES = Path(
    os.environ.get("ARREARS_GUARD_CASES") or ROOT.parent / "shared" / "cases"
)


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
