"""Start-up check of the process file-system encoding, for attachment file names.

A service started by cron, systemd or Docker often runs with LC_ALL=C and no UTF-8
mode, so Python's file-system encoding is ASCII. File names such as
`Rechnung_INV-2024-017_Müller_März.pdf` then come back from the directory listing
with surrogate escapes, and a library that needs a valid text path fails on every
letter. The renderer decodes names from their raw UTF-8 bytes instead
(`engine.mail.render`), and this check proves at start-up that it works in the
current process, so a broken setup stops the service once instead of failing
letter by letter.
"""

from __future__ import annotations

import codecs
import locale
import logging
import os
import sys
import tempfile
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

from engine.findings import EngineError, Finding
from engine.mail import render

log = logging.getLogger(__name__)

PROBE_NAME = "Rechnung_INV-0000_Müller_März.pdf"
PROBE_CONTENT = b"%PDF-1.4\n% arrears-guard start-up check\n"


def _attachment_round_trip(folder: Path) -> str | None:
    """Attach a file with a non-ASCII name and return what went wrong, or None."""
    raw_path = os.path.join(os.fsencode(folder), PROBE_NAME.encode("utf-8"))
    with open(raw_path, "wb") as stream:
        stream.write(PROBE_CONTENT)
    [path] = list(folder.iterdir())
    message = EmailMessage(policy=policy.default)
    message.set_content("start-up check")
    render._attach_file(message, path)
    parsed = BytesParser(policy=policy.default).parsebytes(
        message.as_bytes(policy=policy.SMTP)
    )
    [attachment] = list(parsed.iter_attachments())
    if attachment.get_filename() != PROBE_NAME:
        return f"the file name arrived as {attachment.get_filename()!r}"
    if attachment.get_content() != PROBE_CONTENT:
        return "the file content changed"
    return None


def check_environment() -> None:
    """Check that attachments with non-ASCII file names work in this process.

    Returns at once under a UTF-8 file-system encoding. Under any other encoding it
    attaches a test file with a non-ASCII name and logs one INFO line when the name
    survives. Raises EngineError, with the encoding and the fix, when it does not.
    """
    encoding = sys.getfilesystemencoding()
    if codecs.lookup(encoding).name == "utf-8":
        return
    try:
        with tempfile.TemporaryDirectory(prefix="arrears-guard-") as folder:
            problem = _attachment_round_trip(Path(folder))
    except (OSError, UnicodeError, ValueError, TypeError) as error:
        problem = f"{type(error).__name__}: {error}"
    if problem is None:
        log.info(
            "file-system encoding is %s, not UTF-8. Attachment file names are "
            "decoded from their UTF-8 bytes, and the start-up check passed",
            encoding,
        )
        return
    raise EngineError(
        Finding(
            where="process environment",
            message=f"the file-system encoding is {encoding} (locale "
            f"{locale.setlocale(locale.LC_CTYPE)}), and an attachment with a "
            f"non-ASCII file name failed the start-up check: {problem}.",
            fix="Start the service with PYTHONUTF8=1 or a UTF-8 locale such as "
            "LC_ALL=C.UTF-8.",
            code="env-filesystem-encoding",
        )
    )
