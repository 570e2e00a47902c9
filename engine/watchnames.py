"""Classification of names in the watched folder: workbook, lock, junk or conflict copy.

Office, LibreOffice, sync clients and file managers leave many files next to the
workbooks. None of them may be read as data, and a copy of a workbook must never be
counted as a second source, so each name is classified before anything is opened.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping

# The deaf-observer probe file the watcher writes into the watched folder.
PROBE_NAME = ".arrears-guard-probe"

JUNK_NAMES = {"thumbs.db", "desktop.ini", ".ds_store", "ehthumbs.db", ".directory"}
JUNK_PREFIXES = ("~$", ".~lock.", "._", ".~arrears-guard-", ".#", "~rf")
JUNK_SUFFIXES = (".tmp", ".~tmp", ".temp", ".part", ".partial", ".crdownload", ".bak")


class NameKind(enum.Enum):
    WORKBOOK = "workbook"  # one of the watched workbooks
    LOCK = "lock"  # the Excel or LibreOffice lock file of a watched workbook
    CONFLICT = "conflict"  # a copy of a watched workbook, reported but never read
    PROBE = "probe"
    JUNK = "junk"  # temporaries, shell and sync-client files
    OTHER = "other"  # an unrelated file, ignored


def classify_name(name: str, watched: Mapping[str, str]) -> tuple[NameKind, str]:
    """Classify a file name; `watched` maps casefolded names to the names as mapped.

    Return the kind and, for workbooks, locks and conflict copies, the watched
    workbook's name (otherwise "").
    """
    folded = name.casefold()
    if folded in watched:
        return NameKind.WORKBOOK, watched[folded]
    if name == PROBE_NAME:
        return NameKind.PROBE, ""
    target = lock_target(name, watched)
    if target is not None:
        return NameKind.LOCK, target
    if is_junk(name):
        return NameKind.JUNK, ""
    target = conflict_target(name, watched)
    if target is not None:
        return NameKind.CONFLICT, target
    return NameKind.OTHER, ""


def is_junk(name: str) -> bool:
    """Return True for temporary, lock, shell and sync-client files."""
    folded = name.casefold()
    if folded in JUNK_NAMES or folded.startswith(JUNK_PREFIXES):
        return True
    if folded.endswith(JUNK_SUFFIXES) or folded.endswith("#") or folded.endswith("~"):
        return True
    # Excel writes a save to a temporary named like UJZDE8GX or C3D4E100.
    return "." not in name


def lock_target(name: str, watched: Mapping[str, str]) -> str | None:
    """Return the workbook a lock file belongs to, or None.

    Excel's owner file is `~$` plus the name. Word-style owner files replace the
    name's first two characters with `~$` instead, so both forms are accepted.
    LibreOffice's lock file is `.~lock.<name>#`.
    """
    folded = name.casefold()
    if folded.startswith(".~lock.") and folded.endswith("#"):
        return watched.get(folded[len(".~lock.") : -1])
    if not folded.startswith("~$"):
        return None
    rest = folded[2:]
    if rest in watched:
        return watched[rest]
    for candidate, shown in watched.items():
        if len(candidate) > 2 and candidate[2:] == rest:
            return shown
    return None


def _conflict_pattern(watched_name: str) -> re.Pattern[str]:
    stem, dot, extension = watched_name.rpartition(".")
    if not dot:
        stem, extension = watched_name, ""
    stem_re = re.escape(stem)
    extension_re = re.escape("." + extension) if extension else ""
    copy_of = r"(?:copy of |kopie von |copie de )"
    suffix = (
        r"(?: - [^/\\]+"  # "orders - Copy", "orders - Kopie (2)"
        r"| \([^)]*\)"  # "orders (1)", "orders (Mia's conflicted copy 2024-06-30)"
        r"|-[a-z0-9][a-z0-9-]*"  # OneDrive: "orders-DESKTOP-7K2L9Q"
        r")"
    )
    return re.compile(
        rf"^(?:{copy_of}{stem_re}|{stem_re}{suffix}){extension_re}$", re.IGNORECASE
    )


def conflict_target(name: str, watched: Mapping[str, str]) -> str | None:
    """Return the workbook `name` looks like a copy of, or None."""
    for candidate, shown in watched.items():
        if _conflict_pattern(candidate).match(name):
            return shown
    return None


def conflict_message(name: str, target: str) -> str:
    """Return the warning staff see once for a conflict copy."""
    stem = target.rpartition(".")[0] or target
    onedrive = re.match(rf"^{re.escape(stem)}-[a-z0-9-]+\.", name, re.IGNORECASE)
    what = "a OneDrive conflict copy" if onedrive else "a conflict copy"
    return f"{name} looks like {what} of {target} – not processed; please merge and delete it"
