"""Regenerate the rendered example letters in docs/examples/ from the demo workbooks.

    python -m engine.mail.examples [PROJECT_ROOT [OUTPUT]]

The project's rules/, templates/ and workbooks/ are copied to a temporary folder,
and one full pass as of 2013-06-03 runs on the copy, so the letters go to the copy's
outbox/ and the project stays untouched. From that outbox the command writes one
reminder for each language and dunning level that occurs, as
<language>/<template>.txt (subject line, blank line, text part) and .html, and the
manager digest as digest_manager.txt, digest_manager.html and
digest_manager_aging.png (the chart the HTML shows). Each reminder is the one to
the customer with the lowest id at that language and level.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

from engine.mail.letter import REMINDER, Letter
from engine.mail.transport import outbox_name

log = logging.getLogger(__name__)

AS_OF = dt.date(2013, 6, 3)
PROJECT_FOLDERS = ("rules", "templates", "workbooks")
CHART_NAME = "digest_manager_aging.png"


def copy_demo(root: Path, target: Path) -> Path:
    """Copy the project's rules, templates and workbooks into `target` and return it."""
    for folder in PROJECT_FOLDERS:
        shutil.copytree(
            root / folder,
            target / folder,
            ignore=shutil.ignore_patterns("*.py", "__pycache__", "~$*", ".~*"),
        )
    return target


@contextmanager
def _outbox_only() -> Iterator[None]:
    """Hide ARREARS_SMTP_* for the pass, so the examples never go to a mail server."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("ARREARS_SMTP_")}
    for name in saved:
        del os.environ[name]
    try:
        yield
    finally:
        os.environ.update(saved)


def _read_eml(path: Path) -> EmailMessage:
    return BytesParser(policy=policy.default).parsebytes(path.read_bytes())


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="\n")


def _write_letter(message: EmailMessage, folder: Path, template: str) -> list[Path]:
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    paths = [folder / f"{template}.txt", folder / f"{template}.html"]
    _write(paths[0], f"Subject: {message['Subject']}\n\n{text}")
    _write(paths[1], html)
    return paths


def _write_digest(message: EmailMessage, output: Path) -> list[Path]:
    html_part = message.get_body(("html",))
    html = html_part.get_content()
    for part in message.walk():
        if part.get_content_type() == "image/png" and part["Content-ID"]:
            cid = str(part["Content-ID"]).strip("<>")
            html = html.replace(f"cid:{cid}", CHART_NAME)
            (output / CHART_NAME).write_bytes(part.get_content())
    text = message.get_body(("plain",)).get_content()
    _write(output / "digest_manager.txt", f"Subject: {message['Subject']}\n\n{text}")
    _write(output / "digest_manager.html", html)
    return [
        output / "digest_manager.txt",
        output / "digest_manager.html",
        output / CHART_NAME,
    ]


def _first_per_language_and_level(letters: list[Letter]) -> list[Letter]:
    chosen: dict[tuple[str, int], Letter] = {}
    for letter in sorted(letters, key=lambda letter: letter.recipient_id):
        if letter.kind == REMINDER:
            chosen.setdefault((letter.language, letter.level), letter)
    return [chosen[key] for key in sorted(chosen)]


def _remove_old_examples(output: Path) -> None:
    """Delete the rendered files and emptied folders in `output`, but keep README.md."""
    for path in output.rglob("*.*"):
        if path.is_file() and path.name != "README.md":
            path.unlink()
    for folder in sorted(output.glob("*/"), reverse=True):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


def write_examples(root: Path, output: Path | None = None) -> list[Path]:
    """Run a pass on a demo copy, write its example letters and return the files.

    Files from an earlier run in `output` are removed first, so a language or level
    that no longer occurs leaves no stale example.
    """
    from engine.pipeline import run_pass
    from engine.project import Project

    output = output or root / "docs" / "examples"
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="arrears-guard-examples-") as folder:
        project = copy_demo(root, Path(folder) / "project")
        with _outbox_only():
            result = run_pass(Project.at(project), as_of=AS_OF)
        outbox = project / "outbox"
        _remove_old_examples(output)
        for letter in _first_per_language_and_level(result.delivery.sent):
            name = outbox_name(
                letter.kind,
                letter.level,
                letter.recipient_id,
                AS_OF.isoformat(),
                letter.key,
            )
            written += _write_letter(
                _read_eml(outbox / f"{name}.eml"),
                output / letter.language,
                letter.template,
            )
        digests = sorted(outbox.glob(f"{AS_OF.isoformat()}_digest_managers_*.eml"))
        if digests:
            written += _write_digest(_read_eml(digests[-1]), output)
    return sorted(written)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    root = Path(argv[0]) if argv else Path.cwd()
    output = Path(argv[1]) if len(argv) > 1 else None
    for path in write_examples(root, output):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
