"""Shared fixtures: a copy of the demo project in a temporary folder."""

from __future__ import annotations

import atexit
import functools
import importlib.util
import os
import shutil
import sys
import tempfile
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


@functools.cache
def pristine_workbooks() -> Path:
    """Build the demo workbooks once per test run, as `workbooks/build_demo.py` does.

    The checkout's own copies are not used: `make run` fills their Status and figure
    columns, and tests must start from workbooks no pass has touched.
    """
    name = "conftest_build_demo"
    spec = importlib.util.spec_from_file_location(
        name, ROOT / "workbooks" / "build_demo.py"
    )
    module = importlib.util.module_from_spec(spec)
    # The script's dataclasses look their module up in sys.modules.
    sys.modules[name] = module
    spec.loader.exec_module(module)
    folder = Path(tempfile.mkdtemp(prefix="arrears-guard-demo-"))
    # Cached for the whole run, so no fixture's teardown can remove it.
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    module.build(folder)
    return folder


def copy_project(target: Path) -> Path:
    """Copy rules/, templates/ and fresh demo workbooks into `target`; return it."""
    for folder in ("rules", "templates"):
        shutil.copytree(
            ROOT / folder,
            target / folder,
            ignore=shutil.ignore_patterns("*.py", "__pycache__", "~$*", ".~*"),
        )
    shutil.copytree(pristine_workbooks(), target / "workbooks")
    return target


@pytest.fixture
def demo_project(tmp_path) -> Path:
    return copy_project(tmp_path / "project")
