"""The start-up check of the file-system encoding, in a child process per locale."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.mail.environment import check_environment

ROOT = Path(__file__).resolve().parent.parent
ASCII_ENV = {"LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}

CHILD = """
import logging, sys
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
from engine.findings import EngineError
from engine.mail import environment, render
if sys.argv[1] == "naive":
    # The file name as Python decodes it under ASCII, as before the byte decoding.
    render._display_name = lambda path: path.name
try:
    environment.check_environment()
except EngineError as error:
    print("rejected:", error)
print("encoding", sys.getfilesystemencoding())
"""


def run_child(tmp_path: Path, mode: str) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), **ASCII_ENV}
    return subprocess.run(
        [sys.executable, "-c", CHILD, mode],
        env=env,
        capture_output=True,
        timeout=60,
        cwd=tmp_path,
    )


def test_ascii_locale_check_passes(tmp_path):
    result = run_child(tmp_path, "real")
    stdout = result.stdout.decode("ascii")
    stderr = result.stderr.decode("ascii", "replace")
    assert result.returncode == 0, stderr
    assert stdout.splitlines() == ["encoding ascii"]
    info = [line for line in stderr.splitlines() if "engine.mail.environment" in line]
    assert info == [
        "INFO engine.mail.environment file-system encoding is ascii, not UTF-8. "
        "Attachment file names are decoded from their UTF-8 bytes, and the "
        "start-up check passed"
    ]


def test_ascii_locale_broken_names_rejected(tmp_path):
    result = run_child(tmp_path, "naive")
    stdout = result.stdout.decode("ascii", "replace")
    assert result.returncode == 0, result.stderr.decode("ascii", "replace")
    first = stdout.splitlines()[0]
    assert first.startswith(
        "rejected: process environment: the file-system encoding is ascii (locale C)"
    )
    assert "failed the start-up check" in first
    assert first.endswith(
        "Start the service with PYTHONUTF8=1 or a UTF-8 locale such as LC_ALL=C.UTF-8."
    )


def test_utf8_process_returns_quietly(caplog):
    caplog.set_level("INFO", logger="engine.mail.environment")
    if sys.getfilesystemencoding().lower().replace("-", "") != "utf8":
        pytest.skip("the test process does not run with a UTF-8 file-system encoding")
    check_environment()
    assert caplog.records == []
