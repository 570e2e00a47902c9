"""Salesperson notices when a pass wrote the orders sheet but sent no mail.

A pass writes the decisions into the orders sheet before its mail stage. When the
mail stage then fails (or the process is killed), the next pass no longer decides
the approved orders again, so it must still tell the salesperson about the orders
approved with a warning.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from email import policy
from email.parser import BytesParser
from pathlib import Path

from tests.conftest import DEMO_AS_OF, ROOT


def run_once(project: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            str(ROOT / "run.py"),
            "--project",
            str(project),
            "--as-of",
            DEMO_AS_OF,
            "once",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def warned_orders(outbox: Path) -> set[str]:
    orders = set()
    for path in outbox.glob("*_notice_*.eml"):
        message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        for line in message.get_body(("plain",)).get_content().splitlines():
            if line.startswith("- ") and line.endswith("approved with a warning"):
                orders.add(line.split()[1])
    return orders


def test_warning_notice_after_failed_mail(demo_project, tmp_path):
    reference = tmp_path / "reference"
    shutil.copytree(demo_project, reference)
    assert run_once(reference).returncode == 0
    expected = warned_orders(reference / "outbox")
    assert len(expected) == 5

    # A file where the outbox folder should be makes the first mail stage fail.
    (demo_project / "outbox").write_text("not a folder")
    run_once(demo_project)
    (demo_project / "outbox").unlink()
    run_once(demo_project)

    assert warned_orders(demo_project / "outbox") == expected
